//! The 3D viewport: face meshes shaded by its own pipeline and Gaussian
//! splats drawn by the project's splat renderer ([`SplatRenderer`]), both on
//! the editor's wgpu device and seen through one orbit camera.
//!
//! A scene is rendered into an offscreen texture registered with egui's
//! renderer, which egui then draws like any image. It is rendered again only
//! when the scene, the camera or the viewport's size changes: an idle viewport
//! costs no GPU work, and no picture is read back to the CPU.

use std::sync::Arc;

use egui::{Color32, Pos2, Rect, Sense, Ui};
use egui_wgpu::{RenderState, wgpu};
use gspeech_nodes::camera::Camera;
use gspeech_nodes::render::SplatRenderer;
use gspeech_nodes::splats::Gaussians;

use super::mesh::{Geometry, Vertex};

/// What the viewport shows.
#[derive(Clone)]
pub enum Scene {
    /// A shaded triangle mesh.
    Mesh(Arc<Geometry>),
    /// Gaussian splats in world space.
    Splats(Arc<Gaussians>),
}

impl Scene {
    /// The sphere that frames it.
    pub fn bounds(&self) -> ([f32; 3], f32) {
        match self {
            Scene::Mesh(geometry) => geometry.bounds(),
            Scene::Splats(gaussians) => super::avatar::bounds(&gaussians.means),
        }
    }
}

/// The offscreen picture's format: what egui's renderer samples from a
/// registered texture (gamma-encoded colour, like egui's own textures).
const COLOR: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
const DEPTH: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Behind everything, gamma-encoded RGBA.
const BACKGROUND: [f32; 4] = [0.09, 0.09, 0.1, 1.0];
/// The vertical field of view, degrees.
const FOV_Y: f32 = 35.0;

/// An orbit camera around a bounding sphere.
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

    /// Where the camera is, for a bounding sphere.
    pub fn eye(&self, center: [f32; 3], radius: f32) -> [f32; 3] {
        let r = radius * self.distance;
        [
            center[0] + r * self.pitch.cos() * self.yaw.sin(),
            center[1] + r * self.pitch.sin(),
            center[2] + r * self.pitch.cos() * self.yaw.cos(),
        ]
    }

    /// The near and far clipping distances that keep the bounding sphere in view.
    fn clip(&self, radius: f32) -> (f32, f32) {
        let r = radius * self.distance;
        ((r - radius * 1.5).max(radius * 0.01), r + radius * 1.5)
    }

    /// The camera position and the view-projection matrix (column-major, wgpu's
    /// clip space) for a bounding sphere and an aspect ratio.
    pub fn view_proj(&self, center: [f32; 3], radius: f32, aspect: f32) -> ([f32; 3], [[f32; 4]; 4]) {
        let eye = self.eye(center, radius);
        let view = look_at(eye, center, [0.0, 1.0, 0.0]);
        let (near, far) = self.clip(radius);
        let proj = perspective(FOV_Y.to_radians(), aspect.max(1e-3), near, far);
        (eye, mul(proj, view))
    }

    /// The same view as a pinhole camera (OpenCV axes) of `size` pixels, as the
    /// splat renderer takes it.
    pub fn pinhole(&self, center: [f32; 3], radius: f32, size: [u32; 2]) -> Result<Camera, String> {
        let mut camera =
            Camera::new(size[0], size[1], FOV_Y).looking_at(self.eye(center, radius), center, [0.0, 1.0, 0.0])?;
        (camera.near, camera.far) = self.clip(radius);
        Ok(camera)
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

/// The mesh shader's uniforms.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Uniforms {
    view_proj: [[f32; 4]; 4],
    /// xyz: towards the light; w unused.
    light: [f32; 4],
}

impl Uniforms {
    /// The camera's view, with a key light above and to the left of it so that shapes read.
    fn new(camera: &OrbitCamera, (center, radius): ([f32; 3], f32), size: [u32; 2]) -> Uniforms {
        let (eye, view_proj) = camera.view_proj(center, radius, size[0] as f32 / size[1] as f32);
        let forward = normalize(sub(center, eye));
        let right = normalize(cross(forward, [0.0, 1.0, 0.0]));
        let up = cross(right, forward);
        let light = std::array::from_fn(|k| {
            if k < 3 {
                -forward[k] - 0.7 * right[k] + 0.8 * up[k]
            } else {
                0.0
            }
        });
        Uniforms { view_proj, light }
    }
}

/// The offscreen colour and depth textures, at the viewport's pixel size.
struct Target {
    size: [u32; 2],
    color: wgpu::Texture,
    color_view: wgpu::TextureView,
    depth: wgpu::TextureView,
}

impl Target {
    fn new(device: &wgpu::Device, size: [u32; 2]) -> Target {
        let texture = |format, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some("viewport target"),
                size: wgpu::Extent3d {
                    width: size[0],
                    height: size[1],
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let color = texture(
            COLOR,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::TEXTURE_BINDING,
        );
        let depth = texture(DEPTH, wgpu::TextureUsages::RENDER_ATTACHMENT);
        Target {
            size,
            color_view: color.create_view(&Default::default()),
            color,
            depth: depth.create_view(&Default::default()),
        }
    }
}

/// The mesh shading pipeline and the buffers of the mesh last drawn.
struct MeshPass {
    pipeline: wgpu::RenderPipeline,
    uniforms: wgpu::Buffer,
    uniform_group: wgpu::BindGroup,
    /// The uploaded mesh: its key, vertices, indices and index count.
    buffers: Option<(u64, wgpu::Buffer, wgpu::Buffer, u32)>,
}

impl MeshPass {
    fn new(device: &wgpu::Device) -> MeshPass {
        let shader = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("viewport.wgsl"),
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
        let layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("viewport mesh"),
            bind_group_layouts: &[Some(&uniform_layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("viewport mesh"),
            layout: Some(&layout),
            vertex: wgpu::VertexState {
                module: &shader,
                entry_point: Some("vs_mesh"),
                compilation_options: Default::default(),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: size_of::<Vertex>() as u64,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32x3, 2 => Float32x3],
                })],
            },
            primitive: Default::default(),
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
                entry_point: Some("fs_mesh"),
                compilation_options: Default::default(),
                targets: &[Some(COLOR.into())],
            }),
            multiview_mask: None,
            cache: None,
        });
        let uniforms = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("viewport uniforms"),
            size: size_of::<Uniforms>() as u64,
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
        MeshPass {
            pipeline,
            uniforms,
            uniform_group,
            buffers: None,
        }
    }

    /// Draws a mesh into the target, uploading it when `key` is new.
    fn draw(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        key: u64,
        geometry: &Geometry,
        uniforms: &Uniforms,
        target: &Target,
    ) {
        if self.buffers.as_ref().is_none_or(|b| b.0 != key) {
            use wgpu::util::DeviceExt;
            let buffer = |label, contents, usage| {
                device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents,
                    usage,
                })
            };
            let vertices = buffer(
                "viewport vertices",
                bytemuck::cast_slice(&geometry.vertices),
                wgpu::BufferUsages::VERTEX,
            );
            let indices = buffer(
                "viewport indices",
                bytemuck::cast_slice(&geometry.triangles),
                wgpu::BufferUsages::INDEX,
            );
            self.buffers = Some((key, vertices, indices, geometry.triangles.len() as u32));
        }
        queue.write_buffer(&self.uniforms, 0, bytemuck::bytes_of(uniforms));
        let (_, vertices, indices, count) = self.buffers.as_ref().expect("uploaded above");
        let [r, g, b, a] = BACKGROUND.map(f64::from);
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("viewport mesh"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &target.color_view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a }),
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
            pass.set_pipeline(&self.pipeline);
            pass.set_bind_group(0, &self.uniform_group, &[]);
            pass.set_vertex_buffer(0, vertices.slice(..));
            pass.set_index_buffer(indices.slice(..), wgpu::IndexFormat::Uint32);
            pass.draw_indexed(0..*count, 0, 0..1);
        }
        queue.submit([encoder.finish()]);
    }
}

/// What the offscreen picture shows: it is drawn again when any of this changes.
#[derive(Clone, Copy, PartialEq)]
struct Shown {
    key: u64,
    camera: OrbitCamera,
    bounds: ([f32; 3], f32),
    size: [u32; 2],
}

/// The viewport's GPU side: its mesh pipeline, the splat renderer (made on
/// first use, then kept), and the offscreen picture egui draws.
pub struct Viewport {
    render_state: RenderState,
    meshes: MeshPass,
    splats: Option<SplatRenderer>,
    target: Option<Target>,
    /// The picture's id in egui's renderer.
    texture: Option<egui::TextureId>,
    /// What the picture shows, and whether drawing it worked.
    shown: Option<(Shown, Result<(), String>)>,
}

impl Viewport {
    /// A viewport drawing on the device of an egui wgpu renderer.
    pub fn new(render_state: &RenderState) -> Viewport {
        Viewport {
            meshes: MeshPass::new(&render_state.device),
            render_state: render_state.clone(),
            splats: None,
            target: None,
            texture: None,
            shown: None,
        }
    }

    /// Makes the offscreen picture `size` pixels large, registered with egui.
    fn resize(&mut self, size: [u32; 2]) -> egui::TextureId {
        let device = &self.render_state.device;
        if self.target.as_ref().is_none_or(|t| t.size != size) {
            let target = Target::new(device, size);
            let mut renderer = self.render_state.renderer.write();
            let filter = wgpu::FilterMode::Linear;
            match self.texture {
                Some(id) => renderer.update_egui_texture_from_wgpu_texture(device, &target.color_view, filter, id),
                None => self.texture = Some(renderer.register_native_texture(device, &target.color_view, filter)),
            }
            self.target = Some(target);
            self.shown = None;
        }
        self.texture.expect("registered with the target")
    }

    /// The picture of a scene seen by `camera` around the bounding sphere
    /// `bounds`, `size` pixels large, drawn unless it already shows exactly that.
    fn draw(
        &mut self,
        scene: &Scene,
        key: u64,
        camera: &OrbitCamera,
        bounds: ([f32; 3], f32),
        size: [u32; 2],
    ) -> Result<egui::TextureId, String> {
        let shown = Shown {
            key,
            camera: *camera,
            bounds,
            size,
        };
        let texture = self.resize(size);
        if let Some((was, result)) = &self.shown
            && *was == shown
        {
            return result.clone().map(|()| texture);
        }
        let target = self.target.as_ref().expect("made by resize");
        let (device, queue) = (&self.render_state.device, &self.render_state.queue);
        let result = match scene {
            Scene::Mesh(geometry) => {
                let uniforms = Uniforms::new(camera, bounds, size);
                self.meshes.draw(device, queue, key, geometry, &uniforms, target);
                Ok(())
            }
            Scene::Splats(gaussians) => {
                let renderer = self.splats.get_or_insert_with(|| SplatRenderer::new(device, queue));
                camera
                    .pinhole(bounds.0, bounds.1, size)
                    .and_then(|camera| renderer.render(gaussians, &camera, BACKGROUND))
                    .and_then(|()| renderer.draw_into(&target.color))
            }
        };
        self.shown = Some((shown, result.clone()));
        result.map(|()| texture)
    }
}

impl Drop for Viewport {
    fn drop(&mut self) {
        if let Some(id) = self.texture {
            self.render_state.renderer.write().free_texture(&id);
        }
    }
}

/// Shows a scene in a viewport of the given height, around the bounding
/// sphere `bounds`. `key` must change whenever the scene does. Without a
/// wgpu renderer it says so instead.
pub fn show(
    ui: &mut Ui,
    viewport: Option<&mut Viewport>,
    camera: &mut OrbitCamera,
    key: u64,
    scene: &Scene,
    bounds: ([f32; 3], f32),
    height: f32,
) {
    let size = egui::vec2(ui.available_width(), height);
    let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
    let Some(viewport) = viewport else {
        message(
            ui,
            rect,
            "The 3D preview needs the wgpu renderer",
            ui.visuals().weak_text_color(),
        );
        return;
    };
    camera.interact(&response, ui);
    let ppp = ui.ctx().pixels_per_point();
    let pixels = [rect.width(), rect.height()].map(|v| (v * ppp).round().max(1.0) as u32);
    match viewport.draw(scene, key, camera, bounds, pixels) {
        Ok(texture) => {
            let whole = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
            ui.painter().image(texture, rect, whole, Color32::WHITE);
        }
        Err(e) => message(
            ui,
            rect,
            &format!("Could not draw this: {e}"),
            ui.visuals().error_fg_color,
        ),
    }
    response.on_hover_text("Drag to orbit, scroll to zoom, double-click to reset");
}

/// A line of text in place of the picture.
fn message(ui: &Ui, rect: Rect, text: &str, color: Color32) {
    ui.painter().rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    ui.painter().text(
        rect.center(),
        egui::Align2::CENTER_CENTER,
        text,
        egui::FontId::proportional(14.0),
        color,
    );
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

    #[test]
    fn the_pinhole_camera_sees_what_the_mesh_view_sees() {
        let camera = OrbitCamera {
            yaw: 0.7,
            pitch: -0.4,
            distance: 2.5,
        };
        let (center, radius, size) = ([1.0, -2.0, 0.5], 3.0, [320u32, 200u32]);
        let (_, m) = camera.view_proj(center, radius, size[0] as f32 / size[1] as f32);
        let pinhole = camera.pinhole(center, radius, size).unwrap();
        pinhole.check().unwrap();
        for p in [[1.0, -2.0, 0.5], [2.5, 0.0, 1.0], [-1.0, -3.5, 2.0], [0.0, 0.0, -2.0]] {
            let ndc = apply(m, p);
            // Clip space to pixels: x right, y down, the image's corners at ±1.
            let expected = [
                (ndc[0] + 1.0) / 2.0 * size[0] as f32,
                (1.0 - ndc[1]) / 2.0 * size[1] as f32,
            ];
            let got = pinhole.project(p).unwrap();
            assert!(
                (got[0] - expected[0]).abs() < 1e-2 && (got[1] - expected[1]).abs() < 1e-2,
                "{p:?}: pinhole {got:?}, mesh view {expected:?}"
            );
        }
        let depth = pinhole.to_camera(center)[2];
        assert!(pinhole.near < depth - radius && depth + radius < pinhole.far);
    }
}
