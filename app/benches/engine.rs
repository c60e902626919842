//! Engine overhead: a chain of 1,000 trivial nodes, run cold, from the memory
//! cache, and with caching off; plus validation of the same graph.
//!
//! `cargo bench -p gspeech --bench engine` prints a Markdown table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gspeech::exec::{Executor, ExecutorOptions, RunOptions, RunStatus};
use gspeech::graph::{Edge, Endpoint, GraphDoc, NodeEntry};
use gspeech::registry::{Origin, Registry};
use gspeech::validate::validate;
use gspeech_sdk::{
    CancelToken, Inputs, Node, NodeError, NodeSpec, Outputs, Params, PortSpec, PortType, RunContext, Value,
};

const CHAIN: usize = 1000;
const REPEATS: usize = 7;

/// Adds one to its input: as little work as a node can do.
struct Increment;

impl Node for Increment {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("bench.increment", 1, "Increment")
            .doc("Adds one.")
            .input(PortSpec::optional("value", PortType::Float, "Input."))
            .output(PortSpec::new("value", PortType::Float, "Input + 1."))
    }
    fn run(&self, _ctx: &RunContext, inputs: &Inputs, _params: &Params) -> Result<Outputs, NodeError> {
        let v = match inputs.get("value") {
            Some(Value::Float(v)) => *v,
            _ => 0.0,
        };
        Ok(Outputs::new().with("value", Value::Float(v + 1.0)))
    }
}

fn chain(n: usize) -> GraphDoc {
    let mut doc = GraphDoc::new();
    for i in 0..n {
        doc.nodes.push(NodeEntry::new(&format!("n{i}"), "bench.increment", 1));
        if i > 0 {
            doc.edges.push(Edge {
                from: Endpoint::new(&format!("n{}", i - 1), "value"),
                to: Endpoint::new(&format!("n{i}"), "value"),
            });
        }
    }
    doc
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let mut registry = Registry::builtin();
    registry.register(Arc::new(Increment), Origin::Builtin).unwrap();
    let doc = chain(CHAIN);
    let dir = std::env::temp_dir();

    let validation = median(
        (0..REPEATS)
            .map(|_| {
                let t = Instant::now();
                validate(&doc, &registry, &dir).map_err(|p| p.len()).unwrap();
                t.elapsed()
            })
            .collect(),
    );
    let plan = validate(&doc, &registry, &dir).unwrap();
    let cancel = CancelToken::new();
    let options = |use_cache| RunOptions {
        targets: Vec::new(),
        use_cache,
    };
    let run = |executor: &Executor, use_cache: bool| {
        let t = Instant::now();
        let report = executor.run(&plan, &options(use_cache), &cancel, &|_| {});
        assert_eq!(report.status, RunStatus::Ok);
        assert_eq!(
            report.outputs[&format!("n{}", CHAIN - 1)].get("value"),
            Some(&Value::Float(CHAIN as f64))
        );
        (t.elapsed(), report.cached.len())
    };

    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let new_executor = || {
        Executor::new(ExecutorOptions {
            jobs,
            ..ExecutorOptions::default()
        })
    };
    let cold = median((0..REPEATS).map(|_| run(&new_executor(), true).0).collect());
    let warm_executor = new_executor();
    run(&warm_executor, true);
    let warm = median(
        (0..REPEATS)
            .map(|_| {
                let (t, cached) = run(&warm_executor, true);
                assert_eq!(cached, CHAIN);
                t
            })
            .collect(),
    );
    let uncached = median((0..REPEATS).map(|_| run(&new_executor(), false).0).collect());

    let per_node = |d: Duration| d.as_secs_f64() * 1e6 / CHAIN as f64;
    println!("Engine overhead, chain of {CHAIN} trivial nodes, {jobs} worker threads, median of {REPEATS}\n");
    println!("| case | total (ms) | per node (µs) |");
    println!("|---|---:|---:|");
    for (name, d) in [
        ("validate the graph", validation),
        ("run, cold cache (compute + key + store)", cold),
        ("run, every node from the memory cache (key + lookup)", warm),
        ("run, caching off (compute only)", uncached),
    ] {
        println!("| {name} | {:.2} | {:.2} |", d.as_secs_f64() * 1e3, per_node(d));
    }
}
