//! An editor widget for every parameter kind of the schema: sliders and drag
//! values within the ranges, choices, text, colours and paths with a file
//! dialog using the parameter's filters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crossbeam_channel::{Receiver, bounded};
use egui::{RichText, Ui};
use gspeech_sdk::{ParamKind, ParamSpec, PathRole};

use super::theme;

/// File dialogs run on their own threads so the editor keeps drawing; their
/// answers arrive here, keyed by what asked.
#[derive(Default)]
pub struct FileDialogs {
    pending: HashMap<String, Receiver<Option<PathBuf>>>,
}

impl FileDialogs {
    /// Opens a dialog for `key` unless one is already open for it.
    pub fn open(&mut self, key: &str, role: PathRole, filters: &[gspeech_sdk::FileFilter], start: &Path) {
        if self.pending.contains_key(key) {
            return;
        }
        let mut dialog = rfd::AsyncFileDialog::new().set_directory(start);
        for f in filters {
            dialog = dialog.add_filter(&f.name, &f.extensions);
        }
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let picked = pollster::block_on(async {
                match role {
                    PathRole::InputFile | PathRole::Any => dialog.pick_file().await,
                    PathRole::OutputFile => dialog.save_file().await,
                    PathRole::InputDir | PathRole::OutputDir => dialog.pick_folder().await,
                }
            });
            let _ = tx.send(picked.map(|h| h.path().to_path_buf()));
        });
        self.pending.insert(key.into(), rx);
    }

    /// The answer for `key`, once the user has picked (`Some(None)` when they cancelled).
    pub fn take(&mut self, key: &str) -> Option<Option<PathBuf>> {
        let answer = self.pending.get(key)?.try_recv().ok()?;
        self.pending.remove(key);
        Some(answer)
    }

    /// Whether a dialog is open for `key`.
    pub fn is_open(&self, key: &str) -> bool {
        self.pending.contains_key(key)
    }
}

/// Where a parameter editor is drawn: inline on a node (narrow) or in the inspector.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// On the canvas: narrow, no labels beyond the name.
    Node,
    /// In the inspector: full width.
    Inspector,
}

/// Shows the editor for one parameter whose value in the graph is `current`
/// (`None`: not set, the default applies). Returns the new JSON value when
/// the user changed it. `key` identifies the parameter (for file dialogs),
/// `base_dir` is where relative paths resolve, and `label` is the widget
/// naming the parameter (for screen readers and UI tests).
#[allow(clippy::too_many_arguments)]
pub fn param_editor(
    ui: &mut Ui,
    spec: &ParamSpec,
    current: Option<&serde_json::Value>,
    key: &str,
    base_dir: &Path,
    dialogs: &mut FileDialogs,
    layout: Layout,
    label: Option<egui::Id>,
) -> Option<serde_json::Value> {
    let tag = |r: egui::Response| match label {
        Some(id) => r.labelled_by(id),
        None => r,
    };
    let json = current.unwrap_or(&spec.default);
    let value = match spec.kind.parse_json(json) {
        Ok(v) => v,
        Err(message) => {
            // A value from a file that the schema refuses: show why, offer the default.
            ui.label(RichText::new(format!("{json}")).color(theme::FAILED))
                .on_hover_text(&message);
            return ui.small_button("reset").clicked().then(|| spec.default.clone());
        }
    };
    let width = if layout == Layout::Node {
        110.0
    } else {
        ui.available_width().max(120.0)
    };
    use gspeech_sdk::ParamValue as V;
    let changed = match (&spec.kind, value) {
        (ParamKind::Int { min, max }, V::Int(mut v)) => {
            let r = match (min, max) {
                (Some(a), Some(b)) if layout == Layout::Inspector && b - a <= 10_000 => {
                    tag(ui.add(egui::Slider::new(&mut v, *a..=*b)))
                }
                _ => tag(ui.add(
                    egui::DragValue::new(&mut v)
                        .range(min.unwrap_or(i64::MIN)..=max.unwrap_or(i64::MAX))
                        .speed(0.25),
                )),
            };
            r.changed().then(|| v.into())
        }
        (ParamKind::Float { min, max }, V::Float(mut v)) => {
            let r = match (min, max) {
                (Some(a), Some(b)) if layout == Layout::Inspector => tag(ui.add(egui::Slider::new(&mut v, *a..=*b))),
                _ => {
                    let speed = match (min, max) {
                        (Some(a), Some(b)) => (b - a) / 300.0,
                        _ => (v.abs() * 0.01).max(0.01),
                    };
                    tag(ui.add(
                        egui::DragValue::new(&mut v)
                            .range(min.unwrap_or(f64::NEG_INFINITY)..=max.unwrap_or(f64::INFINITY))
                            .speed(speed)
                            .max_decimals(4),
                    ))
                }
            };
            r.changed().then(|| v.into())
        }
        (ParamKind::Bool, V::Bool(mut v)) => tag(ui.checkbox(&mut v, "")).changed().then(|| v.into()),
        (ParamKind::Text { multiline }, V::Text(mut v)) => {
            let edit = if *multiline && layout == Layout::Inspector {
                egui::TextEdit::multiline(&mut v).desired_rows(3)
            } else {
                egui::TextEdit::singleline(&mut v)
            };
            tag(ui.add(edit.desired_width(width))).changed().then(|| v.into())
        }
        (ParamKind::Enum { choices }, V::Text(mut v)) => {
            let before = v.clone();
            let combo = egui::ComboBox::from_id_salt(key)
                .selected_text(&v)
                .width(width.min(160.0))
                .show_ui(ui, |ui| {
                    for c in choices {
                        ui.selectable_value(&mut v, c.clone(), c);
                    }
                });
            tag(combo.response);
            (v != before).then(|| v.into())
        }
        (ParamKind::Path { role, filters }, V::Path(p)) => {
            let mut text = p.to_string_lossy().into_owned();
            let mut out = None;
            ui.horizontal(|ui| {
                let field = egui::TextEdit::singleline(&mut text)
                    .desired_width(width - 30.0)
                    .hint_text("(not set)");
                if tag(ui.add(field)).changed() {
                    out = Some(text.clone().into());
                }
                let busy = dialogs.is_open(key);
                let browse = ui
                    .add_enabled(!busy, egui::Button::new("…").small())
                    .on_hover_text("Choose with a file dialog");
                if browse.clicked() {
                    let start = p
                        .parent()
                        .map(|d| base_dir.join(d))
                        .filter(|d| d.is_dir())
                        .unwrap_or_else(|| base_dir.to_path_buf());
                    dialogs.open(key, *role, filters, &start);
                }
            });
            if let Some(Some(picked)) = dialogs.take(key) {
                out = Some(relative_to(&picked, base_dir).to_string_lossy().into_owned().into());
            }
            out
        }
        (ParamKind::Color, V::Color(mut rgba)) => tag(ui.color_edit_button_rgba_unmultiplied(&mut rgba))
            .changed()
            .then(|| {
                rgba.iter()
                    .map(|c| serde_json::Value::from((c.clamp(0.0, 1.0) as f64 * 1e4).round() / 1e4))
                    .collect()
            }),
        _ => None,
    };
    changed.filter(|v| v != json)
}

/// `path` relative to `base` when it lies inside it, so graphs move with their files.
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    path.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A parameter's name with its documentation as a tooltip; returns the label's id.
pub fn param_name(ui: &mut Ui, spec: &ParamSpec) -> egui::Id {
    ui.label(&spec.name)
        .on_hover_text(format!(
            "{}\n\n{}; default {}",
            spec.doc,
            spec.kind.describe(),
            spec.default
        ))
        .id
}

/// A button restoring a parameter's default; true when clicked.
pub fn reset_button(ui: &mut Ui, spec: &ParamSpec) -> bool {
    ui.small_button("reset")
        .on_hover_text(format!("Back to the default, {}", spec.default))
        .clicked()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chosen_files_inside_the_graph_folder_become_relative() {
        assert_eq!(
            relative_to(Path::new("/p/takes/a.wav"), Path::new("/p")),
            PathBuf::from("takes/a.wav")
        );
        assert_eq!(
            relative_to(Path::new("/elsewhere/a.wav"), Path::new("/p")),
            PathBuf::from("/elsewhere/a.wav")
        );
    }
}
