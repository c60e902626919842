//! The preview panel: the selected node's outputs from the latest run, shown
//! by port type. Audio is a waveform, features a heatmap, blendshape weights
//! are curves, image sequences play as frames; face models and motion are a
//! shaded mesh in the 3D [`viewport`], and avatars (and any Gaussian set)
//! Gaussian splats there, posed by the run's motion when they are bound to a
//! face; a capture is a contact sheet of its cameras. Every timed preview
//! shares one playhead ([`transport`]), which also plays the graph's audio in
//! sync.

pub mod avatar;
pub mod capture;
pub mod curves;
pub mod frames;
pub mod heatmap;
pub mod mesh;
pub mod transport;
pub mod viewport;
pub mod waveform;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use egui::{Color32, Pos2, Rect, RichText, Sense, Stroke, TextureHandle, Ui, Vec2};
use egui_wgpu::RenderState;
use gspeech_sdk::{Outputs, PortType, Record, Value};

use self::avatar::AvatarView;
use self::capture::CaptureView;
use self::mesh::{FaceMesh, Geometry};
use self::transport::{Sound, Transport};
use self::viewport::{OrbitCamera, Scene, Viewport};
use super::theme;

/// The preview panel's state.
pub struct Previews {
    /// The shared playhead.
    pub transport: Transport,
    camera: OrbitCamera,
    viewport: Option<Viewport>,
    textures: HashMap<(usize, usize), TextureHandle>,
    sounds: HashMap<usize, Sound>,
    faces: HashMap<usize, Arc<FaceMesh>>,
    /// The avatar shown last, under a key of it and the run's faces and motions.
    avatar: Option<(u64, Result<Arc<AvatarView>, String>)>,
    scene: Option<(u64, Scene)>,
    capture: CaptureView,
    output: HashMap<String, String>,
}

/// A stable identity for a shared record (its address while it is alive).
fn identity(record: &Arc<Record>) -> usize {
    Arc::as_ptr(record) as usize
}

impl Previews {
    /// A panel drawing 3D previews with `render_state` (none: 3D is unavailable).
    pub fn new(render_state: Option<RenderState>) -> Previews {
        Previews {
            transport: Transport::default(),
            camera: OrbitCamera::default(),
            viewport: render_state.as_ref().map(Viewport::new),
            textures: HashMap::new(),
            sounds: HashMap::new(),
            faces: HashMap::new(),
            avatar: None,
            scene: None,
            capture: CaptureView::default(),
            output: HashMap::new(),
        }
    }

    /// The sound that plays with the playhead: the node's own audio when it
    /// has some, else the first audio the graph produced.
    pub fn sound_for(&mut self, node: Option<&Outputs>, all: &HashMap<String, Arc<Outputs>>) -> Option<Sound> {
        let own = node.and_then(|o| first_of(o, PortType::Audio));
        let graph = || all_of(all, PortType::Audio).into_iter().next();
        self.sound_of(&own.or_else(graph)?)
    }

    /// An audio record's mono mix, kept while the record is shown.
    fn sound_of(&mut self, record: &Arc<Record>) -> Option<Sound> {
        let key = identity(record);
        if !self.sounds.contains_key(&key) {
            if self.sounds.len() > 4 {
                self.sounds.clear();
            }
            self.sounds.insert(key, Sound::from_record(record)?);
        }
        self.sounds.get(&key).cloned()
    }

    /// Shows the panel for a node (`None`: nothing selected).
    pub fn show(
        &mut self,
        ui: &mut Ui,
        node: Option<&str>,
        outputs: Option<&Arc<Outputs>>,
        all: &HashMap<String, Arc<Outputs>>,
    ) {
        let Some(node) = node else {
            ui.weak("Select a node to preview its output.");
            return;
        };
        let Some(outputs) = outputs.filter(|o| !o.values().is_empty()) else {
            ui.weak(format!(
                "`{node}` has no output to show yet: run the graph (Ctrl+Enter), or run to this node from its menu."
            ));
            return;
        };
        let names: Vec<&String> = outputs.values().keys().collect();
        let chosen = self
            .output
            .get(node)
            .filter(|n| outputs.get(n).is_some())
            .cloned()
            .unwrap_or_else(|| names[0].clone());
        ui.horizontal(|ui| {
            for name in &names {
                let ty = outputs.get(name).map(Value::port_type).unwrap_or(PortType::Any);
                let text = RichText::new(name.as_str()).color(theme::port_color(ty));
                if ui.selectable_label(**name == chosen, text).clicked() {
                    self.output.insert(node.to_string(), name.to_string());
                }
            }
        });
        let value = outputs.get(&chosen).expect("chosen among the outputs").clone();
        ui.add(egui::Label::new(RichText::new(value.to_string()).monospace().small()).truncate());
        let sound = self.sound_for(Some(outputs), all);
        match &value {
            Value::Data(record) => self.show_record(ui, record, sound.as_ref(), all),
            scalar => {
                ui.label(RichText::new(scalar.to_string()).size(18.0));
            }
        }
    }

    fn show_record(
        &mut self,
        ui: &mut Ui,
        record: &Arc<Record>,
        sound: Option<&Sound>,
        all: &HashMap<String, Arc<Outputs>>,
    ) {
        let height = (ui.available_height() - 40.0).max(80.0);
        match record.kind() {
            PortType::Audio => {
                let Some(own) = self.sound_of(record) else { return };
                self.transport.set_duration(own.seconds());
                self.transport.controls(ui, sound);
                let rect = timeline(ui, height, &mut self.transport);
                waveform::paint(ui, rect, &own, theme::port_color(PortType::Audio));
                playhead(ui, rect, &mut self.transport);
            }
            PortType::Features => {
                let Some(t) = record.tensor("values") else { return };
                let (frames, dims) = (t.shape()[0], t.shape()[1]);
                let rate = record.attr("rate").and_then(|r| r.as_f64()).unwrap_or(50.0);
                self.transport.set_duration(frames as f64 / rate);
                self.transport.controls(ui, sound);
                let rect = timeline(ui, height, &mut self.transport);
                let key = (identity(record), 0);
                let texture = self.textures.entry(key).or_insert_with(|| {
                    let image = heatmap::image(t.as_f32().unwrap_or_default(), frames, dims);
                    ui.ctx().load_texture("features", image, egui::TextureOptions::NEAREST)
                });
                ui.painter().image(
                    texture.id(),
                    rect,
                    Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
                    Color32::WHITE,
                );
                playhead(ui, rect, &mut self.transport);
            }
            PortType::Motion => self.show_motion(ui, record, sound, all, height),
            PortType::FaceModel => {
                let Some(face) = self.face(record) else { return };
                let key = hash_of(&(identity(record), "neutral"));
                let scene = self.scene(key, || {
                    Scene::Mesh(Geometry::mesh(&face.neutral, &face.triangles).into())
                });
                self.show_scene(ui, key, &scene, scene.bounds(), height);
            }
            PortType::Avatar => self.show_avatar(ui, record, sound, all),
            PortType::Frames => {
                let Some((count, size, fps)) = frames::layout(record) else {
                    return;
                };
                self.transport.set_duration(count as f64 / fps);
                self.transport.controls(ui, sound);
                let t = self.transport.time();
                let index = ((t * fps) as usize).min(count.saturating_sub(1));
                let key = (identity(record), index);
                if !self.textures.contains_key(&key) {
                    // Keep only the frame on screen: sequences can be long.
                    self.textures.retain(|k, _| k.0 != key.0);
                    if let Some(image) = frames::frame(record, index) {
                        let tex = ui.ctx().load_texture("frame", image, egui::TextureOptions::LINEAR);
                        self.textures.insert(key, tex);
                    }
                }
                if let Some(tex) = self.textures.get(&key) {
                    let aspect = size[0] as f32 / size[1].max(1) as f32;
                    let h = height.min(ui.available_width() / aspect);
                    ui.add(egui::Image::new((tex.id(), Vec2::new(h * aspect, h))));
                    ui.weak(format!("frame {} of {count}", index + 1));
                }
            }
            PortType::Dataset if capture::is_capture(record) => {
                let (frames, fps) = capture::timing(record);
                self.transport.set_duration(frames as f64 / fps);
                self.transport.controls(ui, sound);
                let time = self.transport.time();
                self.capture.show(ui, record, time, height - 20.0);
            }
            _ => {
                ui.weak("No picture for this kind of value; its summary is above.");
            }
        }
    }

    fn show_motion(
        &mut self,
        ui: &mut Ui,
        record: &Arc<Record>,
        sound: Option<&Sound>,
        all: &HashMap<String, Arc<Outputs>>,
        height: f32,
    ) {
        let fps = record.attr("fps").and_then(|f| f.as_f64()).unwrap_or(25.0);
        let frames = ["weights", "vertex_offsets"]
            .iter()
            .find_map(|n| record.tensor(n).map(|t| t.shape()[0]))
            .unwrap_or(0);
        self.transport.set_duration(frames as f64 / fps);
        self.transport.controls(ui, sound);
        let frame = ((self.transport.time() * fps) as usize).min(frames.saturating_sub(1));
        // A face model the motion fits, among the run's outputs.
        let face = all_of(all, PortType::FaceModel)
            .into_iter()
            .next()
            .and_then(|r| Some((identity(&r), self.face(&r)?)))
            .filter(|(_, f)| f.posed(record, 0).is_some());
        let curves_height = if face.is_some() { height * 0.35 } else { height };
        if let Some(w) = record.tensor("weights") {
            let names: Vec<String> = record
                .attr("weight_names")
                .and_then(|n| n.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default();
            let rect = timeline(ui, curves_height, &mut self.transport);
            let hovered = curves::paint(
                ui,
                rect,
                w.as_f32().unwrap_or_default(),
                w.shape()[0],
                w.shape()[1],
                &names,
            );
            playhead(ui, rect, &mut self.transport);
            if let Some(text) = hovered {
                ui.label(text);
            }
        }
        match face {
            Some((face_id, face)) => {
                let key = hash_of(&(identity(record), face_id, frame));
                let scene = self.scene(key, || {
                    let posed = face.posed(record, frame).unwrap_or_else(|| face.neutral.clone());
                    Scene::Mesh(Geometry::mesh(&posed, &face.triangles).into())
                });
                let h = ui.available_height().max(80.0);
                self.show_scene(ui, key, &scene, scene.bounds(), h);
            }
            None if record.tensor("vertex_offsets").is_some() => {
                ui.weak("Run a face model in this graph to see the motion on its mesh.");
            }
            None => {}
        }
    }

    /// An avatar as splats, posed by the run's motion at the playhead when
    /// its Gaussians are bound to the run's face model.
    fn show_avatar(
        &mut self,
        ui: &mut Ui,
        record: &Arc<Record>,
        sound: Option<&Sound>,
        all: &HashMap<String, Arc<Outputs>>,
    ) {
        let (faces, motions) = (all_of(all, PortType::FaceModel), all_of(all, PortType::Motion));
        let ids = |records: &[Arc<Record>]| records.iter().map(identity).collect::<Vec<_>>();
        let key = hash_of(&(identity(record), ids(&faces), ids(&motions)));
        if self.avatar.as_ref().is_none_or(|(k, _)| *k != key) {
            let view = AvatarView::new(record, &faces, &motions).map(Arc::new);
            self.avatar = Some((key, view));
        }
        let view = match &self.avatar.as_ref().expect("made above").1 {
            Ok(view) => view.clone(),
            Err(e) => {
                ui.colored_label(theme::FAILED, format!("Cannot show this avatar: {e}"));
                return;
            }
        };
        let mut frame = 0;
        if view.frames() > 1 {
            self.transport.set_duration(view.frames() as f64 / view.fps());
            self.transport.controls(ui, sound);
            frame = ((self.transport.time() * view.fps()) as usize).min(view.frames() - 1);
        }
        ui.weak(view.summary());
        let key = hash_of(&(key, frame));
        let scene = self.scene(key, || Scene::Splats(view.posed(frame)));
        let height = ui.available_height().max(80.0);
        self.show_scene(ui, key, &scene, view.bounds(), height);
    }

    fn face(&mut self, record: &Arc<Record>) -> Option<Arc<FaceMesh>> {
        let key = identity(record);
        if !self.faces.contains_key(&key) {
            self.faces.clear();
            self.faces.insert(key, Arc::new(FaceMesh::from_record(record)?));
        }
        self.faces.get(&key).cloned()
    }

    /// The scene under `key`, made when it is not the one shown last.
    fn scene(&mut self, key: u64, make: impl FnOnce() -> Scene) -> Scene {
        match &self.scene {
            Some((k, scene)) if *k == key => scene.clone(),
            _ => {
                let scene = make();
                self.scene = Some((key, scene.clone()));
                scene
            }
        }
    }

    /// A scene in the viewport, framing the sphere `bounds`.
    fn show_scene(&mut self, ui: &mut Ui, key: u64, scene: &Scene, bounds: ([f32; 3], f32), height: f32) {
        viewport::show(ui, self.viewport.as_mut(), &mut self.camera, key, scene, bounds, height);
    }
}

/// The outputs of a kind of every node, in the order of the nodes' ids.
fn all_of(all: &HashMap<String, Arc<Outputs>>, kind: PortType) -> Vec<Arc<Record>> {
    let mut ids: Vec<&String> = all.keys().collect();
    ids.sort();
    ids.into_iter()
        .flat_map(|id| all[id].values().values())
        .filter_map(|v| match v {
            Value::Data(r) if r.kind() == kind => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The first output of a kind.
fn first_of(outputs: &Outputs, kind: PortType) -> Option<Arc<Record>> {
    outputs.values().values().find_map(|v| match v {
        Value::Data(r) if r.kind() == kind => Some(r.clone()),
        _ => None,
    })
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// A timed strip: clicking or dragging in it moves the playhead.
fn timeline(ui: &mut Ui, height: f32, transport: &mut Transport) -> Rect {
    let (rect, response) = ui.allocate_exact_size(Vec2::new(ui.available_width(), height), Sense::click_and_drag());
    if (response.clicked() || response.dragged())
        && let Some(p) = response.interact_pointer_pos()
    {
        let t = ((p.x - rect.left()) / rect.width()).clamp(0.0, 1.0) as f64 * transport.duration();
        transport.seek(t);
    }
    rect
}

/// The playhead line over a timed strip.
fn playhead(ui: &Ui, rect: Rect, transport: &mut Transport) {
    let d = transport.duration();
    if d <= 0.0 {
        return;
    }
    let x = rect.left() + rect.width() * (transport.time() / d) as f32;
    ui.painter().line_segment(
        [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
        Stroke::new(1.5, Color32::WHITE),
    );
}
