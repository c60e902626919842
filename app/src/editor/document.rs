//! The open graph document: its file, every edit with undo and redo, and
//! whether it differs from what is on disk.
//!
//! Every change to the graph goes through [`Document::edit`], which keeps the
//! graph as it was for undo. Edits that continue one gesture (a slider dragged,
//! nodes moved, text typed) share one undo step.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gspeech_sdk::NodeSpec;

use crate::graph::{DocError, Edge, Endpoint, GraphDoc, NodeEntry};

/// How many undo steps are kept.
const UNDO_DEPTH: usize = 500;
/// Edits with the same key this close together share an undo step.
const MERGE_WINDOW: Duration = Duration::from_millis(1200);

/// One undo or redo step: the graph before (or after) an edit, and its name.
#[derive(Clone)]
struct Step {
    graph: GraphDoc,
    label: String,
}

/// A graph document being edited.
pub struct Document {
    graph: GraphDoc,
    path: Option<PathBuf>,
    saved: GraphDoc,
    undo: Vec<Step>,
    redo: Vec<Step>,
    revision: u64,
    last_key: Option<(String, Instant)>,
    gesture: bool,
}

impl Default for Document {
    fn default() -> Document {
        Document::new()
    }
}

impl Document {
    /// A new, empty, unsaved graph.
    pub fn new() -> Document {
        Document::with_graph(GraphDoc::new(), None)
    }

    /// A document over a graph; `path` is where it was read from, if anywhere.
    /// The graph counts as saved.
    pub fn with_graph(graph: GraphDoc, path: Option<PathBuf>) -> Document {
        Document {
            saved: graph.clone(),
            graph,
            path,
            undo: Vec::new(),
            redo: Vec::new(),
            revision: 0,
            last_key: None,
            gesture: false,
        }
    }

    /// Reads a `.gsgraph` file. Runs nothing.
    pub fn open(path: &Path) -> Result<Document, DocError> {
        Ok(Document::with_graph(GraphDoc::load(path)?, Some(path.to_path_buf())))
    }

    /// A recovered graph: `graph` holds unsaved work for the file at `path`,
    /// which therefore counts as modified.
    pub fn recovered(graph: GraphDoc, path: Option<PathBuf>) -> Document {
        let saved = match &path {
            Some(p) => GraphDoc::load(p).unwrap_or_default(),
            None => GraphDoc::new(),
        };
        Document {
            saved,
            ..Document::with_graph(graph, path)
        }
    }

    /// The graph.
    pub fn graph(&self) -> &GraphDoc {
        &self.graph
    }

    /// The file, once the document has been saved or opened.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The folder relative paths resolve against: the file's, else the current one.
    pub fn base_dir(&self) -> PathBuf {
        let dir = self
            .path
            .as_deref()
            .and_then(Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    /// The file name for window titles (`untitled` before the first save).
    pub fn name(&self) -> String {
        self.path
            .as_deref()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "untitled".into())
    }

    /// Whether the graph differs from the file.
    pub fn is_dirty(&self) -> bool {
        self.graph != self.saved
    }

    /// Increases with every change, so views know when to refresh.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Applies an edit as its own undo step.
    pub fn edit(&mut self, label: &str, change: impl FnOnce(&mut GraphDoc)) {
        self.edit_merging(None, label, change);
    }

    /// Applies an edit; one with the same `key` as the previous edit, during the
    /// same gesture or soon after it, joins that edit's undo step. An edit that
    /// changes nothing leaves no step.
    pub fn edit_merging(&mut self, key: Option<&str>, label: &str, change: impl FnOnce(&mut GraphDoc)) {
        let before = self.graph.clone();
        change(&mut self.graph);
        if self.graph == before {
            return;
        }
        let merges = match (key, &self.last_key) {
            (Some(key), Some((last, at))) => key == last && (self.gesture || at.elapsed() < MERGE_WINDOW),
            _ => false,
        };
        if !merges {
            self.undo.push(Step {
                graph: before,
                label: label.into(),
            });
            if self.undo.len() > UNDO_DEPTH {
                self.undo.remove(0);
            }
        }
        self.last_key = key.map(|k| (k.to_string(), Instant::now()));
        self.redo.clear();
        self.revision += 1;
    }

    /// Marks whether a pointer gesture (a drag) is under way: edits with the
    /// same key merge for as long as it lasts.
    pub fn set_gesture(&mut self, active: bool) {
        if self.gesture && !active {
            // The gesture ended: the next edit starts a new step.
            self.last_key = None;
        }
        self.gesture = active;
    }

    /// Undoes the last edit; false when there is none.
    pub fn undo(&mut self) -> bool {
        self.step(true)
    }

    /// Redoes the last undone edit; false when there is none.
    pub fn redo(&mut self) -> bool {
        self.step(false)
    }

    fn step(&mut self, back: bool) -> bool {
        let (from, to) = if back {
            (&mut self.undo, &mut self.redo)
        } else {
            (&mut self.redo, &mut self.undo)
        };
        let Some(step) = from.pop() else { return false };
        let current = std::mem::replace(&mut self.graph, step.graph);
        to.push(Step {
            graph: current,
            label: step.label,
        });
        self.last_key = None;
        self.revision += 1;
        true
    }

    /// The name of the edit Undo would revert.
    pub fn undo_label(&self) -> Option<&str> {
        self.undo.last().map(|s| s.label.as_str())
    }

    /// The name of the edit Redo would apply.
    pub fn redo_label(&self) -> Option<&str> {
        self.redo.last().map(|s| s.label.as_str())
    }

    /// Writes the graph to its file (atomically).
    pub fn save(&mut self) -> Result<(), DocError> {
        let path = self.path.clone().ok_or_else(|| DocError {
            path: PathBuf::from("untitled"),
            at: None,
            message: "the graph has no file yet; use Save As".into(),
        })?;
        self.save_as(&path)
    }

    /// Writes the graph to a new file, which becomes the document's file.
    /// Relative paths in the graph keep pointing where they did.
    pub fn save_as(&mut self, path: &Path) -> Result<(), DocError> {
        self.graph.save(path)?;
        self.path = Some(path.to_path_buf());
        self.saved = self.graph.clone();
        Ok(())
    }

    /// A node id not yet used in the graph, from a node type's name (`load`, `load_2`).
    pub fn fresh_id(&self, type_id: &str) -> String {
        fresh_id(&self.graph, type_id)
    }

    /// Adds a node of a type at a canvas position, with default parameters;
    /// returns its id.
    pub fn add_node(&mut self, spec: &NodeSpec, position: [f64; 2]) -> String {
        let id = self.fresh_id(&spec.type_id);
        let mut entry = NodeEntry::new(&id, &spec.type_id, spec.version);
        entry.position = position;
        self.edit(&format!("Add {}", spec.title), |g| g.nodes.push(entry));
        id
    }

    /// Removes nodes, their edges, and nothing else.
    pub fn remove_nodes(&mut self, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let label = match ids {
            [one] => format!("Delete {one}"),
            many => format!("Delete {} nodes", many.len()),
        };
        self.edit(&label, |g| {
            g.nodes.retain(|n| !ids.contains(&n.id));
            g.edges
                .retain(|e| !ids.contains(&e.from.node) && !ids.contains(&e.to.node));
        });
    }

    /// Connects an output to an input or parameter, replacing what fed it before.
    pub fn connect(&mut self, from: Endpoint, to: Endpoint) {
        self.edit(&format!("Connect {from} → {to}"), |g| {
            g.edges.retain(|e| e.to != to);
            g.edges.push(Edge { from, to });
        });
    }

    /// Removes the edges into an input or parameter, or one edge exactly.
    pub fn disconnect(&mut self, from: Option<&Endpoint>, to: &Endpoint) {
        self.edit(&format!("Disconnect {to}"), |g| {
            g.edges.retain(|e| !(&e.to == to && from.is_none_or(|f| &e.from == f)));
        });
    }

    /// Removes every edge leaving an output.
    pub fn disconnect_output(&mut self, from: &Endpoint) {
        self.edit(&format!("Disconnect {from}"), |g| g.edges.retain(|e| &e.from != from));
    }

    /// Sets a parameter; the default value is stored as "not set", so files
    /// list only what differs from the defaults.
    pub fn set_param(&mut self, node: &str, spec: &gspeech_sdk::ParamSpec, value: serde_json::Value) {
        let key = format!("param {node}.{}", spec.name);
        self.edit_merging(Some(&key), &format!("Set {node}.{}", spec.name), |g| {
            if let Some(entry) = g.node_mut(node) {
                if value == spec.default {
                    entry.params.remove(&spec.name);
                } else {
                    entry.params.insert(spec.name.clone(), value);
                }
            }
        });
    }

    /// Flips the bypass flag of nodes (all on if any is off).
    pub fn toggle_bypass(&mut self, ids: &[String]) {
        self.toggle(ids, "bypass", |n| &mut n.bypass);
    }

    /// Flips the mute flag of nodes (all on if any is off).
    pub fn toggle_mute(&mut self, ids: &[String]) {
        self.toggle(ids, "mute", |n| &mut n.mute);
    }

    fn toggle(&mut self, ids: &[String], what: &str, flag: fn(&mut NodeEntry) -> &mut bool) {
        if ids.is_empty() {
            return;
        }
        let any_off = self
            .graph
            .nodes
            .iter_mut()
            .filter(|n| ids.contains(&n.id))
            .any(|n| !*flag(n));
        self.edit(&format!("Toggle {what}"), |g| {
            for n in g.nodes.iter_mut().filter(|n| ids.contains(&n.id)) {
                *flag(n) = any_off;
            }
        });
    }

    /// Moves nodes to new canvas positions; moves during one drag share a step.
    pub fn move_nodes(&mut self, moves: &[(String, [f64; 2])]) {
        self.edit_merging(Some("move"), "Move", |g| {
            for (id, pos) in moves {
                if let Some(n) = g.node_mut(id) {
                    n.position = *pos;
                }
            }
        });
    }
}

/// A node id not used in `graph`, from a type id's last part.
pub fn fresh_id(graph: &GraphDoc, type_id: &str) -> String {
    let base: String = type_id
        .rsplit('.')
        .next()
        .unwrap_or(type_id)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = if base.is_empty() { "node".to_string() } else { base };
    let taken = |id: &str| graph.nodes.iter().any(|n| n.id == id);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|id| !taken(id))
        .expect("some suffix is free")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::ParamSpec;

    fn spec() -> NodeSpec {
        NodeSpec::new("value.float", 1, "Float").param(ParamSpec::float("value", 0.0, (None, None), "v"))
    }

    #[test]
    fn edits_undo_and_redo_in_order() {
        let mut doc = Document::new();
        let a = doc.add_node(&spec(), [0.0, 0.0]);
        let b = doc.add_node(&spec(), [10.0, 0.0]);
        assert_eq!((a.as_str(), b.as_str()), ("float", "float_2"));
        assert!(doc.is_dirty());
        assert_eq!(doc.undo_label(), Some("Add Float"));
        assert!(doc.undo());
        assert_eq!(doc.graph().nodes.len(), 1);
        assert!(doc.redo());
        assert_eq!(doc.graph().nodes.len(), 2);
        doc.undo();
        doc.undo();
        assert!(!doc.undo(), "nothing left to undo");
        assert!(!doc.is_dirty(), "back to the saved (empty) graph");
    }

    #[test]
    fn edits_of_one_parameter_merge_and_defaults_are_not_stored() {
        let mut doc = Document::new();
        let id = doc.add_node(&spec(), [0.0, 0.0]);
        let p = spec().params[0].clone();
        for v in [0.1, 0.2, 0.3] {
            doc.set_param(&id, &p, v.into());
        }
        assert_eq!(doc.graph().nodes[0].params["value"], 0.3);
        doc.undo();
        assert!(doc.graph().nodes[0].params.is_empty(), "one step undoes the whole drag");
        doc.redo();
        doc.set_param(&id, &p, 0.0.into());
        assert!(doc.graph().nodes[0].params.is_empty(), "the default is not written");
    }

    #[test]
    fn removing_a_node_removes_its_edges() {
        let mut doc = Document::new();
        let a = doc.add_node(&spec(), [0.0, 0.0]);
        let b = doc.add_node(&spec(), [0.0, 0.0]);
        doc.connect(Endpoint::new(&a, "value"), Endpoint::new(&b, "value"));
        doc.connect(Endpoint::new(&b, "value"), Endpoint::new(&a, "value"));
        assert_eq!(doc.graph().edges.len(), 2);
        doc.remove_nodes(std::slice::from_ref(&a));
        assert!(doc.graph().edges.is_empty());
        doc.toggle_bypass(std::slice::from_ref(&b));
        assert!(doc.graph().nodes[0].bypass);
        doc.toggle_bypass(std::slice::from_ref(&b));
        assert!(!doc.graph().nodes[0].bypass);
    }
}
