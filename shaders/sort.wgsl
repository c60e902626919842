// A stable least-significant-digit radix sort of u32 keys carrying u32 values,
// four bits per pass. Each pass runs three steps over blocks of 1,024 keys:
// `count_digits` makes each block's histogram of the pass's digit, stored
// digit-major (`histogram[digit · blocks + block]`); an exclusive prefix sum of
// the histogram (scan.wgsl) turns the counts into each block's first output
// position per digit; `scatter` then moves every key to its place. Within a
// block, keys are ranked 256 at a time by four stable one-bit splits in
// workgroup memory, so equal digits keep their order and the sort is stable.
// Needs workgroup.wgsl.

const PER_THREAD: u32 = 4u;
const BLOCK: u32 = 1024u;
const DIGITS: u32 = 16u;
const DIGIT_BITS: u32 = 4u;

struct SortParams {
    // Number of keys.
    count: u32,
    // The lowest bit of this pass's digit.
    shift: u32,
    // Number of blocks: ceil(count / BLOCK).
    blocks: u32,
}

@group(0) @binding(0) var<uniform> params: SortParams;
@group(0) @binding(1) var<storage, read> keys_in: array<u32>;
@group(0) @binding(2) var<storage, read> values_in: array<u32>;
@group(0) @binding(3) var<storage, read_write> histogram: array<u32>;
@group(0) @binding(4) var<storage, read_write> keys_out: array<u32>;
@group(0) @binding(5) var<storage, read_write> values_out: array<u32>;

var<workgroup> digit_counts: array<atomic<u32>, DIGITS>;
var<workgroup> digit_starts: array<u32, DIGITS>;
var<workgroup> write_positions: array<u32, DIGITS>;
var<workgroup> shared_keys: array<u32, WORKGROUP_SIZE>;
var<workgroup> shared_values: array<u32, WORKGROUP_SIZE>;

fn digit_of(key: u32) -> u32 {
    return (key >> params.shift) & (DIGITS - 1u);
}

@compute @workgroup_size(256)
fn count_digits(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = workgroup_index(group, groups);
    if lane < DIGITS {
        atomicStore(&digit_counts[lane], 0u);
    }
    workgroupBarrier();
    for (var chunk = 0u; chunk < PER_THREAD; chunk++) {
        let index = block * BLOCK + chunk * WORKGROUP_SIZE + lane;
        if index < params.count {
            atomicAdd(&digit_counts[digit_of(keys_in[index])], 1u);
        }
    }
    workgroupBarrier();
    if lane < DIGITS && block < params.blocks {
        histogram[lane * params.blocks + block] = atomicLoad(&digit_counts[lane]);
    }
}

@compute @workgroup_size(256)
fn scatter(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) group: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let block = workgroup_index(group, groups);
    if lane < DIGITS && block < params.blocks {
        write_positions[lane] = histogram[lane * params.blocks + block];
    }
    for (var chunk = 0u; chunk < PER_THREAD; chunk++) {
        let first = block * BLOCK + chunk * WORKGROUP_SIZE;
        let valid = select(0u, min(WORKGROUP_SIZE, params.count - first), first < params.count);
        // Keys past the end read as all ones: they sort last and are not written.
        var key = 0xffffffffu;
        var value = 0u;
        if lane < valid {
            key = keys_in[first + lane];
            value = values_in[first + lane];
        }
        if lane < DIGITS {
            atomicStore(&digit_counts[lane], 0u);
        }
        workgroupBarrier();
        if lane < valid {
            atomicAdd(&digit_counts[digit_of(key)], 1u);
        }
        for (var bit = 0u; bit < DIGIT_BITS; bit++) {
            let flag = (key >> (params.shift + bit)) & 1u;
            // Zeros first, then ones, each in their order: a stable split.
            let ones = workgroup_prefix_sum(lane, flag);
            let position = select(lane - ones.x, WORKGROUP_SIZE - ones.y + ones.x, flag == 1u);
            shared_keys[position] = key;
            shared_values[position] = value;
            workgroupBarrier();
            key = shared_keys[lane];
            value = shared_values[lane];
            workgroupBarrier();
        }
        if lane == 0u {
            var start = 0u;
            for (var d = 0u; d < DIGITS; d++) {
                digit_starts[d] = start;
                start += atomicLoad(&digit_counts[d]);
            }
        }
        workgroupBarrier();
        if lane < valid {
            let digit = digit_of(key);
            let destination = write_positions[digit] + lane - digit_starts[digit];
            keys_out[destination] = key;
            values_out[destination] = value;
        }
        workgroupBarrier();
        if lane < DIGITS {
            write_positions[lane] += atomicLoad(&digit_counts[lane]);
        }
        workgroupBarrier();
    }
}
