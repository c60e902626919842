//! The GPU splat renderer: wgpu compute kernels (`shaders/*.wgsl`) that
//! project, sort, bin and rasterise Gaussians into textures it owns.
//!
//! A frame is two submissions. The first uploads the splats, projects them,
//! sorts them by depth and prefix-sums their tile counts; the total number of
//! (tile, splat) pairs is read back, because it sizes the second: emitting the
//! pairs, sorting them by tile, finding each tile's range and rasterising.
//! Buffers are sized with headroom and reused; they grow (and the frame is
//! recorded again) only when a frame needs more than any before it.
//!
//! ```no_run
//! # use gspeech_nodes::{camera::Camera, render::SplatRenderer, splats::Gaussians};
//! # fn show(device: &wgpu::Device, queue: &wgpu::Queue, gaussians: &Gaussians) -> Result<(), String> {
//! let mut renderer = SplatRenderer::new(device, queue);
//! let camera = Camera::new(640, 480, 30.0).looking_at([0.0, 0.0, 5.0], [0.0; 3], [0.0, 1.0, 0.0])?;
//! renderer.render(gaussians, &camera, [0.0, 0.0, 0.0, 1.0])?;
//! let image = renderer.read_back()?; // or renderer.draw_into(&viewport_texture)
//! # Ok(()) }
//! ```

mod kernels;
mod sort;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use bytemuck::{Pod, Zeroable};

use self::kernels::{Kernels, UniformSlots, bind_group, dispatch, storage, uniform};
use self::sort::{RadixSort, Scan};
use super::project::{TILE_SIZE, tile_grid, unit_quaternion};
use super::{Image, StageTimes};
use crate::camera::Camera;
use crate::splats::Gaussians;

const BLIT: &str = include_str!("../../../../shaders/blit.wgsl");

/// The camera and image of a frame, as `shaders/common.wgsl` declares `Frame`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct FrameUniform {
    world_to_camera: [[f32; 4]; 4],
    camera_position: [f32; 4],
    focal: [f32; 2],
    principal: [f32; 2],
    image_size: [u32; 2],
    tiles: [u32; 2],
    background: [f32; 4],
    near: f32,
    far: f32,
    count: u32,
    sh_degree: u32,
}

/// One Gaussian as uploaded, as `shaders/common.wgsl` declares `Splat`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
struct GpuSplat {
    mean: [f32; 3],
    opacity: f32,
    scale: [f32; 4],
    rotation: [f32; 4],
    /// The degree-0 colour coefficients (w unused).
    color: [f32; 4],
}

/// The u32 words holding one Gaussian's higher-order colour coefficients as
/// half-precision pairs (`3·((d + 1)² − 1)` halves, rounded up to a whole word).
fn sh_words(degree: u32) -> u64 {
    (3 * (crate::splats::sh_coefficients(degree) as u64 - 1)).div_ceil(2)
}

/// The higher-order colour coefficients of every Gaussian as half-precision
/// pairs, `sh_words(degree)` words each. Their part of a colour is small, so
/// halves keep it within about 10⁻³ while halving memory and uploads (which
/// is what lets a million Gaussians of degree 3 fit in a 128 MiB buffer).
fn pack_sh(gaussians: &Gaussians) -> Vec<u32> {
    let words = sh_words(gaussians.sh_degree) as usize;
    let mut packed = vec![0u32; gaussians.len() * words];
    for (i, out) in packed.chunks_exact_mut(words.max(1)).enumerate().take(gaussians.len()) {
        let rest = &gaussians.sh_of(i)[3..];
        for (w, pair) in rest.chunks(2).enumerate() {
            let low = half::f16::from_f32(pair[0]).to_bits() as u32;
            let high = pair.get(1).map_or(0, |v| half::f16::from_f32(*v).to_bits() as u32);
            out[w] = low | high << 16;
        }
    }
    packed
}

/// A projected splat, as `shaders/common.wgsl` declares `Projected` (only its size is used here).
const PROJECTED_BYTES: u64 = 48;
/// The largest per-splat entry of any buffer.
const SPLAT_BYTES: u64 = size_of::<GpuSplat>() as u64;

/// The sizes a set of [`Resources`] was made for.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Capacity {
    splats: u32,
    sh_words: u64,
    pairs: u32,
    width: u32,
    height: u32,
}

impl Capacity {
    fn covers(&self, need: &Capacity) -> bool {
        self.splats >= need.splats
            && self.sh_words >= need.sh_words
            && self.pairs >= need.pairs
            && (self.width, self.height) == (need.width, need.height)
    }
}

/// Every buffer, texture and bind group of a frame, for a [`Capacity`].
struct Resources {
    capacity: Capacity,
    frame: wgpu::Buffer,
    splats: wgpu::Buffer,
    sh: wgpu::Buffer,
    offsets: wgpu::Buffer,
    depth_sort: RadixSort,
    offsets_scan: Scan,
    tile_sort: RadixSort,
    tile_ranges: wgpu::Buffer,
    /// Slot 0: the number of splats; slot 1: the number of (tile, splat) pairs.
    counts: UniformSlots,
    pair_total: wgpu::Buffer,
    color: wgpu::Texture,
    depth: wgpu::Texture,
    project_group: wgpu::BindGroup,
    /// Gathering and emitting (pairs written to the tile sort's first buffers).
    emit_group: wgpu::BindGroup,
    /// Per parity of the tile sort's result: finding ranges, rasterising.
    ranges_groups: [wgpu::BindGroup; 2],
    rasterize_groups: [wgpu::BindGroup; 2],
}

impl Resources {
    fn new(device: &wgpu::Device, kernels: &Kernels, capacity: Capacity) -> Resources {
        let n = capacity.splats.max(1) as u64;
        let none = wgpu::BufferUsages::empty();
        let copy_dst = wgpu::BufferUsages::COPY_DST;
        let frame = uniform(device, "frame", bytemuck::bytes_of(&FrameUniform::zeroed()));
        let splats = storage(device, "splats", n * size_of::<GpuSplat>() as u64, copy_dst);
        let sh = storage(device, "sh", capacity.sh_words.max(1) * 4, copy_dst);
        let projected = storage(device, "projected", n * PROJECTED_BYTES, none);
        let tile_rects = storage(device, "tile rects", n * 16, none);
        let tile_counts = storage(device, "tile counts", n * 4, none);
        let offsets = storage(device, "offsets", n * 4, wgpu::BufferUsages::COPY_SRC | copy_dst);
        let depth_sort = RadixSort::new(device, kernels, capacity.splats, "depth sort");
        let offsets_scan = Scan::new(device, kernels, &offsets, capacity.splats, "offsets scan");
        let tile_sort = RadixSort::new(device, kernels, capacity.pairs, "tile sort");
        let [tiles_x, tiles_y] = [capacity.width.div_ceil(TILE_SIZE), capacity.height.div_ceil(TILE_SIZE)];
        let tile_ranges = storage(device, "tile ranges", (tiles_x * tiles_y) as u64 * 8, copy_dst);
        let counts = UniformSlots::new(device, "counts", 2, 16);
        let pair_total = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pair total"),
            size: 4,
            usage: wgpu::BufferUsages::MAP_READ | copy_dst,
            mapped_at_creation: false,
        });
        let texture = |label, format| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width: capacity.width,
                    height: capacity.height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::STORAGE_BINDING
                    | wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            })
        };
        let color = texture("splat colour", wgpu::TextureFormat::Rgba32Float);
        let depth = texture("splat depth", wgpu::TextureFormat::R32Float);
        let color_view = color.create_view(&Default::default());
        let depth_view = depth.create_view(&Default::default());

        let project_group = bind_group(
            device,
            "project",
            &kernels.project_layout,
            &[
                frame.as_entire_binding(),
                splats.as_entire_binding(),
                sh.as_entire_binding(),
                projected.as_entire_binding(),
                tile_rects.as_entire_binding(),
                tile_counts.as_entire_binding(),
                depth_sort.keys[0].as_entire_binding(),
                depth_sort.values[0].as_entire_binding(),
            ],
        );
        let bin_group = |pairs: usize| {
            bind_group(
                device,
                "bin",
                &kernels.bin_layout,
                &[
                    frame.as_entire_binding(),
                    counts.binding(),
                    depth_sort.values[0].as_entire_binding(),
                    tile_rects.as_entire_binding(),
                    tile_counts.as_entire_binding(),
                    offsets.as_entire_binding(),
                    tile_sort.keys[pairs].as_entire_binding(),
                    tile_sort.values[pairs].as_entire_binding(),
                    tile_ranges.as_entire_binding(),
                ],
            )
        };
        let rasterize_group = |pairs: usize| {
            bind_group(
                device,
                "rasterize",
                &kernels.rasterize_layout,
                &[
                    frame.as_entire_binding(),
                    projected.as_entire_binding(),
                    tile_sort.values[pairs].as_entire_binding(),
                    tile_ranges.as_entire_binding(),
                    wgpu::BindingResource::TextureView(&color_view),
                    wgpu::BindingResource::TextureView(&depth_view),
                ],
            )
        };
        Resources {
            capacity,
            emit_group: bin_group(0),
            ranges_groups: [bin_group(0), bin_group(1)],
            rasterize_groups: [rasterize_group(0), rasterize_group(1)],
            project_group,
            frame,
            splats,
            sh,
            offsets,
            depth_sort,
            offsets_scan,
            tile_sort,
            tile_ranges,
            counts,
            pair_total,
            color,
            depth,
        }
    }
}

/// Records stages into command encoders: all into one submission, or, when
/// profiling, each into its own submission that is waited for and timed.
struct Recorder<'a> {
    device: &'a wgpu::Device,
    queue: &'a wgpu::Queue,
    encoder: Option<wgpu::CommandEncoder>,
    times: Option<&'a mut StageTimes>,
    clock: Instant,
}

impl Recorder<'_> {
    fn stage(&mut self, name: &'static str, record: impl FnOnce(&mut wgpu::CommandEncoder)) -> Result<(), String> {
        let device = self.device;
        let encoder = self.encoder.get_or_insert_with(|| {
            device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(name) })
        });
        record(encoder);
        if let Some(times) = self.times.as_deref_mut() {
            let encoder = self.encoder.take().expect("just recorded");
            self.queue.submit([encoder.finish()]);
            wait(self.device)?;
            times.push(name, self.clock.elapsed());
            self.clock = Instant::now();
        }
        Ok(())
    }

    fn submit(&mut self) {
        if let Some(encoder) = self.encoder.take() {
            self.queue.submit([encoder.finish()]);
        }
    }
}

/// Blocks until the device has finished all submitted work.
fn wait(device: &wgpu::Device) -> Result<(), String> {
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map(|_| ())
        .map_err(|e| format!("the GPU did not finish: {e}"))
}

/// The first `bytes` of a buffer, copied through a mappable staging buffer.
#[cfg(test)]
pub(crate) fn read_buffer(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    buffer: &wgpu::Buffer,
    bytes: u64,
) -> Result<Vec<u8>, String> {
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("read back"),
        size: bytes.max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes);
    queue.submit([encoder.finish()]);
    map_read(device, &staging, bytes)
}

/// Maps a `MAP_READ` buffer, copies its first `bytes` out and unmaps it.
fn map_read(device: &wgpu::Device, buffer: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>, String> {
    let slice = buffer.slice(..bytes);
    let (sender, receiver) = std::sync::mpsc::channel();
    slice.map_async(wgpu::MapMode::Read, move |result| {
        let _ = sender.send(result);
    });
    wait(device)?;
    receiver
        .recv()
        .map_err(|_| "the GPU dropped a read-back".to_string())?
        .map_err(|e| format!("could not read back from the GPU: {e}"))?;
    let data = slice
        .get_mapped_range()
        .map_err(|e| format!("could not read back from the GPU: {e}"))?
        .to_vec();
    buffer.unmap();
    Ok(data)
}

/// A texture's texels (of `texel_bytes` each), rows unpadded.
pub(crate) fn read_texture(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    texture: &wgpu::Texture,
    texel_bytes: u32,
) -> Result<Vec<u8>, String> {
    let (width, height) = (texture.width(), texture.height());
    let row = width * texel_bytes;
    let padded = row.next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("texture read back"),
        size: padded as u64 * height as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &staging,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded),
                rows_per_image: Some(height),
            },
        },
        texture.size(),
    );
    queue.submit([encoder.finish()]);
    let data = map_read(device, &staging, padded as u64 * height as u64)?;
    Ok(data
        .chunks_exact(padded as usize)
        .flat_map(|r| &r[..row as usize])
        .copied()
        .collect())
}

/// Renders Gaussians on a wgpu device into textures it owns: `rgba32float`
/// colour (premultiplied, over the background) and `r32float` depth. Kernels
/// are compiled once; buffers, textures and bind groups are kept between
/// frames and only grow.
pub struct SplatRenderer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    kernels: Kernels,
    resources: Option<Resources>,
    /// The colour coefficients now on the GPU, so unchanged ones are not uploaded again.
    uploaded_sh: Option<Arc<[f32]>>,
    allocations: u64,
    pairs: u32,
    blits: HashMap<wgpu::TextureFormat, wgpu::RenderPipeline>,
    blit_layout: Option<wgpu::BindGroupLayout>,
    blit_params: Option<wgpu::Buffer>,
}

impl SplatRenderer {
    /// A renderer on a device; compiles its kernels.
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue) -> SplatRenderer {
        SplatRenderer {
            device: device.clone(),
            queue: queue.clone(),
            kernels: Kernels::new(device),
            resources: None,
            uploaded_sh: None,
            allocations: 0,
            pairs: 0,
            blits: HashMap::new(),
            blit_layout: None,
            blit_params: None,
        }
    }

    /// The device it renders on.
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// How many times buffers and textures have been (re)allocated: once for the
    /// first frame, then only when a frame needs more room than any before.
    pub fn allocations(&self) -> u64 {
        self.allocations
    }

    /// The number of (tile, splat) pairs of the last frame: the rasteriser's workload.
    pub fn pairs(&self) -> u32 {
        self.pairs
    }

    /// Blocks until every frame submitted so far has been rendered.
    pub fn finish(&self) -> Result<(), String> {
        wait(&self.device)
    }

    /// Renders a frame into the renderer's textures. It waits for the GPU once,
    /// mid-frame, for the number of (tile, splat) pairs; the second half is
    /// submitted, not waited for: [`read_back`](Self::read_back),
    /// [`draw_into`](Self::draw_into) and [`finish`](Self::finish) follow it.
    pub fn render(&mut self, gaussians: &Gaussians, camera: &Camera, background: [f32; 4]) -> Result<(), String> {
        self.render_frame(gaussians, camera, background, None)
    }

    /// Renders a frame stage by stage, waiting for each, and returns the time each took.
    pub fn render_profiled(
        &mut self,
        gaussians: &Gaussians,
        camera: &Camera,
        background: [f32; 4],
    ) -> Result<StageTimes, String> {
        let mut times = StageTimes::default();
        self.render_frame(gaussians, camera, background, Some(&mut times))?;
        Ok(times)
    }

    /// The colour texture of the last frame (`rgba32float`, premultiplied alpha).
    pub fn color_texture(&self) -> Option<&wgpu::Texture> {
        self.resources.as_ref().map(|r| &r.color)
    }

    /// The depth texture of the last frame (`r32float`, 0 where nothing was drawn).
    pub fn depth_texture(&self) -> Option<&wgpu::Texture> {
        self.resources.as_ref().map(|r| &r.depth)
    }

    fn render_frame(
        &mut self,
        gaussians: &Gaussians,
        camera: &Camera,
        background: [f32; 4],
        mut times: Option<&mut StageTimes>,
    ) -> Result<(), String> {
        gaussians.check()?;
        camera.check()?;
        let n = u32::try_from(gaussians.len()).map_err(|_| "more than 4 billion Gaussians".to_string())?;
        let mut need = Capacity {
            splats: n,
            sh_words: sh_words(gaussians.sh_degree) * gaussians.len() as u64,
            pairs: self.resources.as_ref().map_or(0, |r| r.capacity.pairs),
            width: camera.width,
            height: camera.height,
        };
        loop {
            if let Some(m) = self.record_frame(gaussians, camera, background, &need, times.as_deref_mut())? {
                // More (tile, splat) pairs than there is room for: grow, and record the frame again.
                need.pairs = m;
                continue;
            }
            return Ok(());
        }
    }

    /// Makes sure the resources cover `need`, allocating with headroom when they do not.
    fn ensure(&mut self, need: &Capacity) -> Result<(), String> {
        if self.resources.as_ref().is_some_and(|r| r.capacity.covers(need)) {
            return Ok(());
        }
        let old = self.resources.as_ref().map(|r| r.capacity);
        let limits = self.device.limits();
        let largest = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        // Half as much again as needed (so that a sequence settles quickly), within the device's limits.
        let grow = |needed: u64, had: u64, bytes_each: u64| -> u64 {
            if needed <= had {
                had
            } else {
                (needed + needed / 2).max(1024).min(largest / bytes_each).max(needed)
            }
        };
        let capacity = Capacity {
            splats: grow(need.splats as u64, old.map_or(0, |c| c.splats as u64), SPLAT_BYTES) as u32,
            sh_words: grow(need.sh_words, old.map_or(0, |c| c.sh_words), 4),
            // Until a frame says otherwise, room for a few tiles per splat.
            pairs: grow(
                need.pairs.max(need.splats.saturating_mul(4)) as u64,
                old.map_or(0, |c| c.pairs as u64),
                4,
            )
            .min(u32::MAX as u64) as u32,
            width: need.width,
            height: need.height,
        };
        self.check_limits(&capacity)?;
        self.resources = Some(Resources::new(&self.device, &self.kernels, capacity));
        self.uploaded_sh = None;
        self.allocations += 1;
        Ok(())
    }

    /// Refuses sizes the device cannot hold, naming what is too large.
    fn check_limits(&self, capacity: &Capacity) -> Result<(), String> {
        let limits = self.device.limits();
        let largest = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        let buffers = [
            ("splats", capacity.splats as u64 * SPLAT_BYTES),
            ("colour coefficients", capacity.sh_words * 4),
            ("tile pairs", capacity.pairs as u64 * 4),
        ];
        for (what, bytes) in buffers {
            if bytes > largest {
                return Err(format!(
                    "the scene is too large for this GPU: its {what} need {} MiB in one buffer, the device \
                     allows {} MiB",
                    bytes >> 20,
                    largest >> 20
                ));
            }
        }
        let side = limits.max_texture_dimension_2d;
        if capacity.width > side || capacity.height > side {
            return Err(format!(
                "{}×{} is larger than this GPU renders ({side} pixels a side)",
                capacity.width, capacity.height
            ));
        }
        Ok(())
    }

    /// Records and submits one frame. Returns `Some(pairs)` when the frame needs
    /// room for more (tile, splat) pairs than there is (nothing was drawn).
    fn record_frame(
        &mut self,
        gaussians: &Gaussians,
        camera: &Camera,
        background: [f32; 4],
        need: &Capacity,
        times: Option<&mut StageTimes>,
    ) -> Result<Option<u32>, String> {
        self.ensure(need)?;
        let n = need.splats;
        let upload_sh = !self
            .uploaded_sh
            .as_ref()
            .is_some_and(|sh| Arc::ptr_eq(sh, &gaussians.sh));
        let resources = self.resources.as_ref().expect("ensured");
        let kernels = &self.kernels;
        let [tiles_x, tiles_y] = tile_grid(camera);
        let mut recorder = Recorder {
            device: &self.device,
            queue: &self.queue,
            encoder: None,
            times,
            clock: Instant::now(),
        };

        recorder.stage("upload", |_| {
            let splats: Vec<GpuSplat> = (0..gaussians.len())
                .map(|i| {
                    let (s, dc) = (gaussians.scales[i], gaussians.sh_of(i));
                    GpuSplat {
                        mean: gaussians.means[i],
                        opacity: gaussians.opacities[i],
                        scale: [s[0], s[1], s[2], 0.0],
                        rotation: unit_quaternion(gaussians.rotations[i]),
                        color: [dc[0], dc[1], dc[2], 0.0],
                    }
                })
                .collect();
            self.queue
                .write_buffer(&resources.splats, 0, bytemuck::cast_slice(&splats));
            if upload_sh && gaussians.sh_degree > 0 {
                self.queue
                    .write_buffer(&resources.sh, 0, bytemuck::cast_slice(&pack_sh(gaussians)));
            }
            let w2c = camera.world_to_camera();
            let position = camera.position();
            let frame = FrameUniform {
                world_to_camera: [0, 1, 2, 3].map(|c| [0, 1, 2, 3].map(|r| w2c[r][c])),
                camera_position: [position[0], position[1], position[2], 1.0],
                focal: [camera.fx, camera.fy],
                principal: [camera.cx, camera.cy],
                image_size: [camera.width, camera.height],
                tiles: [tiles_x, tiles_y],
                background,
                near: camera.near,
                far: camera.far,
                count: n,
                sh_degree: gaussians.sh_degree,
            };
            self.queue.write_buffer(&resources.frame, 0, bytemuck::bytes_of(&frame));
            resources.counts.write(&self.queue, 0, &[n, 0, 0, 0]);
            resources.depth_sort.prepare(&self.queue, n, 32);
            resources.offsets_scan.prepare(&self.queue, n);
        })?;
        if upload_sh {
            self.uploaded_sh = Some(gaussians.sh.clone());
        }
        let resources = self.resources.as_ref().expect("ensured");
        let splat_groups = n.div_ceil(256);
        recorder.stage("project", |encoder| {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            dispatch(&mut pass, &kernels.project, &resources.project_group, &[], splat_groups);
        })?;
        recorder.stage("depth sort", |encoder| {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            let result = resources.depth_sort.record(&mut pass, kernels, n, 32);
            debug_assert_eq!(result, 0, "an even number of passes leaves the result in place");
        })?;
        recorder.stage("tile counts", |encoder| {
            if n == 0 {
                encoder.clear_buffer(&resources.offsets, 0, Some(4));
                encoder.copy_buffer_to_buffer(&resources.offsets, 0, &resources.pair_total, 0, 4);
                return;
            }
            let total = {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                let offset = [resources.counts.offset(0)];
                dispatch(
                    &mut pass,
                    &kernels.gather_counts,
                    &resources.emit_group,
                    &offset,
                    splat_groups,
                );
                resources.offsets_scan.record(&mut pass, kernels, n)
            };
            encoder.copy_buffer_to_buffer(total.0, total.1, &resources.pair_total, 0, 4);
        })?;
        recorder.submit();
        let pairs = u32::from_le_bytes(
            map_read(&self.device, &resources.pair_total, 4)?
                .try_into()
                .expect("4 bytes"),
        );
        if pairs > resources.capacity.pairs {
            return Ok(Some(pairs));
        }
        self.pairs = pairs;

        let tile_bits = u32::BITS - (tiles_x * tiles_y).saturating_sub(1).leading_zeros();
        resources.counts.write(&self.queue, 1, &[pairs, 0, 0, 0]);
        resources.tile_sort.prepare(&self.queue, pairs, tile_bits);
        let parity = RadixSort::passes(tile_bits) as usize % 2;
        let pair_groups = pairs.div_ceil(256);
        recorder.stage("emit pairs", |encoder| {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            let offset = [resources.counts.offset(0)];
            dispatch(
                &mut pass,
                &kernels.emit_pairs,
                &resources.emit_group,
                &offset,
                splat_groups,
            );
        })?;
        recorder.stage("tile sort", |encoder| {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            let result = resources.tile_sort.record(&mut pass, kernels, pairs, tile_bits);
            debug_assert!(pairs == 0 || result == parity);
        })?;
        recorder.stage("tile ranges", |encoder| {
            encoder.clear_buffer(&resources.tile_ranges, 0, None);
            let mut pass = encoder.begin_compute_pass(&Default::default());
            let offset = [resources.counts.offset(1)];
            dispatch(
                &mut pass,
                &kernels.find_ranges,
                &resources.ranges_groups[parity],
                &offset,
                pair_groups,
            );
        })?;
        recorder.stage("rasterize", |encoder| {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&kernels.rasterize);
            pass.set_bind_group(0, &resources.rasterize_groups[parity], &[]);
            pass.dispatch_workgroups(tiles_x, tiles_y, 1);
        })?;
        recorder.submit();
        Ok(None)
    }

    /// The last frame, copied back to the CPU.
    pub fn read_back(&self) -> Result<Image, String> {
        let resources = self.resources.as_ref().ok_or("nothing has been rendered yet")?;
        let (width, height) = (resources.capacity.width, resources.capacity.height);
        let color = read_texture(&self.device, &self.queue, &resources.color, 16)?;
        let depth = read_texture(&self.device, &self.queue, &resources.depth, 4)?;
        Ok(Image {
            width,
            height,
            rgba: bytemuck::cast_slice(&color).to_vec(),
            depth: bytemuck::cast_slice(&depth).to_vec(),
        })
    }

    /// Draws the last frame into a texture of any colour format that allows
    /// `RENDER_ATTACHMENT` (a viewport), stretched to its size. sRGB targets
    /// receive correctly encoded colour.
    pub fn draw_into(&mut self, target: &wgpu::Texture) -> Result<(), String> {
        let color = &self.resources.as_ref().ok_or("nothing has been rendered yet")?.color;
        let format = target.format();
        let layout = self.blit_layout.get_or_insert_with(|| {
            self.device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("blit"),
                entries: &[
                    wgpu::BindGroupLayoutEntry {
                        binding: 0,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Texture {
                            sample_type: wgpu::TextureSampleType::Float { filterable: false },
                            view_dimension: wgpu::TextureViewDimension::D2,
                            multisampled: false,
                        },
                        count: None,
                    },
                    wgpu::BindGroupLayoutEntry {
                        binding: 1,
                        visibility: wgpu::ShaderStages::FRAGMENT,
                        ty: wgpu::BindingType::Buffer {
                            ty: wgpu::BufferBindingType::Uniform,
                            has_dynamic_offset: false,
                            min_binding_size: None,
                        },
                        count: None,
                    },
                ],
            })
        });
        let device = &self.device;
        let pipeline = self.blits.entry(format).or_insert_with(|| {
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some("blit.wgsl"),
                source: wgpu::ShaderSource::Wgsl(BLIT.into()),
            });
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("blit"),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("blit"),
                layout: Some(&pipeline_layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some("vertex"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: Default::default(),
                depth_stencil: None,
                multisample: Default::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some("fragment"),
                    compilation_options: Default::default(),
                    targets: &[Some(format.into())],
                }),
                multiview_mask: None,
                cache: None,
            })
        });
        let params: [u32; 4] = [
            (target.width() as f32).to_bits(),
            (target.height() as f32).to_bits(),
            format.is_srgb() as u32,
            0,
        ];
        let params = match &self.blit_params {
            Some(buffer) => {
                self.queue.write_buffer(buffer, 0, bytemuck::cast_slice(&params));
                buffer
            }
            None => self
                .blit_params
                .insert(uniform(device, "blit", bytemuck::cast_slice(&params))),
        };
        let source = color.create_view(&Default::default());
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("blit"),
            layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&source),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        let view = target.create_view(&Default::default());
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("blit"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &group, &[]);
            pass.draw(0..3, 0..1);
        }
        self.queue.submit([encoder.finish()]);
        Ok(())
    }
}

/// The GPU shared by this crate's tests (lavapipe where there is no GPU).
#[cfg(test)]
pub(crate) fn test_gpu() -> Arc<gspeech_sdk::gpu::Gpu> {
    static GPU: std::sync::OnceLock<Arc<gspeech_sdk::gpu::Gpu>> = std::sync::OnceLock::new();
    GPU.get_or_init(|| Arc::new(gspeech_sdk::gpu::Gpu::headless().expect("a GPU adapter (lavapipe without a GPU)")))
        .clone()
}
