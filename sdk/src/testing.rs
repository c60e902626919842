//! Running one node outside a graph, for node and plugin authors' tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{CancelToken, Inputs, LogLevel, Node, NodeError, Outputs, Params, Reporter, RunContext};

/// Collects what a node reports while it runs.
#[derive(Default)]
struct Collected {
    logs: Mutex<Vec<(LogLevel, String)>>,
    progress: Mutex<Vec<f32>>,
}

impl Reporter for Collected {
    fn progress(&self, fraction: f32, _message: &str) {
        self.progress.lock().unwrap().push(fraction);
    }
    fn log(&self, level: LogLevel, message: &str) {
        self.logs.lock().unwrap().push((level, message.to_string()));
    }
}

/// A harness that runs a node directly, with a scratch folder, a cancel token
/// and a record of its log lines and progress.
pub struct TestRun {
    collected: Collected,
    /// Cancel this to test a node's cancellation.
    pub cancel: CancelToken,
    temp: tempfile_free::TempDir,
    #[cfg(feature = "gpu")]
    gpu: crate::gpu::GpuSlot,
}

impl Default for TestRun {
    fn default() -> TestRun {
        TestRun::new()
    }
}

impl TestRun {
    /// A fresh harness.
    pub fn new() -> TestRun {
        TestRun {
            collected: Collected::default(),
            cancel: CancelToken::new(),
            temp: tempfile_free::TempDir::new(),
            #[cfg(feature = "gpu")]
            gpu: crate::gpu::GpuSlot::new(),
        }
    }

    /// Runs `node` as graph node `test` with the given inputs and parameters
    /// (parameters as the JSON object a graph file would hold), checking the
    /// outputs against the spec as the executor does.
    pub fn run(&self, node: &dyn Node, inputs: Inputs, params: serde_json::Value) -> Result<Outputs, NodeError> {
        let spec = node.spec();
        let set = params.as_object().cloned().unwrap_or_default();
        let params = Params::from_json(&spec, &set, &self.temp.path)
            .map_err(|(name, message)| NodeError::param(&name, message))?;
        let ctx = RunContext::new(
            "test",
            &spec.type_id,
            &self.collected,
            &self.cancel,
            &self.temp.path,
            None,
            #[cfg(feature = "gpu")]
            &self.gpu,
        );
        let outputs = node.run(&ctx, &inputs, &params)?;
        outputs.check(&spec).map_err(NodeError::Other)?;
        Ok(outputs)
    }

    /// The log lines written so far.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.collected.logs.lock().unwrap().clone()
    }

    /// The progress fractions reported so far.
    pub fn progress(&self) -> Vec<f32> {
        self.collected.progress.lock().unwrap().clone()
    }

    /// The scratch folder; relative paths in parameters resolve against it.
    pub fn dir(&self) -> PathBuf {
        self.temp.path.clone()
    }
}

/// A scratch folder removed on drop, without a dependency on `tempfile`.
mod tempfile_free {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT: AtomicU64 = AtomicU64::new(0);

    pub struct TempDir {
        pub path: PathBuf,
    }

    impl TempDir {
        pub fn new() -> TempDir {
            let name = format!(
                "gspeech-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let path = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&path).expect("a writable temporary folder");
            TempDir { path }
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Every file under `root` with its bytes, by path relative to `root`: for
/// checking that a cancelled or failed run changed nothing, or that two runs
/// wrote the same files. Panics when the folder cannot be read.
pub fn files_under(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        let entries = std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                files.insert(path.strip_prefix(root).expect("listed under root").to_path_buf(), bytes);
            }
        }
    }
    files
}
