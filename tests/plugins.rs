//! Plugins: the example plugins in Rust and C, loaded by the host and run in
//! saved graphs, and every way a plugin can be wrong.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{executor, graph, plan, run};
use gspeech::exec::{Event, RunStatus};
use gspeech::plugins::{self, Outcome};
use gspeech::registry::Registry;
use gspeech_sdk::{
    CancelToken, Inputs, Node, NodeError, NodeSpec, Outputs, Params, PortSpec, PortType, Record, RunContext, Tensor,
    Value, store,
};
use serde_json::json;

/// Compiles a C plugin with the system compiler.
fn cc(source: &Path, out: &Path, defines: &[&str]) -> PathBuf {
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-I"])
        .arg(common::repo_path("sdk/include"))
        .args(defines)
        .arg(source)
        .arg("-o")
        .arg(out)
        .arg("-lm")
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "compiling {}", source.display());
    out.to_path_buf()
}

fn loudness_plugin(dir: &Path) -> PathBuf {
    cc(
        &common::repo_path("sdk/examples/loudness/loudness.c"),
        &dir.join("libgspeech_loudness.so"),
        &[],
    )
}

fn faulty_plugin(dir: &Path, name: &str, defines: &[&str]) -> PathBuf {
    cc(&common::repo_path("tests/plugins/faulty.c"), &dir.join(name), defines)
}

/// The Rust example plugin, built by cargo as this test's dependency.
fn smooth_plugin() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    let path = deps.join(format!(
        "libgspeech_plugin_smooth_motion.{}",
        std::env::consts::DLL_EXTENSION
    ));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

fn gspeech(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gspeech"))
        .args(args)
        .env_remove("GSPEECH_PLUGIN_PATH")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sine(rate: u32, seconds: f32, hz: f32, amplitude: f32) -> Value {
    let n = (rate as f32 * seconds) as usize;
    let samples: Vec<f32> = (0..n)
        .map(|i| amplitude * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin())
        .collect();
    Value::data(
        Record::new(PortType::Audio)
            .with_tensor("samples", Tensor::from_f32(&[1, n], samples).unwrap())
            .with_attr("sample_rate", rate),
    )
}

fn save(path: &Path, value: Value) {
    store::save(
        path,
        &BTreeMap::from([("value".to_string(), value)]),
        &CancelToken::new(),
    )
    .unwrap();
}

fn load(path: &Path) -> Value {
    store::load(path).unwrap().remove("value").unwrap()
}

#[test]
fn the_c_loudness_plugin_runs_in_a_saved_graph() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = loudness_plugin(dir.path());
    // BS.1770's calibration point: a 997 Hz sine at 0 dBFS reads -3.01 LUFS, so at
    // amplitude 0.5 it reads -9.03 LUFS, and reaching -23 LUFS scales it by 10^(-13.97/20).
    save(&dir.path().join("in.safetensors"), sine(48000, 3.0, 997.0, 0.5));
    let graph = dir.path().join("loudness.gsgraph");
    std::fs::write(
        &graph,
        json!({
            "format": "gspeech-graph", "version": 1,
            "plugins": [{"id": "org.gspeech.examples.loudness", "version": "1.0.0"}],
            "nodes": [
                {"id": "load", "type": "io.load", "type_version": 1, "params": {"path": "in.safetensors", "type": "audio"}},
                {"id": "norm", "type": "org.gspeech.examples.loudness.normalize", "type_version": 1},
                {"id": "save", "type": "io.save", "type_version": 1, "params": {"path": "out.safetensors"}},
                {"id": "save_loudness", "type": "io.save", "type_version": 1, "params": {"path": "loudness.safetensors"}}
            ],
            "edges": [
                {"from": "load.value", "to": "norm.audio"},
                {"from": "norm.audio", "to": "save.value"},
                {"from": "norm.loudness", "to": "save_loudness.value"}
            ]
        })
        .to_string(),
    )
    .unwrap();
    let out = gspeech(&[
        "run",
        graph.to_str().unwrap(),
        "--plugin",
        plugin.to_str().unwrap(),
        "--no-cache",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("[norm] measured -9.0"), "{stderr}");

    let Value::Float(measured) = load(&dir.path().join("loudness.safetensors")) else {
        panic!("a float")
    };
    assert!((measured - -9.031).abs() < 0.05, "measured {measured} LUFS");
    let Value::Data(audio) = load(&dir.path().join("out.safetensors")) else {
        panic!("audio")
    };
    let peak = audio
        .tensor("samples")
        .unwrap()
        .as_f32()
        .unwrap()
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    let expected = 0.5 * 10f32.powf((-23.0 - measured as f32) / 20.0);
    assert!(
        (peak - expected).abs() < expected * 0.01,
        "peak {peak}, expected {expected}"
    );
    assert_eq!(audio.attr("sample_rate"), Some(&json!(48000)));
}

#[test]
fn the_rust_smoothing_plugin_runs_in_a_saved_graph() {
    let dir = tempfile::tempdir().unwrap();
    let weights = vec![0.0f32, 0.0, 1.0, 0.0, 0.0, 0.2, 0.2, 0.2];
    let motion = Record::new(PortType::Motion)
        .with_tensor("weights", Tensor::from_f32(&[8, 1], weights.clone()).unwrap())
        .with_attr("fps", 25.0)
        .with_attr("weight_names", json!(["jawOpen"]));
    save(&dir.path().join("motion.safetensors"), Value::data(motion));
    let graph = dir.path().join("smooth.gsgraph");
    std::fs::write(
        &graph,
        json!({
            "format": "gspeech-graph", "version": 1,
            "plugins": [{"id": "org.gspeech.examples.motion", "version": "1.0.0"}],
            "nodes": [
                {"id": "load", "type": "io.load", "type_version": 1, "params": {"path": "motion.safetensors", "type": "motion"}},
                {"id": "smooth", "type": "org.gspeech.examples.motion.smooth", "type_version": 1, "params": {"sigma": 1.0, "gain": 1.5}},
                {"id": "save", "type": "io.save", "type_version": 1, "params": {"path": "out.safetensors"}}
            ],
            "edges": [{"from": "load.value", "to": "smooth.motion"}, {"from": "smooth.motion", "to": "save.value"}]
        })
        .to_string(),
    )
    .unwrap();
    let out = gspeech(&[
        "run",
        graph.to_str().unwrap(),
        "--plugin",
        smooth_plugin().to_str().unwrap(),
        "--no-cache",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let Value::Data(smoothed) = load(&dir.path().join("out.safetensors")) else {
        panic!("motion")
    };
    // A Gaussian of sigma 1 frame over 3 sigma, edges clamped, then the gain; weights stay in [0, 1].
    let kernel: Vec<f64> = (-3..=3).map(|i: i32| (-0.5 * (i * i) as f64).exp()).collect();
    let total: f64 = kernel.iter().sum();
    let expected: Vec<f64> = (0..8i32)
        .map(|t| {
            let sum: f64 = (-3..=3i32)
                .map(|k| kernel[(k + 3) as usize] * weights[(t + k).clamp(0, 7) as usize] as f64)
                .sum();
            (sum / total * 1.5).clamp(0.0, 1.0)
        })
        .collect();
    let got = smoothed.tensor("weights").unwrap().as_f32().unwrap();
    for (g, e) in got.iter().zip(&expected) {
        assert!((*g as f64 - e).abs() < 1e-6, "{got:?} vs {expected:?}");
    }
    assert_eq!(smoothed.attr("weight_names"), Some(&json!(["jawOpen"])));

    // Without the plugin, validation names it.
    let out = gspeech(&["validate", graph.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("needs plugin `org.gspeech.examples.motion` 1.0.0, which is not loaded"),
        "{stdout}"
    );
    assert!(
        stdout.contains("node `smooth`: node type `org.gspeech.examples.motion.smooth` comes from plugin"),
        "{stdout}"
    );
}

#[test]
fn plugin_nodes_are_listed_with_their_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let c = loudness_plugin(dir.path());
    let rust = smooth_plugin();
    let out = gspeech(&[
        "nodes",
        "--plugin",
        c.to_str().unwrap(),
        "--plugin",
        rust.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(
            "org.gspeech.examples.loudness.normalize v1   Normalize Loudness  [org.gspeech.examples.loudness 1.0.0]"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("org.gspeech.examples.motion.smooth v1   Smooth Motion  [org.gspeech.examples.motion 1.0.0]"),
        "{stdout}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_gspeech"))
        .args(["plugins", "--json"])
        .env("GSPEECH_PLUGIN_PATH", dir.path())
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["plugins"][0]["status"], "loaded");
    assert_eq!(report["plugins"][0]["id"], "org.gspeech.examples.loudness");
    assert_eq!(report["search_path"][0], json!(dir.path()));
}

#[test]
fn bad_libraries_are_refused_with_a_reason_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let first = faulty_plugin(dir.path(), "liba.so", &[]);
    let second = faulty_plugin(dir.path(), "libb.so", &[]);
    let abi2 = faulty_plugin(
        dir.path(),
        "libc_abi2.so",
        &["-DABI_MAJOR_USED=2", "-DPLUGIN_ID=\"org.gspeech.tests.future\""],
    );
    let no_entry = faulty_plugin(dir.path(), "libd_no_entry.so", &["-DNO_ENTRY"]);
    std::fs::write(dir.path().join("libe_not_a_library.so"), "plain text").unwrap();

    let out = gspeech(&["plugins", "--plugin", dir.path().to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("loaded   org.gspeech.tests.faulty 0.1.0  {}", first.display())),
        "{stdout}"
    );
    assert!(stdout.contains(&format!(
        "refused  {}: plugin id `org.gspeech.tests.faulty` is already loaded from {}; this copy at {} was not loaded",
        second.display(), first.display(), second.display()
    )), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "refused  {}: was built for plugin ABI 2.0, but this gspeech supports 1.0 to 1.0",
            abi2.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "refused  {}: has no `gspeech_plugin_entry` function",
            no_entry.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("libe_not_a_library.so: cannot be loaded"), "{stdout}");

    // Refusals are warnings elsewhere: the built-in nodes still work.
    let out = gspeech(&["nodes", "--plugin", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains(&format!(
        "warning: plugin {} was built for plugin ABI 2.0",
        abi2.display()
    )));
}

/// A registry with the faulty C plugin.
fn faulty_registry(dir: &Path) -> Registry {
    let mut registry = Registry::builtin();
    let statuses = plugins::load_all(&mut registry, &[faulty_plugin(dir, "libfaulty.so", &[])]);
    assert!(matches!(statuses[0].outcome, Outcome::Loaded { .. }), "{statuses:?}");
    registry
}

fn probe_graph(dir: &Path, mode: &str) -> gspeech::graph::GraphDoc {
    save(&dir.join("in.safetensors"), sine(16000, 1.0, 440.0, 0.25));
    graph(
        &[
            ("load", "io.load", json!({"path": "in.safetensors", "type": "audio"})),
            ("probe", "org.gspeech.tests.faulty.probe", json!({"mode": mode})),
        ],
        &[("load.value", "probe.audio")],
    )
}

#[test]
fn a_c_plugin_passes_a_tensor_through_without_copying_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = faulty_registry(dir.path());
    let doc = probe_graph(dir.path(), "pass");
    let (report, _) = run(
        &executor(None),
        &plan(&doc, &registry, dir.path()),
        &[],
        &CancelToken::new(),
    );
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.failed);
    let tensor = |node: &str| match report.outputs[node].values().values().next().unwrap() {
        Value::Data(r) => r.tensor("samples").unwrap().clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        tensor("probe").shares_storage_with(&tensor("load")),
        "the same memory came back"
    );
}

#[test]
fn an_output_of_the_wrong_shape_is_a_node_error_naming_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let registry = faulty_registry(dir.path());
    let doc = probe_graph(dir.path(), "bad_shape");
    let (report, _) = run(
        &executor(None),
        &plan(&doc, &registry, dir.path()),
        &[],
        &CancelToken::new(),
    );
    assert_eq!(report.status, RunStatus::Failed);
    assert_eq!(
        report.failed[0].1,
        "plugin org.gspeech.tests.faulty: output `audio`: audio tensor `samples` has shape [4] but must be [N, N]"
    );
}

#[test]
fn a_plugin_that_ignores_cancellation_does_not_hold_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let registry = faulty_registry(dir.path());
    let doc = probe_graph(dir.path(), "ignore_cancel");
    let exec = executor(None);
    let p = plan(&doc, &registry, dir.path());
    let cancel = CancelToken::new();
    let (report, events) = std::thread::scope(|s| {
        let runner = s.spawn(|| run(&exec, &p, &[], &cancel));
        std::thread::sleep(std::time::Duration::from_millis(300));
        cancel.cancel();
        runner.join().unwrap()
    });
    assert_eq!(report.status, RunStatus::Cancelled);
    assert!(events.contains(&Event::Cancelled { node: "probe".into() }));
    assert!(events.iter().any(|e| matches!(e, Event::Log { node, message, .. }
        if node == "probe" && message.contains("ignored cancellation") && message.contains("abandoned"))));
}

/// Rust plugin nodes exported by this test binary itself, registered through
/// the same C ABI the host uses for libraries.
struct Panics;

impl Node for Panics {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("org.gspeech.tests.inline.panics", 1, "Panics")
            .doc("Panics.")
            .output(PortSpec::new("value", PortType::Float, "Never."))
    }
    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, _params: &Params) -> Result<Outputs, NodeError> {
        panic!("boom")
    }
}

struct PassThrough;

impl Node for PassThrough {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("org.gspeech.tests.inline.pass", 1, "Pass")
            .doc("Returns its input.")
            .input(PortSpec::new("audio", PortType::Audio, "In."))
            .output(PortSpec::new("audio", PortType::Audio, "The same."))
    }
    fn run(&self, ctx: &RunContext, inputs: &Inputs, _params: &Params) -> Result<Outputs, NodeError> {
        ctx.info("passing through");
        Ok(Outputs::new().with("audio", inputs.value("audio")?.clone()))
    }
}

gspeech_sdk::export_plugin!(id: "org.gspeech.tests.inline", version: "0.3.0", nodes: [Panics, PassThrough]);

unsafe extern "C" {
    fn gspeech_plugin_entry() -> *const gspeech_sdk::plugin::abi::GspPlugin;
}

fn inline_registry() -> Registry {
    let mut registry = Registry::builtin();
    let descriptor = unsafe { gspeech_plugin_entry() };
    let loaded = unsafe { plugins::register(&mut registry, descriptor, Path::new("(this test)"), &HashMap::new()) };
    assert_eq!(loaded.unwrap().2.len(), 2);
    registry
}

#[test]
fn a_panicking_rust_plugin_node_becomes_a_node_error() {
    let dir = tempfile::tempdir().unwrap();
    let registry = inline_registry();
    let doc = graph(
        &[
            ("p", "org.gspeech.tests.inline.panics", json!({})),
            ("v", "value.int", json!({})),
        ],
        &[],
    );
    let (report, _) = run(
        &executor(None),
        &plan(&doc, &registry, dir.path()),
        &[],
        &CancelToken::new(),
    );
    assert_eq!(
        report.failed,
        vec![(
            "p".to_string(),
            "plugin org.gspeech.tests.inline: the node panicked: boom".to_string()
        )]
    );
    assert_eq!(report.executed, vec!["v".to_string()], "the host kept running");
}

#[test]
fn a_rust_plugin_round_trips_a_100_mb_tensor_without_copying_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = inline_registry();
    let frames = 25_000_000; // 100 MB of f32
    save(
        &dir.path().join("in.safetensors"),
        Value::data(
            Record::new(PortType::Audio)
                .with_tensor("samples", Tensor::from_f32(&[1, frames], vec![0.5; frames]).unwrap())
                .with_attr("sample_rate", 16000),
        ),
    );
    let doc = graph(
        &[
            ("load", "io.load", json!({"path": "in.safetensors", "type": "audio"})),
            ("pass", "org.gspeech.tests.inline.pass", json!({})),
        ],
        &[("load.value", "pass.audio")],
    );
    let (report, events) = run(
        &executor(None),
        &plan(&doc, &registry, dir.path()),
        &[],
        &CancelToken::new(),
    );
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.failed);
    let samples = |node: &str| match report.outputs[node].get("audio").or(report.outputs[node].get("value")) {
        Some(Value::Data(r)) => r.tensor("samples").unwrap().clone(),
        other => panic!("{other:?}"),
    };
    assert!(
        samples("pass").shares_storage_with(&samples("load")),
        "out and back in, no copy"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Log { node, message, .. } if node == "pass" && message == "passing through"))
    );
}

#[test]
fn saved_graphs_record_the_plugins_they_use() {
    let registry = inline_registry();
    let doc = graph(
        &[
            ("p", "org.gspeech.tests.inline.pass", json!({})),
            ("v", "value.int", json!({})),
        ],
        &[],
    );
    let used = registry.plugins_used(&doc);
    assert_eq!(
        used,
        vec![gspeech::graph::PluginRef {
            id: "org.gspeech.tests.inline".into(),
            version: "0.3.0".into()
        }]
    );
}
