//! The 3D viewport: shaded meshes and point clouds drawn with wgpu on the
//! editor's own device, inside egui through a paint callback, with an orbit
//! camera.
//!
//! Each frame the callback renders the scene into an offscreen colour + depth
//! target (egui's pass has no depth buffer), then copies that target into the
//! viewport's rectangle of egui's pass. The pipelines live in the renderer's
//! callback resources, installed once by [`install`].

use std::sync::Arc;

use egui::{Sense, Ui};
use egui_wgpu::{CallbackResources, CallbackTrait, RenderState, ScreenDescriptor, wgpu};

use super::mesh::{Geometry, Vertex};

const DEPTH: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
const COLOR: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const BACKGROUND: wgpu::Color = wgpu::Color {
    r: 0.09,
    g: 0.09,
    b: 0.1,
    a: 1.0,
};

/// The scene's uniforms, as the shader reads them.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Uniforms {
    view_proj: [[f32; 4]; 4],
    light: [f32; 4],
}

/// An orbit camera around the geometry's bounding sphere.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrbitCamera {
    /// Rotation about the vertical axis, radians (0 looks along -Z, at the face's front).
    pub yaw: f32,
    /// Elevation, radians.
    pub pitch: f32,
    /// Distance in bounding-sphere radii.
    pub distance: f32,
}

impl Default for OrbitCamera {
    fn default() -> OrbitCamera {
        OrbitCamera {
            yaw: 0.0,
            pitch: 0.1,
            distance: 3.2,
        }
    }
}

impl OrbitCamera {
    /// Drag to orbit, scroll to zoom, double-click to reset.
    pub fn interact(&mut self, response: &egui::Response, ui: &Ui) {
        if response.dragged() {
            let d = response.drag_delta();
            self.yaw -= d.x * 0.01;
            self.pitch = (self.pitch + d.y * 0.01).clamp(-1.5, 1.5);
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            self.distance = (self.distance * (-scroll * 0.002).exp()).clamp(1.1, 20.0);
        }
        if response.double_clicked() {
            *self = OrbitCamera::default();
        }
    }

    /// The camera position and the view-projection matrix (column-major) for a
    /// bounding sphere and an aspect ratio.
    pub fn view_proj(&self, center: [f32; 3], radius: f32, aspect: f32) -> ([f32; 3], [[f32; 4]; 4]) {
        let r = radius * self.distance;
        let eye = [
            center[0] + r * self.pitch.cos() * self.yaw.sin(),
            center[1] + r * self.pitch.sin(),
            center[2] + r * self.pitch.cos() * self.yaw.cos(),
        ];
        let view = look_at(eye, center, [0.0, 1.0, 0.0]);
        let near = (r - radius * 1.5).max(radius * 0.01);
        let proj = perspective(35f32.to_radians(), aspect.max(1e-3), near, r + radius * 1.5);
        (eye, mul(proj, view))
    }
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn normalize(a: [f32; 3]) -> [f32; 3] {
    let l = (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt().max(1e-12);
    [a[0] / l, a[1] / l, a[2] / l]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// A right-handed view matrix (column-major).
fn look_at(eye: [f32; 3], target: [f32; 3], up: [f32; 3]) -> [[f32; 4]; 4] {
    let f = normalize(sub(target, eye));
    let s = normalize(cross(f, up));
    let u = cross(s, f);
    [
        [s[0], u[0], -f[0], 0.0],
        [s[1], u[1], -f[1], 0.0],
        [s[2], u[2], -f[2], 0.0],
        [-dot(s, eye), -dot(u, eye), dot(f, eye), 1.0],
    ]
}

/// A right-handed perspective projection to wgpu's [0, 1] depth (column-major).
fn perspective(fov_y: f32, aspect: f32, near: f32, far: f32) -> [[f32; 4]; 4] {
    let f = 1.0 / (fov_y / 2.0).tan();
    [
        [f / aspect, 0.0, 0.0, 0.0],
        [0.0, f, 0.0, 0.0],
        [0.0, 0.0, far / (near - far), -1.0],
        [0.0, 0.0, near * far / (near - far), 0.0],
    ]
}

fn mul(a: [[f32; 4]; 4], b: [[f32; 4]; 4]) -> [[f32; 4]; 4] {
    let mut out = [[0.0; 4]; 4];
    for (c, col) in out.iter_mut().enumerate() {
        for (r, v) in col.iter_mut().enumerate() {
            *v = (0..4).map(|k| a[k][r] * b[c][k]).sum();
        }
    }
    out
}

/// Pipelines and buffers of the viewport, kept in the renderer.
struct Resources {
    triangles: wgpu::RenderPipeline,
    points: wgpu::RenderPipeline,
    blit: wgpu::RenderPipeline,
    blit_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    uniforms: wgpu::Buffer,
    uniform_group: wgpu::BindGroup,
    target: Option<Target>,
    mesh: Option<(u64, wgpu::Buffer, Option<wgpu::Buffer>, u32)>,
}

/// The offscreen colour and depth textures, at the viewport's pixel size.
struct Target {
    size: [u32; 2],
    color: wgpu::TextureView,
    depth: wgpu::TextureView,
    blit_group: wgpu::BindGroup,
}

/// Installs the viewport's pipelines into an egui wgpu renderer; call once.
pub fn install(render_state: &RenderState) {
    let device = &render_state.device;
    let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("gspeech viewport"),
        source: wgpu::ShaderSource::Wgsl(include_str!("viewport.wgsl").into()),
    });
    let uniform_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("viewport uniforms"),
        entries: &[wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }],
    });
    let blit_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("viewport blit"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Texture {
                    sample_type: wgpu::TextureSampleType::Float { filterable: true },
                    view_dimension: wgpu::TextureViewDimension::D2,
                    multisampled: false,
                },
                count: None,
            },
            wgpu::BindGroupLayoutEntry {
                binding: 1,
                visibility: wgpu::ShaderStages::FRAGMENT,
                ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                count: None,
            },
        ],
    });
    let scene_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("viewport scene"),
        bind_group_layouts: &[Some(&uniform_layout)],
        immediate_size: 0,
    });
    let scene = |topology| {
        device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("viewport scene"),
            layout: Some(&scene_layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_scene"),
                compilation_options: Default::default(),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: std::mem::size_of::<Vertex>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x3],
                })],
            },
            primitive: wgpu::PrimitiveState {
                topology,
                ..Default::default()
            },
            depth_stencil: Some(wgpu::DepthStencilState {
                format: DEPTH,
                depth_write_enabled: Some(true),
                depth_compare: Some(wgpu::CompareFunction::Less),
                stencil: Default::default(),
                bias: Default::default(),
            }),
            multisample: Default::default(),
            fragment: Some(wgpu::FragmentState {
                module: &shader,
                entry_point: Some("fs_scene"),
                compilation_options: Default::default(),
                targets: &[Some(COLOR.into())],
            }),
            multiview_mask: None,
            cache: None,
        })
    };
    let triangles = scene(wgpu::PrimitiveTopology::TriangleList);
    let points = scene(wgpu::PrimitiveTopology::PointList);
    let blit_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("viewport blit"),
        bind_group_layouts: &[Some(&blit_layout)],
        immediate_size: 0,
    });
    let blit = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some("viewport blit"),
        layout: Some(&blit_pipeline_layout),
        vertex: wgpu::VertexState {
            module: &shader,
            entry_point: Some("vs_blit"),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: Default::default(),
        depth_stencil: None,
        multisample: Default::default(),
        fragment: Some(wgpu::FragmentState {
            module: &shader,
            entry_point: Some("fs_blit"),
            compilation_options: Default::default(),
            targets: &[Some(render_state.target_format.into())],
        }),
        multiview_mask: None,
        cache: None,
    });
    let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("viewport uniforms"),
        size: std::mem::size_of::<Uniforms>() as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let uniform_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("viewport uniforms"),
        layout: &uniform_layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: uniforms.as_entire_binding(),
        }],
    });
    let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some("viewport blit"),
        mag_filter: wgpu::FilterMode::Linear,
        min_filter: wgpu::FilterMode::Linear,
        ..Default::default()
    });
    render_state.renderer.write().callback_resources.insert(Resources {
        triangles,
        points,
        blit,
        blit_layout,
        sampler,
        uniforms,
        uniform_group,
        target: None,
        mesh: None,
    });
}

/// One frame of the viewport: what to draw and from where.
struct Frame {
    /// Identifies the geometry; buffers are uploaded when it changes.
    key: u64,
    geometry: Arc<Geometry>,
    uniforms: Uniforms,
    size: [u32; 2],
}

impl CallbackTrait for Frame {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(res) = resources.get_mut::<Resources>() else {
            return Vec::new();
        };
        if res.target.as_ref().is_none_or(|t| t.size != self.size) {
            res.target = Some(make_target(device, &res.blit_layout, &res.sampler, self.size));
        }
        if res.mesh.as_ref().is_none_or(|m| m.0 != self.key) {
            use wgpu::util::DeviceExt;
            let vertices = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("viewport vertices"),
                contents: bytemuck::cast_slice(&self.geometry.vertices),
                usage: wgpu::BufferUsages::VERTEX,
            });
            let indices = (!self.geometry.triangles.is_empty()).then(|| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("viewport indices"),
                    contents: bytemuck::cast_slice(&self.geometry.triangles),
                    usage: wgpu::BufferUsages::INDEX,
                })
            });
            let count = if indices.is_some() {
                self.geometry.triangles.len()
            } else {
                self.geometry.vertices.len()
            } as u32;
            res.mesh = Some((self.key, vertices, indices, count));
        }
        queue.write_buffer(&res.uniforms, 0, bytemuck::bytes_of(&self.uniforms));
        let target = res.target.as_ref().expect("made above");
        let (_, vertices, indices, count) = res.mesh.as_ref().expect("made above");
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("viewport scene"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &target.color,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(BACKGROUND),
                    store: wgpu::StoreOp::Store,
                },
            })],
            depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
                view: &target.depth,
                depth_ops: Some(wgpu::Operations {
                    load: wgpu::LoadOp::Clear(1.0),
                    store: wgpu::StoreOp::Discard,
                }),
                stencil_ops: None,
            }),
            timestamp_writes: None,
            occlusion_query_set: None,
            multiview_mask: None,
        });
        pass.set_bind_group(0, &res.uniform_group, &[]);
        pass.set_vertex_buffer(0, vertices.slice(..));
        match indices {
            Some(indices) => {
                pass.set_pipeline(&res.triangles);
                pass.set_index_buffer(indices.slice(..), wgpu::IndexFormat::Uint32);
                pass.draw_indexed(0..*count, 0, 0..1);
            }
            None => {
                pass.set_pipeline(&res.points);
                pass.draw(0..*count, 0..1);
            }
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        pass: &mut wgpu::RenderPass<'static>,
        resources: &CallbackResources,
    ) {
        let Some(res) = resources.get::<Resources>() else {
            return;
        };
        let Some(target) = &res.target else { return };
        pass.set_pipeline(&res.blit);
        pass.set_bind_group(0, &target.blit_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

fn make_target(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    sampler: &wgpu::Sampler,
    size: [u32; 2],
) -> Target {
    let texture = |format, usage| {
        device
            .create_texture(&wgpu::TextureDescriptor {
                label: Some("viewport target"),
                size: wgpu::Extent3d {
                    width: size[0].max(1),
                    height: size[1].max(1),
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
            .create_view(&Default::default())
    };
    let color = texture(
        COLOR,
        wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
    );
    let depth = texture(DEPTH, wgpu::TextureUsages::RENDER_ATTACHMENT);
    let blit_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("viewport blit"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(&color),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: wgpu::BindingResource::Sampler(sampler),
            },
        ],
    });
    Target {
        size,
        color,
        depth,
        blit_group,
    }
}

/// Shows geometry in a viewport of the given height. `key` must change
/// whenever the geometry does. Without a wgpu renderer it says so instead.
pub fn show(
    ui: &mut Ui,
    render_state: Option<&RenderState>,
    camera: &mut OrbitCamera,
    key: u64,
    geometry: &Arc<Geometry>,
    height: f32,
) {
    let size = egui::vec2(ui.available_width(), height);
    let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
    if render_state.is_none() {
        ui.painter().rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
        ui.painter().text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "The 3D preview needs the wgpu renderer",
            egui::FontId::proportional(14.0),
            ui.visuals().weak_text_color(),
        );
        return;
    }
    camera.interact(&response, ui);
    let (center, radius) = geometry.bounds();
    let (eye, view_proj) = camera.view_proj(center, radius, rect.aspect_ratio());
    // A key light above and to the left of the camera, so that shapes read.
    let forward = normalize(sub(center, eye));
    let right = normalize(cross(forward, [0.0, 1.0, 0.0]));
    let up = cross(right, forward);
    let light: [f32; 3] = std::array::from_fn(|k| -forward[k] - 0.7 * right[k] + 0.8 * up[k]);
    let ppp = ui.ctx().pixels_per_point();
    let frame = Frame {
        key,
        geometry: geometry.clone(),
        uniforms: Uniforms {
            view_proj,
            light: [
                light[0],
                light[1],
                light[2],
                if geometry.triangles.is_empty() { 0.0 } else { 1.0 },
            ],
        },
        size: [
            (rect.width() * ppp).round() as u32,
            (rect.height() * ppp).round() as u32,
        ],
    };
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(rect, frame));
    response.on_hover_text("Drag to orbit, scroll to zoom, double-click to reset");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(m: [[f32; 4]; 4], p: [f32; 3]) -> [f32; 3] {
        let v: Vec<f32> = (0..4)
            .map(|r| m[0][r] * p[0] + m[1][r] * p[1] + m[2][r] * p[2] + m[3][r])
            .collect();
        [v[0] / v[3], v[1] / v[3], v[2] / v[3]]
    }

    #[test]
    fn the_default_camera_sees_the_centre_in_the_middle_and_in_depth_range() {
        let camera = OrbitCamera {
            pitch: 0.0,
            ..OrbitCamera::default()
        };
        let (eye, m) = camera.view_proj([0.0, 0.0, 0.0], 1.0, 1.0);
        assert!(eye[2] > 0.0, "looks at the front (+Z) of the face");
        let c = apply(m, [0.0, 0.0, 0.0]);
        assert!(c[0].abs() < 1e-5 && c[1].abs() < 1e-5);
        assert!(c[2] > 0.0 && c[2] < 1.0, "depth {}", c[2]);
        let right = apply(m, [0.5, 0.0, 0.0]);
        assert!(right[0] > 0.0, "+X is to the right");
        let near = apply(m, [0.0, 0.0, 0.9]);
        assert!(near[2] < c[2], "nearer points have smaller depth");
    }
}
