//! The `gspeech` binary, used as a new user would: exit codes, messages, events.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;

/// The bundled demo project's graph.
fn demo() -> PathBuf {
    common::repo_path("projects/demo/demo.gsgraph")
}

fn gspeech(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gspeech"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of the demo project in a scratch folder (its assets linked beside
/// it, where its relative paths look), so its outputs land there.
fn demo_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("demo");
    std::fs::create_dir(&project).unwrap();
    let graph = project.join("demo.gsgraph");
    std::fs::copy(demo(), &graph).unwrap();
    std::fs::copy(demo().with_file_name("speech.wav"), project.join("speech.wav")).unwrap();
    std::os::unix::fs::symlink(common::repo_path("projects/assets"), dir.path().join("assets")).unwrap();
    (dir, graph)
}

fn write_graph(dir: &Path, name: &str, json: Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
    path
}

fn events(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("every stdout line is JSON"))
        .collect()
}

/// The demo's nodes.
const DEMO_NODES: [&str; 9] = ["speech", "mel", "model", "face", "motion", "save", "curves", "gltf", "show"];

#[test]
fn the_demo_runs_and_writes_its_output() {
    let (dir, graph) = demo_copy();
    let cache = dir.path().join("cache");
    let out = gspeech(&["run", graph.to_str().unwrap(), "--cache-dir", cache.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("done: 9 ran, 0 cached, 0 failed"), "{stderr}");
    let outputs = graph.with_file_name("out");
    let saved = gspeech_sdk::store::load(&outputs.join("motion.safetensors")).unwrap();
    let motion = saved["value"].as_record().expect("motion");
    // 3.04 s of speech at 25 fps: 75 whole frames, ICT-FaceKit's 53 expressions.
    assert_eq!(motion.tensor("weights").unwrap().shape(), &[75, 53]);
    let moved = motion.tensor("vertex_indices").unwrap().len();
    assert_eq!(motion.tensor("vertex_offsets").unwrap().shape(), &[75, moved, 3]);
    assert_eq!(motion.attr("fps"), Some(&serde_json::json!(25.0)));
    let csv = std::fs::read_to_string(outputs.join("speech.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 75, "a header and a row per frame");
    assert!(std::fs::metadata(outputs.join("speech.glb")).unwrap().len() > 1_000_000);
}

#[test]
fn json_events_describe_the_run() {
    let (_dir, graph) = demo_copy();
    let out = gspeech(&["run", graph.to_str().unwrap(), "--events", "jsonl", "--no-cache"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events = events(&out);
    assert_eq!(events[0], serde_json::json!({"event": "run_started", "nodes": 9}));
    let last = events.last().unwrap();
    assert_eq!(last["event"], "run_finished");
    assert_eq!(last["status"], "ok");
    assert_eq!(last["executed"], 9);
    for node in DEMO_NODES {
        let started = events
            .iter()
            .position(|e| e["event"] == "started" && e["node"] == node)
            .unwrap();
        let finished = events
            .iter()
            .position(|e| e["event"] == "finished" && e["node"] == node)
            .unwrap();
        assert!(started < finished);
        assert!(events[finished]["seconds"].as_f64().unwrap() >= 0.0);
    }
    let summary = |e: &Value| {
        e["event"] == "log" && e["node"] == "show" && e["message"].as_str().unwrap().contains("weights:f32[75, 53]")
    };
    assert!(events.iter().any(summary), "{events:?}");
}

#[test]
fn set_overrides_a_parameter_and_until_runs_part_of_the_graph() {
    let (_dir, graph) = demo_copy();
    let g = graph.to_str().unwrap();
    // The first 2 s of the speech: 50 frames.
    let out = gspeech(&["run", g, "--events", "jsonl", "--no-cache", "--set", "speech.duration=2"]);
    let cut = |e: &Value| e["event"] == "log" && e["message"].as_str().unwrap().contains("weights:f32[50, 53]");
    assert!(events(&out).iter().any(cut), "{}", text(&out.stderr));

    let out = gspeech(&["run", g, "--events", "jsonl", "--no-cache", "--until", "mel"]);
    assert_eq!(out.status.code(), Some(0));
    let mut ran: Vec<String> = events(&out)
        .into_iter()
        .filter(|e| e["event"] == "started")
        .map(|e| e["node"].as_str().unwrap().to_string())
        .collect();
    ran.sort();
    assert_eq!(ran, ["mel", "speech"]);
}

#[test]
fn bad_overrides_and_targets_exit_2_naming_them() {
    let (_dir, graph) = demo_copy();
    let g = graph.to_str().unwrap();
    let out = gspeech(&["run", g, "--set", "motoin.intensity=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--set motoin.intensity=2: the graph has no node `motoin`; did you mean `motion`?"),
        "{}",
        text(&out.stderr)
    );
    let out = gspeech(&["run", g, "--set", "motion.intensity=fast"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--set motion.intensity=fast: expected number in [0, 3], found \"fast\""),
        "{}",
        text(&out.stderr)
    );
    let out = gspeech(&["run", g, "--until", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--until nobody: the graph has no node `nobody`"));
}

#[test]
fn a_failing_node_exits_1_and_independent_branches_finish() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-value.safetensors"), b"plain text").unwrap();
    let graph = write_graph(
        dir.path(),
        "g.gsgraph",
        serde_json::json!({
            "format": "gspeech-graph", "version": 1,
            "nodes": [
                {"id": "load", "type": "io.load", "type_version": 1, "params": {"path": "not-a-value.safetensors", "type": "audio"}},
                {"id": "show_load", "type": "debug.inspect", "type_version": 1},
                {"id": "n", "type": "value.int", "type_version": 1, "params": {"value": 5}},
                {"id": "show_n", "type": "debug.inspect", "type_version": 1}
            ],
            "edges": [{"from": "load.value", "to": "show_load.value"}, {"from": "n.value", "to": "show_n.value"}]
        }),
    );
    let out = gspeech(&["run", graph.to_str().unwrap(), "--no-cache"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[load] error: ") && stderr.contains("not-a-value.safetensors: not a safetensors file"),
        "{stderr}"
    );
    assert!(stderr.contains("[show_load] skipped: `load` failed"), "{stderr}");
    assert!(stderr.contains("[show_n] show_n: int 5"), "{stderr}");
    assert!(
        stderr.contains("failed: 2 ran, 0 cached, 1 failed, 1 skipped"),
        "{stderr}"
    );
}

#[test]
fn invalid_graphs_exit_2_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let graph = write_graph(
        dir.path(),
        "cycle.gsgraph",
        serde_json::json!({
            "format": "gspeech-graph", "version": 1,
            "nodes": [
                {"id": "save", "type": "io.save", "type_version": 1, "params": {"path": "x.safetensors"}},
                {"id": "show", "type": "debug.inspec", "type_version": 1}
            ]
        }),
    );
    let g = graph.to_str().unwrap();
    let out = gspeech(&["run", g]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("node `save` input `value`: needs a connection"),
        "{stderr}"
    );
    assert!(
        stderr.contains("node `show`: unknown node type `debug.inspec`; did you mean `debug.inspect`?"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problems; nothing was run"));

    let out = gspeech(&["validate", g]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("2 problems"));
    let out = gspeech(&["validate", g, "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["problems"][0]["code"], "unknown_type");
    assert_eq!(report["problems"][0]["node"], "show");
}

#[test]
fn malformed_json_is_reported_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.gsgraph");
    std::fs::write(
        &path,
        "{\n  \"format\": \"gspeech-graph\",\n  \"version\": 1\n  \"nodes\": []\n}\n",
    )
    .unwrap();
    let out = gspeech(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let expected = format!("{}:4:3: expected `,` or `}}` at line 4 column 3", path.display());
    assert!(text(&out.stderr).contains(&expected), "{}", text(&out.stderr));
}

#[test]
fn validate_nodes_and_info_describe_things() {
    let out = gspeech(&["validate", demo().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).ends_with("valid (9 nodes, 10 edges)\n"), "{}", text(&out.stdout));

    let out = gspeech(&["nodes", "--json"]);
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let save = list
        .iter()
        .find(|n| n["type_id"] == "io.save")
        .expect("io.save is listed");
    assert_eq!(save["origin"], "builtin");
    assert_eq!(save["inputs"][0]["type"], "any");
    let out = gspeech(&["nodes"]);
    assert!(text(&out.stdout).contains("  debug.inspect          v1   Inspect"));

    let out = gspeech(&["info", demo().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("model.model -> motion.model"), "{stdout}");
    assert!(stdout.contains("outputs (run by default): save, curves, gltf, show"), "{stdout}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(gspeech(&["run"]).status.code(), Some(2));
    assert_eq!(gspeech(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(gspeech(&["run", "/nonexistent.gsgraph"]).status.code(), Some(2));
    assert_eq!(gspeech(&["--version"]).status.code(), Some(0));
}
