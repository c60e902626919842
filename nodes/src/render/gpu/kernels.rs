//! The renderer's compute pipelines and their bind group layouts, created once
//! per device, and small helpers to build layouts, bind groups and uniform slots.

use std::borrow::Cow;

use wgpu::util::DeviceExt;

const COMMON: &str = include_str!("../../../../shaders/common.wgsl");
const PROJECT: &str = include_str!("../../../../shaders/project.wgsl");
const BIN: &str = include_str!("../../../../shaders/bin.wgsl");
const RASTERIZE: &str = include_str!("../../../../shaders/rasterize.wgsl");
const WORKGROUP: &str = include_str!("../../../../shaders/workgroup.wgsl");
const SORT: &str = include_str!("../../../../shaders/sort.wgsl");
const SCAN: &str = include_str!("../../../../shaders/scan.wgsl");

/// The kind of one binding in a layout; bindings are numbered in order.
#[derive(Clone, Copy)]
pub(super) enum Slot {
    /// A uniform buffer.
    Uniform,
    /// A uniform buffer bound at a dynamic offset (one slot of a [`UniformSlots`]).
    DynamicUniform,
    /// A read-only storage buffer.
    Read,
    /// A read-write storage buffer.
    ReadWrite,
    /// A write-only `rgba32float` storage texture.
    ColorImage,
    /// A write-only `r32float` storage texture.
    DepthImage,
}

/// A bind group layout for compute shaders, one binding per slot.
pub(super) fn layout(device: &wgpu::Device, label: &str, slots: &[Slot]) -> wgpu::BindGroupLayout {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
        .iter()
        .enumerate()
        .map(|(binding, slot)| {
            let buffer = |ty, has_dynamic_offset| wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset,
                min_binding_size: None,
            };
            let image = |format| wgpu::BindingType::StorageTexture {
                access: wgpu::StorageTextureAccess::WriteOnly,
                format,
                view_dimension: wgpu::TextureViewDimension::D2,
            };
            wgpu::BindGroupLayoutEntry {
                binding: binding as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match slot {
                    Slot::Uniform => buffer(wgpu::BufferBindingType::Uniform, false),
                    Slot::DynamicUniform => buffer(wgpu::BufferBindingType::Uniform, true),
                    Slot::Read => buffer(wgpu::BufferBindingType::Storage { read_only: true }, false),
                    Slot::ReadWrite => buffer(wgpu::BufferBindingType::Storage { read_only: false }, false),
                    Slot::ColorImage => image(wgpu::TextureFormat::Rgba32Float),
                    Slot::DepthImage => image(wgpu::TextureFormat::R32Float),
                },
                count: None,
            }
        })
        .collect();
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    })
}

/// A bind group giving resources to a layout's bindings in order.
pub(super) fn bind_group(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    resources: &[wgpu::BindingResource],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = resources
        .iter()
        .enumerate()
        .map(|(binding, resource)| wgpu::BindGroupEntry {
            binding: binding as u32,
            resource: resource.clone(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// Workgroup counts `(x, y)` covering `groups` workgroups: one dimension holds at most 65,535.
pub(super) fn grid(groups: u32) -> (u32, u32) {
    let x = groups.clamp(1, 65_535);
    (x, groups.div_ceil(x))
}

/// Dispatches `groups` workgroups of a pipeline with one bind group (and its dynamic offsets).
pub(super) fn dispatch(
    pass: &mut wgpu::ComputePass,
    pipeline: &wgpu::ComputePipeline,
    group: &wgpu::BindGroup,
    offsets: &[u32],
    groups: u32,
) {
    if groups == 0 {
        return;
    }
    let (x, y) = grid(groups);
    pass.set_pipeline(pipeline);
    pass.set_bind_group(0, group, offsets);
    pass.dispatch_workgroups(x, y, 1);
}

/// A uniform buffer of equally sized slots, each bound at a dynamic offset, so
/// that the dispatches of one submission can each see their own parameters.
pub(super) struct UniformSlots {
    buffer: wgpu::Buffer,
    stride: u64,
    size: u64,
}

impl UniformSlots {
    /// `count` slots of `size` bytes.
    pub fn new(device: &wgpu::Device, label: &str, count: u32, size: u64) -> UniformSlots {
        let align = device.limits().min_uniform_buffer_offset_alignment as u64;
        let stride = size.div_ceil(align) * align;
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: stride * count as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        UniformSlots { buffer, stride, size }
    }

    /// Writes one slot (applied before the next submission runs).
    pub fn write(&self, queue: &wgpu::Queue, slot: u32, words: &[u32]) {
        debug_assert!(words.len() as u64 * 4 <= self.size);
        queue.write_buffer(&self.buffer, self.stride * slot as u64, bytemuck::cast_slice(words));
    }

    /// The dynamic offset of a slot.
    pub fn offset(&self, slot: u32) -> u32 {
        (self.stride * slot as u64) as u32
    }

    /// The binding of one slot's worth of the buffer.
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: 0,
            size: wgpu::BufferSize::new(self.size),
        })
    }
}

/// A storage buffer of `bytes` (at least 4) with the given extra usages.
pub(super) fn storage(device: &wgpu::Device, label: &str, bytes: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::STORAGE | usage,
        mapped_at_creation: false,
    })
}

/// A uniform buffer holding `bytes`.
pub(super) fn uniform(device: &wgpu::Device, label: &str, bytes: &[u8]) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytes,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

/// Every compute pipeline of the renderer, with the layouts their bind groups follow.
pub(super) struct Kernels {
    pub project: wgpu::ComputePipeline,
    pub project_layout: wgpu::BindGroupLayout,
    pub gather_counts: wgpu::ComputePipeline,
    pub emit_pairs: wgpu::ComputePipeline,
    pub find_ranges: wgpu::ComputePipeline,
    pub bin_layout: wgpu::BindGroupLayout,
    pub rasterize: wgpu::ComputePipeline,
    pub rasterize_layout: wgpu::BindGroupLayout,
    pub count_digits: wgpu::ComputePipeline,
    pub scatter: wgpu::ComputePipeline,
    pub sort_layout: wgpu::BindGroupLayout,
    pub scan_blocks: wgpu::ComputePipeline,
    pub add_block_offsets: wgpu::ComputePipeline,
    pub scan_layout: wgpu::BindGroupLayout,
}

impl Kernels {
    /// Compiles every kernel for a device.
    pub fn new(device: &wgpu::Device) -> Kernels {
        use Slot::*;
        let module = |label: &str, source: String| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(Cow::Owned(source)),
            })
        };
        let pipeline = |module: &wgpu::ShaderModule, entry: &str, layout: &wgpu::BindGroupLayout| {
            let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(entry),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pipeline_layout),
                module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let project_module = module("project.wgsl", format!("{COMMON}\n{PROJECT}"));
        let bin_module = module("bin.wgsl", format!("{COMMON}\n{BIN}"));
        let rasterize_module = module("rasterize.wgsl", format!("{COMMON}\n{RASTERIZE}"));
        let sort_module = module("sort.wgsl", format!("{WORKGROUP}\n{SORT}"));
        let scan_module = module("scan.wgsl", format!("{WORKGROUP}\n{SCAN}"));

        let project_layout = layout(
            device,
            "project",
            &[
                Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite, ReadWrite,
            ],
        );
        let bin_layout = layout(
            device,
            "bin",
            &[
                Uniform,
                DynamicUniform,
                Read,
                Read,
                Read,
                ReadWrite,
                ReadWrite,
                ReadWrite,
                ReadWrite,
            ],
        );
        let rasterize_layout = layout(
            device,
            "rasterize",
            &[Uniform, Read, Read, Read, ColorImage, DepthImage],
        );
        let sort_layout = layout(
            device,
            "sort",
            &[DynamicUniform, Read, Read, ReadWrite, ReadWrite, ReadWrite],
        );
        let scan_layout = layout(device, "scan", &[DynamicUniform, ReadWrite, ReadWrite]);
        Kernels {
            project: pipeline(&project_module, "project", &project_layout),
            gather_counts: pipeline(&bin_module, "gather_counts", &bin_layout),
            emit_pairs: pipeline(&bin_module, "emit_pairs", &bin_layout),
            find_ranges: pipeline(&bin_module, "find_ranges", &bin_layout),
            rasterize: pipeline(&rasterize_module, "rasterize", &rasterize_layout),
            count_digits: pipeline(&sort_module, "count_digits", &sort_layout),
            scatter: pipeline(&sort_module, "scatter", &sort_layout),
            scan_blocks: pipeline(&scan_module, "scan_blocks", &scan_layout),
            add_block_offsets: pipeline(&scan_module, "add_block_offsets", &scan_layout),
            project_layout,
            bin_layout,
            rasterize_layout,
            sort_layout,
            scan_layout,
        }
    }
}
