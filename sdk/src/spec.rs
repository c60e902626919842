//! Node specifications: the static description of a node type.

use serde::{Deserialize, Serialize};

use crate::{ParamSpec, PortType};

/// One input or output socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortSpec {
    /// Socket name: unique among the node's inputs and parameters, or among its outputs.
    pub name: String,
    /// What may flow through it.
    #[serde(rename = "type")]
    pub ty: PortType,
    /// One sentence for tooltips.
    pub doc: String,
    /// For inputs: whether the node runs without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// For an output declared `any`: the enum parameter whose value (a port type
    /// name) is the output's actual type, as in `io.load`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_from: Option<String>,
}

impl PortSpec {
    /// A required socket.
    pub fn new(name: &str, ty: PortType, doc: &str) -> PortSpec {
        PortSpec {
            name: name.into(),
            ty,
            doc: doc.into(),
            optional: false,
            type_from: None,
        }
    }

    /// An input the node can run without.
    pub fn optional(name: &str, ty: PortType, doc: &str) -> PortSpec {
        PortSpec {
            optional: true,
            ..PortSpec::new(name, ty, doc)
        }
    }

    /// An output whose type is chosen by an enum parameter listing port type names.
    pub fn typed_by(name: &str, param: &str, doc: &str) -> PortSpec {
        PortSpec {
            type_from: Some(param.into()),
            ..PortSpec::new(name, PortType::Any, doc)
        }
    }
}

/// How the executor may reuse a node's outputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Caching {
    /// Outputs are kept in the in-memory cache (the default).
    #[default]
    Memory,
    /// Outputs are expensive: also kept in the on-disk cache, across processes.
    Disk,
    /// The node has effects beyond its outputs (writes files, logs): it runs every time it is needed.
    Never,
}

/// Everything the host needs to know about a node type before running it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeSpec {
    /// Dotted type id, `family.name` (`audio.load`).
    pub type_id: String,
    /// Bumped whenever outputs for the same inputs change; part of every cache key.
    pub version: u32,
    /// Palette group (`audio`, `io`, …).
    pub category: String,
    /// Human title (`Load Audio`).
    pub title: String,
    /// What the node does, in a few sentences.
    pub doc: String,
    /// Input sockets.
    pub inputs: Vec<PortSpec>,
    /// Output sockets.
    pub outputs: Vec<PortSpec>,
    /// Parameters.
    pub params: Vec<ParamSpec>,
    /// Cache policy.
    pub caching: Caching,
}

impl NodeSpec {
    /// A spec with no sockets or parameters; the category is the type id's family.
    pub fn new(type_id: &str, version: u32, title: &str) -> NodeSpec {
        NodeSpec {
            type_id: type_id.into(),
            version,
            category: type_id.split('.').next().unwrap_or(type_id).into(),
            title: title.into(),
            doc: String::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            params: Vec::new(),
            caching: Caching::Memory,
        }
    }

    /// Sets the documentation.
    pub fn doc(mut self, doc: &str) -> NodeSpec {
        self.doc = doc.into();
        self
    }

    /// Sets the palette category.
    pub fn category(mut self, category: &str) -> NodeSpec {
        self.category = category.into();
        self
    }

    /// Adds an input socket.
    pub fn input(mut self, port: PortSpec) -> NodeSpec {
        self.inputs.push(port);
        self
    }

    /// Adds an output socket.
    pub fn output(mut self, port: PortSpec) -> NodeSpec {
        self.outputs.push(port);
        self
    }

    /// Adds a parameter.
    pub fn param(mut self, param: ParamSpec) -> NodeSpec {
        self.params.push(param);
        self
    }

    /// Sets the cache policy.
    pub fn caching(mut self, caching: Caching) -> NodeSpec {
        self.caching = caching;
        self
    }

    /// An input socket by name.
    pub fn input_named(&self, name: &str) -> Option<&PortSpec> {
        self.inputs.iter().find(|p| p.name == name)
    }

    /// An output socket by name.
    pub fn output_named(&self, name: &str) -> Option<&PortSpec> {
        self.outputs.iter().find(|p| p.name == name)
    }

    /// The actual type of an output, given the node's parameter values as JSON
    /// (only outputs with `type_from` depend on them).
    pub fn output_type(&self, port: &PortSpec, params: &serde_json::Map<String, serde_json::Value>) -> PortType {
        let Some(name) = &port.type_from else {
            return port.ty;
        };
        let chosen = params.get(name).or_else(|| self.param_named(name).map(|p| &p.default));
        chosen
            .and_then(|v| v.as_str())
            .and_then(PortType::from_name)
            .unwrap_or(PortType::Any)
    }

    /// A parameter by name.
    pub fn param_named(&self, name: &str) -> Option<&ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Checks the spec itself: a well-formed type id, unique names, defaults that
    /// satisfy their own constraints and outputs of concrete types.
    pub fn check(&self) -> Result<(), String> {
        let id_ok = self.type_id.split('.').count() >= 2
            && self.type_id.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            });
        if !id_ok {
            return Err(format!(
                "type id `{}` must be dotted lower-case words (`family.name`)",
                self.type_id
            ));
        }
        let all = self
            .inputs
            .iter()
            .chain(&self.outputs)
            .map(|p| &p.name)
            .chain(self.params.iter().map(|p| &p.name));
        for name in all {
            let ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                return Err(format!(
                    "{}: the name `{name}` must be lower-case letters, digits and _",
                    self.type_id
                ));
            }
        }
        // An edge ends at an input or a parameter, and starts at an output.
        let mut targets: Vec<&str> = self.inputs.iter().map(|p| p.name.as_str()).collect();
        targets.extend(self.params.iter().map(|p| p.name.as_str()));
        let sources: Vec<&str> = self.outputs.iter().map(|p| p.name.as_str()).collect();
        for mut names in [targets, sources] {
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(format!("{}: the name `{}` is used twice", self.type_id, w[0]));
            }
        }
        for p in self.outputs.iter().filter(|p| p.ty == PortType::Any) {
            let chooser = p.type_from.as_deref().and_then(|name| self.param_named(name));
            let lists_types = chooser.is_some_and(|c| match &c.kind {
                crate::ParamKind::Enum { choices } => choices.iter().all(|t| PortType::from_name(t).is_some()),
                _ => false,
            });
            if !lists_types {
                return Err(format!(
                    "{}: output `{}` is `any` but names no enum parameter of port types to take its type from",
                    self.type_id, p.name
                ));
            }
        }
        for p in &self.params {
            if !p.is_required() {
                p.kind
                    .parse_json(&p.default)
                    .map_err(|e| format!("{}: default of parameter `{}`: {e}", self.type_id, p.name))?;
            }
        }
        Ok(())
    }
}
