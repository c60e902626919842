//! Ctrl-C: the CLI's signal handler cancels a run cleanly. This test has a
//! process of its own because a process has one signal handler.

mod common;

use std::sync::atomic::Ordering;

use common::{Probes, executor, graph, plan, registry, run};
use gspeech::exec::RunStatus;
use gspeech_sdk::CancelToken;
use serde_json::json;

#[test]
fn sigint_cancels_the_run_and_leaves_no_partial_files() {
    let probes = Probes::default();
    let reg = registry(&probes);
    let dir = tempfile::tempdir().unwrap();
    let doc = graph(
        &[("write", "test.write", json!({"path": "out/take.txt", "steps": 400}))],
        &[],
    );
    let exec = executor(None);
    let p = plan(&doc, &reg, dir.path());
    let cancel = CancelToken::new();
    gspeech::cli::commands::install_interrupt_handler(&cancel);
    let (report, _) = std::thread::scope(|s| {
        let runner = s.spawn(|| run(&exec, &p, &[], &cancel));
        while probes.writes_started.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pid = std::process::id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        runner.join().unwrap()
    });
    assert!(cancel.is_cancelled(), "the handler set the token");
    assert_eq!(report.status, RunStatus::Cancelled);
    let left: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}
