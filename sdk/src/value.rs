//! Values: what flows along edges. Immutable and cheap to clone.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use crate::schema::Schema;
use crate::{PortType, Tensor};

/// Free-form attributes of a record (sample rates, names, configuration).
pub type Attrs = serde_json::Map<String, serde_json::Value>;

/// The canonical form of every data value: a kind, named tensors and attributes.
///
/// This is what crosses the plugin boundary, what `io.save` writes and what the
/// on-disk cache stores. Typed views over it live next to the nodes that use them.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    kind: PortType,
    tensors: BTreeMap<String, Tensor>,
    attrs: Attrs,
}

impl Record {
    /// An empty record of a data kind (`PortType::is_data`).
    pub fn new(kind: PortType) -> Record {
        debug_assert!(kind.is_data(), "{kind} is not a data kind");
        Record {
            kind,
            tensors: BTreeMap::new(),
            attrs: Attrs::new(),
        }
    }

    /// Adds or replaces a tensor.
    pub fn with_tensor(mut self, name: impl Into<String>, tensor: Tensor) -> Record {
        self.tensors.insert(name.into(), tensor);
        self
    }

    /// Adds or replaces an attribute.
    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<serde_json::Value>) -> Record {
        self.attrs.insert(name.into(), value.into());
        self
    }

    /// The kind of value this record holds.
    pub fn kind(&self) -> PortType {
        self.kind
    }

    /// All tensors, by name.
    pub fn tensors(&self) -> &BTreeMap<String, Tensor> {
        &self.tensors
    }

    /// All attributes.
    pub fn attrs(&self) -> &Attrs {
        &self.attrs
    }

    /// One tensor by name.
    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    /// One attribute by name.
    pub fn attr(&self, name: &str) -> Option<&serde_json::Value> {
        self.attrs.get(name)
    }

    /// Checks the record against its kind's canonical form; the message names the
    /// offending tensor or attribute.
    pub fn validate(&self) -> Result<(), String> {
        Schema::of(self.kind).check(self)
    }

    /// Total size of the tensors in bytes.
    pub fn byte_len(&self) -> usize {
        self.tensors.values().map(Tensor::byte_len).sum()
    }
}

/// A value on an edge or in the cache.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A whole number.
    Int(i64),
    /// A real number.
    Float(f64),
    /// True or false.
    Bool(bool),
    /// Text.
    Text(Arc<str>),
    /// A path on disk (absolute once the executor has resolved it).
    Path(Arc<Path>),
    /// A data value in canonical form.
    Data(Arc<Record>),
}

impl Value {
    /// Wraps a record.
    pub fn data(record: Record) -> Value {
        Value::Data(Arc::new(record))
    }

    /// The port type of this value.
    pub fn port_type(&self) -> PortType {
        match self {
            Value::Int(_) => PortType::Int,
            Value::Float(_) => PortType::Float,
            Value::Bool(_) => PortType::Bool,
            Value::Text(_) => PortType::Text,
            Value::Path(_) => PortType::Path,
            Value::Data(r) => r.kind(),
        }
    }

    /// The record, for data values.
    pub fn as_record(&self) -> Option<&Arc<Record>> {
        match self {
            Value::Data(r) => Some(r),
            _ => None,
        }
    }

    /// Approximate memory held by the value, for cache budgets.
    pub fn byte_len(&self) -> usize {
        match self {
            Value::Text(t) => t.len(),
            Value::Path(p) => p.as_os_str().len(),
            Value::Data(r) => r.byte_len() + 64 * (r.tensors().len() + r.attrs().len()),
            _ => 8,
        }
    }

    /// Whether this value may flow into a socket of type `to`, widening an `Int` to a `Float`.
    pub fn coerce_to(&self, to: PortType) -> Option<Value> {
        match (self, to) {
            (v, t) if t == PortType::Any || v.port_type() == t => Some(v.clone()),
            (Value::Int(i), PortType::Float) => Some(Value::Float(*i as f64)),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    /// A one-line summary: scalars in full, records as kind, tensor shapes and attributes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(v) => write!(f, "int {v}"),
            Value::Float(v) => write!(f, "float {v}"),
            Value::Bool(v) => write!(f, "bool {v}"),
            Value::Text(v) => write!(f, "text {v:?}"),
            Value::Path(v) => write!(f, "path {}", v.display()),
            Value::Data(r) => {
                write!(f, "{}", r.kind())?;
                for (name, t) in r.tensors() {
                    write!(f, " {name}:{}{:?}", t.dtype(), t.shape())?;
                }
                for (name, v) in r.attrs() {
                    let mut text = v.to_string();
                    if text.len() > 40 {
                        let cut = (0..=37).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
                        text.truncate(cut);
                        text.push_str("...");
                    }
                    write!(f, " {name}={text}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_widens_to_float_only() {
        assert_eq!(Value::Int(3).coerce_to(PortType::Float), Some(Value::Float(3.0)));
        assert_eq!(Value::Float(3.0).coerce_to(PortType::Int), None);
        assert!(Value::Bool(true).coerce_to(PortType::Any).is_some());
    }

    #[test]
    fn summary_names_tensors_and_attrs() {
        let audio = Record::new(PortType::Audio)
            .with_tensor("samples", Tensor::from_f32(&[1, 4], vec![0.0; 4]).unwrap())
            .with_attr("sample_rate", 16000);
        let text = Value::data(audio).to_string();
        assert_eq!(text, "audio samples:f32[1, 4] sample_rate=16000");
    }
}
