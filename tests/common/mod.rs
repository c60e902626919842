//! Test node types and helpers shared by the end-to-end tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use gspeech::exec::{Event, Executor, ExecutorOptions, RunOptions, RunReport};
use gspeech::graph::GraphDoc;
use gspeech::registry::{Origin, Registry};
use gspeech::validate::{Plan, validate};
use gspeech_sdk::{
    Caching, CancelToken, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext, Value,
};

/// A path in the repository, found when the test runs: compiled test binaries are
/// reused across clones by a shared build folder, so paths baked in at compile time go stale.
pub fn repo_path(relative: &str) -> PathBuf {
    let app = std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run under cargo");
    Path::new(&app).join("..").join(relative)
}

/// `test.add`: `value` (optional input, default 0) + parameter `add`; counts its runs.
pub struct Add {
    pub runs: Arc<AtomicUsize>,
    pub caching: Caching,
    pub order: Arc<Mutex<Vec<String>>>,
}

impl Node for Add {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.add", 1, "Add")
            .doc("Adds `add` to its input.")
            .input(PortSpec::optional("value", PortType::Float, "Input."))
            .output(PortSpec::new("value", PortType::Float, "Sum."))
            .param(ParamSpec::float("add", 1.0, (None, Some(100.0)), "Added."))
            .caching(self.caching)
    }
    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.order.lock().unwrap().push(ctx.node_id().to_string());
        let base = match inputs.get("value") {
            Some(Value::Float(v)) => *v,
            _ => 0.0,
        };
        Ok(Outputs::new().with("value", Value::Float(base + params.float("add")?)))
    }
}

/// `test.read`: the text of a file (an input file, hashed into the cache key).
pub struct Read {
    pub runs: Arc<AtomicUsize>,
}

impl Node for Read {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.read", 1, "Read")
            .doc("Reads a text file.")
            .output(PortSpec::new("text", PortType::Text, "Content."))
            .param(ParamSpec::path("path", PathRole::InputFile, vec![], "", "File."))
    }
    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let path = params.path("path")?;
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::file(path, e))?;
        Ok(Outputs::new().with("text", Value::Text(text.into())))
    }
}

/// `test.write`: writes its input slowly (in steps, checking cancellation) to an
/// output file, atomically.
pub struct SlowWrite {
    pub started: Arc<AtomicUsize>,
}

impl Node for SlowWrite {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.write", 1, "Write")
            .doc("Writes slowly.")
            .input(PortSpec::optional("value", PortType::Any, "Anything."))
            .param(ParamSpec::path("path", PathRole::OutputFile, vec![], "", "Target."))
            .param(ParamSpec::int("steps", 20, (Some(1), None), "Steps of 50 ms."))
            .caching(Caching::Never)
    }
    fn run(&self, ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        use std::io::Write;
        self.started.fetch_add(1, Ordering::SeqCst);
        let path = params.path("path")?;
        let mut file = gspeech_sdk::fs::AtomicFile::create(path).map_err(|e| NodeError::file(path, e))?;
        let steps = params.int("steps")?;
        for step in 0..steps {
            ctx.check_cancelled()?;
            file.write_all(b"chunk\n").map_err(|e| NodeError::file(path, e))?;
            ctx.progress(step as f32 / steps as f32, "writing");
            std::thread::sleep(Duration::from_millis(50));
        }
        file.commit().map_err(|e| NodeError::file(path, e))?;
        Ok(Outputs::new())
    }
}

/// `test.meet`: waits until `parties` nodes of this type run at the same time;
/// fails after 20 s alone, so it proves that branches run in parallel.
pub struct Meet {
    pub barrier: Arc<Barrier>,
}

impl Node for Meet {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.meet", 1, "Meet")
            .doc("Meets another branch.")
            .output(PortSpec::new("value", PortType::Int, "1."))
            .param(ParamSpec::int("tag", 0, (None, None), "Distinguishes nodes."))
    }
    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, _params: &Params) -> Result<Outputs, NodeError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let barrier = self.barrier.clone();
        std::thread::spawn(move || {
            barrier.wait();
            let _ = tx.send(());
        });
        rx.recv_timeout(Duration::from_secs(20))
            .map_err(|_| NodeError::other("no other branch ran alongside"))?;
        Ok(Outputs::new().with("value", Value::Int(1)))
    }
}

/// `test.fail`: fails, or panics when `panic` is set.
pub struct Fail;

impl Node for Fail {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.fail", 1, "Fail")
            .doc("Fails.")
            .output(PortSpec::new("value", PortType::Float, "Never produced."))
            .param(ParamSpec::bool("panic", false, "Panic instead of returning an error."))
    }
    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        if params.bool("panic")? {
            panic!("deliberate panic");
        }
        Err(NodeError::other("deliberate failure"))
    }
}

/// `test.liar`: declares a float output but returns text.
pub struct Liar;

impl Node for Liar {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.liar", 1, "Liar")
            .doc("Returns the wrong type.")
            .output(PortSpec::new("value", PortType::Float, "Declared float."))
    }
    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, _params: &Params) -> Result<Outputs, NodeError> {
        Ok(Outputs::new().with("value", Value::Text("not a float".into())))
    }
}

/// Counters and logs shared with the test nodes.
#[derive(Clone, Default)]
pub struct Probes {
    pub add_runs: Arc<AtomicUsize>,
    pub disk_runs: Arc<AtomicUsize>,
    pub read_runs: Arc<AtomicUsize>,
    pub writes_started: Arc<AtomicUsize>,
    pub order: Arc<Mutex<Vec<String>>>,
}

/// The built-in nodes plus the test nodes, `test.add` cached in memory.
pub fn registry(probes: &Probes) -> Registry {
    let mut registry = Registry::builtin();
    let nodes: Vec<Arc<dyn Node>> = vec![
        Arc::new(Add {
            runs: probes.add_runs.clone(),
            caching: Caching::Memory,
            order: probes.order.clone(),
        }),
        Arc::new(Read {
            runs: probes.read_runs.clone(),
        }),
        Arc::new(SlowWrite {
            started: probes.writes_started.clone(),
        }),
        Arc::new(Meet {
            barrier: Arc::new(Barrier::new(2)),
        }),
        Arc::new(Fail),
        Arc::new(Liar),
    ];
    for node in nodes {
        registry.register(node, Origin::Builtin).unwrap();
    }
    registry
}

/// Like [`registry`] but `test.add` declares the on-disk cache.
pub fn disk_registry(probes: &Probes) -> Registry {
    let mut registry = Registry::builtin();
    let add = Add {
        runs: probes.disk_runs.clone(),
        caching: Caching::Disk,
        order: probes.order.clone(),
    };
    registry.register(Arc::new(add), Origin::Builtin).unwrap();
    registry
}

/// A graph from a compact description: nodes as (id, type, params) and edges as
/// ("a.out", "b.in").
pub fn graph(nodes: &[(&str, &str, serde_json::Value)], edges: &[(&str, &str)]) -> GraphDoc {
    let json = serde_json::json!({
        "format": "gspeech-graph",
        "version": 1,
        "nodes": nodes.iter().map(|(id, ty, params)| serde_json::json!({
            "id": id, "type": ty, "type_version": 1, "params": params
        })).collect::<Vec<_>>(),
        "edges": edges.iter().map(|(a, b)| serde_json::json!({"from": a, "to": b})).collect::<Vec<_>>(),
    });
    GraphDoc::parse(&json.to_string()).expect("test graphs are well formed")
}

/// Validates a graph whose relative paths resolve against `dir`.
pub fn plan(doc: &GraphDoc, registry: &Registry, dir: &Path) -> Plan {
    match validate(doc, registry, dir) {
        Ok(plan) => plan,
        Err(problems) => panic!("invalid test graph: {problems:#?}"),
    }
}

/// Runs a plan, collecting its events.
pub fn run(executor: &Executor, plan: &Plan, targets: &[&str], cancel: &CancelToken) -> (RunReport, Vec<Event>) {
    let events = Mutex::new(Vec::new());
    let targets = targets
        .iter()
        .map(|t| plan.index_of(t).expect("target exists"))
        .collect();
    let options = RunOptions {
        targets,
        use_cache: true,
    };
    let report = executor.run(plan, &options, cancel, &|e| events.lock().unwrap().push(e));
    (report, events.into_inner().unwrap())
}

/// An executor with default options and an optional disk cache.
pub fn executor(disk: Option<&Path>) -> Executor {
    Executor::new(ExecutorOptions {
        disk_cache: disk.map(Path::to_path_buf),
        jobs: 4,
        ..ExecutorOptions::default()
    })
}

/// Writes a capture of two `side`×`side` cameras (the second held out) and
/// three frames at 25 fps into `root`.
pub fn write_capture(root: &Path, side: u32) -> gspeech_nodes::capture::CaptureIndex {
    use gspeech_nodes::capture::format::{
        CaptureCamera, CaptureFrame, CaptureIndex, FORMAT, FaceModelRef, VERSION, write_image, write_index,
        write_meshes,
    };
    use gspeech_sdk::CancelToken;

    let cancel = CancelToken::new();
    let camera = |name: &str, x: f64, held_out| CaptureCamera {
        name: name.into(),
        width: side,
        height: side,
        fx: 40.0,
        fy: 40.0,
        cx: side as f64 / 2.0,
        cy: side as f64 / 2.0,
        world_to_camera: [[1., 0., 0., -x], [0., 1., 0., 0.], [0., 0., 1., 50.], [0., 0., 0., 1.]],
        held_out,
    };
    let frame = |index: usize, split: &str| CaptureFrame {
        index,
        time: index as f64 / 25.0,
        split: split.into(),
        weights: None,
    };
    let index = CaptureIndex {
        format: FORMAT.into(),
        version: VERSION,
        fps: Some(25.0),
        audio: None,
        face_model: FaceModelRef {
            name: "quad".into(),
            path: None,
            vertices: 4,
            digest: "0123456789abcdef".repeat(4),
            units: "cm".into(),
        },
        cameras: vec![camera("cam_a", -10.0, false), camera("cam_b", 10.0, true)],
        weight_names: Vec::new(),
        frames: vec![frame(0, "train"), frame(1, "train"), frame(2, "test")],
    };
    write_index(root, &index, &cancel).unwrap();
    write_meshes(root, 3, 4, &[0.5; 36], &cancel).unwrap();
    for camera in &index.cameras {
        for frame in 0..3 {
            write_image(root, camera, frame, &vec![128; (side * side * 3) as usize], &cancel).unwrap();
        }
    }
    index
}
