//! Runs the graph on a background thread through the same executor as the
//! command line, and keeps each node's state for the canvas: the UI thread
//! only reads events from a channel, so it never waits for a node.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, unbounded};
use gspeech_sdk::{CancelToken, LogLevel, Outputs};

use crate::exec::{Event, Executor, RunOptions, RunReport, RunStatus};
use crate::graph::GraphDoc;
use crate::registry::Registry;
use crate::validate::{Problem, validate};

/// What a node is doing, or did in the last run.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeState {
    /// Not part of a run yet.
    Idle,
    /// Waiting for its inputs.
    Queued,
    /// Computing.
    Running {
        /// Fraction done in [0, 1].
        fraction: f32,
        /// What it is doing.
        message: String,
    },
    /// Served from a cache.
    Cached,
    /// Passed its inputs through.
    Bypassed,
    /// Computed, in this many seconds.
    Done {
        /// Wall-clock seconds.
        seconds: f64,
    },
    /// Failed with this message.
    Failed(String),
    /// Not run because a node it needs failed.
    Skipped(String),
    /// Stopped by a cancel.
    Cancelled,
}

/// One line of the run log.
#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    /// The node, if the line is about one.
    pub node: Option<String>,
    /// Severity; errors count as warnings.
    pub level: LogLevel,
    /// The text.
    pub message: String,
}

struct Active {
    cancel: CancelToken,
    events: Receiver<Event>,
    thread: JoinHandle<RunReport>,
    started: Instant,
}

/// The editor's runs: at most one at a time.
pub struct Runner {
    executor: Arc<Executor>,
    registry: Arc<Registry>,
    states: HashMap<String, NodeState>,
    outputs: HashMap<String, Arc<Outputs>>,
    active: Option<Active>,
    last: Option<(RunStatus, f64)>,
    problems: Vec<Problem>,
    log: Vec<LogLine>,
}

impl Runner {
    /// A runner over a shared executor (its caches live as long as the editor).
    pub fn new(executor: Arc<Executor>, registry: Arc<Registry>) -> Runner {
        Runner {
            executor,
            registry,
            states: HashMap::new(),
            outputs: HashMap::new(),
            active: None,
            last: None,
            problems: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Starts a run of what `target` needs (every sink when `None`). The graph
    /// is validated first; problems stop it and are kept for display. `wake`
    /// is called from the run's thread whenever there is news.
    pub fn start(
        &mut self,
        graph: &GraphDoc,
        base_dir: &std::path::Path,
        target: Option<&str>,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Result<(), String> {
        if self.is_running() {
            return Err("a run is already going; cancel it first".into());
        }
        let runnable = graph.without_muted();
        if let Some(t) = target
            && runnable.node(t).is_none()
        {
            return Err(format!("`{t}` is muted or depends on a muted node"));
        }
        let plan = match validate(&runnable, &self.registry, base_dir) {
            Ok(plan) => plan,
            Err(problems) => {
                let message = match problems.as_slice() {
                    [one] => format!("{one}; nothing was run"),
                    many => format!("{} (and {} more problems); nothing was run", many[0], many.len() - 1),
                };
                for p in &problems {
                    if let Some(node) = &p.node {
                        let text = match &p.place {
                            Some(place) => format!("{place}: {}", p.message),
                            None => p.message.clone(),
                        };
                        self.states.insert(node.clone(), NodeState::Failed(text));
                    }
                }
                self.problems = problems;
                return Err(message);
            }
        };
        self.problems.clear();
        let targets: Vec<usize> = target.and_then(|t| plan.index_of(t)).into_iter().collect();
        let needed = plan.needed(&if targets.is_empty() {
            plan.sinks()
        } else {
            targets.clone()
        });
        self.states.clear();
        for &i in &needed {
            self.states.insert(plan.nodes[i].id.clone(), NodeState::Queued);
        }
        self.log.clear();
        let (tx, events) = unbounded();
        let cancel = CancelToken::new();
        let executor = self.executor.clone();
        let run_cancel = cancel.clone();
        let options = RunOptions {
            targets,
            use_cache: true,
        };
        let thread = std::thread::Builder::new()
            .name("gspeech-run".into())
            .spawn(move || {
                let on_event = |e: Event| {
                    let _ = tx.send(e);
                    wake();
                };
                executor.run(&plan, &options, &run_cancel, &on_event)
            })
            .map_err(|e| format!("could not start the run: {e}"))?;
        self.active = Some(Active {
            cancel,
            events,
            thread,
            started: Instant::now(),
        });
        Ok(())
    }

    /// Asks the run to stop; running nodes stop at their next check.
    pub fn cancel(&self) {
        if let Some(active) = &self.active {
            active.cancel.cancel();
        }
    }

    /// Whether a run is going.
    pub fn is_running(&self) -> bool {
        self.active.is_some()
    }

    /// Seconds since the current run started.
    pub fn elapsed(&self) -> Option<f64> {
        self.active.as_ref().map(|a| a.started.elapsed().as_secs_f64())
    }

    /// Applies the events that arrived since the last call; collects the
    /// outputs once the run is over. Returns whether anything changed.
    pub fn poll(&mut self) -> bool {
        let Some(active) = &self.active else { return false };
        let events: Vec<Event> = active.events.try_iter().collect();
        let changed = !events.is_empty();
        for event in events {
            self.apply(event);
        }
        if self.active.as_ref().is_some_and(|a| a.thread.is_finished()) {
            let active = self.active.take().expect("checked above");
            for event in active.events.try_iter() {
                self.apply(event);
            }
            match active.thread.join() {
                Ok(report) => {
                    self.last = Some((report.status, report.seconds));
                    self.outputs.extend(report.outputs);
                }
                Err(_) => self.log.push(LogLine {
                    node: None,
                    level: LogLevel::Warn,
                    message: "the run stopped unexpectedly".into(),
                }),
            }
            for state in self.states.values_mut() {
                if matches!(state, NodeState::Queued | NodeState::Running { .. }) {
                    *state = NodeState::Cancelled;
                }
            }
            return true;
        }
        changed
    }

    fn apply(&mut self, event: Event) {
        let state = match &event {
            Event::Started { .. } => Some(NodeState::Running {
                fraction: 0.0,
                message: String::new(),
            }),
            Event::Progress { fraction, message, .. } => Some(NodeState::Running {
                fraction: *fraction,
                message: message.clone(),
            }),
            Event::Cached { .. } => Some(NodeState::Cached),
            Event::Bypassed { .. } => Some(NodeState::Bypassed),
            Event::Finished { seconds, .. } => Some(NodeState::Done { seconds: *seconds }),
            Event::Error { message, .. } => Some(NodeState::Failed(message.clone())),
            Event::Skipped { because, .. } => Some(NodeState::Skipped(because.clone())),
            Event::Cancelled { .. } => Some(NodeState::Cancelled),
            Event::Log { .. } | Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        };
        match &event {
            Event::Log { node, level, message } => self.log.push(LogLine {
                node: Some(node.clone()),
                level: *level,
                message: message.clone(),
            }),
            Event::Error { node, message } => self.log.push(LogLine {
                node: Some(node.clone()),
                level: LogLevel::Warn,
                message: format!("failed: {message}"),
            }),
            _ => {}
        }
        if let (Some(node), Some(state)) = (event.node(), state) {
            self.states.insert(node.to_string(), state);
        }
    }

    /// A node's state.
    pub fn state(&self, node: &str) -> &NodeState {
        self.states.get(node).unwrap_or(&NodeState::Idle)
    }

    /// The outputs a node produced in the latest run that reached it.
    pub fn outputs(&self, node: &str) -> Option<&Arc<Outputs>> {
        self.outputs.get(node)
    }

    /// Every node's latest outputs.
    pub fn all_outputs(&self) -> &HashMap<String, Arc<Outputs>> {
        &self.outputs
    }

    /// How the last finished run ended, and its seconds.
    pub fn last_status(&self) -> Option<(RunStatus, f64)> {
        self.last
    }

    /// The problems that stopped the last attempt to run.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// The log of the current or last run.
    pub fn log(&self) -> &[LogLine] {
        &self.log
    }

    /// Forgets states and outputs of nodes that are no longer in the graph.
    pub fn retain_nodes(&mut self, graph: &GraphDoc) {
        self.states.retain(|id, _| graph.node(id).is_some());
        self.outputs.retain(|id, _| graph.node(id).is_some());
    }

    /// Blocks until the current run ends (for tests and benchmarks), applying its events.
    pub fn wait(&mut self) {
        while self.is_running() {
            if !self.poll() {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }
}
