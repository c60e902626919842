//! Parameter schema and values.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{NodeError, PortType, Value};

/// A file-dialog filter: a label and the extensions it shows (without dots).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileFilter {
    /// What the dialog shows, e.g. "Audio".
    pub name: String,
    /// Extensions without dots, e.g. `["wav", "flac"]`.
    pub extensions: Vec<String>,
}

impl FileFilter {
    /// A filter from a label and extensions.
    pub fn new(name: &str, extensions: &[&str]) -> FileFilter {
        FileFilter {
            name: name.into(),
            extensions: extensions.iter().map(|e| e.to_string()).collect(),
        }
    }
}

/// What a path parameter points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathRole {
    /// A file the node reads: it must exist, and its content is part of the cache key.
    InputFile,
    /// A folder the node reads: it must exist.
    InputDir,
    /// A file the node writes.
    OutputFile,
    /// A folder the node writes into.
    OutputDir,
    /// A path the node only passes on (`value.path`); checked where it is used.
    Any,
}

/// The kind of a parameter, with its constraints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ParamKind {
    /// A whole number in an optional inclusive range.
    Int {
        /// Smallest allowed value.
        min: Option<i64>,
        /// Largest allowed value.
        max: Option<i64>,
    },
    /// A real number in an optional inclusive range.
    Float {
        /// Smallest allowed value.
        min: Option<f64>,
        /// Largest allowed value.
        max: Option<f64>,
    },
    /// True or false.
    Bool,
    /// Free text.
    Text {
        /// Whether an editor should offer several lines.
        multiline: bool,
    },
    /// One of a fixed set of choices.
    Enum {
        /// The allowed values.
        choices: Vec<String>,
    },
    /// A path, relative to the graph file unless absolute.
    Path {
        /// Whether the node reads or writes it, and whether it is a file or a folder.
        role: PathRole,
        /// File-dialog filters.
        filters: Vec<FileFilter>,
    },
    /// A linear RGBA colour with components in [0, 1].
    Color,
}

impl ParamKind {
    /// The port type whose values may drive this parameter through an edge.
    pub fn port_type(&self) -> PortType {
        match self {
            ParamKind::Int { .. } => PortType::Int,
            ParamKind::Float { .. } => PortType::Float,
            ParamKind::Bool => PortType::Bool,
            ParamKind::Text { .. } | ParamKind::Enum { .. } => PortType::Text,
            ParamKind::Path { .. } => PortType::Path,
            ParamKind::Color => PortType::Any,
        }
    }

    /// A short name for messages (`float in [0, 1]`).
    pub fn describe(&self) -> String {
        fn range<T: std::fmt::Display>(name: &str, min: &Option<T>, max: &Option<T>) -> String {
            match (min, max) {
                (Some(a), Some(b)) => format!("{name} in [{a}, {b}]"),
                (Some(a), None) => format!("{name} ≥ {a}"),
                (None, Some(b)) => format!("{name} ≤ {b}"),
                (None, None) => name.to_string(),
            }
        }
        match self {
            ParamKind::Int { min, max } => range("integer", min, max),
            ParamKind::Float { min, max } => range("number", min, max),
            ParamKind::Bool => "true or false".into(),
            ParamKind::Text { .. } => "text".into(),
            ParamKind::Enum { choices } => format!("one of {}", choices.join(", ")),
            ParamKind::Path { .. } => "a path".into(),
            ParamKind::Color => "an RGBA colour [r, g, b, a]".into(),
        }
    }

    /// Checks a JSON value from a graph file and turns it into a parameter value.
    /// The error says what was expected.
    pub fn parse_json(&self, json: &serde_json::Value) -> Result<ParamValue, String> {
        let wrong = || format!("expected {}, found {json}", self.describe());
        let value = match self {
            ParamKind::Int { .. } => ParamValue::Int(json.as_i64().ok_or_else(wrong)?),
            ParamKind::Float { .. } => ParamValue::Float(json.as_f64().ok_or_else(wrong)?),
            ParamKind::Bool => ParamValue::Bool(json.as_bool().ok_or_else(wrong)?),
            ParamKind::Text { .. } | ParamKind::Enum { .. } => {
                ParamValue::Text(json.as_str().ok_or_else(wrong)?.into())
            }
            ParamKind::Path { .. } => ParamValue::Path(PathBuf::from(json.as_str().ok_or_else(wrong)?)),
            ParamKind::Color => {
                let parts = json.as_array().filter(|a| a.len() == 4).ok_or_else(wrong)?;
                let mut rgba = [0f32; 4];
                for (c, v) in rgba.iter_mut().zip(parts) {
                    *c = v.as_f64().ok_or_else(wrong)? as f32;
                }
                ParamValue::Color(rgba)
            }
        };
        self.check(&value)?;
        Ok(value)
    }

    /// Parses text typed by a user (a `--set` override) for this kind.
    pub fn parse_text(&self, text: &str) -> Result<ParamValue, String> {
        let json = match self {
            ParamKind::Text { .. } | ParamKind::Enum { .. } | ParamKind::Path { .. } => {
                serde_json::Value::String(text.to_string())
            }
            _ => serde_json::from_str(text.trim())
                .map_err(|_| format!("expected {}, found {text:?}", self.describe()))?,
        };
        self.parse_json(&json)
    }

    /// Checks ranges and choices.
    pub fn check(&self, value: &ParamValue) -> Result<(), String> {
        let out_of_range = || Err(format!("{} is out of range: expected {}", value, self.describe()));
        match (self, value) {
            (ParamKind::Int { min, max }, ParamValue::Int(v)) => {
                if min.is_some_and(|m| *v < m) || max.is_some_and(|m| *v > m) {
                    return out_of_range();
                }
            }
            (ParamKind::Float { min, max }, ParamValue::Float(v)) => {
                if !v.is_finite() || min.is_some_and(|m| *v < m) || max.is_some_and(|m| *v > m) {
                    return out_of_range();
                }
            }
            (ParamKind::Enum { choices }, ParamValue::Text(v)) => {
                if !choices.iter().any(|c| c == v) {
                    return Err(format!("{v:?} is not {}", self.describe()));
                }
            }
            (ParamKind::Color, ParamValue::Color(c)) => {
                if c.iter().any(|v| !(0.0..=1.0).contains(v)) {
                    return out_of_range();
                }
            }
            (ParamKind::Bool, ParamValue::Bool(_))
            | (ParamKind::Text { .. }, ParamValue::Text(_))
            | (ParamKind::Path { .. }, ParamValue::Path(_)) => {}
            _ => return Err(format!("expected {}, found {value}", self.describe())),
        }
        Ok(())
    }
}

/// A parameter value.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// For `Int` parameters.
    Int(i64),
    /// For `Float` parameters.
    Float(f64),
    /// For `Bool` parameters.
    Bool(bool),
    /// For `Text` and `Enum` parameters.
    Text(String),
    /// For `Path` parameters; absolute once the executor has resolved it.
    Path(PathBuf),
    /// For `Color` parameters.
    Color([f32; 4]),
}

impl ParamValue {
    /// The JSON form written to graph files.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Int(v) => (*v).into(),
            ParamValue::Float(v) => (*v).into(),
            ParamValue::Bool(v) => (*v).into(),
            ParamValue::Text(v) => v.clone().into(),
            ParamValue::Path(v) => v.to_string_lossy().into_owned().into(),
            ParamValue::Color(c) => c.iter().map(|v| serde_json::Value::from(*v as f64)).collect(),
        }
    }

    /// A relative, non-empty path joined to `base_dir`; any other value unchanged.
    pub fn resolved_against(self, base_dir: &Path) -> ParamValue {
        match self {
            ParamValue::Path(p) if !p.as_os_str().is_empty() && p.is_relative() => ParamValue::Path(base_dir.join(p)),
            other => other,
        }
    }

    /// Converts a value arriving on an edge into a parameter value.
    pub fn from_value(value: &Value) -> Option<ParamValue> {
        Some(match value {
            Value::Int(v) => ParamValue::Int(*v),
            Value::Float(v) => ParamValue::Float(*v),
            Value::Bool(v) => ParamValue::Bool(*v),
            Value::Text(v) => ParamValue::Text(v.to_string()),
            Value::Path(v) => ParamValue::Path(v.to_path_buf()),
            Value::Data(_) => return None,
        })
    }
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// The declaration of one parameter of a node type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Name, unique among the node's parameters and input sockets.
    pub name: String,
    /// Kind and constraints.
    pub kind: ParamKind,
    /// The value used when a graph does not set one (as JSON).
    pub default: serde_json::Value,
    /// One or two sentences for tooltips and `gspeech nodes`.
    pub doc: String,
    /// For a path: whether it may be left empty (the node then does without).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl ParamSpec {
    fn new(name: &str, kind: ParamKind, default: serde_json::Value, doc: &str) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            kind,
            default,
            doc: doc.into(),
            optional: false,
        }
    }

    /// The same parameter, allowed to be empty: for a path the node can do
    /// without (read with [`Params::optional_path`]).
    pub fn optional(mut self) -> ParamSpec {
        self.optional = true;
        self
    }

    /// An integer parameter with an inclusive range.
    pub fn int(name: &str, default: i64, range: (Option<i64>, Option<i64>), doc: &str) -> ParamSpec {
        ParamSpec::new(
            name,
            ParamKind::Int {
                min: range.0,
                max: range.1,
            },
            default.into(),
            doc,
        )
    }

    /// A real parameter with an inclusive range.
    pub fn float(name: &str, default: f64, range: (Option<f64>, Option<f64>), doc: &str) -> ParamSpec {
        ParamSpec::new(
            name,
            ParamKind::Float {
                min: range.0,
                max: range.1,
            },
            default.into(),
            doc,
        )
    }

    /// A boolean parameter.
    pub fn bool(name: &str, default: bool, doc: &str) -> ParamSpec {
        ParamSpec::new(name, ParamKind::Bool, default.into(), doc)
    }

    /// A text parameter.
    pub fn text(name: &str, default: &str, doc: &str) -> ParamSpec {
        ParamSpec::new(name, ParamKind::Text { multiline: false }, default.into(), doc)
    }

    /// A choice among fixed values; the default must be one of them.
    pub fn choice(name: &str, default: &str, choices: &[&str], doc: &str) -> ParamSpec {
        let choices = choices.iter().map(|c| c.to_string()).collect();
        ParamSpec::new(name, ParamKind::Enum { choices }, default.into(), doc)
    }

    /// A path parameter.
    pub fn path(name: &str, role: PathRole, filters: Vec<FileFilter>, default: &str, doc: &str) -> ParamSpec {
        ParamSpec::new(name, ParamKind::Path { role, filters }, default.into(), doc)
    }

    /// An RGBA colour parameter.
    pub fn color(name: &str, default: [f32; 4], doc: &str) -> ParamSpec {
        let json = default.iter().map(|v| serde_json::Value::from(*v as f64)).collect();
        ParamSpec::new(name, ParamKind::Color, json, doc)
    }

    /// Whether a graph must set this parameter (its default is an empty path).
    pub fn is_required(&self) -> bool {
        matches!(self.kind, ParamKind::Path { .. }) && self.default.as_str() == Some("") && !self.optional
    }
}

/// The resolved parameters handed to a node's `run`: every declared parameter
/// has a checked value (graph value, override, upstream value or default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Params {
    values: BTreeMap<String, ParamValue>,
}

impl Params {
    /// Parameters from name → value pairs.
    pub fn new(values: BTreeMap<String, ParamValue>) -> Params {
        Params { values }
    }

    /// Resolves a node's parameters from the JSON values set in a graph: each
    /// declared parameter takes its set value or its default, is type and range
    /// checked, and relative paths are joined to `base_dir` (the graph's folder).
    /// Unknown names are an error. Errors are `(parameter, message)`.
    pub fn from_json(
        spec: &crate::NodeSpec,
        set: &serde_json::Map<String, serde_json::Value>,
        base_dir: &Path,
    ) -> Result<Params, (String, String)> {
        if let Some(unknown) = set.keys().find(|k| spec.param_named(k).is_none()) {
            return Err((
                unknown.clone(),
                format!("{} has no parameter `{unknown}`", spec.type_id),
            ));
        }
        let mut values = BTreeMap::new();
        for p in &spec.params {
            let json = set.get(&p.name).unwrap_or(&p.default);
            let value = p.kind.parse_json(json).map_err(|e| (p.name.clone(), e))?;
            values.insert(p.name.clone(), value.resolved_against(base_dir));
        }
        Ok(Params { values })
    }

    /// All values, by name.
    pub fn values(&self) -> &BTreeMap<String, ParamValue> {
        &self.values
    }

    /// One value by name.
    pub fn get(&self, name: &str) -> Result<&ParamValue, NodeError> {
        self.values
            .get(name)
            .ok_or_else(|| NodeError::param(name, "is not set"))
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<i64, NodeError> {
        match self.get(name)? {
            ParamValue::Int(v) => Ok(*v),
            other => Err(NodeError::param(name, format!("expected an integer, found {other}"))),
        }
    }

    /// A real parameter (integers widen).
    pub fn float(&self, name: &str) -> Result<f64, NodeError> {
        match self.get(name)? {
            ParamValue::Float(v) => Ok(*v),
            ParamValue::Int(v) => Ok(*v as f64),
            other => Err(NodeError::param(name, format!("expected a number, found {other}"))),
        }
    }

    /// A boolean parameter.
    pub fn bool(&self, name: &str) -> Result<bool, NodeError> {
        match self.get(name)? {
            ParamValue::Bool(v) => Ok(*v),
            other => Err(NodeError::param(name, format!("expected true or false, found {other}"))),
        }
    }

    /// A text or enum parameter.
    pub fn text(&self, name: &str) -> Result<&str, NodeError> {
        match self.get(name)? {
            ParamValue::Text(v) => Ok(v),
            other => Err(NodeError::param(name, format!("expected text, found {other}"))),
        }
    }

    /// A path parameter; an empty path is an error naming the parameter.
    pub fn path(&self, name: &str) -> Result<&Path, NodeError> {
        match self.get(name)? {
            ParamValue::Path(v) if v.as_os_str().is_empty() => Err(NodeError::param(name, "no path is set")),
            ParamValue::Path(v) => Ok(v),
            other => Err(NodeError::param(name, format!("expected a path, found {other}"))),
        }
    }

    /// A path parameter that may be empty: `None` when it is.
    pub fn optional_path(&self, name: &str) -> Result<Option<&Path>, NodeError> {
        match self.get(name)? {
            ParamValue::Path(v) if v.as_os_str().is_empty() => Ok(None),
            ParamValue::Path(v) => Ok(Some(v)),
            other => Err(NodeError::param(name, format!("expected a path, found {other}"))),
        }
    }

    /// A colour parameter.
    pub fn color(&self, name: &str) -> Result<[f32; 4], NodeError> {
        match self.get(name)? {
            ParamValue::Color(v) => Ok(*v),
            other => Err(NodeError::param(name, format!("expected a colour, found {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_are_type_and_range_checked() {
        let gain = ParamKind::Float {
            min: Some(0.0),
            max: Some(2.0),
        };
        assert_eq!(gain.parse_json(&1.into()).unwrap(), ParamValue::Float(1.0));
        assert_eq!(
            gain.parse_json(&"loud".into()).unwrap_err(),
            "expected number in [0, 2], found \"loud\""
        );
        assert!(gain.parse_json(&3.0.into()).unwrap_err().contains("out of range"));
        let mode = ParamKind::Enum {
            choices: vec!["peak".into(), "lufs".into()],
        };
        assert!(
            mode.parse_json(&"rms".into())
                .unwrap_err()
                .contains("one of peak, lufs")
        );
    }

    #[test]
    fn text_overrides_parse_by_kind() {
        let n = ParamKind::Int { min: None, max: None };
        assert_eq!(n.parse_text("42").unwrap(), ParamValue::Int(42));
        assert!(n.parse_text("4.5").is_err());
        let t = ParamKind::Text { multiline: false };
        assert_eq!(t.parse_text("4.5").unwrap(), ParamValue::Text("4.5".into()));
        assert_eq!(ParamKind::Bool.parse_text("true").unwrap(), ParamValue::Bool(true));
    }

    #[test]
    fn typed_getters_name_the_parameter() {
        let p = Params::new([("n".to_string(), ParamValue::Int(2))].into());
        assert_eq!(p.float("n").unwrap(), 2.0);
        let err = p.text("n").unwrap_err().to_string();
        assert_eq!(err, "parameter `n`: expected text, found 2");
        assert_eq!(
            p.int("missing").unwrap_err().to_string(),
            "parameter `missing`: is not set"
        );
    }

    #[test]
    fn an_optional_path_may_be_left_empty() {
        let required = ParamSpec::path("corpus", PathRole::InputFile, vec![], "", "");
        let optional = ParamSpec::path("takes", PathRole::InputDir, vec![], "", "").optional();
        assert!(required.is_required() && !optional.is_required());
        // Only an optional path says so in its JSON, so older readers see the same specs.
        assert!(!serde_json::to_string(&required).unwrap().contains("optional"));
        let back: ParamSpec = serde_json::from_str(&serde_json::to_string(&optional).unwrap()).unwrap();
        assert_eq!(back, optional);
        let p = Params::new(
            [
                ("corpus".to_string(), ParamValue::Path(PathBuf::new())),
                ("takes".to_string(), ParamValue::Path(PathBuf::from("lines"))),
            ]
            .into(),
        );
        assert_eq!(p.optional_path("corpus").unwrap(), None);
        assert_eq!(p.optional_path("takes").unwrap(), Some(Path::new("lines")));
        assert_eq!(p.path("corpus").unwrap_err().to_string(), "parameter `corpus`: no path is set");
    }
}
