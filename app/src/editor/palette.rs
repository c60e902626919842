//! The searchable palette that adds nodes (Tab or double-click on the canvas):
//! built-in nodes grouped by category, plugin nodes under their plugin.

use egui::{Key, Pos2, RichText};

use crate::registry::{Origin, Registry};

/// One node type as the palette lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The type id to add.
    pub type_id: String,
    /// Human title.
    pub title: String,
    /// The group heading: the category, or `plugin id › category`.
    pub group: String,
    /// The node's documentation, for the tooltip.
    pub doc: String,
}

/// Every node type of a registry, grouped: built-in categories first (in
/// registry order), then each plugin's.
pub fn entries(registry: &Registry) -> Vec<Entry> {
    let mut list: Vec<(bool, Entry)> = registry
        .types()
        .map(|t| {
            let (plugin, group) = match &t.origin {
                Origin::Builtin => (false, t.spec.category.clone()),
                Origin::Plugin { id, .. } => (true, format!("{id} › {}", t.spec.category)),
            };
            (
                plugin,
                Entry {
                    type_id: t.spec.type_id.clone(),
                    title: t.spec.title.clone(),
                    group,
                    doc: t.spec.doc.clone(),
                },
            )
        })
        .collect();
    list.sort_by(|a, b| (a.0, &a.1.group, &a.1.title).cmp(&(b.0, &b.1.group, &b.1.title)));
    list.into_iter().map(|(_, e)| e).collect()
}

/// How well an entry matches a query: every word must occur in its title,
/// type id or group; matches at the start of the title rank first. `None`
/// when it does not match.
pub fn score(entry: &Entry, query: &str) -> Option<u32> {
    let hay = format!("{} {} {}", entry.title, entry.type_id, entry.group).to_lowercase();
    let title = entry.title.to_lowercase();
    let mut score = 0;
    for word in query.split_whitespace().map(str::to_lowercase) {
        if !hay.contains(&word) {
            return None;
        }
        score += if title.starts_with(&word) {
            0
        } else if title.contains(&word) {
            1
        } else {
            2
        };
    }
    Some(score)
}

/// The palette window's state.
#[derive(Default)]
pub struct Palette {
    open: Option<Pos2>,
    query: String,
    selected: usize,
    focus: bool,
}

impl Palette {
    /// Opens the palette at a screen position.
    pub fn open_at(&mut self, pos: Pos2) {
        self.open = Some(pos);
        self.query.clear();
        self.selected = 0;
        self.focus = true;
    }

    /// Whether it is showing.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Closes it.
    pub fn close(&mut self) {
        self.open = None;
    }

    /// Shows the palette; returns the type id the user picked.
    pub fn show(&mut self, ctx: &egui::Context, registry: &Registry) -> Option<String> {
        let pos = self.open?;
        let all = entries(registry);
        let mut matches: Vec<(u32, &Entry)> = all.iter().filter_map(|e| Some((score(e, &self.query)?, e))).collect();
        if !self.query.trim().is_empty() {
            matches.sort_by_key(|(s, _)| *s);
        }
        let (down, up, enter, escape) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::NONE, Key::ArrowDown),
                i.consume_key(egui::Modifiers::NONE, Key::ArrowUp),
                i.consume_key(egui::Modifiers::NONE, Key::Enter),
                i.consume_key(egui::Modifiers::NONE, Key::Escape),
            )
        });
        if escape {
            self.close();
            return None;
        }
        if down {
            self.selected = (self.selected + 1).min(matches.len().saturating_sub(1));
        }
        if up {
            self.selected = self.selected.saturating_sub(1);
        }
        self.selected = self.selected.min(matches.len().saturating_sub(1));
        let mut picked = (enter && !matches.is_empty()).then(|| matches[self.selected].1.type_id.clone());
        let mut keep_open = true;
        egui::Window::new("Add node")
            .id(egui::Id::new("gspeech-palette"))
            .fixed_pos(pos)
            .collapsible(false)
            .resizable(false)
            .open(&mut keep_open)
            .show(ctx, |ui| {
                let search = ui.add(
                    egui::TextEdit::singleline(&mut self.query)
                        .hint_text("Search nodes…")
                        .desired_width(240.0),
                );
                if std::mem::take(&mut self.focus) {
                    search.request_focus();
                }
                if search.changed() {
                    self.selected = 0;
                }
                egui::ScrollArea::vertical().max_height(320.0).show(ui, |ui| {
                    let mut group = None;
                    for (i, (_, entry)) in matches.iter().enumerate() {
                        if group != Some(&entry.group) {
                            group = Some(&entry.group);
                            ui.label(RichText::new(&entry.group).small().weak());
                        }
                        let row = ui
                            .selectable_label(i == self.selected, &entry.title)
                            .on_hover_text(format!("{}\n\n{}", entry.type_id, entry.doc));
                        if i == self.selected && (down || up) {
                            row.scroll_to_me(None);
                        }
                        if row.clicked() {
                            picked = Some(entry.type_id.clone());
                        }
                    }
                    if matches.is_empty() {
                        ui.label(RichText::new("No node matches").weak());
                    }
                });
            });
        if !keep_open || picked.is_some() {
            self.close();
        }
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_builtins_by_category_and_search_ranks_titles_first() {
        let list = entries(&Registry::builtin());
        let load = list.iter().find(|e| e.type_id == "audio.load").unwrap();
        assert_eq!(load.group, "audio");
        let mut hits: Vec<(u32, &Entry)> = list.iter().filter_map(|e| Some((score(e, "load")?, e))).collect();
        hits.sort_by_key(|h| h.0);
        assert!(hits.iter().any(|h| h.1.type_id == "io.load"));
        assert!(
            hits.iter()
                .all(|h| h.1.type_id.contains("load") || h.1.title.to_lowercase().contains("load"))
        );
        assert!(score(load, "audio zzz").is_none(), "every word must match");
    }

    #[test]
    fn plugin_nodes_are_listed_under_their_plugin_after_the_builtins() {
        let mut registry = Registry::new();
        let plugin = Origin::Plugin {
            id: "com.example.tools".into(),
            version: "1.0.0".into(),
            path: "/libtools.so".into(),
        };
        registry
            .register(std::sync::Arc::new(gspeech_nodes::io::Save), plugin)
            .unwrap();
        registry
            .register(std::sync::Arc::new(gspeech_nodes::io::Load), Origin::Builtin)
            .unwrap();
        let groups: Vec<String> = entries(&registry).into_iter().map(|e| e.group).collect();
        assert_eq!(groups, ["io", "com.example.tools › io"]);
    }
}
