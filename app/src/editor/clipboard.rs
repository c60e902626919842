//! Copy and paste of nodes as graph-document JSON, so nodes travel through the
//! system clipboard between editor windows (and into text editors and back).

use std::collections::HashMap;

use crate::graph::{Edge, Endpoint, GraphDoc};

use super::document::fresh_id;

/// The selected nodes, and the edges among them, as a graph document's text.
pub fn copy(graph: &GraphDoc, selected: &[String]) -> Option<String> {
    if selected.is_empty() {
        return None;
    }
    let mut part = GraphDoc::new();
    part.plugins = graph.plugins.clone();
    part.nodes = graph
        .nodes
        .iter()
        .filter(|n| selected.contains(&n.id))
        .cloned()
        .collect();
    part.edges = graph
        .edges
        .iter()
        .filter(|e| selected.contains(&e.from.node) && selected.contains(&e.to.node))
        .cloned()
        .collect();
    Some(part.to_text())
}

/// Adds the nodes of a copied document to `graph`: ids are renamed where they
/// are taken, positions are shifted so the group's top-left corner lands at
/// `at`, and edges follow the renamed ids. Returns the new ids, or why the
/// text is not a graph.
pub fn paste(graph: &mut GraphDoc, text: &str, at: [f64; 2]) -> Result<Vec<String>, String> {
    let part = GraphDoc::parse(text).map_err(|(_, m)| m)?;
    if part.nodes.is_empty() {
        return Err("the clipboard holds a graph without nodes".into());
    }
    let left = part.nodes.iter().map(|n| n.position[0]).fold(f64::INFINITY, f64::min);
    let top = part.nodes.iter().map(|n| n.position[1]).fold(f64::INFINITY, f64::min);
    let mut renamed = HashMap::new();
    let mut added = Vec::new();
    for mut node in part.nodes {
        let id = if graph.node(&node.id).is_some() {
            fresh_id(graph, &node.id)
        } else {
            node.id.clone()
        };
        renamed.insert(node.id.clone(), id.clone());
        node.id = id.clone();
        node.position = [node.position[0] - left + at[0], node.position[1] - top + at[1]];
        graph.nodes.push(node);
        added.push(id);
    }
    for edge in part.edges {
        let (Some(from), Some(to)) = (renamed.get(&edge.from.node), renamed.get(&edge.to.node)) else {
            continue;
        };
        graph.edges.push(Edge {
            from: Endpoint::new(from, &edge.from.socket),
            to: Endpoint::new(to, &edge.to.socket),
        });
    }
    for plugin in part.plugins {
        if !graph.plugins.iter().any(|p| p.id == plugin.id) {
            graph.plugins.push(plugin);
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::NodeEntry;

    #[test]
    fn copied_nodes_paste_with_fresh_ids_and_their_inner_edges() {
        let mut graph = GraphDoc::new();
        for (id, x) in [("a", 0.0), ("b", 100.0), ("c", 200.0)] {
            let mut n = NodeEntry::new(id, "value.float", 1);
            n.position = [x, 50.0];
            graph.nodes.push(n);
        }
        let edge = |f: &str, t: &str| Edge {
            from: Endpoint::new(f, "value"),
            to: Endpoint::new(t, "value"),
        };
        graph.edges = vec![edge("a", "b"), edge("b", "c")];
        let text = copy(&graph, &["a".into(), "b".into()]).unwrap();
        let added = paste(&mut graph, &text, [10.0, 20.0]).unwrap();
        assert_eq!(added, ["a_2", "b_2"]);
        assert_eq!(graph.node("b_2").unwrap().position, [110.0, 20.0]);
        assert_eq!(graph.edges.last().unwrap(), &edge("a_2", "b_2"));
        assert_eq!(graph.edges.len(), 3, "the edge to the uncopied `c` stays behind");
        assert!(paste(&mut graph, "hello", [0.0, 0.0]).is_err());
    }
}
