//! Graph documents (`*.gsgraph`): JSON, human-diffable, loaded without running anything.
//!
//! A document saved by this module loads and saves again byte for byte: fields
//! keep their order, maps keep insertion order and unknown fields are preserved.

mod migrate;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use migrate::{Migration, migrate};

/// What the `format` field of every graph document says.
pub const FORMAT_NAME: &str = "gspeech-graph";
/// The document version this build writes; older ones are migrated on load.
pub const FORMAT_VERSION: u32 = 1;

/// A JSON object, in insertion order.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// A whole graph document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphDoc {
    /// Always [`FORMAT_NAME`].
    pub format: String,
    /// The document version.
    pub version: u32,
    /// Plugins whose nodes the graph uses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginRef>,
    /// The nodes, in the order the author placed them.
    pub nodes: Vec<NodeEntry>,
    /// Connections from outputs to inputs or parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edges: Vec<Edge>,
    /// Labelled backdrops grouping nodes on the editor's canvas; no effect on runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Backdrop>,
    /// Free metadata (author, notes, shot names).
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
    pub metadata: JsonMap,
    /// Fields this build does not know, kept as they were.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A plugin a graph needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginRef {
    /// Reverse-domain plugin id.
    pub id: String,
    /// The plugin version the graph was saved with.
    pub version: String,
}

/// One node of a graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Unique within the graph: letters, digits, `_` and `-`.
    pub id: String,
    /// The node type (`audio.load`).
    #[serde(rename = "type")]
    pub type_id: String,
    /// The node type's version when the graph was saved.
    pub type_version: u32,
    /// Parameters set in the graph; the rest take their defaults.
    #[serde(default, skip_serializing_if = "JsonMap::is_empty")]
    pub params: JsonMap,
    /// Position on the editor's canvas.
    #[serde(default)]
    pub position: [f64; 2],
    /// A bypassed node passes each output's same-typed input through.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bypass: bool,
    /// A muted node is left out of runs, with everything downstream of it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mute: bool,
    /// Fields this build does not know, kept as they were.
    #[serde(flatten)]
    pub extra: JsonMap,
}

/// A labelled, coloured rectangle drawn behind a group of nodes on the canvas.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Backdrop {
    /// The label shown in its title bar.
    pub title: String,
    /// Canvas rectangle: left, top, width, height.
    pub rect: [f64; 4],
    /// sRGB colour.
    pub color: [u8; 3],
    /// Fields this build does not know, kept as they were.
    #[serde(flatten)]
    pub extra: JsonMap,
}

impl NodeEntry {
    /// A node at the origin with default parameters.
    pub fn new(id: &str, type_id: &str, type_version: u32) -> NodeEntry {
        NodeEntry {
            id: id.into(),
            type_id: type_id.into(),
            type_version,
            params: JsonMap::new(),
            position: [0.0, 0.0],
            bypass: false,
            mute: false,
            extra: JsonMap::new(),
        }
    }
}

/// One end of an edge: a node and one of its sockets (or parameters).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Node id.
    pub node: String,
    /// Socket or parameter name.
    pub socket: String,
}

impl Endpoint {
    /// An endpoint from its parts.
    pub fn new(node: &str, socket: &str) -> Endpoint {
        Endpoint {
            node: node.into(),
            socket: socket.into(),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node, self.socket)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Endpoint, D::Error> {
        let text = String::deserialize(d)?;
        let (node, socket) = text
            .split_once('.')
            .filter(|(n, s)| !n.is_empty() && !s.is_empty())
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not of the form node.socket")))?;
        Ok(Endpoint::new(node, socket))
    }
}

/// A connection from an output to an input socket or a parameter.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Edge {
    /// The output.
    pub from: Endpoint,
    /// The input or parameter.
    pub to: Endpoint,
}

/// Why a document could not be read or written.
#[derive(Debug)]
pub struct DocError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column, when the problem is at a place in the text.
    pub at: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for DocError {}

impl GraphDoc {
    /// An empty graph of the current version.
    pub fn new() -> GraphDoc {
        GraphDoc {
            format: FORMAT_NAME.into(),
            version: FORMAT_VERSION,
            plugins: Vec::new(),
            nodes: Vec::new(),
            edges: Vec::new(),
            frames: Vec::new(),
            metadata: JsonMap::new(),
            extra: JsonMap::new(),
        }
    }

    /// Reads a document, migrating older versions. Runs nothing.
    pub fn load(path: &Path) -> Result<GraphDoc, DocError> {
        let text = std::fs::read_to_string(path).map_err(|e| DocError {
            path: path.into(),
            at: None,
            message: e.to_string(),
        })?;
        GraphDoc::parse(&text).map_err(|(at, message)| DocError {
            path: path.into(),
            at,
            message,
        })
    }

    /// Parses document text; errors carry the line and column where known.
    pub fn parse(text: &str) -> Result<GraphDoc, (Option<(usize, usize)>, String)> {
        let located = |e: serde_json::Error| (Some((e.line(), e.column())), e.to_string());
        let json: serde_json::Value = serde_json::from_str(text).map_err(located)?;
        let format = json.get("format").and_then(|f| f.as_str());
        if format != Some(FORMAT_NAME) {
            return Err((
                None,
                format!("not a graph document: `format` must be \"{FORMAT_NAME}\""),
            ));
        }
        let version = json
            .get("version")
            .and_then(|v| v.as_u64())
            .ok_or((None, "`version` is missing".to_string()))?;
        if version == FORMAT_VERSION as u64 {
            // Parse the text again (not the value) so structural errors keep their line and column.
            let doc: GraphDoc = serde_json::from_str(text).map_err(located)?;
            return Ok(doc);
        }
        let migrated = migrate(json, migrate::MIGRATIONS, FORMAT_VERSION).map_err(|e| (None, e))?;
        serde_json::from_value(migrated).map_err(|e| (None, format!("after migration: {e}")))
    }

    /// The document as text: two-space indented JSON with a final newline.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("graph documents always serialise");
        text.push('\n');
        text
    }

    /// Writes the document atomically.
    pub fn save(&self, path: &Path) -> Result<(), DocError> {
        let cancel = gspeech_sdk::CancelToken::new();
        gspeech_sdk::fs::write_atomic(path, self.to_text().as_bytes(), &cancel).map_err(|e| DocError {
            path: path.into(),
            at: None,
            message: e.to_string(),
        })
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// A node by id, for editing.
    pub fn node_mut(&mut self, id: &str) -> Option<&mut NodeEntry> {
        self.nodes.iter_mut().find(|n| n.id == id)
    }

    /// The graph as it runs: muted nodes, everything downstream of them and
    /// their edges left out.
    pub fn without_muted(&self) -> GraphDoc {
        let mut dropped: std::collections::HashSet<&str> =
            self.nodes.iter().filter(|n| n.mute).map(|n| n.id.as_str()).collect();
        if dropped.is_empty() {
            return self.clone();
        }
        loop {
            let before = dropped.len();
            for edge in &self.edges {
                if dropped.contains(edge.from.node.as_str()) {
                    dropped.insert(edge.to.node.as_str());
                }
            }
            if dropped.len() == before {
                break;
            }
        }
        let mut doc = self.clone();
        doc.nodes.retain(|n| !dropped.contains(n.id.as_str()));
        doc.edges
            .retain(|e| !dropped.contains(e.from.node.as_str()) && !dropped.contains(e.to.node.as_str()));
        doc
    }
}

impl Default for GraphDoc {
    fn default() -> GraphDoc {
        GraphDoc::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
  "format": "gspeech-graph",
  "version": 1,
  "plugins": [
    {
      "id": "com.example.smooth",
      "version": "1.2.0"
    }
  ],
  "nodes": [
    {
      "id": "gain",
      "type": "value.float",
      "type_version": 1,
      "params": {
        "value": 0.1
      },
      "position": [
        -120.5,
        40.0
      ],
      "studio_note": "kept as is"
    },
    {
      "id": "show",
      "type": "debug.inspect",
      "type_version": 1,
      "position": [
        100.0,
        40.0
      ],
      "bypass": true
    }
  ],
  "edges": [
    {
      "from": "gain.value",
      "to": "show.value"
    }
  ],
  "metadata": {
    "shot": "sq010_0040",
    "z": 1,
    "a": 2
  }
}
"#;

    #[test]
    fn load_then_save_is_byte_identical() {
        let doc = GraphDoc::parse(SAMPLE).unwrap();
        assert_eq!(doc.to_text(), SAMPLE);
        assert_eq!(doc.nodes[0].extra["studio_note"], "kept as is");
        assert_eq!(doc.edges[0].to, Endpoint::new("show", "value"));
    }

    #[test]
    fn save_and_load_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.gsgraph");
        let doc = GraphDoc::parse(SAMPLE).unwrap();
        doc.save(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), SAMPLE);
        assert_eq!(GraphDoc::load(&path).unwrap(), doc);
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let broken = SAMPLE.replace("\"value\": 0.1", "\"value\": 0.1,");
        let (at, message) = GraphDoc::parse(&broken).unwrap_err();
        assert_eq!(at, Some((17, 7)), "{message}");
        let err = GraphDoc::load(Path::new("/nonexistent.gsgraph")).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent.gsgraph: "));
    }

    #[test]
    fn structural_errors_are_located_too() {
        let broken = SAMPLE.replace("\"to\": \"show.value\"", "\"to\": \"showvalue\"");
        let (at, message) = GraphDoc::parse(&broken).unwrap_err();
        assert!(message.contains("not of the form node.socket"), "{message}");
        assert_eq!(at.map(|a| a.0), Some(39));
    }

    #[test]
    fn muting_leaves_out_the_node_and_its_downstream() {
        let mut doc = GraphDoc::parse(SAMPLE).unwrap();
        assert_eq!(doc.without_muted(), doc);
        doc.node_mut("gain").unwrap().mute = true;
        let runs = doc.without_muted();
        assert!(runs.nodes.is_empty(), "`show` reads from the muted `gain`");
        assert!(runs.edges.is_empty());
        assert!(doc.to_text().contains("\"mute\": true"));
    }

    #[test]
    fn refuses_other_documents() {
        let (_, message) = GraphDoc::parse(r#"{"format": "something", "version": 1}"#).unwrap_err();
        assert!(message.contains("not a graph document"));
    }
}
