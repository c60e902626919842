//! GPU prefix sums and radix sorts (`shaders/scan.wgsl`, `shaders/sort.wgsl`):
//! buffers sized once for a capacity, then recorded into any number of frames.

use super::kernels::{Kernels, UniformSlots, bind_group, dispatch, storage};

/// Values scanned per workgroup (`BLOCK` in the shaders).
const BLOCK: u32 = 1024;
/// Bits sorted per radix pass.
const DIGIT_BITS: u32 = 4;
/// Digits per pass.
const DIGITS: u32 = 1 << DIGIT_BITS;

/// Blocks of [`BLOCK`] covering `count` values.
fn blocks(count: u32) -> u32 {
    count.div_ceil(BLOCK)
}

/// An in-place exclusive prefix sum over the first `count` values of one
/// buffer, with the block totals of each level kept in buffers of their own.
pub(super) struct Scan {
    /// Per level: the bind group of (parameters, that level's values, its block totals).
    groups: Vec<wgpu::BindGroup>,
    /// Per level: the block totals.
    sums: Vec<wgpu::Buffer>,
    params: UniformSlots,
    capacity: u32,
}

impl Scan {
    /// A scan of up to `capacity` values of `data`.
    pub fn new(device: &wgpu::Device, kernels: &Kernels, data: &wgpu::Buffer, capacity: u32, label: &str) -> Scan {
        let mut sizes = vec![blocks(capacity.max(1))];
        while *sizes.last().expect("one level") > 1 {
            sizes.push(blocks(*sizes.last().expect("one level")));
        }
        let params = UniformSlots::new(device, label, sizes.len() as u32, 16);
        let sums: Vec<wgpu::Buffer> = sizes
            .iter()
            .map(|&n| storage(device, label, n as u64 * 4, wgpu::BufferUsages::COPY_SRC))
            .collect();
        let groups = (0..sizes.len())
            .map(|level| {
                let values = if level == 0 { data } else { &sums[level - 1] };
                bind_group(
                    device,
                    label,
                    &kernels.scan_layout,
                    &[
                        params.binding(),
                        values.as_entire_binding(),
                        sums[level].as_entire_binding(),
                    ],
                )
            })
            .collect();
        Scan {
            groups,
            sums,
            params,
            capacity,
        }
    }

    /// Writes the parameters for scanning `count` values (before the submission that records it).
    pub fn prepare(&self, queue: &wgpu::Queue, count: u32) {
        assert!(
            count <= self.capacity,
            "a scan of {count} values exceeds its capacity {}",
            self.capacity
        );
        let mut n = count;
        for level in 0..self.groups.len() as u32 {
            self.params.write(queue, level, &[n, 0, 0, 0]);
            n = blocks(n);
            if n <= 1 {
                break;
            }
        }
    }

    /// Records the scan of `count` values; returns where their total ends up (buffer, byte offset).
    pub fn record(&self, pass: &mut wgpu::ComputePass, kernels: &Kernels, count: u32) -> (&wgpu::Buffer, u64) {
        self.record_level(pass, kernels, 0, count)
    }

    fn record_level(
        &self,
        pass: &mut wgpu::ComputePass,
        kernels: &Kernels,
        level: usize,
        count: u32,
    ) -> (&wgpu::Buffer, u64) {
        let n = blocks(count);
        let offset = [self.params.offset(level as u32)];
        dispatch(pass, &kernels.scan_blocks, &self.groups[level], &offset, n);
        if n <= 1 {
            return (&self.sums[level], 0);
        }
        let total = self.record_level(pass, kernels, level + 1, n);
        dispatch(pass, &kernels.add_block_offsets, &self.groups[level], &offset, n);
        total
    }
}

/// A stable radix sort of up to `capacity` u32 keys with u32 values, ping-ponging
/// between two pairs of buffers. Callers fill `keys[0]` and `values[0]`.
pub(super) struct RadixSort {
    /// The two key buffers; the input is in `keys[0]`.
    pub keys: [wgpu::Buffer; 2],
    /// The two value buffers; the input is in `values[0]`.
    pub values: [wgpu::Buffer; 2],
    /// Per parity: reads keys[p], values[p], writes the other pair.
    groups: [wgpu::BindGroup; 2],
    scan: Scan,
    params: UniformSlots,
    capacity: u32,
}

impl RadixSort {
    /// Buffers for sorting up to `capacity` pairs.
    pub fn new(device: &wgpu::Device, kernels: &Kernels, capacity: u32, label: &str) -> RadixSort {
        let capacity = capacity.max(1);
        let pair = |usage| [0, 1].map(|_| storage(device, label, capacity as u64 * 4, usage));
        let copy = wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
        let (keys, values) = (pair(copy), pair(copy));
        let histogram_len = DIGITS * blocks(capacity);
        let histogram = storage(device, label, histogram_len as u64 * 4, wgpu::BufferUsages::empty());
        let scan = Scan::new(device, kernels, &histogram, histogram_len, label);
        let params = UniformSlots::new(device, label, 32 / DIGIT_BITS, 16);
        let groups = [0, 1].map(|p| {
            bind_group(
                device,
                label,
                &kernels.sort_layout,
                &[
                    params.binding(),
                    keys[p].as_entire_binding(),
                    values[p].as_entire_binding(),
                    histogram.as_entire_binding(),
                    keys[1 - p].as_entire_binding(),
                    values[1 - p].as_entire_binding(),
                ],
            )
        });
        RadixSort {
            keys,
            values,
            groups,
            scan,
            params,
            capacity,
        }
    }

    /// Passes needed for keys below `1 << bits`.
    pub fn passes(bits: u32) -> u32 {
        bits.div_ceil(DIGIT_BITS)
    }

    /// Writes the parameters for sorting `count` keys on their low `bits` bits.
    pub fn prepare(&self, queue: &wgpu::Queue, count: u32, bits: u32) {
        assert!(
            count <= self.capacity,
            "a sort of {count} keys exceeds its capacity {}",
            self.capacity
        );
        for pass in 0..Self::passes(bits) {
            self.params
                .write(queue, pass, &[count, pass * DIGIT_BITS, blocks(count), 0]);
        }
        self.scan.prepare(queue, DIGITS * blocks(count));
    }

    /// Records the sort; returns the index of the buffers holding the result.
    pub fn record(&self, pass: &mut wgpu::ComputePass, kernels: &Kernels, count: u32, bits: u32) -> usize {
        let passes = Self::passes(bits);
        if count == 0 {
            return 0;
        }
        for p in 0..passes {
            let group = &self.groups[(p % 2) as usize];
            let offset = [self.params.offset(p)];
            dispatch(pass, &kernels.count_digits, group, &offset, blocks(count));
            self.scan.record(pass, kernels, DIGITS * blocks(count));
            dispatch(pass, &kernels.scatter, group, &offset, blocks(count));
        }
        (passes % 2) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::gpu::{read_buffer, test_gpu};
    use crate::splats::synthetic::Rng;

    fn upload(gpu: &gspeech_sdk::gpu::Gpu, buffer: &wgpu::Buffer, words: &[u32]) {
        gpu.queue.write_buffer(buffer, 0, bytemuck::cast_slice(words));
    }

    fn download(gpu: &gspeech_sdk::gpu::Gpu, buffer: &wgpu::Buffer, count: usize) -> Vec<u32> {
        bytemuck::cast_slice(&read_buffer(&gpu.device, &gpu.queue, buffer, count as u64 * 4).unwrap()).to_vec()
    }

    #[test]
    fn radix_sort_is_stable_and_matches_the_standard_library() {
        let gpu = test_gpu();
        let kernels = Kernels::new(&gpu.device);
        let sort = RadixSort::new(&gpu.device, &kernels, 5000, "test sort");
        let mut rng = Rng::new(7);
        // Sizes around block and chunk edges; keys with many duplicates so stability shows.
        for (count, bits) in [(1u32, 32u32), (255, 8), (1024, 13), (1025, 32), (4999, 12), (5000, 32)] {
            let keys: Vec<u32> = (0..count)
                .map(|_| {
                    let k = (rng.uniform() * 64.0) as u32;
                    if bits == 32 {
                        k.wrapping_mul(0x0404_0401) | 0x8000_0000
                    } else {
                        k & ((1 << bits) - 1)
                    }
                })
                .collect();
            let values: Vec<u32> = (0..count).collect();
            upload(&gpu, &sort.keys[0], &keys);
            upload(&gpu, &sort.values[0], &values);
            sort.prepare(&gpu.queue, count, bits);
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            let result = {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                sort.record(&mut pass, &kernels, count, bits)
            };
            gpu.queue.submit([encoder.finish()]);
            let mut expected: Vec<(u32, u32)> = keys.iter().copied().zip(values).collect();
            expected.sort_by_key(|&(k, _)| k);
            let sorted_keys = download(&gpu, &sort.keys[result], count as usize);
            let sorted_values = download(&gpu, &sort.values[result], count as usize);
            let got: Vec<(u32, u32)> = sorted_keys.into_iter().zip(sorted_values).collect();
            assert_eq!(got, expected, "{count} keys of {bits} bits");
        }
    }

    #[test]
    fn scan_sums_any_length_exclusively() {
        let gpu = test_gpu();
        let kernels = Kernels::new(&gpu.device);
        let capacity = 1024 * 1024 + 3;
        let data = storage(
            &gpu.device,
            "test scan",
            capacity as u64 * 4,
            wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        );
        let scan = Scan::new(&gpu.device, &kernels, &data, capacity, "test scan");
        let mut rng = Rng::new(3);
        for count in [1u32, 1000, 1024, 1025, 70_000, capacity] {
            let values: Vec<u32> = (0..count).map(|_| (rng.uniform() * 10.0) as u32).collect();
            upload(&gpu, &data, &values);
            scan.prepare(&gpu.queue, count);
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            let (total_buffer, total_offset) = {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                scan.record(&mut pass, &kernels, count)
            };
            gpu.queue.submit([encoder.finish()]);
            let got = download(&gpu, &data, count as usize);
            let mut running = 0u32;
            for (i, (&g, &v)) in got.iter().zip(&values).enumerate() {
                assert_eq!(g, running, "{count} values: position {i}");
                running += v;
            }
            assert_eq!(total_offset, 0);
            assert_eq!(download(&gpu, total_buffer, 1)[0], running, "{count} values: total");
        }
    }
}
