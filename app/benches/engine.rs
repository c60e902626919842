//! Engine overhead: a chain of 1,000 trivial nodes, run cold, from the memory
//! cache, and with caching off; validation of the same graph; and the cost of
//! calling a node through the plugin ABI instead of directly, on the chain and
//! on a 100 MB tensor passed in and out.
//!
//! `cargo bench -p gspeech --bench engine` prints Markdown tables.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gspeech::exec::{Executor, ExecutorOptions, RunOptions, RunStatus};
use gspeech::graph::{Edge, Endpoint, GraphDoc, NodeEntry};
use gspeech::registry::{Origin, Registry};
use gspeech::validate::validate;
use gspeech_sdk::{
    Caching, CancelToken, Inputs, Node, NodeError, NodeSpec, Outputs, Params, PortSpec, PortType, Record, RunContext,
    Tensor, Value,
};

const CHAIN: usize = 1000;
const REPEATS: usize = 7;

/// Adds one to its input: as little work as a node can do.
struct Increment(&'static str);

impl Node for Increment {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new(self.0, 1, "Increment")
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

/// Returns its audio input unchanged; never cached, so every run calls it.
struct Pass(&'static str);

impl Node for Pass {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new(self.0, 1, "Pass")
            .doc("Returns its input.")
            .input(PortSpec::new("audio", PortType::Audio, "In."))
            .output(PortSpec::new("audio", PortType::Audio, "The same."))
            .caching(Caching::Never)
    }
    fn run(&self, _ctx: &RunContext, inputs: &Inputs, _params: &Params) -> Result<Outputs, NodeError> {
        Ok(Outputs::new().with("audio", inputs.value("audio")?.clone()))
    }
}

/// 100 MB of audio samples (cached after the first run).
struct Source;

impl Node for Source {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("bench.source", 1, "Source")
            .doc("100 MB of audio.")
            .output(PortSpec::new("audio", PortType::Audio, "Samples."))
    }
    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, _params: &Params) -> Result<Outputs, NodeError> {
        let n = 25_000_000;
        let record = Record::new(PortType::Audio)
            .with_tensor("samples", Tensor::from_f32(&[1, n], vec![0.25; n]).unwrap())
            .with_attr("sample_rate", 16000);
        Ok(Outputs::new().with("audio", Value::data(record)))
    }
}

gspeech_sdk::export_plugin!(
    id: "org.gspeech.bench",
    version: "1.0.0",
    nodes: [Increment("org.gspeech.bench.increment"), Pass("org.gspeech.bench.pass")],
);

unsafe extern "C" {
    fn gspeech_plugin_entry() -> *const gspeech_sdk::plugin::abi::GspPlugin;
}

fn chain(n: usize, type_id: &str) -> GraphDoc {
    let mut doc = GraphDoc::new();
    for i in 0..n {
        doc.nodes.push(NodeEntry::new(&format!("n{i}"), type_id, 1));
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
    registry
        .register(Arc::new(Increment("bench.increment")), Origin::Builtin)
        .unwrap();
    registry
        .register(Arc::new(Pass("bench.pass")), Origin::Builtin)
        .unwrap();
    registry.register(Arc::new(Source), Origin::Builtin).unwrap();
    let descriptor = unsafe { gspeech_plugin_entry() };
    unsafe {
        gspeech::plugins::register(
            &mut registry,
            descriptor,
            std::path::Path::new("bench"),
            &Default::default(),
        )
    }
    .unwrap();
    let doc = chain(CHAIN, "bench.increment");
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

    plugin_overhead(&registry, &dir, jobs);
}

/// Built-in against plugin: the chain with caching off, and a 100 MB tensor in and out.
fn plugin_overhead(registry: &Registry, dir: &std::path::Path, jobs: usize) {
    let cancel = CancelToken::new();
    let time_runs = |doc: &GraphDoc, use_cache: bool, check: &dyn Fn(&gspeech::exec::RunReport)| {
        let plan = validate(doc, registry, dir).unwrap();
        let executor = Executor::new(ExecutorOptions {
            jobs,
            ..ExecutorOptions::default()
        });
        let options = RunOptions {
            targets: Vec::new(),
            use_cache,
        };
        executor.run(&plan, &options, &cancel, &|_| {});
        median(
            (0..REPEATS)
                .map(|_| {
                    let t = Instant::now();
                    let report = executor.run(&plan, &options, &cancel, &|_| {});
                    let elapsed = t.elapsed();
                    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.failed);
                    check(&report);
                    elapsed
                })
                .collect(),
        )
    };
    let chain_end = |report: &gspeech::exec::RunReport| {
        assert_eq!(
            report.outputs[&format!("n{}", CHAIN - 1)].get("value"),
            Some(&Value::Float(CHAIN as f64))
        );
    };
    let builtin_chain = time_runs(&chain(CHAIN, "bench.increment"), false, &chain_end);
    let plugin_chain = time_runs(&chain(CHAIN, "org.gspeech.bench.increment"), false, &chain_end);

    let big = |pass: &str| {
        let mut doc = GraphDoc::new();
        doc.nodes.push(NodeEntry::new("source", "bench.source", 1));
        doc.nodes.push(NodeEntry::new("pass", pass, 1));
        doc.edges.push(Edge {
            from: Endpoint::new("source", "audio"),
            to: Endpoint::new("pass", "audio"),
        });
        doc
    };
    let no_copy = |report: &gspeech::exec::RunReport| {
        let samples = |node: &str| match report.outputs[node].get("audio") {
            Some(Value::Data(r)) => r.tensor("samples").unwrap().clone(),
            _ => panic!("audio"),
        };
        assert!(
            samples("pass").shares_storage_with(&samples("source")),
            "the tensor was not copied"
        );
    };
    let builtin_big = time_runs(&big("bench.pass"), true, &no_copy);
    let plugin_big = time_runs(&big("org.gspeech.bench.pass"), true, &no_copy);

    println!(
        "\nPlugin call overhead, median of {REPEATS} runs (the 100 MB source is cached; the pass node always runs)\n"
    );
    println!("| case | built in | through the plugin ABI | difference per call |");
    println!("|---|---:|---:|---:|");
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "| chain of {CHAIN} trivial nodes, caching off | {:.2} ms | {:.2} ms | {:.1} µs |",
        us(builtin_chain) / 1e3,
        us(plugin_chain) / 1e3,
        (us(plugin_chain) - us(builtin_chain)) / CHAIN as f64
    );
    println!(
        "| 100 MB f32 tensor in and out (shared, not copied) | {:.1} µs | {:.1} µs | {:.1} µs |",
        us(builtin_big),
        us(plugin_big),
        us(plugin_big) - us(builtin_big)
    );
}
