//! The executor through its library API, with test node types.

mod common;

use std::sync::atomic::Ordering;

use common::{Probes, executor, graph, plan, registry, run};
use gspeech::exec::{CacheSource, Event, RunStatus};
use gspeech_sdk::{CancelToken, Value};
use serde_json::json;

fn float(report: &gspeech::exec::RunReport, node: &str) -> f64 {
    match report.outputs[node].get("value") {
        Some(Value::Float(v)) => *v,
        other => panic!("{node} gave {other:?}"),
    }
}

#[test]
fn runs_in_dependency_order() {
    let probes = Probes::default();
    let reg = registry(&probes);
    // A diamond: a → b, a → c, (b, c) → d via value and add.
    let doc = graph(
        &[
            ("d", "test.add", json!({})),
            ("c", "test.add", json!({"add": 10})),
            ("b", "test.add", json!({"add": 2})),
            ("a", "test.add", json!({"add": 1})),
        ],
        &[
            ("a.value", "b.value"),
            ("a.value", "c.value"),
            ("b.value", "d.value"),
            ("c.value", "d.add"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = run(&executor(None), &plan(&doc, &reg, dir.path()), &[], &CancelToken::new());
    assert_eq!(report.status, RunStatus::Ok);
    assert_eq!(
        float(&report, "d"),
        1.0 + 2.0 + 11.0,
        "d = b + c, with c driving d's `add` parameter"
    );
    let order = probes.order.lock().unwrap().clone();
    let at = |id: &str| order.iter().position(|o| o == id).unwrap();
    assert!(
        at("a") < at("b") && at("a") < at("c") && at("b") < at("d") && at("c") < at("d"),
        "{order:?}"
    );
}

#[test]
fn independent_branches_run_at_the_same_time() {
    let probes = Probes::default();
    let reg = registry(&probes);
    // Each `test.meet` waits for the other: a sequential executor would time out.
    let doc = graph(
        &[
            ("left", "test.meet", json!({"tag": 1})),
            ("right", "test.meet", json!({"tag": 2})),
        ],
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = run(&executor(None), &plan(&doc, &reg, dir.path()), &[], &CancelToken::new());
    assert_eq!(report.status, RunStatus::Ok, "{:?}", report.failed);
}

#[test]
fn re_running_uses_the_cache_and_a_parameter_change_recomputes_only_downstream() {
    let probes = Probes::default();
    let reg = registry(&probes);
    let doc = graph(
        &[
            ("a", "test.add", json!({"add": 1})),
            ("b", "test.add", json!({"add": 2})),
            ("c", "test.add", json!({})),
        ],
        &[("a.value", "b.value"), ("b.value", "c.value")],
    );
    let dir = tempfile::tempdir().unwrap();
    let exec = executor(None);
    let (first, _) = run(&exec, &plan(&doc, &reg, dir.path()), &[], &CancelToken::new());
    assert_eq!(probes.add_runs.load(Ordering::SeqCst), 3);
    assert_eq!(first.executed.len(), 3);

    let (second, events) = run(&exec, &plan(&doc, &reg, dir.path()), &[], &CancelToken::new());
    assert_eq!(probes.add_runs.load(Ordering::SeqCst), 3, "nothing recomputed");
    assert_eq!(second.cached.len(), 3);
    assert!(events.contains(&Event::Cached {
        node: "c".into(),
        source: CacheSource::Memory
    }));

    let mut changed = doc.clone();
    changed.node_mut("b").unwrap().params.insert("add".into(), json!(5));
    let (third, _) = run(&exec, &plan(&changed, &reg, dir.path()), &[], &CancelToken::new());
    assert_eq!(
        probes.add_runs.load(Ordering::SeqCst),
        5,
        "b and c recomputed, a cached"
    );
    assert_eq!(third.cached, vec!["a".to_string()]);
    assert_eq!(float(&third, "c"), 7.0);
}

#[test]
fn a_changed_input_file_invalidates_what_reads_it() {
    let probes = Probes::default();
    let reg = registry(&probes);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("line.txt"), "hello").unwrap();
    let doc = graph(
        &[
            ("read", "test.read", json!({"path": "line.txt"})),
            ("show", "debug.inspect", json!({})),
        ],
        &[("read.text", "show.value")],
    );
    let exec = executor(None);
    let p = plan(&doc, &reg, dir.path());
    run(&exec, &p, &[], &CancelToken::new());
    run(&exec, &p, &[], &CancelToken::new());
    assert_eq!(probes.read_runs.load(Ordering::SeqCst), 1, "unchanged file: cached");
    std::fs::write(dir.path().join("line.txt"), "hello, again").unwrap();
    let (report, _) = run(&exec, &p, &[], &CancelToken::new());
    assert_eq!(probes.read_runs.load(Ordering::SeqCst), 2, "changed file: recomputed");
    assert_eq!(
        report.outputs["read"].get("text"),
        Some(&Value::Text("hello, again".into()))
    );
}

#[test]
fn until_runs_only_what_the_target_needs() {
    let probes = Probes::default();
    let reg = registry(&probes);
    let doc = graph(
        &[
            ("a", "test.add", json!({})),
            ("b", "test.add", json!({})),
            ("other", "test.add", json!({})),
        ],
        &[("a.value", "b.value")],
    );
    let dir = tempfile::tempdir().unwrap();
    let (report, _) = run(
        &executor(None),
        &plan(&doc, &reg, dir.path()),
        &["a"],
        &CancelToken::new(),
    );
    assert_eq!(report.executed, vec!["a".to_string()]);
    assert_eq!(probes.add_runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_failure_stops_only_what_depends_on_it() {
    let probes = Probes::default();
    let reg = registry(&probes);
    let doc = graph(
        &[
            ("bad", "test.fail", json!({})),
            ("after_bad", "test.add", json!({})),
            ("boom", "test.fail", json!({"panic": true})),
            ("liar", "test.liar", json!({})),
            ("good", "test.add", json!({})),
            ("after_good", "test.add", json!({})),
        ],
        &[("bad.value", "after_bad.value"), ("good.value", "after_good.value")],
    );
    let dir = tempfile::tempdir().unwrap();
    let (report, events) = run(&executor(None), &plan(&doc, &reg, dir.path()), &[], &CancelToken::new());
    assert_eq!(report.status, RunStatus::Failed);
    let mut failed: Vec<&str> = report.failed.iter().map(|(n, _)| n.as_str()).collect();
    failed.sort();
    assert_eq!(failed, ["bad", "boom", "liar"], "every failure is reported");
    let message = |id: &str| report.failed.iter().find(|(n, _)| n == id).unwrap().1.clone();
    assert_eq!(message("bad"), "deliberate failure");
    assert_eq!(message("boom"), "the node panicked: deliberate panic");
    assert!(
        message("liar").contains("output `value` must be float but is text"),
        "{}",
        message("liar")
    );
    assert_eq!(report.skipped, vec!["after_bad".to_string()]);
    assert!(events.contains(&Event::Skipped {
        node: "after_bad".into(),
        because: "bad".into()
    }));
    assert_eq!(float(&report, "after_good"), 2.0, "the independent branch finished");
}

#[test]
fn cancelling_mid_run_leaves_no_partial_files() {
    let probes = Probes::default();
    let reg = registry(&probes);
    let dir = tempfile::tempdir().unwrap();
    let doc = graph(
        &[
            ("write", "test.write", json!({"path": "out/result.txt", "steps": 400})),
            ("a", "test.add", json!({})),
        ],
        &[("a.value", "write.value")],
    );
    let exec = executor(None);
    let p = plan(&doc, &reg, dir.path());
    let cancel = CancelToken::new();
    let (report, events) = std::thread::scope(|s| {
        let runner = s.spawn(|| run(&exec, &p, &[], &cancel));
        while probes.writes_started.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(120));
        cancel.cancel();
        runner.join().unwrap()
    });
    assert_eq!(report.status, RunStatus::Cancelled);
    assert!(events.contains(&Event::Cancelled { node: "write".into() }));
    let left: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
    assert!(left.is_empty(), "no partial or complete output: {left:?}");
}

#[test]
fn progress_and_logs_arrive_as_events() {
    let probes = Probes::default();
    let reg = registry(&probes);
    let dir = tempfile::tempdir().unwrap();
    let doc = graph(
        &[
            ("write", "test.write", json!({"path": "x.txt", "steps": 3})),
            ("v", "value.int", json!({"value": 7})),
            ("show", "debug.inspect", json!({"label": "seven"})),
        ],
        &[("v.value", "show.value")],
    );
    let (report, events) = run(&executor(None), &plan(&doc, &reg, dir.path()), &[], &CancelToken::new());
    assert_eq!(report.status, RunStatus::Ok);
    assert!(matches!(events.first(), Some(Event::RunStarted { nodes: 3 })));
    assert!(matches!(
        events.last(),
        Some(Event::RunFinished {
            status: RunStatus::Ok,
            executed: 3,
            ..
        })
    ));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Progress { node, .. } if node == "write"))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Log { node, message, .. } if node == "show" && message == "seven: int 7"))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Finished { node, .. } if node == "write"))
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("x.txt")).unwrap(),
        "chunk\n".repeat(3)
    );
}

#[test]
fn bypassed_nodes_pass_their_input_through() {
    let probes = Probes::default();
    let reg = registry(&probes);
    let mut doc = graph(
        &[
            ("a", "test.add", json!({"add": 1})),
            ("b", "test.add", json!({"add": 100})),
            ("c", "test.add", json!({"add": 1})),
        ],
        &[("a.value", "b.value"), ("b.value", "c.value")],
    );
    doc.node_mut("b").unwrap().bypass = true;
    let dir = tempfile::tempdir().unwrap();
    let (report, events) = run(&executor(None), &plan(&doc, &reg, dir.path()), &[], &CancelToken::new());
    assert_eq!(float(&report, "c"), 2.0);
    assert!(events.contains(&Event::Bypassed { node: "b".into() }));
}

/// The body of a child process for the two-process disk cache test: runs a
/// disk-cached node against the cache folder in `GSPEECH_TEST_DISK_CHILD` and
/// prints how many times it executed.
#[test]
fn disk_cache_child() {
    let Some(dir) = std::env::var_os("GSPEECH_TEST_DISK_CHILD") else {
        return;
    };
    let probes = Probes::default();
    let reg = common::disk_registry(&probes);
    let doc = graph(&[("a", "test.add", json!({"add": 3}))], &[]);
    let work = tempfile::tempdir().unwrap();
    let (report, events) = run(
        &executor(Some(std::path::Path::new(&dir))),
        &plan(&doc, &reg, work.path()),
        &[],
        &CancelToken::new(),
    );
    assert_eq!(float(&report, "a"), 3.0);
    let warned = events
        .iter()
        .any(|e| matches!(e, Event::Log { message, .. } if message.contains("damaged")));
    println!(
        "CHILD executed={} damaged={warned}",
        probes.disk_runs.load(Ordering::SeqCst)
    );
}

#[test]
fn the_disk_cache_is_shared_across_processes_and_damaged_entries_are_recomputed() {
    let cache = tempfile::tempdir().unwrap();
    let child = || {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "disk_cache_child", "--nocapture", "--test-threads=1"])
            .env("GSPEECH_TEST_DISK_CHILD", cache.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
            .lines()
            .find_map(|l| l.split_once("CHILD ").map(|(_, r)| r.trim().to_string()))
            .expect("child reports")
    };
    assert_eq!(child(), "executed=1 damaged=false", "first process computes");
    assert_eq!(
        child(),
        "executed=0 damaged=false",
        "second process reads the disk cache"
    );
    let entries: Vec<_> = walk(cache.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    assert_eq!(entries.len(), 1);
    let mut bytes = std::fs::read(&entries[0]).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&entries[0], bytes).unwrap();
    assert_eq!(
        child(),
        "executed=1 damaged=true",
        "a damaged entry is recomputed, not trusted"
    );
    assert_eq!(child(), "executed=0 damaged=false", "and rewritten");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path))
        } else {
            found.push(path)
        }
    }
    found
}
