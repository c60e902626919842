//! The executor: runs the part of a validated graph that the requested outputs
//! need, in dependency order with independent branches in parallel, reusing
//! cached outputs and reporting everything as [`Event`]s.

mod cache;
mod event;
mod key;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gspeech_sdk::gpu::GpuSlot;
use gspeech_sdk::{
    Caching, CancelToken, Inputs, LogLevel, NodeError, Outputs, ParamValue, Params, Reporter, RunContext, Value,
};

pub use cache::{DiskCache, DiskLookup, MemoryCache};
pub use event::{CacheSource, Event, RunStatus};
pub use key::{FileHashes, Key};

use crate::validate::Plan;

/// How an executor is set up; it lives as long as its caches should.
pub struct ExecutorOptions {
    /// In-memory cache budget in bytes.
    pub memory_budget: usize,
    /// The on-disk cache folder, for node types that declare `Caching::Disk`.
    pub disk_cache: Option<PathBuf>,
    /// Worker threads (nodes running at once).
    pub jobs: usize,
    /// The GPU slot to share (the editor passes its own); a new lazy one otherwise.
    pub gpu: Option<Arc<GpuSlot>>,
}

impl Default for ExecutorOptions {
    fn default() -> ExecutorOptions {
        ExecutorOptions {
            memory_budget: 2 << 30,
            disk_cache: None,
            jobs: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            gpu: None,
        }
    }
}

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Node indices whose outputs are wanted; empty means every sink.
    pub targets: Vec<usize>,
    /// Whether to read and write the caches.
    pub use_cache: bool,
}

/// How a run went.
#[derive(Debug)]
pub struct RunReport {
    /// How it ended.
    pub status: RunStatus,
    /// Nodes computed, in completion order.
    pub executed: Vec<String>,
    /// Nodes served from a cache.
    pub cached: Vec<String>,
    /// Nodes that failed, with their messages.
    pub failed: Vec<(String, String)>,
    /// Nodes skipped because something they need failed.
    pub skipped: Vec<String>,
    /// The outputs of every node that produced them.
    pub outputs: HashMap<String, Arc<Outputs>>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A node's result: its outputs and the cache key of each output.
#[derive(Clone)]
struct Produced {
    outputs: Arc<Outputs>,
    keys: BTreeMap<String, Key>,
}

/// Why a node has no outputs.
#[derive(Clone)]
enum Missing {
    Failed(String),
    Cancelled,
}

enum Outcome {
    Executed(Produced),
    Cached(Produced),
    Bypassed(Produced),
    Failed(String),
    Cancelled,
}

/// Runs plans. Holds the caches, file hashes and GPU shared by its runs.
pub struct Executor {
    memory: Mutex<MemoryCache>,
    disk: Option<DiskCache>,
    files: FileHashes,
    gpu: Arc<GpuSlot>,
    jobs: usize,
}

impl Executor {
    /// An executor with empty caches.
    pub fn new(options: ExecutorOptions) -> Executor {
        Executor {
            memory: Mutex::new(MemoryCache::new(options.memory_budget)),
            disk: options.disk_cache.as_deref().map(DiskCache::new),
            files: FileHashes::default(),
            gpu: options.gpu.unwrap_or_default(),
            jobs: options.jobs.max(1),
        }
    }

    /// The GPU slot nodes share.
    pub fn gpu(&self) -> &Arc<GpuSlot> {
        &self.gpu
    }

    /// Runs what `options.targets` need. A failing node stops only what depends
    /// on it; cancellation stops dispatching and lets running nodes stop.
    pub fn run(
        &self,
        plan: &Plan,
        options: &RunOptions,
        cancel: &CancelToken,
        on_event: &(dyn Fn(Event) + Sync),
    ) -> RunReport {
        let started = Instant::now();
        let targets = if options.targets.is_empty() {
            plan.sinks()
        } else {
            options.targets.clone()
        };
        let needed = plan.needed(&targets);
        on_event(Event::RunStarted { nodes: needed.len() });

        let mut waiting: HashMap<usize, usize> = HashMap::new();
        let mut downstream: HashMap<usize, Vec<usize>> = HashMap::new();
        for &i in &needed {
            let up = plan.nodes[i].upstream();
            waiting.insert(i, up.len());
            for u in up {
                downstream.entry(u).or_default().push(i);
            }
        }
        let mut ready: VecDeque<usize> = needed.iter().copied().filter(|i| waiting[i] == 0).collect();
        let mut results: HashMap<usize, Result<Produced, Missing>> = HashMap::new();
        let mut report = RunReport {
            status: RunStatus::Ok,
            executed: Vec::new(),
            cached: Vec::new(),
            failed: Vec::new(),
            skipped: Vec::new(),
            outputs: HashMap::new(),
            seconds: 0.0,
        };
        let temp = tempfile::Builder::new().prefix("gspeech-run-").tempdir();
        let temp_root = match &temp {
            Ok(dir) => dir.path().to_path_buf(),
            Err(_) => std::env::temp_dir(),
        };

        std::thread::scope(|scope| {
            let (job_tx, job_rx) = crossbeam_channel::unbounded::<(usize, Vec<(String, Value, Key)>)>();
            let (done_tx, done_rx) = crossbeam_channel::unbounded::<(usize, Outcome)>();
            for _ in 0..self.jobs.min(needed.len().max(1)) {
                let (job_rx, done_tx, temp_root) = (job_rx.clone(), done_tx.clone(), &temp_root);
                scope.spawn(move || {
                    while let Ok((i, inputs)) = job_rx.recv() {
                        let outcome = self.compute(plan, i, inputs, options.use_cache, cancel, temp_root, on_event);
                        if done_tx.send((i, outcome)).is_err() {
                            break;
                        }
                    }
                });
            }
            let inline_tx = done_tx;

            let mut in_flight = 0;
            loop {
                while let Some(i) = ready.pop_front() {
                    let node = &plan.nodes[i];
                    let upstream = node.upstream();
                    let blocked = upstream.iter().find_map(|u| match &results[u] {
                        Err(missing) => Some(missing.clone()),
                        Ok(_) => None,
                    });
                    let settled = match blocked {
                        Some(Missing::Failed(root)) => {
                            on_event(Event::Skipped {
                                node: node.id.clone(),
                                because: root.clone(),
                            });
                            report.skipped.push(node.id.clone());
                            Some(Err(Missing::Failed(root)))
                        }
                        Some(Missing::Cancelled) => Some(Err(Missing::Cancelled)),
                        None if cancel.is_cancelled() => Some(Err(Missing::Cancelled)),
                        None => None,
                    };
                    if let Some(result) = settled {
                        results.insert(i, result);
                        release(i, &downstream, &mut waiting, &mut ready);
                        continue;
                    }
                    let inputs = node
                        .inputs
                        .iter()
                        .chain(&node.param_inputs)
                        .map(|(socket, src)| {
                            let Ok(produced) = &results[&src.node] else {
                                unreachable!("checked above")
                            };
                            let value = produced
                                .outputs
                                .get(&src.socket)
                                .cloned()
                                .expect("validated outputs exist");
                            (socket.clone(), value, produced.keys[&src.socket])
                        })
                        .collect();
                    if in_flight == 0 && ready.is_empty() {
                        // The only runnable node: computing it here saves two thread hand-offs.
                        let outcome = self.compute(plan, i, inputs, options.use_cache, cancel, &temp_root, on_event);
                        inline_tx
                            .send((i, outcome))
                            .expect("the receiver lives until the run ends");
                    } else {
                        job_tx.send((i, inputs)).expect("workers live until the run ends");
                    }
                    in_flight += 1;
                }
                if in_flight == 0 {
                    break;
                }
                let (i, outcome) = done_rx.recv().expect("a worker answers every job");
                in_flight -= 1;
                let id = plan.nodes[i].id.clone();
                let result = match outcome {
                    Outcome::Executed(p) => {
                        report.executed.push(id.clone());
                        Ok(p)
                    }
                    Outcome::Cached(p) => {
                        report.cached.push(id.clone());
                        Ok(p)
                    }
                    Outcome::Bypassed(p) => Ok(p),
                    Outcome::Failed(message) => {
                        report.failed.push((id.clone(), message));
                        Err(Missing::Failed(id.clone()))
                    }
                    Outcome::Cancelled => Err(Missing::Cancelled),
                };
                if let Ok(p) = &result {
                    report.outputs.insert(id, p.outputs.clone());
                }
                results.insert(i, result);
                release(i, &downstream, &mut waiting, &mut ready);
            }
            drop(job_tx);
        });

        report.status = if cancel.is_cancelled() {
            RunStatus::Cancelled
        } else if report.failed.is_empty() {
            RunStatus::Ok
        } else {
            RunStatus::Failed
        };
        report.seconds = started.elapsed().as_secs_f64();
        on_event(Event::RunFinished {
            status: report.status,
            seconds: report.seconds,
            executed: report.executed.len(),
            cached: report.cached.len(),
            failed: report.failed.len(),
            skipped: report.skipped.len(),
        });
        report
    }

    /// Produces one node's outputs: pass-through, cache hit or a real run.
    #[allow(clippy::too_many_arguments)]
    fn compute(
        &self,
        plan: &Plan,
        i: usize,
        inputs: Vec<(String, Value, Key)>,
        use_cache: bool,
        cancel: &CancelToken,
        temp_root: &std::path::Path,
        on_event: &(dyn Fn(Event) + Sync),
    ) -> Outcome {
        let node = &plan.nodes[i];
        let spec = &node.ty.spec;
        let id = node.id.clone();
        let fail = |e: NodeError| {
            on_event(Event::Error {
                node: id.clone(),
                message: e.to_string(),
            });
            Outcome::Failed(e.to_string())
        };

        if let Some(pass) = &node.bypass {
            let mut outputs = Outputs::new();
            let mut keys = BTreeMap::new();
            for (out, input) in pass {
                let (_, value, key) = inputs
                    .iter()
                    .find(|(s, _, _)| s == input)
                    .expect("validated bypass input");
                outputs = outputs.with(out, value.clone());
                keys.insert(out.clone(), *key);
            }
            on_event(Event::Bypassed { node: id.clone() });
            return Outcome::Bypassed(Produced {
                outputs: Arc::new(outputs),
                keys,
            });
        }

        let (params, socket_values, input_keys) = match resolve(plan, i, inputs) {
            Ok(resolved) => resolved,
            Err(e) => return fail(e),
        };
        let key = match key::node_key(
            &key::KeyInputs {
                type_id: &spec.type_id,
                version: spec.version,
                params: &params,
                specs: &spec.params,
                inputs: &input_keys,
            },
            &self.files,
        ) {
            Ok(key) => key,
            Err(e) => return fail(e),
        };
        let produced = |outputs: Arc<Outputs>| {
            let keys = outputs.values().keys().map(|s| (s.clone(), key.output(s))).collect();
            Produced { outputs, keys }
        };

        let cacheable = use_cache && spec.caching != Caching::Never;
        if cacheable {
            if let Some(hit) = self.memory.lock().unwrap().get(&key) {
                on_event(Event::Cached {
                    node: id,
                    source: CacheSource::Memory,
                });
                return Outcome::Cached(produced(hit));
            }
            if let (Caching::Disk, Some(disk)) = (spec.caching, &self.disk) {
                match disk.get(&key) {
                    DiskLookup::Hit(outputs) if outputs.check(spec).is_ok() => {
                        let outputs = Arc::new(outputs);
                        self.memory.lock().unwrap().put(key, outputs.clone());
                        on_event(Event::Cached {
                            node: id,
                            source: CacheSource::Disk,
                        });
                        return Outcome::Cached(produced(outputs));
                    }
                    DiskLookup::Damaged(why) => on_event(Event::Log {
                        node: id.clone(),
                        level: LogLevel::Warn,
                        message: format!("damaged disk cache entry removed, recomputing: {why}"),
                    }),
                    _ => {}
                }
            }
        }

        on_event(Event::Started {
            node: id.clone(),
            type_id: spec.type_id.clone(),
        });
        let clock = Instant::now();
        let reporter = NodeReporter {
            node: &id,
            on_event,
            last: Mutex::new((-1.0, clock)),
        };
        let ctx = RunContext::new(
            &node.id,
            &spec.type_id,
            &reporter,
            cancel,
            temp_root,
            self.disk.as_ref().filter(|_| use_cache).map(|d| d.dir()),
            &self.gpu,
        );
        let inputs = Inputs::new(socket_values);
        let result =
            catch_unwind(AssertUnwindSafe(|| node.ty.node.run(&ctx, &inputs, &params))).unwrap_or_else(|panic| {
                Err(NodeError::other(format!(
                    "the node panicked: {}",
                    panic_message(&panic)
                )))
            });
        let outputs = match result {
            Ok(outputs) => outputs,
            Err(NodeError::Cancelled) if cancel.is_cancelled() => {
                on_event(Event::Cancelled { node: id });
                return Outcome::Cancelled;
            }
            Err(e) => return fail(e),
        };
        let declared = outputs.check(spec).and_then(|_| {
            match node
                .output_types
                .iter()
                .find(|(s, ty)| outputs.get(s).is_some_and(|v| v.port_type() != **ty))
            {
                Some((s, ty)) => Err(format!(
                    "output `{s}` must be {ty} but is {}",
                    outputs.get(s).unwrap().port_type()
                )),
                None => Ok(()),
            }
        });
        if let Err(e) = declared {
            return fail(NodeError::other(format!(
                "{} returned invalid outputs: {e}",
                spec.type_id
            )));
        }
        let outputs = Arc::new(outputs);
        on_event(Event::Finished {
            node: id.clone(),
            seconds: clock.elapsed().as_secs_f64(),
        });
        if cacheable {
            self.memory.lock().unwrap().put(key, outputs.clone());
            if let (Caching::Disk, Some(disk)) = (spec.caching, &self.disk)
                && let Err(e) = disk.put(&key, &outputs, cancel)
            {
                let message = format!("could not write the disk cache: {e}");
                on_event(Event::Log {
                    node: id,
                    level: LogLevel::Warn,
                    message,
                });
            }
        }
        Outcome::Executed(produced(outputs))
    }
}

type Resolved = (Params, BTreeMap<String, Value>, Vec<(String, Key)>);

/// Resolves a node's parameters (graph values, defaults, values arriving on
/// parameter edges) and its input values (widened to the socket types).
fn resolve(plan: &Plan, i: usize, inputs: Vec<(String, Value, Key)>) -> Result<Resolved, NodeError> {
    let node = &plan.nodes[i];
    let spec = &node.ty.spec;
    let params = Params::from_json(spec, &node.params, &plan.base_dir).map_err(|(n, m)| NodeError::param(&n, m))?;
    let mut values = params.values().clone();
    let mut socket_values = BTreeMap::new();
    let mut input_keys = Vec::new();
    for (socket, value, key) in inputs {
        if let Some(param) = node
            .param_inputs
            .contains_key(&socket)
            .then(|| spec.param_named(&socket))
            .flatten()
        {
            let value = value
                .coerce_to(param.kind.port_type())
                .and_then(|v| ParamValue::from_value(&v));
            let value = value.ok_or_else(|| NodeError::param(&socket, "the connected value has the wrong type"))?;
            param.kind.check(&value).map_err(|e| NodeError::param(&socket, e))?;
            values.insert(socket, value.resolved_against(&plan.base_dir));
        } else {
            let ty = spec.input_named(&socket).map(|p| p.ty).expect("validated input socket");
            let value = value
                .coerce_to(ty)
                .ok_or_else(|| NodeError::input(&socket, format!("expected {ty}")))?;
            input_keys.push((socket.clone(), key));
            socket_values.insert(socket, value);
        }
    }
    Ok((Params::new(values), socket_values, input_keys))
}

fn release(
    i: usize,
    downstream: &HashMap<usize, Vec<usize>>,
    waiting: &mut HashMap<usize, usize>,
    ready: &mut VecDeque<usize>,
) {
    for &d in downstream.get(&i).map(Vec::as_slice).unwrap_or_default() {
        let w = waiting.get_mut(&d).expect("downstream nodes are needed");
        *w -= 1;
        if *w == 0 {
            ready.push_back(d);
        }
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Forwards a node's progress and logs as events, at most every 50 ms for
/// progress unless it reaches the end.
struct NodeReporter<'a> {
    node: &'a str,
    on_event: &'a (dyn Fn(Event) + Sync),
    last: Mutex<(f32, Instant)>,
}

impl Reporter for NodeReporter<'_> {
    fn progress(&self, fraction: f32, message: &str) {
        let mut last = self.last.lock().unwrap();
        if fraction < 1.0 && last.1.elapsed().as_millis() < 50 && last.0 >= 0.0 {
            return;
        }
        *last = (fraction, Instant::now());
        drop(last);
        (self.on_event)(Event::Progress {
            node: self.node.into(),
            fraction,
            message: message.into(),
        });
    }

    fn log(&self, level: LogLevel, message: &str) {
        (self.on_event)(Event::Log {
            node: self.node.into(),
            level,
            message: message.into(),
        });
    }
}
