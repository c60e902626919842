//! The node canvas: an egui-snarl view over the document's graph.
//!
//! The [`Document`] is the one source of truth. The snarl is a view of it,
//! brought up to date whenever the document's revision changes; everything the
//! user does on the canvas (connect, disconnect, move, edit a parameter inline)
//! becomes a document edit, so it can be undone. Sockets are the node type's
//! inputs followed by its parameters (an edge may drive a parameter), then
//! its outputs, all coloured by port type. Whether a connection is allowed is
//! decided by the validator's own rule ([`check_connection`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use egui::emath::TSTransform;
use egui::{Color32, Id, Pos2, Rect, RichText, Ui, Vec2};
use egui_snarl::ui::{PinInfo, PinShape, PinWireInfo, SnarlPin, SnarlStyle, SnarlViewer, SnarlWidget};
use egui_snarl::{InPin, InPinId, NodeId, OutPin, OutPinId, Snarl};
use gspeech_sdk::{NodeSpec, PortType};

use super::document::Document;
use super::params::{self, FileDialogs, Layout};
use super::runner::{NodeState, Runner};
use super::theme;
use crate::graph::{Backdrop, Endpoint};
use crate::registry::Registry;
use crate::validate::check_connection;

/// How long a refused connection's reason stays on screen.
const REFUSAL_SHOWN: Duration = Duration::from_secs(5);
/// The canvas widget's id (egui-snarl keeps the selection under it).
const CANVAS_ID: &str = "gspeech-canvas";

/// A socket on the canvas: node id, socket name, and whether it is an input.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SocketKey {
    /// Node id.
    pub node: String,
    /// Socket or parameter name.
    pub socket: String,
    /// Input (or parameter) rather than output.
    pub input: bool,
}

/// A connection the canvas refused, and why.
#[derive(Clone, Debug)]
pub struct Refusal {
    /// The reason, naming both sockets and types.
    pub message: String,
    at: Pos2,
    since: Instant,
}

/// Something the user asked for on the canvas that the editor carries out.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Open the palette at a screen position.
    Palette(Pos2),
    /// Run what this node needs, and it.
    RunTo(String),
    /// Duplicate these nodes.
    Duplicate(Vec<String>),
    /// Delete these nodes.
    Delete(Vec<String>),
    /// Paste the clipboard at a screen position.
    Paste(Pos2),
}

/// The canvas's view state.
pub struct Canvas {
    snarl: Snarl<String>,
    ids: HashMap<String, NodeId>,
    synced: Option<u64>,
    id: Id,
    sockets: Rc<RefCell<HashMap<SocketKey, Pos2>>>,
    rects: HashMap<String, Rect>,
    to_global: TSTransform,
    fit_all: bool,
    refusal: Option<Refusal>,
    screen: Rect,
}

impl Default for Canvas {
    fn default() -> Canvas {
        Canvas::new()
    }
}

impl Canvas {
    /// An empty canvas.
    pub fn new() -> Canvas {
        Canvas {
            snarl: Snarl::new(),
            ids: HashMap::new(),
            synced: None,
            id: Id::new(CANVAS_ID),
            sockets: Rc::default(),
            rects: HashMap::new(),
            to_global: TSTransform::IDENTITY,
            fit_all: true,
            refusal: None,
            screen: Rect::NOTHING,
        }
    }

    /// Brings the view up to date with the document.
    pub fn sync(&mut self, doc: &Document, registry: &Registry) {
        if self.synced == Some(doc.revision()) {
            return;
        }
        self.synced = Some(doc.revision());
        let graph = doc.graph();
        self.ids.retain(|id, node| {
            let keep = graph.node(id).is_some();
            if !keep {
                self.snarl.remove_node(*node);
            }
            keep
        });
        for entry in &graph.nodes {
            let pos = Pos2::new(entry.position[0] as f32, entry.position[1] as f32);
            match self.ids.get(&entry.id) {
                Some(&node) => {
                    if let Some(info) = self.snarl.get_node_info_mut(node) {
                        info.pos = pos;
                    }
                }
                None => {
                    let node = self.snarl.insert_node(pos, entry.id.clone());
                    self.ids.insert(entry.id.clone(), node);
                }
            }
        }
        self.rects.retain(|id, _| graph.node(id).is_some());
        let mut wanted = Vec::new();
        for edge in &graph.edges {
            let (Some(&from), Some(&to)) = (self.ids.get(&edge.from.node), self.ids.get(&edge.to.node)) else {
                continue;
            };
            let from_spec = graph.node(&edge.from.node).and_then(|n| registry.get(&n.type_id));
            let to_spec = graph.node(&edge.to.node).and_then(|n| registry.get(&n.type_id));
            let (Some(from_spec), Some(to_spec)) = (from_spec, to_spec) else {
                continue;
            };
            let (Some(output), Some(input)) = (
                output_index(&from_spec.spec, &edge.from.socket),
                input_index(&to_spec.spec, &edge.to.socket),
            ) else {
                continue;
            };
            wanted.push((OutPinId { node: from, output }, InPinId { node: to, input }));
        }
        let existing: Vec<(OutPinId, InPinId)> = self.snarl.wires().collect();
        for wire in &existing {
            if !wanted.contains(wire) {
                self.snarl.disconnect(wire.0, wire.1);
            }
        }
        for wire in wanted {
            if !existing.contains(&wire) {
                self.snarl.connect(wire.0, wire.1);
            }
        }
    }

    /// The ids of the selected nodes, in selection order.
    pub fn selected(&self, ctx: &egui::Context) -> Vec<String> {
        egui_snarl::ui::get_selected_nodes(self.id, ctx)
            .into_iter()
            .filter_map(|n| self.snarl.get_node(n).cloned())
            .collect()
    }

    /// Where a socket was drawn in the last frame, in screen coordinates.
    pub fn socket_pos(&self, node: &str, socket: &str, input: bool) -> Option<Pos2> {
        let key = SocketKey {
            node: node.into(),
            socket: socket.into(),
            input,
        };
        self.sockets.borrow().get(&key).map(|p| self.to_global * *p)
    }

    /// Where a node was drawn in the last frame, in screen coordinates.
    pub fn node_rect(&self, node: &str) -> Option<Rect> {
        self.rects.get(node).map(|r| self.to_global * *r)
    }

    /// The screen position of a canvas point.
    pub fn to_screen(&self, pos: Pos2) -> Pos2 {
        self.to_global * pos
    }

    /// The canvas point under a screen position.
    pub fn to_canvas(&self, pos: Pos2) -> Pos2 {
        self.to_global.inverse() * pos
    }

    /// The canvas point at the centre of the view.
    pub fn view_center(&self) -> Pos2 {
        self.to_canvas(self.screen.center())
    }

    /// Fits every node in view on the next frame.
    pub fn fit_all(&mut self) {
        self.fit_all = true;
    }

    /// The reason of the last refused connection, while it is shown.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal
            .as_ref()
            .filter(|r| r.since.elapsed() < REFUSAL_SHOWN)
            .map(|r| r.message.as_str())
    }

    /// The canvas rectangle around some nodes, with a margin, for a backdrop.
    pub fn bounds_of(&self, nodes: &[String]) -> Option<Rect> {
        let rect = nodes
            .iter()
            .filter_map(|n| self.rects.get(n))
            .fold(Rect::NOTHING, |a, b| a.union(*b));
        rect.is_positive()
            .then(|| Rect::from_min_max(rect.min - Vec2::new(24.0, 46.0), rect.max + Vec2::splat(24.0)))
    }

    /// Draws the canvas and handles what happens on it; returns requests for
    /// the editor.
    #[allow(clippy::too_many_arguments)]
    pub fn show(
        &mut self,
        ui: &mut Ui,
        doc: &mut Document,
        registry: &Registry,
        runner: &Runner,
        dialogs: &mut FileDialogs,
    ) -> Vec<Request> {
        self.sync(doc, registry);
        self.screen = ui.available_rect_before_wrap();
        // Clicks on titles and socket names select and drag nodes, not text.
        ui.style_mut().interaction.selectable_labels = false;
        let mut style = SnarlStyle::new();
        style.centering = Some(false);
        style.collapsible = Some(false);
        style.pin_size = Some(9.0);
        style.bg_pattern = Some(egui_snarl::ui::BackgroundPattern::grid(Vec2::splat(40.0), 0.0));
        let mut requests = Vec::new();
        let fit = std::mem::take(&mut self.fit_all).then(|| {
            let all = self.rects.values().fold(Rect::NOTHING, |a, b| a.union(*b));
            (all, self.rects.len() == doc.graph().nodes.len())
        });
        let types = doc
            .graph()
            .nodes
            .iter()
            .filter_map(|n| Some((n.id.clone(), &registry.get(&n.type_id)?.spec)))
            .collect();
        let base_dir = doc.base_dir();
        let mut viewer = Viewer {
            types,
            base_dir,
            doc: &mut *doc,
            registry,
            runner,
            dialogs,
            sockets: self.sockets.clone(),
            rects: &mut self.rects,
            to_global: &mut self.to_global,
            refusal: &mut self.refusal,
            requests: &mut requests,
            fit,
            screen: self.screen,
            pointer: ui.ctx().pointer_latest_pos(),
        };
        // egui-snarl selects with Shift+click and clears with Ctrl+click; a
        // plain click selecting one node, and clearing on empty canvas, is what
        // node-editor users expect. A plain click is shown to the widget as
        // those modifier clicks, for this frame only.
        let saved = ui.input(|i| i.modifiers);
        let plain_click = ui
            .input(|i| i.pointer.primary_released() && i.pointer.could_any_button_be_click() && i.modifiers.is_none());
        if plain_click {
            let pos = ui.input(|i| i.pointer.interact_pos());
            let on_node = pos.is_some_and(|p| viewer.rects.values().any(|r| (*viewer.to_global * *r).contains(p)));
            ui.ctx().input_mut(|i| {
                i.modifiers.shift = on_node;
                i.modifiers.ctrl = true;
                i.modifiers.command = true;
            });
        }
        let response = SnarlWidget::new()
            .id(self.id)
            .style(style)
            .show(&mut self.snarl, &mut viewer, ui);
        ui.ctx().input_mut(|i| i.modifiers = saved);
        if let Some((_, false)) = viewer.fit {
            // Nodes not drawn yet (first frame): fit again once they have sizes.
            self.fit_all = true;
        }
        if response.double_clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            requests.push(Request::Palette(pos));
        }
        self.write_back_moves(doc);
        self.show_backdrop_handles(ui, doc);
        if ui.input(|i| i.pointer.any_pressed()) {
            // The next click dismisses the reason of a refused connection.
            self.refusal = None;
        }
        if let Some(refusal) = &self.refusal {
            let left = REFUSAL_SHOWN.saturating_sub(refusal.since.elapsed());
            if left.is_zero() {
                self.refusal = None;
            } else {
                egui::Area::new(Id::new("gspeech-refusal"))
                    .order(egui::Order::Tooltip)
                    .fixed_pos(refusal.at + Vec2::new(14.0, 14.0))
                    .show(ui.ctx(), |ui| {
                        egui::Frame::popup(ui.style()).show(ui, |ui| {
                            ui.set_max_width(360.0);
                            ui.label(RichText::new("Cannot connect").strong().color(theme::FAILED));
                            ui.label(&refusal.message);
                        });
                    });
                ui.ctx().request_repaint_after(left);
            }
        }
        requests
    }

    /// Nodes dragged on the canvas become (merged) move edits.
    fn write_back_moves(&mut self, doc: &mut Document) {
        let moves: Vec<(String, [f64; 2])> = self
            .snarl
            .nodes_pos()
            .filter_map(|(pos, id)| {
                let entry = doc.graph().node(id)?;
                let same = entry.position[0] as f32 == pos.x && entry.position[1] as f32 == pos.y;
                (!same).then(|| (id.clone(), [pos.x as f64, pos.y as f64]))
            })
            .collect();
        if !moves.is_empty() {
            doc.move_nodes(&moves);
            self.synced = Some(doc.revision());
        }
    }

    /// Title bars of backdrops: drag to move a backdrop with the nodes on it.
    fn show_backdrop_handles(&mut self, ui: &Ui, doc: &mut Document) {
        let frames = doc.graph().frames.clone();
        for (i, frame) in frames.iter().enumerate() {
            let [x, y, w, _] = frame.rect;
            let bar = Rect::from_min_size(Pos2::new(x as f32, y as f32), Vec2::new(w as f32, 22.0));
            let bar = self.to_global * bar;
            if !bar.intersects(self.screen) {
                continue;
            }
            let area = egui::Area::new(self.id.with(("backdrop", i)))
                .order(egui::Order::Middle)
                .fixed_pos(bar.min)
                .constrain(false)
                .show(ui.ctx(), |ui| {
                    let (rect, response) = ui.allocate_exact_size(bar.size(), egui::Sense::drag());
                    ui.painter().text(
                        rect.left_center() + Vec2::new(6.0, 0.0),
                        egui::Align2::LEFT_CENTER,
                        &frame.title,
                        egui::FontId::proportional(14.0 * self.to_global.scaling.min(1.5)),
                        Color32::WHITE,
                    );
                    response.on_hover_cursor(egui::CursorIcon::Grab)
                });
            let response = area.inner;
            if response.dragged() {
                let delta = response.drag_delta() / self.to_global.scaling;
                let inside =
                    |p: [f64; 2]| p[0] >= x && p[0] <= x + frame.rect[2] && p[1] >= y && p[1] <= y + frame.rect[3];
                doc.edit_merging(Some(&format!("backdrop {i}")), "Move backdrop", |g| {
                    for n in g.nodes.iter_mut().filter(|n| inside(n.position)) {
                        n.position[0] += delta.x as f64;
                        n.position[1] += delta.y as f64;
                    }
                    if let Some(f) = g.frames.get_mut(i) {
                        f.rect[0] += delta.x as f64;
                        f.rect[1] += delta.y as f64;
                    }
                });
            }
        }
    }
}

/// The index of an input socket or parameter among a node's input pins.
pub fn input_index(spec: &NodeSpec, socket: &str) -> Option<usize> {
    spec.inputs.iter().position(|p| p.name == socket).or_else(|| {
        spec.params
            .iter()
            .position(|p| p.name == socket)
            .map(|i| i + spec.inputs.len())
    })
}

/// The index of an output socket among a node's output pins.
pub fn output_index(spec: &NodeSpec, socket: &str) -> Option<usize> {
    spec.outputs.iter().position(|p| p.name == socket)
}

/// The name of an input pin: an input socket, else a parameter.
fn input_name(spec: &NodeSpec, index: usize) -> Option<&str> {
    match spec.inputs.get(index) {
        Some(p) => Some(&p.name),
        None => spec.params.get(index - spec.inputs.len()).map(|p| p.name.as_str()),
    }
}

/// A pin that remembers where it was drawn, so tests and tools can find sockets.
struct Socket {
    info: PinInfo,
    key: SocketKey,
    sink: Rc<RefCell<HashMap<SocketKey, Pos2>>>,
}

impl SnarlPin for Socket {
    fn draw(self, snarl_style: &SnarlStyle, style: &egui::Style, rect: Rect, painter: &egui::Painter) -> PinWireInfo {
        self.sink.borrow_mut().insert(self.key, rect.center());
        self.info.draw(snarl_style, style, rect, painter)
    }
}

struct Viewer<'a> {
    doc: &'a mut Document,
    registry: &'a Registry,
    runner: &'a Runner,
    dialogs: &'a mut FileDialogs,
    sockets: Rc<RefCell<HashMap<SocketKey, Pos2>>>,
    rects: &'a mut HashMap<String, Rect>,
    to_global: &'a mut TSTransform,
    refusal: &'a mut Option<Refusal>,
    requests: &'a mut Vec<Request>,
    fit: Option<(Rect, bool)>,
    screen: Rect,
    pointer: Option<Pos2>,
    /// Each node's type, looked up once per frame.
    types: HashMap<String, &'a NodeSpec>,
    base_dir: std::path::PathBuf,
}

impl<'a> Viewer<'a> {
    fn spec(&self, id: &str) -> Option<&'a NodeSpec> {
        self.types.get(id).copied()
    }

    fn socket(&self, node: &str, socket: &str, input: bool, info: PinInfo) -> Socket {
        Socket {
            info,
            key: SocketKey {
                node: node.into(),
                socket: socket.into(),
                input,
            },
            sink: self.sockets.clone(),
        }
    }

    /// The ids of the selected nodes if `node` is among them, else just `node`.
    fn targets(&self, ctx: &egui::Context, snarl: &Snarl<String>, node: NodeId) -> Vec<String> {
        let selected: Vec<NodeId> = egui_snarl::ui::get_selected_nodes(Id::new(CANVAS_ID), ctx);
        if selected.contains(&node) {
            selected.iter().filter_map(|n| snarl.get_node(*n).cloned()).collect()
        } else {
            vec![snarl[node].clone()]
        }
    }
}

fn pin(ty: PortType, shape: PinShape) -> PinInfo {
    PinInfo::default().with_fill(theme::port_color(ty)).with_shape(shape)
}

impl SnarlViewer<String> for Viewer<'_> {
    fn title(&mut self, node: &String) -> String {
        match self.spec(node) {
            Some(spec) => spec.title.clone(),
            None => node.clone(),
        }
    }

    fn header_frame(
        &mut self,
        default: egui::Frame,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<String>,
    ) -> egui::Frame {
        let Some(entry) = self.doc.graph().node(&snarl[node]) else {
            return default;
        };
        let fill = if entry.mute {
            theme::MUTED
        } else if entry.bypass {
            theme::BYPASSED
        } else {
            match self.registry.get(&entry.type_id) {
                Some(t) => theme::category_color(&t.spec.category),
                None => theme::FAILED,
            }
        };
        default.fill(fill)
    }

    fn node_frame(
        &mut self,
        default: egui::Frame,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        snarl: &Snarl<String>,
    ) -> egui::Frame {
        let frame = match self.runner.state(&snarl[node]) {
            NodeState::Running { .. } => default.stroke(egui::Stroke::new(2.0, theme::CACHED)),
            NodeState::Failed(_) => default.stroke(egui::Stroke::new(2.0, theme::FAILED)),
            _ => default,
        };
        match self.doc.graph().node(&snarl[node]) {
            Some(e) if e.mute => frame.multiply_with_opacity(0.55),
            _ => frame,
        }
    }

    fn show_header(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<String>,
    ) {
        let id = snarl[node].clone();
        let Some(entry) = self.doc.graph().node(&id) else {
            return;
        };
        let flags = match (entry.bypass, entry.mute) {
            (_, true) => " (muted)",
            (true, false) => " (bypassed)",
            _ => "",
        };
        match self.spec(&id) {
            Some(spec) => {
                let title = RichText::new(format!("{}{flags}", spec.title))
                    .strong()
                    .color(Color32::WHITE);
                ui.label(title).on_hover_text(format!(
                    "{} ({}, version {})\n\n{}",
                    id, spec.type_id, spec.version, spec.doc
                ));
            }
            None => {
                let type_id = entry.type_id.clone();
                ui.label(RichText::new(format!("{id}: unknown type")).color(Color32::WHITE))
                    .on_hover_text(format!("No node type `{type_id}` is loaded (a missing plugin?)"));
            }
        }
    }

    fn inputs(&mut self, node: &String) -> usize {
        self.spec(node).map(|s| s.inputs.len() + s.params.len()).unwrap_or(0)
    }

    fn outputs(&mut self, node: &String) -> usize {
        self.spec(node).map(|s| s.outputs.len()).unwrap_or(0)
    }

    #[allow(refining_impl_trait)]
    fn show_input(&mut self, pin_ref: &InPin, ui: &mut Ui, snarl: &mut Snarl<String>) -> Socket {
        let id = snarl[pin_ref.id.node].clone();
        let spec = self.spec(&id).expect("pins exist only for known types");
        let index = pin_ref.id.input;
        if let Some(port) = spec.inputs.get(index) {
            let mut text = RichText::new(&port.name);
            if port.optional {
                text = text.italics();
            }
            ui.label(text).on_hover_text(format!(
                "{} ({}{})\n{}",
                port.name,
                port.ty,
                if port.optional { ", optional" } else { "" },
                port.doc
            ));
            return self.socket(&id, &port.name, true, pin(port.ty, PinShape::Circle));
        }
        let param = &spec.params[index - spec.inputs.len()];
        let ty = param.kind.port_type();
        if pin_ref.remotes.is_empty() {
            let current = self
                .doc
                .graph()
                .node(&id)
                .and_then(|n| n.params.get(&param.name))
                .cloned();
            let key = format!("{id}.{}", param.name);
            let base = self.base_dir.clone();
            let label = params::param_name(ui, param);
            if let Some(value) = params::param_editor(
                ui,
                param,
                current.as_ref(),
                &key,
                &base,
                self.dialogs,
                Layout::Node,
                Some(label),
            ) {
                self.doc.set_param(&id, param, value);
            }
        } else {
            ui.label(RichText::new(format!("{} (driven)", param.name)).weak())
                .on_hover_text(format!("{}\n\nDriven by the connected value", param.doc));
        }
        self.socket(&id, &param.name, true, pin(ty, PinShape::Square))
    }

    #[allow(refining_impl_trait)]
    fn show_output(&mut self, pin_ref: &OutPin, ui: &mut Ui, snarl: &mut Snarl<String>) -> Socket {
        let id = snarl[pin_ref.id.node].clone();
        let spec = self.spec(&id).expect("pins exist only for known types");
        let port = &spec.outputs[pin_ref.id.output];
        let params = self.doc.graph().node(&id).map(|n| n.params.clone()).unwrap_or_default();
        let ty = spec.output_type(port, &params);
        ui.label(&port.name)
            .on_hover_text(format!("{} ({ty})\n{}", port.name, port.doc));
        self.socket(&id, &port.name, false, pin(ty, PinShape::Circle))
    }

    fn has_footer(&mut self, node: &String) -> bool {
        *self.runner.state(node) != NodeState::Idle
    }

    fn show_footer(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<String>,
    ) {
        let state = self.runner.state(&snarl[node]).clone();
        ui.set_max_width(240.0);
        match state {
            NodeState::Idle => {}
            NodeState::Queued => {
                ui.label(RichText::new("queued").color(theme::QUEUED));
            }
            NodeState::Running { fraction, message } => {
                let text = if message.is_empty() {
                    format!("{:.0}%", fraction * 100.0)
                } else {
                    format!("{:.0}% {message}", fraction * 100.0)
                };
                ui.add(egui::ProgressBar::new(fraction).desired_width(180.0).text(text));
            }
            NodeState::Cached => {
                ui.label(RichText::new("cached").color(theme::CACHED));
            }
            NodeState::Bypassed => {
                ui.label(RichText::new("bypassed").color(theme::BYPASSED));
            }
            NodeState::Done { seconds } => {
                ui.label(RichText::new(format!("done in {}", format_seconds(seconds))).color(theme::DONE));
            }
            NodeState::Failed(message) => {
                ui.add(egui::Label::new(RichText::new(format!("failed: {message}")).color(theme::FAILED)).wrap());
            }
            NodeState::Skipped(because) => {
                ui.label(RichText::new(format!("skipped: `{because}` failed")).weak());
            }
            NodeState::Cancelled => {
                ui.label(RichText::new("cancelled").weak());
            }
        }
    }

    fn final_node_rect(&mut self, node: NodeId, rect: Rect, _ui: &mut Ui, snarl: &mut Snarl<String>) {
        self.rects.insert(snarl[node].clone(), rect);
    }

    fn connect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<String>) {
        let (from_id, to_id) = (snarl[from.id.node].clone(), snarl[to.id.node].clone());
        let (Some(from_spec), Some(to_spec)) = (self.spec(&from_id), self.spec(&to_id)) else {
            return;
        };
        let port = &from_spec.outputs[from.id.output];
        let params = self
            .doc
            .graph()
            .node(&from_id)
            .map(|n| n.params.clone())
            .unwrap_or_default();
        let given = from_spec.output_type(port, &params);
        let from_end = Endpoint::new(&from_id, &port.name);
        let Some(socket) = input_name(to_spec, to.id.input) else {
            return;
        };
        let to_end = Endpoint::new(&to_id, socket);
        let refused = if from_id == to_id {
            Some(format!("`{from_end}` → `{to_end}`: a node cannot feed itself"))
        } else {
            check_connection(given, &from_end, to_spec, &to_end)
                .err()
                .map(|p| p.to_string())
        };
        match refused {
            Some(message) => {
                *self.refusal = Some(Refusal {
                    message,
                    at: self.pointer.unwrap_or(self.screen.center()),
                    since: Instant::now(),
                });
            }
            None => {
                *self.refusal = None;
                self.doc.connect(from_end, to_end);
            }
        }
    }

    fn disconnect(&mut self, from: &OutPin, to: &InPin, snarl: &mut Snarl<String>) {
        let (from_id, to_id) = (snarl[from.id.node].clone(), snarl[to.id.node].clone());
        let (Some(from_spec), Some(to_spec)) = (self.spec(&from_id), self.spec(&to_id)) else {
            return;
        };
        let from_end = Endpoint::new(&from_id, &from_spec.outputs[from.id.output].name);
        let Some(socket) = input_name(to_spec, to.id.input) else {
            return;
        };
        let to_end = Endpoint::new(&to_id, socket);
        self.doc.disconnect(Some(&from_end), &to_end);
    }

    fn drop_outputs(&mut self, pin: &OutPin, snarl: &mut Snarl<String>) {
        let id = snarl[pin.id.node].clone();
        let Some(spec) = self.spec(&id) else { return };
        let end = Endpoint::new(&id, &spec.outputs[pin.id.output].name);
        self.doc.disconnect_output(&end);
    }

    fn drop_inputs(&mut self, pin: &InPin, snarl: &mut Snarl<String>) {
        let id = snarl[pin.id.node].clone();
        let Some(spec) = self.spec(&id) else { return };
        let Some(socket) = input_name(spec, pin.id.input) else {
            return;
        };
        let end = Endpoint::new(&id, socket);
        self.doc.disconnect(None, &end);
    }

    fn has_graph_menu(&mut self, _pos: Pos2, _snarl: &mut Snarl<String>) -> bool {
        true
    }

    fn show_graph_menu(&mut self, pos: Pos2, ui: &mut Ui, _snarl: &mut Snarl<String>) {
        let screen = *self.to_global * pos;
        if ui.button("Add node…").clicked() {
            self.requests.push(Request::Palette(screen));
            ui.close();
        }
        if ui.button("Paste").clicked() {
            self.requests.push(Request::Paste(screen));
            ui.close();
        }
    }

    fn has_node_menu(&mut self, _node: &String) -> bool {
        true
    }

    fn show_node_menu(
        &mut self,
        node: NodeId,
        _inputs: &[InPin],
        _outputs: &[OutPin],
        ui: &mut Ui,
        snarl: &mut Snarl<String>,
    ) {
        let id = snarl[node].clone();
        let targets = self.targets(ui.ctx(), snarl, node);
        if ui.button("Run to here").clicked() {
            self.requests.push(Request::RunTo(id));
            ui.close();
        }
        if ui.button("Bypass").clicked() {
            self.doc.toggle_bypass(&targets);
            ui.close();
        }
        if ui.button("Mute").clicked() {
            self.doc.toggle_mute(&targets);
            ui.close();
        }
        if ui.button("Duplicate").clicked() {
            self.requests.push(Request::Duplicate(targets.clone()));
            ui.close();
        }
        if ui.button("Delete").clicked() {
            self.requests.push(Request::Delete(targets));
            ui.close();
        }
    }

    fn draw_background(
        &mut self,
        background: Option<&egui_snarl::ui::BackgroundPattern>,
        viewport: &Rect,
        snarl_style: &SnarlStyle,
        style: &egui::Style,
        painter: &egui::Painter,
        _snarl: &Snarl<String>,
    ) {
        if let Some(background) = background {
            background.draw(viewport, snarl_style, style, painter);
        }
        for frame in &self.doc.graph().frames {
            draw_backdrop(painter, frame);
        }
    }

    fn current_transform(&mut self, to_global: &mut TSTransform, _snarl: &mut Snarl<String>) {
        if let Some((all, _)) = self.fit
            && all.is_positive()
        {
            let view = self.screen.shrink(40.0);
            let scale = (view.width() / all.width())
                .min(view.height() / all.height())
                .clamp(0.2, 1.0);
            let translation = view.center().to_vec2() - all.center().to_vec2() * scale;
            *to_global = TSTransform::new(translation, scale);
        }
        *self.to_global = *to_global;
    }
}

/// Paints a backdrop in canvas coordinates.
fn draw_backdrop(painter: &egui::Painter, frame: &Backdrop) {
    let [x, y, w, h] = frame.rect;
    let rect = Rect::from_min_size(Pos2::new(x as f32, y as f32), Vec2::new(w as f32, h as f32));
    let [r, g, b] = frame.color;
    painter.rect_filled(rect, 6.0, Color32::from_rgba_unmultiplied(r, g, b, 60));
    let bar = Rect::from_min_size(rect.min, Vec2::new(rect.width(), 22.0));
    painter.rect_filled(bar, 6.0, Color32::from_rgba_unmultiplied(r, g, b, 150));
}

/// `0.12 s`, `3.4 s`, `2 min 5 s`.
pub fn format_seconds(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{seconds:.2} s")
    } else if seconds < 120.0 {
        format!("{seconds:.1} s")
    } else {
        format!("{} min {} s", (seconds / 60.0) as u64, (seconds % 60.0) as u64)
    }
}
