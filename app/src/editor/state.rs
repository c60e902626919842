//! The editor's state and its frame: menus, canvas, inspector, preview and
//! status bar, and the glue that turns what the user asks into document edits,
//! runs and file operations.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, bounded};
use egui::{Context, Pos2, RichText, Ui};
use egui_wgpu::RenderState;
use gspeech_sdk::gpu::{Gpu, GpuSlot};

use super::canvas::{self, Canvas, Request};
use super::clipboard;
use super::document::Document;
use super::palette::Palette;
use super::params::{self, FileDialogs, Layout};
use super::previews::Previews;
use super::runner::{NodeState, Runner};
use super::session::{Recovery, Session};
use super::shortcuts::{self, Action};
use super::theme;
use crate::exec::{Executor, ExecutorOptions, RunStatus};
use crate::graph::Backdrop;
use crate::registry::Registry;

/// How the editor starts.
pub struct EditorOptions {
    /// The graph to open, if any.
    pub graph: Option<PathBuf>,
    /// Where recent files and recovery copies live.
    pub state_dir: PathBuf,
    /// The on-disk cache folder for runs (none: memory only).
    pub cache_dir: Option<PathBuf>,
}

/// What waits for the user to confirm throwing away unsaved changes.
#[derive(Clone, Debug, PartialEq)]
enum Pending {
    New,
    Open(Option<PathBuf>),
    Quit,
}

/// Which document file dialog is open.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DocDialog {
    Open,
    SaveAs,
}

/// The whole editor.
pub struct Editor {
    registry: Arc<Registry>,
    doc: Document,
    session: Session,
    canvas: Canvas,
    palette: Palette,
    palette_at: Pos2,
    runner: Runner,
    previews: Previews,
    dialogs: FileDialogs,
    doc_dialog: Option<(DocDialog, Receiver<Option<PathBuf>>)>,
    pending: Option<Pending>,
    recovery: Option<Recovery>,
    message: Option<(String, bool, Instant)>,
    show_help: bool,
    may_close: bool,
    selected: Vec<String>,
    focus: Option<String>,
    copied: Option<String>,
    title: String,
}

impl Editor {
    /// An editor over a registry. `render_state` is the wgpu renderer egui draws
    /// with: the 3D viewport draws with it and runs share its device.
    pub fn new(options: EditorOptions, registry: Registry, render_state: Option<RenderState>) -> Editor {
        let registry = Arc::new(registry);
        let gpu = render_state.as_ref().map(|rs| {
            Arc::new(GpuSlot::with(Arc::new(Gpu {
                adapter: rs.adapter.clone(),
                device: rs.device.clone(),
                queue: rs.queue.clone(),
            })))
        });
        let executor = Arc::new(Executor::new(ExecutorOptions {
            disk_cache: options.cache_dir.clone(),
            gpu,
            ..ExecutorOptions::default()
        }));
        let mut session = Session::open(&options.state_dir);
        let recovery = session.orphaned_recoveries().into_iter().next();
        let mut message = None;
        let doc = match &options.graph {
            Some(path) => match Document::open(path) {
                Ok(doc) => {
                    session.add_recent(path);
                    doc
                }
                Err(e) => {
                    message = Some((e.to_string(), true, Instant::now()));
                    Document::new()
                }
            },
            None => Document::new(),
        };
        Editor {
            runner: Runner::new(executor, registry.clone()),
            registry,
            doc,
            session,
            canvas: Canvas::new(),
            palette: Palette::default(),
            palette_at: Pos2::ZERO,
            previews: Previews::new(render_state),
            dialogs: FileDialogs::default(),
            doc_dialog: None,
            pending: None,
            recovery,
            message,
            show_help: false,
            may_close: false,
            selected: Vec::new(),
            focus: None,
            copied: None,
            title: String::new(),
        }
    }

    /// The document.
    pub fn document(&self) -> &Document {
        &self.doc
    }

    /// The runner (node states, outputs).
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// The runner, to wait for a run in tests and benchmarks.
    pub fn runner_mut(&mut self) -> &mut Runner {
        &mut self.runner
    }

    /// The canvas (socket and node positions on screen).
    pub fn canvas(&self) -> &Canvas {
        &self.canvas
    }

    /// The canvas, to fit the view.
    pub fn canvas_mut(&mut self) -> &mut Canvas {
        &mut self.canvas
    }

    /// The node shown in the inspector and the preview.
    pub fn focused_node(&self) -> Option<&str> {
        self.focus.as_deref()
    }

    /// Shows a node in the inspector and the preview.
    pub fn focus_node(&mut self, id: Option<&str>) {
        self.focus = id.map(str::to_string);
    }

    /// The unsaved work offered for restoring, if any.
    pub fn recovery_offer(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    /// The last message shown in the status bar, and whether it is an error.
    pub fn message(&self) -> Option<(&str, bool)> {
        self.message.as_ref().map(|(m, e, _)| (m.as_str(), *e))
    }

    /// Whether the window may close now (nothing unsaved, or the user said so).
    pub fn may_close(&self) -> bool {
        self.may_close
    }

    /// Saves the document to a file (as Save As does).
    pub fn save_as(&mut self, path: &Path) {
        match self.doc.save_as(path) {
            Ok(()) => {
                self.session.add_recent(path);
                self.session.autosave(&self.doc, true);
                self.say(format!("Saved {}", path.display()), false);
            }
            Err(e) => self.say(e.to_string(), true),
        }
    }

    /// Opens a graph file, replacing the document (no confirmation).
    pub fn open(&mut self, path: &Path) {
        match Document::open(path) {
            Ok(doc) => {
                self.replace_document(doc);
                self.session.add_recent(path);
                self.say(format!("Opened {}", path.display()), false);
            }
            Err(e) => self.say(e.to_string(), true),
        }
    }

    /// Called when the editor closes normally: unsaved work needs no recovery
    /// copy any more (the user chose to discard it).
    pub fn shutdown(&mut self) {
        self.runner.cancel();
        self.session.clear_recovery();
    }

    fn replace_document(&mut self, doc: Document) {
        self.doc = doc;
        self.runner.retain_nodes(self.doc.graph());
        self.focus = None;
        self.canvas = Canvas::new();
        self.session.clear_recovery();
    }

    fn say(&mut self, text: String, error: bool) {
        self.message = Some((text, error, Instant::now()));
    }

    /// Draws one frame and handles its input.
    pub fn ui(&mut self, ui: &mut Ui) {
        let ctx = ui.ctx().clone();
        self.handle_close_request(&ctx);
        if self.runner.poll() {
            ctx.request_repaint();
        }
        self.doc.set_gesture(ctx.input(|i| i.pointer.any_down()));
        self.selected = self.canvas.selected(&ctx);
        if let Some(last) = self.selected.last()
            && self.focus.as_ref() != Some(last)
        {
            self.focus = Some(last.clone());
        }
        if self.focus.as_ref().is_some_and(|f| self.doc.graph().node(f).is_none()) {
            self.focus = None;
        }
        let modal = self.recovery.is_some() || self.pending.is_some();
        if !modal {
            let mut actions = self.clipboard_events(&ctx);
            actions.extend(shortcuts::pressed(&ctx, &actions));
            for action in actions {
                self.act(action, &ctx);
            }
        }
        self.take_doc_dialog();

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui, &ctx));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| self.inspector(ui));
            });
        egui::Panel::bottom("preview")
            .resizable(true)
            .default_size(280.0)
            .min_size(220.0)
            .show(ui, |ui| {
                ui.heading("Preview");
                let node = self.focus.clone();
                let outputs = node.as_deref().and_then(|n| self.runner.outputs(n)).cloned();
                self.previews
                    .show(ui, node.as_deref(), outputs.as_ref(), self.runner.all_outputs());
            });
        egui::CentralPanel::default().show(ui, |ui| {
            let requests = self
                .canvas
                .show(ui, &mut self.doc, &self.registry, &self.runner, &mut self.dialogs);
            for request in requests {
                self.request(request, &ctx);
            }
        });
        if let Some(type_id) = self.palette.show(&ctx, &self.registry)
            && let Some(t) = self.registry.get(&type_id)
        {
            let at = self.canvas.to_canvas(self.palette_at);
            let spec = t.spec.clone();
            let id = self.doc.add_node(&spec, [at.x as f64, at.y as f64]);
            self.focus = Some(id);
        }
        self.modals(&ctx);
        shortcuts::help_window(&ctx, &mut self.show_help);
        self.session.autosave(&self.doc, false);
        self.update_title(&ctx);
        if self.runner.is_running() {
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    /// Copy, cut and paste arrive as events from the system clipboard (or as
    /// keys in tests); text fields keep their own.
    fn clipboard_events(&mut self, ctx: &Context) -> Vec<Action> {
        if ctx.egui_wants_keyboard_input() {
            return Vec::new();
        }
        let mut actions = Vec::new();
        ctx.input_mut(|i| {
            i.events.retain(|e| match e {
                egui::Event::Copy => {
                    actions.push(Action::Copy);
                    false
                }
                egui::Event::Cut => {
                    actions.push(Action::Cut);
                    false
                }
                egui::Event::Paste(text) => {
                    self.copied = Some(text.clone());
                    actions.push(Action::Paste);
                    false
                }
                _ => true,
            })
        });
        actions
    }

    fn handle_close_request(&mut self, ctx: &Context) {
        if ctx.input(|i| i.viewport().close_requested()) && !self.may_close {
            if self.doc.is_dirty() {
                ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
                self.pending = Some(Pending::Quit);
            } else {
                self.may_close = true;
            }
        }
    }

    /// Carries out an action from a key, a menu or a button.
    pub fn act(&mut self, action: Action, ctx: &Context) {
        let selected = self.selected.clone();
        match action {
            Action::New => self.guard(Pending::New, ctx),
            Action::Open => self.guard(Pending::Open(None), ctx),
            Action::Save => match self.doc.path().map(Path::to_path_buf) {
                Some(path) => self.save_as(&path),
                None => self.open_doc_dialog(DocDialog::SaveAs),
            },
            Action::SaveAs => self.open_doc_dialog(DocDialog::SaveAs),
            Action::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            Action::Undo => {
                let label = self.doc.undo_label().map(str::to_string);
                if self.doc.undo() {
                    self.say(format!("Undid: {}", label.unwrap_or_default()), false);
                }
            }
            Action::Redo => {
                let label = self.doc.redo_label().map(str::to_string);
                if self.doc.redo() {
                    self.say(format!("Redid: {}", label.unwrap_or_default()), false);
                }
            }
            Action::Copy | Action::Cut => {
                if let Some(text) = clipboard::copy(self.doc.graph(), &selected) {
                    ctx.copy_text(text.clone());
                    self.copied = Some(text);
                    if action == Action::Cut {
                        self.doc.remove_nodes(&selected);
                    }
                }
            }
            Action::Paste => {
                let at = ctx
                    .pointer_latest_pos()
                    .map(|p| self.canvas.to_canvas(p))
                    .unwrap_or_else(|| self.canvas.view_center());
                self.paste_at(at);
            }
            Action::Duplicate => self.duplicate(&selected),
            Action::Delete => self.doc.remove_nodes(&selected),
            Action::Bypass => self.doc.toggle_bypass(&selected),
            Action::Mute => self.doc.toggle_mute(&selected),
            Action::Frame => self.frame_selection(&selected),
            Action::AddNode => {
                let at = ctx
                    .pointer_latest_pos()
                    .filter(|p| ctx.content_rect().contains(*p))
                    .unwrap_or_else(|| self.canvas.to_screen(self.canvas.view_center()));
                self.palette_at = at;
                self.palette.open_at(at);
            }
            Action::Run => self.run(None, ctx),
            Action::RunToSelected => match self.focus.clone() {
                Some(node) => self.run(Some(&node), ctx),
                None => self.say("Select the node to run to".into(), true),
            },
            Action::Cancel => {
                if self.palette.is_open() {
                    self.palette.close();
                } else if self.runner.is_running() {
                    self.runner.cancel();
                    self.say("Cancelling…".into(), false);
                }
            }
            Action::FrameAll => self.canvas.fit_all(),
            Action::PlayPause => {
                let outputs = self.focus.as_deref().and_then(|n| self.runner.outputs(n)).cloned();
                let sound = self.previews.sound_for(outputs.as_deref(), self.runner.all_outputs());
                self.previews.transport.toggle(sound.as_ref());
            }
            Action::Help => self.show_help = !self.show_help,
        }
    }

    fn request(&mut self, request: Request, ctx: &Context) {
        match request {
            Request::Palette(at) => {
                self.palette_at = at;
                self.palette.open_at(at);
            }
            Request::RunTo(node) => self.run(Some(&node), ctx),
            Request::Duplicate(nodes) => self.duplicate(&nodes),
            Request::Delete(nodes) => self.doc.remove_nodes(&nodes),
            Request::Paste(at) => {
                let at = self.canvas.to_canvas(at);
                self.paste_at(at);
            }
        }
    }

    /// Runs the graph (or what `target` needs) in the background.
    pub fn run(&mut self, target: Option<&str>, ctx: &Context) {
        let wake_ctx = ctx.clone();
        let base = self.doc.base_dir();
        match self
            .runner
            .start(self.doc.graph(), &base, target, move || wake_ctx.request_repaint())
        {
            Ok(()) => self.say(
                match target {
                    Some(t) => format!("Running to `{t}`…"),
                    None => "Running…".into(),
                },
                false,
            ),
            Err(e) => self.say(e, true),
        }
    }

    fn paste_at(&mut self, at: Pos2) {
        let Some(text) = self.copied.clone() else {
            self.say("Nothing to paste: copy nodes first (Ctrl+C)".into(), true);
            return;
        };
        let mut result = Ok(Vec::new());
        self.doc.edit("Paste", |g| {
            result = clipboard::paste(g, &text, [at.x as f64, at.y as f64])
        });
        match result {
            Ok(ids) => self.focus = ids.last().cloned(),
            Err(e) => self.say(format!("Cannot paste: {e}"), true),
        }
    }

    fn duplicate(&mut self, nodes: &[String]) {
        let Some(text) = clipboard::copy(self.doc.graph(), nodes) else {
            return;
        };
        let graph = self.doc.graph();
        let left = nodes
            .iter()
            .filter_map(|n| graph.node(n))
            .map(|n| n.position[0])
            .fold(f64::INFINITY, f64::min);
        let top = nodes
            .iter()
            .filter_map(|n| graph.node(n))
            .map(|n| n.position[1])
            .fold(f64::INFINITY, f64::min);
        let mut added = Vec::new();
        self.doc.edit("Duplicate", |g| {
            added = clipboard::paste(g, &text, [left + 40.0, top + 40.0]).unwrap_or_default();
        });
        self.focus = added.last().cloned();
    }

    fn frame_selection(&mut self, nodes: &[String]) {
        let Some(rect) = self.canvas.bounds_of(nodes) else {
            self.say("Select the nodes to put on a backdrop".into(), true);
            return;
        };
        let frame = Backdrop {
            title: "Group".into(),
            rect: [
                rect.min.x as f64,
                rect.min.y as f64,
                rect.width() as f64,
                rect.height() as f64,
            ],
            color: [70, 110, 150],
            extra: Default::default(),
        };
        self.doc.edit("Add backdrop", |g| g.frames.push(frame));
    }

    /// Asks before replacing or closing a modified document.
    fn guard(&mut self, pending: Pending, ctx: &Context) {
        if self.doc.is_dirty() {
            self.pending = Some(pending);
        } else {
            self.proceed(pending, ctx);
        }
    }

    fn proceed(&mut self, pending: Pending, ctx: &Context) {
        match pending {
            Pending::New => self.replace_document(Document::new()),
            Pending::Open(Some(path)) => self.open(&path),
            Pending::Open(None) => self.open_doc_dialog(DocDialog::Open),
            Pending::Quit => {
                self.session.clear_recovery();
                self.may_close = true;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
        }
    }

    fn open_doc_dialog(&mut self, which: DocDialog) {
        if self.doc_dialog.is_some() {
            return;
        }
        let mut dialog = rfd::AsyncFileDialog::new()
            .add_filter("Graph", &["gsgraph"])
            .set_directory(self.doc.base_dir());
        if which == DocDialog::SaveAs {
            dialog = dialog.set_file_name(format!("{}.gsgraph", self.doc.name().trim_end_matches(".gsgraph")));
        }
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let picked = pollster::block_on(async {
                match which {
                    DocDialog::Open => dialog.pick_file().await,
                    DocDialog::SaveAs => dialog.save_file().await,
                }
            });
            let _ = tx.send(picked.map(|h| h.path().to_path_buf()));
        });
        self.doc_dialog = Some((which, rx));
    }

    fn take_doc_dialog(&mut self) {
        let Some((which, rx)) = &self.doc_dialog else { return };
        let Ok(answer) = rx.try_recv() else { return };
        let which = *which;
        self.doc_dialog = None;
        let Some(path) = answer else { return };
        match which {
            DocDialog::Open => self.open(&path),
            DocDialog::SaveAs => {
                let path = if path.extension().is_none() {
                    path.with_extension("gsgraph")
                } else {
                    path
                };
                self.save_as(&path)
            }
        }
    }

    fn update_title(&mut self, ctx: &Context) {
        let title = format!(
            "{}{} — GaussianSpeech Studio",
            self.doc.name(),
            if self.doc.is_dirty() { " •" } else { "" }
        );
        if title != self.title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.title = title;
        }
    }

    fn menu_bar(&mut self, ui: &mut Ui, ctx: &Context) {
        let item = |ui: &mut Ui, text: &str, action: Action| {
            ui.add(egui::Button::new(text).shortcut_text(shortcuts::keys_of(ctx, action)))
                .clicked()
                .then_some(action)
        };
        let mut chosen = None;
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                chosen = chosen
                    .or(item(ui, "New", Action::New))
                    .or(item(ui, "Open…", Action::Open));
                ui.menu_button("Open recent", |ui| {
                    let recent = self.session.recent().to_vec();
                    if recent.is_empty() {
                        ui.weak("No recent files");
                    }
                    for path in recent {
                        if ui.button(path.display().to_string()).clicked() {
                            self.guard(Pending::Open(Some(path)), ctx);
                            ui.close();
                        }
                    }
                });
                chosen = chosen
                    .or(item(ui, "Save", Action::Save))
                    .or(item(ui, "Save as…", Action::SaveAs))
                    .or(item(ui, "Quit", Action::Quit));
            });
            ui.menu_button("Edit", |ui| {
                let undo = format!("Undo {}", self.doc.undo_label().unwrap_or(""));
                let redo = format!("Redo {}", self.doc.redo_label().unwrap_or(""));
                chosen = chosen
                    .or(item(ui, undo.trim(), Action::Undo))
                    .or(item(ui, redo.trim(), Action::Redo));
                ui.separator();
                for (text, action) in [
                    ("Add node…", Action::AddNode),
                    ("Copy", Action::Copy),
                    ("Cut", Action::Cut),
                    ("Paste", Action::Paste),
                    ("Duplicate", Action::Duplicate),
                    ("Delete", Action::Delete),
                    ("Bypass", Action::Bypass),
                    ("Mute", Action::Mute),
                    ("Backdrop around selection", Action::Frame),
                ] {
                    chosen = chosen.or(item(ui, text, action));
                }
            });
            ui.menu_button("Run", |ui| {
                chosen = chosen
                    .or(item(ui, "Run graph", Action::Run))
                    .or(item(ui, "Run to selected node", Action::RunToSelected))
                    .or(item(ui, "Cancel run", Action::Cancel));
            });
            ui.menu_button("View", |ui| {
                chosen = chosen.or(item(ui, "Fit all nodes", Action::FrameAll)).or(item(
                    ui,
                    "Play / pause preview",
                    Action::PlayPause,
                ));
            });
            ui.menu_button("Help", |ui| {
                chosen = chosen.or(item(ui, "Keyboard and mouse…", Action::Help));
            });
            ui.separator();
            if self.runner.is_running() {
                if ui.button("■ Cancel").clicked() {
                    chosen = Some(Action::Cancel);
                }
            } else if ui.button("▶ Run").on_hover_text("Ctrl+Enter").clicked() {
                chosen = Some(Action::Run);
            }
        });
        if let Some(action) = chosen {
            self.act(action, ctx);
        }
    }

    fn status_bar(&mut self, ui: &mut Ui) {
        ui.horizontal(|ui| {
            if let Some(elapsed) = self.runner.elapsed() {
                ui.spinner();
                ui.label(format!("running {}", canvas::format_seconds(elapsed)));
            } else if let Some((status, seconds)) = self.runner.last_status() {
                let (text, color) = match status {
                    RunStatus::Ok => ("finished", theme::DONE),
                    RunStatus::Failed => ("failed", theme::FAILED),
                    RunStatus::Cancelled => ("cancelled", theme::QUEUED),
                };
                ui.label(RichText::new(format!("{text} in {}", canvas::format_seconds(seconds))).color(color));
            }
            ui.separator();
            if let Some((text, error, _)) = &self.message {
                let color = if *error {
                    theme::FAILED
                } else {
                    ui.visuals().text_color()
                };
                ui.label(RichText::new(text).color(color));
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                let dirty = if self.doc.is_dirty() { " • modified" } else { "" };
                ui.label(format!(
                    "{} nodes — {}{dirty}",
                    self.doc.graph().nodes.len(),
                    self.doc.name()
                ));
            });
        });
    }

    fn inspector(&mut self, ui: &mut Ui) {
        let Some(id) = self.focus.clone() else {
            self.graph_inspector(ui);
            return;
        };
        let Some(entry) = self.doc.graph().node(&id).cloned() else {
            return;
        };
        let Some(spec) = self.registry.get(&entry.type_id).map(|t| t.spec.clone()) else {
            ui.heading(&id);
            ui.colored_label(theme::FAILED, format!("Unknown node type `{}`", entry.type_id));
            return;
        };
        ui.heading(&spec.title);
        ui.label(RichText::new(format!("{id} · {} v{}", spec.type_id, spec.version)).weak());
        ui.label(&spec.doc);
        ui.horizontal(|ui| {
            let mut bypass = entry.bypass;
            if ui.checkbox(&mut bypass, "Bypass").on_hover_text("Ctrl+B").changed() {
                self.doc.toggle_bypass(std::slice::from_ref(&id));
            }
            let mut mute = entry.mute;
            if ui.checkbox(&mut mute, "Mute").on_hover_text("Ctrl+M").changed() {
                self.doc.toggle_mute(std::slice::from_ref(&id));
            }
            if ui.button("Run to here").clicked() {
                let ctx = ui.ctx().clone();
                self.run(Some(&id), &ctx);
            }
        });
        match self.runner.state(&id) {
            NodeState::Failed(message) => {
                ui.colored_label(theme::FAILED, message);
            }
            NodeState::Running { fraction, message } => {
                ui.add(egui::ProgressBar::new(*fraction).text(message.as_str()));
            }
            _ => {}
        }
        ui.separator();
        let base = self.doc.base_dir();
        let driven: Vec<String> = self
            .doc
            .graph()
            .edges
            .iter()
            .filter(|e| e.to.node == id)
            .map(|e| e.to.socket.clone())
            .collect();
        egui::Grid::new("params").num_columns(2).striped(true).show(ui, |ui| {
            for param in &spec.params {
                let current = entry.params.get(&param.name);
                let label = ui
                    .horizontal(|ui| {
                        let label = params::param_name(ui, param);
                        if current.is_some() && params::reset_button(ui, param) {
                            self.doc.set_param(&id, param, param.default.clone());
                        }
                        label
                    })
                    .inner;
                if driven.contains(&param.name) {
                    ui.weak("driven by a connection");
                } else {
                    let key = format!("inspector {id}.{}", param.name);
                    let edited = params::param_editor(
                        ui,
                        param,
                        current,
                        &key,
                        &base,
                        &mut self.dialogs,
                        Layout::Inspector,
                        Some(label),
                    );
                    if let Some(value) = edited {
                        self.doc.set_param(&id, param, value);
                    }
                }
                ui.end_row();
            }
        });
        let log: Vec<String> = self
            .runner
            .log()
            .iter()
            .filter(|l| l.node.as_deref() == Some(id.as_str()))
            .map(|l| l.message.clone())
            .collect();
        if !log.is_empty() {
            ui.separator();
            ui.label(RichText::new("Log").strong());
            for line in log {
                ui.label(RichText::new(line).monospace().small());
            }
        }
    }

    fn graph_inspector(&mut self, ui: &mut Ui) {
        ui.heading("Graph");
        ui.label(format!(
            "{} nodes, {} connections",
            self.doc.graph().nodes.len(),
            self.doc.graph().edges.len()
        ));
        ui.weak("Tab or double-click the canvas to add a node; F1 lists the shortcuts.");
        let problems = self.runner.problems().to_vec();
        if !problems.is_empty() {
            ui.separator();
            ui.label(RichText::new("Problems").strong().color(theme::FAILED));
            for p in problems {
                ui.label(p.to_string());
            }
        }
        let frames = self.doc.graph().frames.clone();
        if !frames.is_empty() {
            ui.separator();
            ui.label(RichText::new("Backdrops").strong());
        }
        for (i, frame) in frames.iter().enumerate() {
            ui.horizontal(|ui| {
                let mut title = frame.title.clone();
                if ui
                    .add(egui::TextEdit::singleline(&mut title).desired_width(140.0))
                    .changed()
                {
                    self.doc
                        .edit_merging(Some(&format!("backdrop title {i}")), "Rename backdrop", |g| {
                            g.frames[i].title = title
                        });
                }
                let mut color = egui::Color32::from_rgb(frame.color[0], frame.color[1], frame.color[2]);
                if ui.color_edit_button_srgba(&mut color).changed() {
                    self.doc
                        .edit_merging(Some(&format!("backdrop colour {i}")), "Recolour backdrop", |g| {
                            g.frames[i].color = [color.r(), color.g(), color.b()]
                        });
                }
                if ui
                    .small_button("🗑")
                    .on_hover_text("Remove the backdrop (not its nodes)")
                    .clicked()
                {
                    self.doc.edit("Remove backdrop", |g| {
                        g.frames.remove(i);
                    });
                }
            });
        }
    }

    fn modals(&mut self, ctx: &Context) {
        if let Some(recovery) = self.recovery.clone() {
            let what = recovery
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "an untitled graph".into());
            egui::Modal::new(egui::Id::new("recovery")).show(ctx, |ui| {
                ui.heading("Restore unsaved work?");
                ui.label(format!(
                    "The editor did not close normally. Unsaved changes to {what} were kept."
                ));
                ui.horizontal(|ui| {
                    if ui.button("Restore").clicked() {
                        match recovery.to_document() {
                            Ok(doc) => {
                                self.replace_document(doc);
                                self.say(format!("Restored unsaved work on {what}"), false);
                            }
                            Err(e) => self.say(format!("The recovery copy is damaged: {e}"), true),
                        }
                        recovery.discard();
                        self.recovery = None;
                    }
                    if ui.button("Discard").clicked() {
                        recovery.discard();
                        self.recovery = None;
                    }
                });
            });
            return;
        }
        let Some(pending) = self.pending.clone() else { return };
        let mut choice = None;
        egui::Modal::new(egui::Id::new("unsaved")).show(ctx, |ui| {
            ui.heading("Save changes?");
            ui.label(format!("{} has changes that are not saved.", self.doc.name()));
            ui.horizontal(|ui| {
                if ui.button("Save").clicked() {
                    choice = Some(0);
                }
                if ui.button("Don't save").clicked() {
                    choice = Some(1);
                }
                if ui.button("Cancel").clicked() {
                    choice = Some(2);
                }
            });
        });
        match choice {
            Some(0) => {
                self.pending = None;
                match self.doc.path().map(Path::to_path_buf) {
                    Some(path) => {
                        self.save_as(&path);
                        if !self.doc.is_dirty() {
                            self.proceed(pending, ctx);
                        }
                    }
                    None => self.open_doc_dialog(DocDialog::SaveAs),
                }
            }
            Some(1) => {
                self.pending = None;
                self.proceed(pending, ctx);
            }
            Some(_) => self.pending = None,
            None => {}
        }
    }
}
