//! The `Node` trait, its inputs, outputs and errors.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::{NodeSpec, Params, PortType, Record, RunContext, Value};

/// A node type. One instance serves every node of that type in every graph, from
/// several threads at once, so `run` takes `&self` and keeps no per-run state.
pub trait Node: Send + Sync {
    /// The node type's description. Called once, when the node is registered.
    fn spec(&self) -> NodeSpec;

    /// Computes the outputs. Every required input is present and of its socket's
    /// type, and every parameter is checked, before this is called.
    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError>;
}

/// Why a node did not produce its outputs.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeError {
    /// The run was cancelled; the node stopped cleanly.
    Cancelled,
    /// A problem with an input value.
    Input {
        /// Socket name.
        socket: String,
        /// What is wrong.
        message: String,
    },
    /// A problem with a parameter.
    Param {
        /// Parameter name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A problem reading or writing a file.
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Anything else.
    Other(String),
}

impl NodeError {
    /// An error about an input socket.
    pub fn input(socket: &str, message: impl Into<String>) -> NodeError {
        NodeError::Input {
            socket: socket.into(),
            message: message.into(),
        }
    }

    /// An error about a parameter.
    pub fn param(name: &str, message: impl Into<String>) -> NodeError {
        NodeError::Param {
            name: name.into(),
            message: message.into(),
        }
    }

    /// An error about a file.
    pub fn file(path: impl Into<PathBuf>, message: impl fmt::Display) -> NodeError {
        NodeError::File {
            path: path.into(),
            message: message.to_string(),
        }
    }

    /// Any other error.
    pub fn other(message: impl Into<String>) -> NodeError {
        NodeError::Other(message.into())
    }
}

impl fmt::Display for NodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeError::Cancelled => f.write_str("cancelled"),
            NodeError::Input { socket, message } => write!(f, "input `{socket}`: {message}"),
            NodeError::Param { name, message } => write!(f, "parameter `{name}`: {message}"),
            NodeError::File { path, message } => write!(f, "{}: {message}", path.display()),
            NodeError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for NodeError {}

/// The values arriving at a node's input sockets, by socket name.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    values: BTreeMap<String, Value>,
}

impl Inputs {
    /// Inputs from socket name → value pairs.
    pub fn new(values: BTreeMap<String, Value>) -> Inputs {
        Inputs { values }
    }

    /// All values, by socket name.
    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    /// An optional input.
    pub fn get(&self, socket: &str) -> Option<&Value> {
        self.values.get(socket)
    }

    /// A required input; its absence is an error naming the socket.
    pub fn value(&self, socket: &str) -> Result<&Value, NodeError> {
        self.get(socket)
            .ok_or_else(|| NodeError::input(socket, "is not connected"))
    }

    /// A required data input of a given kind.
    pub fn record(&self, socket: &str, kind: PortType) -> Result<&Arc<Record>, NodeError> {
        match self.value(socket)? {
            Value::Data(r) if r.kind() == kind => Ok(r),
            other => Err(NodeError::input(
                socket,
                format!("expected {kind}, found {}", other.port_type()),
            )),
        }
    }
}

/// The values a node produces, by output socket name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs {
    values: BTreeMap<String, Value>,
}

impl Outputs {
    /// No outputs (for sinks).
    pub fn new() -> Outputs {
        Outputs::default()
    }

    /// Adds an output.
    pub fn with(mut self, socket: &str, value: Value) -> Outputs {
        self.values.insert(socket.into(), value);
        self
    }

    /// All values, by socket name.
    pub fn values(&self) -> &BTreeMap<String, Value> {
        &self.values
    }

    /// Consumes the outputs into their map.
    pub fn into_values(self) -> BTreeMap<String, Value> {
        self.values
    }

    /// One output.
    pub fn get(&self, socket: &str) -> Option<&Value> {
        self.values.get(socket)
    }

    /// Memory held by the outputs.
    pub fn byte_len(&self) -> usize {
        self.values.values().map(Value::byte_len).sum()
    }

    /// Checks the outputs against a spec: every declared output is present, of its
    /// type and in canonical form, and nothing undeclared is returned.
    pub fn check(&self, spec: &NodeSpec) -> Result<(), String> {
        for port in &spec.outputs {
            let Some(value) = self.values.get(&port.name) else {
                return Err(format!("output `{}` was not produced", port.name));
            };
            if port.ty != PortType::Any && value.port_type() != port.ty {
                return Err(format!(
                    "output `{}` must be {} but is {}",
                    port.name,
                    port.ty,
                    value.port_type()
                ));
            }
            if let Value::Data(record) = value {
                record.validate().map_err(|e| format!("output `{}`: {e}", port.name))?;
            }
        }
        if let Some(extra) = self.values.keys().find(|k| spec.output_named(k).is_none()) {
            return Err(format!("output `{extra}` is not declared by {}", spec.type_id));
        }
        Ok(())
    }
}

impl FromIterator<(String, Value)> for Outputs {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Outputs {
        Outputs {
            values: iter.into_iter().collect(),
        }
    }
}
