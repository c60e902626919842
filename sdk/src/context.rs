//! The run context: what a running node may ask of the host.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use crate::NodeError;

/// Severity of a log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal information.
    Info,
    /// Something the user should look at; the run goes on.
    Warn,
}

/// Receives a running node's progress and log lines (the executor turns them into events).
pub trait Reporter: Send + Sync {
    /// Fraction done in [0, 1], with a short message.
    fn progress(&self, fraction: f32, message: &str);
    /// A log line.
    fn log(&self, level: LogLevel, message: &str);
}

/// A flag shared by everything in a run; set once to ask every node to stop.
/// A token may also ask an outside source (a plugin's host) whether to stop.
#[derive(Clone, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
    probe: Option<Arc<dyn Fn() -> bool + Send + Sync>>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CancelToken({})", self.is_cancelled())
    }
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// A token that is also cancelled whenever `probe` returns true.
    pub fn with_probe(probe: impl Fn() -> bool + Send + Sync + 'static) -> CancelToken {
        CancelToken {
            flag: Arc::default(),
            probe: Some(Arc::new(probe)),
        }
    }

    /// Asks everything holding this token to stop.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether cancellation was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed) || self.probe.as_ref().is_some_and(|p| p())
    }
}

/// What a node's `run` receives besides its inputs and parameters.
pub struct RunContext<'a> {
    node_id: &'a str,
    reporter: &'a dyn Reporter,
    cancel: &'a CancelToken,
    temp_root: &'a Path,
    cache_root: Option<&'a Path>,
    type_id: &'a str,
    #[cfg(feature = "gpu")]
    gpu: &'a crate::gpu::GpuSlot,
}

impl<'a> RunContext<'a> {
    /// A context for one node run. `temp_root` is the run's scratch folder and
    /// `cache_root` the persistent cache folder (none when caching is off).
    pub fn new(
        node_id: &'a str,
        type_id: &'a str,
        reporter: &'a dyn Reporter,
        cancel: &'a CancelToken,
        temp_root: &'a Path,
        cache_root: Option<&'a Path>,
        #[cfg(feature = "gpu")] gpu: &'a crate::gpu::GpuSlot,
    ) -> RunContext<'a> {
        RunContext {
            node_id,
            reporter,
            cancel,
            temp_root,
            cache_root,
            type_id,
            #[cfg(feature = "gpu")]
            gpu,
        }
    }

    /// The id of the graph node being run.
    pub fn node_id(&self) -> &str {
        self.node_id
    }

    /// Reports progress: `fraction` in [0, 1] (clamped) and a short message.
    pub fn progress(&self, fraction: f32, message: &str) {
        self.reporter.progress(fraction.clamp(0.0, 1.0), message);
    }

    /// Writes a log line at `Info`.
    pub fn info(&self, message: &str) {
        self.reporter.log(LogLevel::Info, message);
    }

    /// Writes a log line at a given level.
    pub fn log(&self, level: LogLevel, message: &str) {
        self.reporter.log(level, message);
    }

    /// Whether the run was cancelled. Long loops should check this often.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// `Err(NodeError::Cancelled)` once the run is cancelled, for use with `?`.
    pub fn check_cancelled(&self) -> Result<(), NodeError> {
        if self.is_cancelled() {
            Err(NodeError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The run's cancellation token, to hand to helpers such as atomic writers.
    pub fn cancel_token(&self) -> &CancelToken {
        self.cancel
    }

    /// A scratch folder for this node, created on first use and removed after the run.
    pub fn temp_dir(&self) -> Result<PathBuf, NodeError> {
        let dir = self.temp_root.join(self.node_id);
        std::fs::create_dir_all(&dir).map_err(|e| NodeError::file(&dir, e))?;
        Ok(dir)
    }

    /// The run's scratch folder, shared by its nodes ([`temp_dir`](Self::temp_dir) is this node's).
    pub fn temp_root(&self) -> &Path {
        self.temp_root
    }

    /// A persistent folder for this node type (converted models, indexes), kept
    /// across runs; `None` when caching is turned off.
    pub fn cache_dir(&self) -> Option<Result<PathBuf, NodeError>> {
        let dir = self.cache_root?.join("nodes").join(self.type_id);
        Some(
            std::fs::create_dir_all(&dir)
                .map(|_| dir.clone())
                .map_err(|e| NodeError::file(&dir, e)),
        )
    }

    /// The shared GPU, created on first use by any node in the process.
    #[cfg(feature = "gpu")]
    pub fn gpu(&self) -> Result<Arc<crate::gpu::Gpu>, NodeError> {
        self.gpu.get().map_err(NodeError::Other)
    }
}
