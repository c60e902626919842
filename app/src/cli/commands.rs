//! The subcommands.

use std::path::{Path, PathBuf};

use gspeech_sdk::CancelToken;

use super::progress::Printer;
use super::{EXIT_CANCELLED, EXIT_INVALID, EXIT_NODE_FAILED, EXIT_OK, RunArgs};
use crate::exec::{Executor, ExecutorOptions, RunOptions, RunStatus};
use crate::graph::GraphDoc;
use crate::plugins;
use crate::registry::{Origin, Registry, edit_distance};
use crate::validate::{Plan, validate as check};

/// The built-in nodes and every plugin on the search path; refused plugins are
/// reported on standard error (`gspeech plugins` says more).
pub(super) fn load_registry(extra: &[PathBuf]) -> Registry {
    let mut registry = Registry::builtin();
    for status in plugins::load_all(&mut registry, extra) {
        if let plugins::Outcome::Refused(why) = status.outcome {
            eprintln!("warning: plugin {} {why}", status.path.display());
        }
    }
    registry
}

/// Reads a graph; the error names the file (and line and column).
fn load(path: &Path) -> Result<GraphDoc, u8> {
    GraphDoc::load(path).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_INVALID
    })
}

fn graph_dir(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

pub(super) fn plan(doc: &GraphDoc, registry: &Registry, path: &Path) -> Result<Plan, u8> {
    check(doc, registry, &graph_dir(path)).map_err(|problems| {
        for p in &problems {
            eprintln!("{}: {p}", path.display());
        }
        eprintln!(
            "{}: {} problem{}; nothing was run",
            path.display(),
            problems.len(),
            plural(problems.len())
        );
        EXIT_INVALID
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Applies one `NODE.PARAM=VALUE` override to the document.
fn apply_override(doc: &mut GraphDoc, registry: &Registry, text: &str) -> Result<(), String> {
    let (target, value) = text
        .split_once('=')
        .ok_or_else(|| format!("--set {text}: expected NODE.PARAM=VALUE"))?;
    let (node_id, param) = target
        .split_once('.')
        .ok_or_else(|| format!("--set {text}: expected NODE.PARAM before the `=`"))?;
    let Some(node) = doc.node_mut(node_id) else {
        let ids: Vec<&str> = doc.nodes.iter().map(|n| n.id.as_str()).collect();
        let near = ids
            .iter()
            .min_by_key(|id| edit_distance(node_id, id))
            .filter(|id| edit_distance(node_id, id) <= 2);
        let hint = near.map(|id| format!("; did you mean `{id}`?")).unwrap_or_default();
        return Err(format!("--set {text}: the graph has no node `{node_id}`{hint}"));
    };
    let ty = registry
        .get(&node.type_id)
        .ok_or_else(|| format!("--set {text}: unknown node type `{}`", node.type_id))?;
    let spec = ty.spec.param_named(param).ok_or_else(|| {
        let names: Vec<&str> = ty.spec.params.iter().map(|p| p.name.as_str()).collect();
        format!(
            "--set {text}: `{}` has no parameter `{param}` (it has {})",
            node.type_id,
            names.join(", ")
        )
    })?;
    let value = spec.kind.parse_text(value).map_err(|e| format!("--set {text}: {e}"))?;
    node.params.insert(param.to_string(), value.to_json());
    Ok(())
}

/// `gspeech run`.
pub fn run(args: &RunArgs, plugin_paths: &[PathBuf]) -> u8 {
    let registry = load_registry(plugin_paths);
    let mut doc = match load(&args.graph) {
        Ok(doc) => doc,
        Err(code) => return code,
    };
    for text in &args.set {
        if let Err(e) = apply_override(&mut doc, &registry, text) {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    }
    let plan = match plan(&doc.without_muted(), &registry, &args.graph) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    let mut targets = Vec::new();
    for id in &args.until {
        match plan.index_of(id) {
            Some(i) => targets.push(i),
            None => {
                eprintln!("error: --until {id}: the graph has no node `{id}`");
                return EXIT_INVALID;
            }
        }
    }

    execute(
        &plan,
        targets,
        &Execution {
            events: args.events.is_some(),
            cache: (!args.no_cache).then(|| args.cache_dir.clone().unwrap_or_else(crate::dirs::cache)),
            jobs: args.jobs,
        },
    )
}

/// How to execute a plan.
pub struct Execution {
    /// Print JSON lines on standard output.
    pub events: bool,
    /// The on-disk cache folder; `None` turns caching off.
    pub cache: Option<PathBuf>,
    /// Nodes to run at once (default: the number of cores).
    pub jobs: Option<usize>,
}

/// Runs what `targets` (or every sink) need, showing progress and handling
/// Ctrl-C; returns the exit code.
pub fn execute(plan: &Plan, targets: Vec<usize>, how: &Execution) -> u8 {
    let executor = Executor::new(ExecutorOptions {
        disk_cache: how.cache.clone(),
        jobs: how.jobs.unwrap_or(ExecutorOptions::default().jobs),
        ..ExecutorOptions::default()
    });
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel);
    let printer = Printer::new(how.events);
    let options = RunOptions {
        targets,
        use_cache: how.cache.is_some(),
    };
    let report = executor.run(plan, &options, &cancel, &|event| printer.event(&event));
    printer.finish(&report);
    match report.status {
        RunStatus::Ok => EXIT_OK,
        RunStatus::Failed => EXIT_NODE_FAILED,
        RunStatus::Cancelled => EXIT_CANCELLED,
    }
}

/// `gspeech edit` (and `gspeech` alone): the desktop editor.
#[cfg(feature = "editor")]
pub fn edit(args: &super::EditArgs, plugin_paths: &[PathBuf]) -> u8 {
    let launch = crate::editor::Launch {
        options: crate::editor::EditorOptions {
            graph: args.graph.clone(),
            state_dir: args.state_dir.clone().unwrap_or_else(crate::dirs::state),
            cache_dir: Some(args.cache_dir.clone().unwrap_or_else(crate::dirs::cache)),
        },
        registry: load_registry(plugin_paths),
        screenshot: args.screenshot.clone(),
    };
    match crate::editor::run(launch) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_INVALID
        }
    }
}

/// The first Ctrl-C (or SIGTERM) asks the run to stop cleanly; a second one
/// removes files still being written and exits at once.
pub fn install_interrupt_handler(cancel: &CancelToken) {
    let cancel = cancel.clone();
    let result = ctrlc::set_handler(move || {
        if cancel.is_cancelled() {
            gspeech_sdk::fs::remove_partial_files();
            eprintln!("\nstopped");
            std::process::exit(EXIT_CANCELLED as i32);
        }
        cancel.cancel();
        eprintln!("\ncancelling: running nodes finish their current step (Ctrl-C again stops at once)");
    });
    if let Err(e) = result {
        eprintln!("warning: Ctrl-C will not cancel cleanly: {e}");
    }
}

/// `gspeech validate`.
pub fn validate(path: &Path, json: bool, plugin_paths: &[PathBuf]) -> u8 {
    let registry = load_registry(plugin_paths);
    let doc = match load(path) {
        Ok(doc) => doc,
        Err(code) => return code,
    };
    let result = check(&doc, &registry, &graph_dir(path));
    if json {
        let problems = result.as_ref().err().cloned().unwrap_or_default();
        let out = serde_json::json!({ "valid": result.is_ok(), "problems": problems });
        println!("{}", serde_json::to_string_pretty(&out).expect("serialisable"));
        return if result.is_ok() { EXIT_OK } else { EXIT_INVALID };
    }
    match result {
        Ok(_) => {
            println!(
                "{}: valid ({} nodes, {} edges)",
                path.display(),
                doc.nodes.len(),
                doc.edges.len()
            );
            EXIT_OK
        }
        Err(problems) => {
            for p in &problems {
                println!("{}: {p}", path.display());
            }
            println!(
                "{}: {} problem{}",
                path.display(),
                problems.len(),
                plural(problems.len())
            );
            EXIT_INVALID
        }
    }
}

/// `gspeech nodes`.
pub fn nodes(json: bool, plugin_paths: &[PathBuf]) -> u8 {
    let registry = load_registry(plugin_paths);
    if json {
        let list: Vec<serde_json::Value> = registry
            .types()
            .map(|t| {
                let mut v = serde_json::to_value(&t.spec).expect("specs serialise");
                v["origin"] = match &t.origin {
                    Origin::Builtin => "builtin".into(),
                    Origin::Plugin { id, version, .. } => format!("{id} {version}").into(),
                };
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list).expect("serialisable"));
        return EXIT_OK;
    }
    let mut types: Vec<_> = registry.types().collect();
    types.sort_by(|a, b| (&a.spec.category, &a.spec.type_id).cmp(&(&b.spec.category, &b.spec.type_id)));
    let mut category = None;
    for t in types {
        let spec = &t.spec;
        if category != Some(&spec.category) {
            println!("{}", spec.category);
            category = Some(&spec.category);
        }
        let origin = match &t.origin {
            Origin::Builtin => String::new(),
            Origin::Plugin { id, version, .. } => format!("  [{id} {version}]"),
        };
        println!("  {:<22} v{:<3} {}{origin}", spec.type_id, spec.version, spec.title);
        let ports = |ports: &[gspeech_sdk::PortSpec]| -> String {
            ports
                .iter()
                .map(|p| {
                    // An output typed by a parameter shows the parameter's name.
                    let ty = p
                        .type_from
                        .as_ref()
                        .map(|param| format!("<{param}>"))
                        .unwrap_or(p.ty.to_string());
                    format!("{}:{ty}{}", p.name, if p.optional { "?" } else { "" })
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !spec.inputs.is_empty() {
            println!("      in:     {}", ports(&spec.inputs));
        }
        if !spec.outputs.is_empty() {
            println!("      out:    {}", ports(&spec.outputs));
        }
        for p in &spec.params {
            println!(
                "      param:  {} ({}, default {}) {}",
                p.name,
                p.kind.describe(),
                p.default,
                p.doc
            );
        }
    }
    EXIT_OK
}

/// `gspeech info`.
pub fn info(path: &Path, plugin_paths: &[PathBuf]) -> u8 {
    let registry = load_registry(plugin_paths);
    let doc = match load(path) {
        Ok(doc) => doc,
        Err(code) => return code,
    };
    println!(
        "{}: graph format {}, {} nodes, {} edges",
        path.display(),
        doc.version,
        doc.nodes.len(),
        doc.edges.len()
    );
    for (key, value) in &doc.metadata {
        println!("  {key}: {value}");
    }
    for plugin in &doc.plugins {
        let loaded = registry
            .plugin_version(&plugin.id)
            .map(|v| format!("loaded {v}"))
            .unwrap_or("not loaded".into());
        println!("  plugin {} {} ({loaded})", plugin.id, plugin.version);
    }
    println!("nodes:");
    for node in &doc.nodes {
        let title = registry
            .get(&node.type_id)
            .map(|t| t.spec.title.clone())
            .unwrap_or_else(|| "unknown type".into());
        let bypass = if node.bypass { " [bypassed]" } else { "" };
        println!(
            "  {:<16} {} v{} ({title}){bypass}",
            node.id, node.type_id, node.type_version
        );
        for (name, value) in &node.params {
            println!("      {name} = {value}");
        }
    }
    if !doc.edges.is_empty() {
        println!("edges:");
        for edge in &doc.edges {
            println!("  {} -> {}", edge.from, edge.to);
        }
    }
    match check(&doc, &registry, &graph_dir(path)) {
        Ok(plan) => {
            let sinks: Vec<&str> = plan.sinks().into_iter().map(|i| plan.nodes[i].id.as_str()).collect();
            println!("outputs (run by default): {}", sinks.join(", "));
            println!("valid");
        }
        Err(problems) => println!(
            "{} problem{} (see `gspeech validate`)",
            problems.len(),
            plural(problems.len())
        ),
    }
    EXIT_OK
}

/// `gspeech plugins`.
pub fn plugins(json: bool, plugin_paths: &[PathBuf]) -> u8 {
    let mut registry = Registry::builtin();
    let places = plugins::search_path(plugin_paths);
    let statuses = plugins::load_all(&mut registry, plugin_paths);
    if json {
        let list: Vec<serde_json::Value> = statuses
            .iter()
            .map(|s| match &s.outcome {
                plugins::Outcome::Loaded { id, version, nodes } => serde_json::json!({
                    "path": s.path, "status": "loaded", "id": id, "version": version, "nodes": nodes
                }),
                plugins::Outcome::Refused(why) => {
                    serde_json::json!({"path": s.path, "status": "refused", "reason": why})
                }
            })
            .collect();
        let out = serde_json::json!({"search_path": places, "plugins": list});
        println!("{}", serde_json::to_string_pretty(&out).expect("serialisable"));
        return EXIT_OK;
    }
    println!("search path:");
    for place in &places {
        println!(
            "  {}{}",
            place.display(),
            if place.exists() { "" } else { " (missing)" }
        );
    }
    if statuses.is_empty() {
        println!("no plugin libraries found");
    }
    for status in &statuses {
        match &status.outcome {
            plugins::Outcome::Loaded { id, version, nodes } => {
                println!("loaded   {id} {version}  {}", status.path.display());
                for node in nodes {
                    println!("           {node}");
                }
            }
            plugins::Outcome::Refused(why) => println!("refused  {}: {why}", status.path.display()),
        }
    }
    EXIT_OK
}
