//! Validation: every problem of a graph at once, each naming the node and the
//! socket or parameter, before anything runs. A valid graph becomes a [`Plan`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use gspeech_sdk::{ParamKind, PathRole, PortType};
use serde::Serialize;

use crate::graph::{GraphDoc, JsonMap};
use crate::registry::{NodeType, Registry, edit_distance};

/// One problem found in a graph.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    /// A stable identifier for tools (`type_mismatch`).
    pub code: &'static str,
    /// The node it concerns, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The socket or parameter, e.g. "input `audio`".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.node, &self.place) {
            (Some(node), Some(place)) => write!(f, "node `{node}` {place}: {}", self.message),
            (Some(node), None) => write!(f, "node `{node}`: {}", self.message),
            _ => write!(f, "graph: {}", self.message),
        }
    }
}

/// An output feeding an input: the upstream node (index in the plan) and socket.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Source {
    /// Index of the upstream node in [`Plan::nodes`].
    pub node: usize,
    /// Its output socket.
    pub socket: String,
}

/// A node ready to run: its type, settings and resolved connections.
#[derive(Clone)]
pub struct PlannedNode {
    /// Node id.
    pub id: String,
    /// The node type.
    pub ty: NodeType,
    /// Parameters set in the graph (the rest take defaults).
    pub params: JsonMap,
    /// Input socket → upstream output.
    pub inputs: BTreeMap<String, Source>,
    /// Parameter → upstream output that drives it.
    pub param_inputs: BTreeMap<String, Source>,
    /// Output socket → its type (resolved for `type_from` outputs).
    pub output_types: BTreeMap<String, PortType>,
    /// For a bypassed node: output socket → the input passed through.
    pub bypass: Option<BTreeMap<String, String>>,
}

impl PlannedNode {
    /// Every upstream node index, once each.
    pub fn upstream(&self) -> Vec<usize> {
        let mut up: Vec<usize> = self
            .inputs
            .values()
            .chain(self.param_inputs.values())
            .map(|s| s.node)
            .collect();
        up.sort_unstable();
        up.dedup();
        up
    }
}

/// A validated graph: nodes in document order with their connections resolved.
#[derive(Clone)]
pub struct Plan {
    /// The nodes, in document order.
    pub nodes: Vec<PlannedNode>,
    /// The graph file's folder; relative paths resolve against it.
    pub base_dir: PathBuf,
    index: HashMap<String, usize>,
}

impl Plan {
    /// A node's index by id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Indices of the nodes nothing else reads from: what a plain run produces.
    pub fn sinks(&self) -> Vec<usize> {
        let mut read = vec![false; self.nodes.len()];
        for node in &self.nodes {
            for up in node.upstream() {
                read[up] = true;
            }
        }
        (0..self.nodes.len()).filter(|&i| !read[i]).collect()
    }

    /// Indices of `targets` and everything they depend on, in topological order.
    pub fn needed(&self, targets: &[usize]) -> Vec<usize> {
        let mut state = vec![0u8; self.nodes.len()]; // 0 unseen, 1 entered, 2 done
        let mut order = Vec::new();
        for &t in targets {
            let mut stack = vec![(t, false)];
            while let Some((i, expanded)) = stack.pop() {
                if expanded {
                    state[i] = 2;
                    order.push(i);
                } else if state[i] == 0 {
                    state[i] = 1;
                    stack.push((i, true));
                    stack.extend(
                        self.nodes[i]
                            .upstream()
                            .into_iter()
                            .rev()
                            .filter(|&u| state[u] == 0)
                            .map(|u| (u, false)),
                    );
                }
            }
        }
        order
    }
}

fn problem(code: &'static str, node: Option<&str>, place: Option<String>, message: String) -> Problem {
    Problem {
        code,
        node: node.map(str::to_string),
        place,
        message,
    }
}

fn did_you_mean(candidates: &[String]) -> String {
    match candidates {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        many => format!(
            "; did you mean one of {}?",
            many.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

fn nearest<'a>(name: &str, options: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = options
        .map(|o| (edit_distance(name, o), o))
        .filter(|(d, _)| *d <= 2)
        .collect();
    scored.sort();
    scored.into_iter().take(1).map(|(_, o)| o.clone()).collect()
}

/// Checks a document against the registry; `graph_dir` is the graph file's folder.
pub fn validate(doc: &GraphDoc, registry: &Registry, graph_dir: &Path) -> Result<Plan, Vec<Problem>> {
    let mut problems = Vec::new();

    for plugin in &doc.plugins {
        match registry.plugin_version(&plugin.id) {
            None => problems.push(problem(
                "missing_plugin",
                None,
                None,
                format!(
                    "needs plugin `{}` {}, which is not loaded; install it on the plugin path or pass --plugin",
                    plugin.id, plugin.version
                ),
            )),
            Some(found) if major(found) != major(&plugin.version) => problems.push(problem(
                "plugin_version",
                None,
                None,
                format!(
                    "needs plugin `{}` {} but {found} is loaded (another major version)",
                    plugin.id, plugin.version
                ),
            )),
            Some(_) => {}
        }
    }

    let mut index = HashMap::new();
    let mut known: Vec<Option<&NodeType>> = Vec::new();
    for (i, entry) in doc.nodes.iter().enumerate() {
        let id_ok = !entry.id.is_empty()
            && entry
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !id_ok {
            problems.push(problem(
                "bad_id",
                Some(&entry.id),
                None,
                "ids may hold only letters, digits, `_` and `-`".into(),
            ));
        }
        if index.insert(entry.id.clone(), i).is_some() {
            problems.push(problem(
                "duplicate_id",
                Some(&entry.id),
                None,
                "two nodes have this id".into(),
            ));
        }
        let ty = registry.get(&entry.type_id);
        let from_missing_plugin = doc
            .plugins
            .iter()
            .find(|p| entry.type_id.starts_with(&format!("{}.", p.id)) && registry.plugin_version(&p.id).is_none());
        match (ty, from_missing_plugin) {
            (None, Some(plugin)) => problems.push(problem(
                "unknown_type",
                Some(&entry.id),
                None,
                format!("node type `{}` comes from plugin `{}`, which is not loaded", entry.type_id, plugin.id),
            )),
            (None, None) => problems.push(problem(
                "unknown_type",
                Some(&entry.id),
                None,
                format!("unknown node type `{}`{}", entry.type_id, did_you_mean(&registry.suggest(&entry.type_id))),
            )),
            (Some(ty), _) if entry.type_version > ty.spec.version => problems.push(problem(
                "type_version",
                Some(&entry.id),
                None,
                format!(
                    "the graph was saved with version {} of `{}` but this build has version {}; update gspeech or the plugin",
                    entry.type_version, entry.type_id, ty.spec.version
                ),
            )),
            (Some(_), _) => {}
        }
        known.push(ty);
    }

    // Edges.
    let mut inputs: Vec<BTreeMap<String, Source>> = vec![BTreeMap::new(); doc.nodes.len()];
    let mut param_inputs: Vec<BTreeMap<String, Source>> = vec![BTreeMap::new(); doc.nodes.len()];
    for edge in &doc.edges {
        let (Some(&from), Some(&to)) = (index.get(&edge.from.node), index.get(&edge.to.node)) else {
            for end in [&edge.from, &edge.to] {
                if !index.contains_key(&end.node) {
                    problems.push(problem(
                        "unknown_node",
                        None,
                        None,
                        format!(
                            "edge {} → {} names node `{}`, which is not in the graph",
                            edge.from, edge.to, end.node
                        ),
                    ));
                }
            }
            continue;
        };
        let (Some(from_ty), Some(to_ty)) = (known[from], known[to]) else {
            continue;
        };
        let from_entry = &doc.nodes[from];
        let Some(out_port) = from_ty.spec.output_named(&edge.from.socket) else {
            let names: Vec<String> = from_ty.spec.outputs.iter().map(|p| p.name.clone()).collect();
            problems.push(problem(
                "unknown_socket",
                Some(&edge.from.node),
                Some(format!("output `{}`", edge.from.socket)),
                format!(
                    "`{}` has no such output (it has {}){}",
                    from_ty.spec.type_id,
                    list(&names),
                    did_you_mean(&nearest(&edge.from.socket, names.iter()))
                ),
            ));
            continue;
        };
        let given = from_ty.spec.output_type(out_port, &from_entry.params);
        let target = Source {
            node: from,
            socket: edge.from.socket.clone(),
        };
        let socket = &edge.to.socket;
        let (place, slots) = match check_connection(given, &edge.from, &to_ty.spec, &edge.to) {
            Err(p) => {
                problems.push(p);
                continue;
            }
            Ok(Slot::Input) => (format!("input `{socket}`"), &mut inputs[to]),
            Ok(Slot::Param) => (format!("parameter `{socket}`"), &mut param_inputs[to]),
        };
        if slots.insert(socket.clone(), target).is_some() {
            problems.push(problem(
                "duplicate_input",
                Some(&edge.to.node),
                Some(place),
                "has more than one connection".into(),
            ));
        }
    }

    // Per node: parameters, required inputs, bypass.
    let mut planned = Vec::new();
    for (i, entry) in doc.nodes.iter().enumerate() {
        let Some(ty) = known[i] else { continue };
        let spec = &ty.spec;
        let node = Some(entry.id.as_str());
        for name in entry.params.keys().filter(|k| spec.param_named(k).is_none()) {
            let names: Vec<String> = spec.params.iter().map(|p| p.name.clone()).collect();
            problems.push(problem(
                "unknown_param",
                node,
                Some(format!("parameter `{name}`")),
                format!(
                    "`{}` has no such parameter{}",
                    spec.type_id,
                    did_you_mean(&nearest(name, names.iter()))
                ),
            ));
        }
        let mut bypass = None;
        if entry.bypass {
            let mut map = BTreeMap::new();
            for out in &spec.outputs {
                let out_ty = spec.output_type(out, &entry.params);
                match spec
                    .inputs
                    .iter()
                    .find(|p| p.ty == out_ty && inputs[i].contains_key(&p.name))
                {
                    Some(input) => {
                        map.insert(out.name.clone(), input.name.clone());
                    }
                    None => problems.push(problem(
                        "bypass",
                        node,
                        Some(format!("output `{}`", out.name)),
                        format!("is bypassed but has no connected {out_ty} input to pass through; un-bypass it"),
                    )),
                }
            }
            bypass = Some(map);
        } else {
            for p in &spec.params {
                if param_inputs[i].contains_key(&p.name) {
                    continue;
                }
                let place = Some(format!("parameter `{}`", p.name));
                let json = entry.params.get(&p.name).unwrap_or(&p.default);
                match p.kind.parse_json(json) {
                    Err(e) => problems.push(problem("param_invalid", node, place, e)),
                    Ok(value) => {
                        let path = match value.resolved_against(graph_dir) {
                            gspeech_sdk::ParamValue::Path(path) => path,
                            _ => continue,
                        };
                        let ParamKind::Path { role, .. } = p.kind else { continue };
                        if path.as_os_str().is_empty() {
                            if !p.optional {
                                problems.push(problem("param_missing", node, place, "no path is set".into()));
                            }
                        } else if role == PathRole::InputFile && !path.is_file() {
                            problems.push(problem(
                                "missing_file",
                                node,
                                place,
                                format!("file {} does not exist", path.display()),
                            ));
                        } else if role == PathRole::InputDir && !path.is_dir() {
                            problems.push(problem(
                                "missing_file",
                                node,
                                place,
                                format!("folder {} does not exist", path.display()),
                            ));
                        }
                    }
                }
            }
            for port in spec
                .inputs
                .iter()
                .filter(|p| !p.optional && !inputs[i].contains_key(&p.name))
            {
                problems.push(problem(
                    "missing_input",
                    node,
                    Some(format!("input `{}`", port.name)),
                    match port.ty {
                        PortType::Any => "needs a connection".to_string(),
                        ty => format!("needs a {ty} connection"),
                    },
                ));
            }
        }
        let output_types = spec
            .outputs
            .iter()
            .map(|p| (p.name.clone(), spec.output_type(p, &entry.params)))
            .collect();
        planned.push(PlannedNode {
            id: entry.id.clone(),
            ty: ty.clone(),
            params: entry.params.clone(),
            inputs: std::mem::take(&mut inputs[i]),
            param_inputs: std::mem::take(&mut param_inputs[i]),
            output_types,
            bypass,
        });
    }

    for cycle in cycles(
        doc.nodes.len(),
        &doc.edges
            .iter()
            .filter_map(|e| Some((*index.get(&e.from.node)?, *index.get(&e.to.node)?)))
            .collect::<Vec<_>>(),
    ) {
        let names: Vec<String> = cycle.iter().map(|&i| format!("`{}`", doc.nodes[i].id)).collect();
        problems.push(problem(
            "cycle",
            Some(&doc.nodes[cycle[0]].id),
            None,
            format!("nodes {} form a cycle", names.join(" → ")),
        ));
    }

    if problems.is_empty() {
        Ok(Plan {
            nodes: planned,
            base_dir: graph_dir.to_path_buf(),
            index,
        })
    } else {
        Err(problems)
    }
}

/// What an edge ends at on its target node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// An input socket.
    Input,
    /// A parameter, driven by the upstream value.
    Param,
}

/// The type rule of one edge: whether an output giving `given` (at `from`) may
/// feed the input socket or parameter `to` of a node of type `to_spec`. The
/// problem names the target and says why not. Validation and the editor's
/// canvas both ask this.
pub fn check_connection(
    given: PortType,
    from: &crate::graph::Endpoint,
    to_spec: &gspeech_sdk::NodeSpec,
    to: &crate::graph::Endpoint,
) -> Result<Slot, Problem> {
    let socket = &to.socket;
    if let Some(port) = to_spec.input_named(socket) {
        if !port.ty.accepts(given) {
            return Err(problem(
                "type_mismatch",
                Some(&to.node),
                Some(format!("input `{socket}`")),
                format!("takes {} but `{from}` gives {given}", port.ty),
            ));
        }
        Ok(Slot::Input)
    } else if let Some(param) = to_spec.param_named(socket) {
        let takes = param.kind.port_type();
        if takes == PortType::Any || !takes.accepts(given) {
            return Err(problem(
                "type_mismatch",
                Some(&to.node),
                Some(format!("parameter `{socket}`")),
                format!(
                    "is {} and cannot be driven by `{from}`, which gives {given}",
                    param.kind.describe()
                ),
            ));
        }
        Ok(Slot::Param)
    } else {
        let mut names: Vec<String> = to_spec.inputs.iter().map(|p| p.name.clone()).collect();
        names.extend(to_spec.params.iter().map(|p| p.name.clone()));
        Err(problem(
            "unknown_socket",
            Some(&to.node),
            Some(format!("input `{socket}`")),
            format!(
                "`{}` has no such input or parameter (it has {}){}",
                to_spec.type_id,
                list(&names),
                did_you_mean(&nearest(socket, names.iter()))
            ),
        ))
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    }
}

fn major(version: &str) -> &str {
    version.split('.').next().unwrap_or(version)
}

/// The cycles of a directed graph, each as its nodes in edge order, found with
/// Tarjan's strongly connected components (a self-loop is a cycle of one).
fn cycles(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut next = vec![Vec::new(); n];
    for &(a, b) in edges {
        next[a].push(b);
    }
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut counter = 0;
    let mut found = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // Iterative depth-first search: (node, position in its successor list).
        let mut work = vec![(root, 0)];
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if *pos == 0 && index[v] == usize::MAX {
                index[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = next[v].get(*pos) {
                *pos += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("v is on the stack");
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 || next[v].contains(&v) {
                    found.push(order_cycle(component, &next));
                }
            }
        }
    }
    found.sort();
    found
}

/// Orders a strongly connected component along one cycle through its smallest node.
fn order_cycle(mut component: Vec<usize>, next: &[Vec<usize>]) -> Vec<usize> {
    component.sort_unstable();
    let start = component[0];
    // Breadth-first search inside the component back to the start gives a shortest cycle.
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &next[v] {
            if w == start {
                let mut path = vec![v];
                while let Some(&p) = parent.get(path.last().unwrap()) {
                    path.push(p);
                }
                if *path.last().unwrap() != start {
                    path.push(start);
                }
                path.reverse();
                return path;
            }
            if component.binary_search(&w).is_ok() && !parent.contains_key(&w) && w != start {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    component
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_orders_cycles() {
        // 0 → 1 → 2 → 0, 3 → 3, 4 → 0
        let edges = [(0, 1), (1, 2), (2, 0), (3, 3), (4, 0)];
        assert_eq!(cycles(5, &edges), vec![vec![0, 1, 2], vec![3]]);
        assert!(cycles(3, &[(0, 1), (1, 2), (0, 2)]).is_empty());
    }
}
