//! A capture (a `dataset` from `capture.load`) as its contact sheet: every
//! camera at the playhead's frame, the tracked mesh drawn over each picture,
//! each cell named, held-out cameras framed in orange.

use std::path::Path;

use egui::{Color32, ColorImage, Rect, RichText, TextureHandle, Ui, Vec2};
use gspeech_nodes::capture::Capture;
use gspeech_nodes::capture::preview::{Sheet, contact_sheet};
use gspeech_sdk::Record;

/// The width of a camera's cell on the sheet, in pixels.
const CELL: u32 = 192;

/// The capture shown last and the sheet of the frame on screen.
#[derive(Default)]
pub struct CaptureView {
    /// The capture folder and what reading it gave.
    capture: Option<(String, Result<Capture, String>)>,
    /// The sheet on screen.
    sheet: Option<Shown>,
}

/// A frame's sheet, as a texture.
struct Shown {
    /// The capture folder.
    root: String,
    /// The frame's position in the index.
    position: usize,
    /// The sheet, or why there is none.
    sheet: Result<(Sheet, TextureHandle), String>,
}

/// Whether `record` is a capture's dataset.
pub fn is_capture(record: &Record) -> bool {
    record.attr("kind").and_then(|k| k.as_str()) == Some("capture")
}

/// The frame count and rate on the timeline (frames without a rate play at 25 per second).
pub fn timing(record: &Record) -> (usize, f64) {
    let frames = record.attr("frames").and_then(|f| f.as_u64()).unwrap_or(0) as usize;
    let fps = record.attr("fps").and_then(|f| f.as_f64()).unwrap_or(25.0);
    (frames, fps)
}

impl CaptureView {
    /// Shows the sheet of the frame at `time` seconds, at most `height` pixels tall.
    pub fn show(&mut self, ui: &mut Ui, record: &Record, time: f64, height: f32) {
        let Some(root) = record.attr("root").and_then(|r| r.as_str()) else {
            return;
        };
        if self.capture.as_ref().is_none_or(|(r, _)| r != root) {
            let read = Capture::read(Path::new(root)).map_err(|e| e.to_string());
            self.capture = Some((root.to_string(), read));
            self.sheet = None;
        }
        let capture = match &self.capture {
            Some((_, Ok(capture))) => capture,
            Some((_, Err(e))) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
                return;
            }
            None => return,
        };
        let (count, fps) = timing(record);
        let position = ((time * fps) as usize).min(count.saturating_sub(1));
        let Some(frame) = capture.index.frames.get(position) else {
            ui.weak("The capture has no frames.");
            return;
        };
        if self
            .sheet
            .as_ref()
            .is_none_or(|s| s.root != root || s.position != position)
        {
            let made = contact_sheet(capture, frame.index, CELL, true).map(|sheet| {
                let image = ColorImage::from_rgb([sheet.width as usize, sheet.height as usize], &sheet.rgb);
                let texture = ui
                    .ctx()
                    .load_texture("capture sheet", image, egui::TextureOptions::LINEAR);
                (sheet, texture)
            });
            self.sheet = Some(Shown {
                root: root.to_string(),
                position,
                sheet: made.map_err(|e| e.to_string()),
            });
        }
        match self.sheet.as_ref().map(|s| &s.sheet) {
            Some(Ok((sheet, texture))) => {
                let aspect = sheet.width as f32 / sheet.height.max(1) as f32;
                let h = height.min(ui.available_width() / aspect);
                let response = ui.add(egui::Image::new((texture.id(), Vec2::new(h * aspect, h))));
                label_cells(ui, response.rect, sheet);
                ui.weak(format!(
                    "frame {} ({} of {count}, {:.2} s, {}); green dots: its tracked mesh",
                    frame.index,
                    position + 1,
                    frame.time,
                    frame.split
                ));
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            None => {}
        }
    }
}

/// Names each camera in the top left of its cell.
fn label_cells(ui: &mut Ui, rect: Rect, sheet: &Sheet) {
    let scale = rect.width() / sheet.width.max(1) as f32;
    for (i, name) in sheet.cameras.iter().enumerate() {
        let [x, y] = sheet.origin(i);
        let at = rect.min + Vec2::new(x as f32 + 3.0, y as f32 + 2.0) * scale;
        let text = RichText::new(name)
            .small()
            .color(Color32::WHITE)
            .background_color(Color32::from_black_alpha(150));
        let cell = Rect::from_min_size(at, Vec2::new(sheet.cell[0] as f32 * scale, 16.0));
        // A child that leaves the panel's layout where it was.
        let mut child = ui.new_child(
            egui::UiBuilder::new()
                .max_rect(cell)
                .layout(egui::Layout::top_down(egui::Align::Min)),
        );
        child.add(egui::Label::new(text).truncate());
    }
}
