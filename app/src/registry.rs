//! The node types the host knows: built-ins and, later, plugin nodes, which the
//! executor treats alike.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use gspeech_sdk::{Node, NodeSpec};

/// Where a node type comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled into `gspeech`.
    Builtin,
    /// Loaded from a plugin library.
    Plugin {
        /// Reverse-domain plugin id.
        id: String,
        /// Plugin version.
        version: String,
        /// The library file.
        path: PathBuf,
    },
}

/// A registered node type.
#[derive(Clone)]
pub struct NodeType {
    /// The implementation.
    pub node: Arc<dyn Node>,
    /// Its spec, read once at registration.
    pub spec: NodeSpec,
    /// Where it comes from.
    pub origin: Origin,
}

/// Node types by type id.
#[derive(Clone, Default)]
pub struct Registry {
    types: BTreeMap<String, NodeType>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The built-in node library.
    pub fn builtin() -> Registry {
        let mut registry = Registry::new();
        for node in gspeech_nodes::builtin() {
            registry
                .register(node, Origin::Builtin)
                .expect("built-in specs are checked by their tests");
        }
        registry
    }

    /// Adds a node type after checking its spec; a duplicate type id is refused.
    pub fn register(&mut self, node: Arc<dyn Node>, origin: Origin) -> Result<(), String> {
        let spec = node.spec();
        spec.check()?;
        if let Some(existing) = self.types.get(&spec.type_id) {
            return Err(format!(
                "node type `{}` is already registered ({:?})",
                spec.type_id, existing.origin
            ));
        }
        self.types.insert(spec.type_id.clone(), NodeType { node, spec, origin });
        Ok(())
    }

    /// A node type by id.
    pub fn get(&self, type_id: &str) -> Option<&NodeType> {
        self.types.get(type_id)
    }

    /// Every node type, by id.
    pub fn types(&self) -> impl Iterator<Item = &NodeType> {
        self.types.values()
    }

    /// Whether a plugin with this id is loaded, and its version.
    pub fn plugin_version(&self, plugin_id: &str) -> Option<&str> {
        self.types.values().find_map(|t| match &t.origin {
            Origin::Plugin { id, version, .. } if id == plugin_id => Some(version.as_str()),
            _ => None,
        })
    }

    /// The plugins (id and version) whose node types a graph uses, sorted by id:
    /// what a saved graph records in its `plugins` list.
    pub fn plugins_used(&self, doc: &crate::graph::GraphDoc) -> Vec<crate::graph::PluginRef> {
        let mut used: BTreeMap<String, String> = BTreeMap::new();
        for node in &doc.nodes {
            if let Some(NodeType {
                origin: Origin::Plugin { id, version, .. },
                ..
            }) = self.get(&node.type_id)
            {
                used.insert(id.clone(), version.clone());
            }
        }
        used.into_iter()
            .map(|(id, version)| crate::graph::PluginRef { id, version })
            .collect()
    }

    /// Up to three known type ids close to `name`, nearest first.
    pub fn suggest(&self, name: &str) -> Vec<String> {
        let mut scored: Vec<(usize, &String)> = self
            .types
            .keys()
            .map(|id| (edit_distance(name, id), id))
            .filter(|(d, id)| {
                *d <= (name.len().max(id.len()) / 3).max(2) || id.contains(name) || name.contains(id.as_str())
            })
            .collect();
        scored.sort();
        scored.into_iter().take(3).map(|(_, id)| id.clone()).collect()
    }
}

/// Levenshtein distance between two strings, by characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1).min(row[j] + 1).min(diagonal + usize::from(ca != *cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("io.load", "io.load"), 0);
    }

    #[test]
    fn suggests_near_names() {
        let registry = Registry::builtin();
        assert_eq!(registry.suggest("io.lod")[0], "io.load");
        assert_eq!(registry.suggest("inspect")[0], "debug.inspect");
        assert!(registry.suggest("zzzzzzzzzzzz").is_empty());
    }

    #[test]
    fn duplicate_type_ids_are_refused() {
        let mut registry = Registry::builtin();
        let err = registry
            .register(Arc::new(gspeech_nodes::io::Save), Origin::Builtin)
            .unwrap_err();
        assert!(err.contains("`io.save` is already registered"));
    }
}
