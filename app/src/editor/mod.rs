//! The desktop editor: `gspeech` with no arguments, or `gspeech edit [GRAPH]`.
//!
//! An eframe (wgpu) window over one graph document, run by the same executor
//! as the command line. One concern per file:
//!
//! - [`state`]: the editor and its frame (menus, inspector, status, dialogs);
//! - [`canvas`]: the egui-snarl node canvas over the document;
//! - [`palette`]: the searchable node palette;
//! - [`params`]: an editor widget for every parameter kind;
//! - [`document`]: the open graph with undo/redo; [`clipboard`]: copy/paste as JSON;
//! - [`session`]: recent files and crash recovery;
//! - [`runner`]: background runs and per-node states;
//! - [`previews`]: the preview panel, by port type, with the 3D viewport;
//! - [`shortcuts`]: keyboard habits and the help window; [`theme`]: colours.

pub mod canvas;
pub mod clipboard;
pub mod document;
pub mod palette;
pub mod params;
pub mod previews;
pub mod runner;
pub mod session;
pub mod shortcuts;
pub mod state;
pub mod theme;

use std::path::PathBuf;

pub use state::{Editor, EditorOptions};

use crate::registry::Registry;

/// How to start the editor window.
pub struct Launch {
    /// The editor's options.
    pub options: EditorOptions,
    /// The node types it offers.
    pub registry: Registry,
    /// Write a screenshot of the window to this PNG once it has settled, then quit.
    pub screenshot: Option<PathBuf>,
}

/// Frames drawn before a screenshot is taken, so layout and fonts have settled.
const SCREENSHOT_AFTER_FRAMES: u64 = 20;

/// The eframe application: the editor, plus the screenshot mode.
struct App {
    editor: Editor,
    screenshot: Option<PathBuf>,
    frames: u64,
    asked: bool,
}

impl eframe::App for App {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.editor.ui(ui);
        let Some(path) = self.screenshot.clone() else { return };
        self.frames += 1;
        let ctx = ui.ctx().clone();
        let image = ctx.input(|i| {
            i.events.iter().find_map(|e| match e {
                egui::Event::Screenshot { image, .. } => Some(image.clone()),
                _ => None,
            })
        });
        if let Some(image) = image {
            let [w, h] = image.size;
            let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
            match image::RgbaImage::from_raw(w as u32, h as u32, bytes).map(|img| img.save(&path)) {
                Some(Ok(())) => eprintln!("screenshot written to {}", path.display()),
                Some(Err(e)) => eprintln!("error: could not write {}: {e}", path.display()),
                None => eprintln!("error: the screenshot has an unexpected size"),
            }
            self.editor.shutdown();
            std::process::exit(0);
        }
        if self.frames >= SCREENSHOT_AFTER_FRAMES && !self.asked {
            self.asked = true;
            ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(Default::default()));
        }
        ctx.request_repaint();
    }

    fn on_exit(&mut self) {
        self.editor.shutdown();
    }
}

/// Opens the editor window and runs until it closes. Fails when no window can
/// be opened (no display).
pub fn run(launch: Launch) -> Result<(), String> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("GaussianSpeech Studio")
            .with_inner_size([1400.0, 900.0])
            .with_app_id("gspeech"),
        renderer: eframe::Renderer::Wgpu,
        ..Default::default()
    };
    let Launch {
        options,
        registry,
        screenshot,
    } = launch;
    eframe::run_native(
        "GaussianSpeech Studio",
        native,
        Box::new(move |cc| {
            let editor = Editor::new(options, registry, cc.wgpu_render_state.clone());
            Ok(Box::new(App {
                editor,
                screenshot,
                frames: 0,
                asked: false,
            }))
        }),
    )
    .map_err(|e| format!("could not open the editor window: {e}"))
}
