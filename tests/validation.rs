//! Validation: every problem is collected, and each names its node and socket.

mod common;

use common::{Probes, graph, registry};
use gspeech::graph::{GraphDoc, PluginRef};
use gspeech::validate::{Problem, validate};
use serde_json::json;

fn problems(doc: &GraphDoc) -> Vec<Problem> {
    let dir = tempfile::tempdir().unwrap();
    validate(doc, &registry(&Probes::default()), dir.path())
        .err()
        .unwrap_or_default()
}

fn only(doc: &GraphDoc) -> Problem {
    let mut found = problems(doc);
    assert_eq!(found.len(), 1, "{found:#?}");
    found.remove(0)
}

#[test]
fn unknown_node_type_suggests_the_nearest_names() {
    let p = only(&graph(&[("load", "io.lod", json!({}))], &[]));
    assert_eq!(p.code, "unknown_type");
    assert_eq!(
        p.to_string(),
        "node `load`: unknown node type `io.lod`; did you mean `io.load`?"
    );
}

#[test]
fn unknown_sockets_are_named_with_what_exists() {
    let p = only(&graph(
        &[("a", "test.add", json!({})), ("b", "test.add", json!({}))],
        &[("a.valeu", "b.value")],
    ));
    assert_eq!(p.code, "unknown_socket");
    assert_eq!(
        p.to_string(),
        "node `a` output `valeu`: `test.add` has no such output (it has `value`); did you mean `value`?"
    );
    let p = only(&graph(
        &[("a", "test.add", json!({})), ("b", "test.add", json!({}))],
        &[("a.value", "b.input")],
    ));
    assert_eq!(
        p.to_string(),
        "node `b` input `input`: `test.add` has no such input or parameter (it has `value`, `add`)"
    );
}

#[test]
fn type_mismatch_names_both_types() {
    let p = only(&graph(
        &[("t", "value.text", json!({})), ("b", "test.add", json!({}))],
        &[("t.value", "b.value")],
    ));
    assert_eq!(p.code, "type_mismatch");
    assert_eq!(
        p.to_string(),
        "node `b` input `value`: takes float but `t.value` gives text"
    );
    let p = only(&graph(
        &[("t", "value.text", json!({})), ("b", "test.add", json!({}))],
        &[("t.value", "b.add")],
    ));
    assert_eq!(
        p.to_string(),
        "node `b` parameter `add`: is number ≤ 100 and cannot be driven by `t.value`, which gives text"
    );
}

#[test]
fn an_int_may_feed_a_float_and_typed_outputs_follow_their_parameter() {
    let doc = graph(
        &[("i", "value.int", json!({})), ("b", "test.add", json!({}))],
        &[("i.value", "b.value")],
    );
    assert!(problems(&doc).is_empty());
    let existing = common::repo_path("app/Cargo.toml");
    let doc = graph(
        &[
            ("l", "io.load", json!({"path": existing, "type": "motion"})),
            ("b", "test.add", json!({})),
        ],
        &[("l.value", "b.value")],
    );
    let p = only(&doc);
    assert_eq!(
        p.to_string(),
        "node `b` input `value`: takes float but `l.value` gives motion"
    );
}

#[test]
fn cycles_name_their_nodes() {
    let doc = graph(
        &[
            ("a", "test.add", json!({})),
            ("b", "test.add", json!({})),
            ("c", "test.add", json!({})),
        ],
        &[("a.value", "b.value"), ("b.value", "c.value"), ("c.value", "a.value")],
    );
    let p = only(&doc);
    assert_eq!(p.code, "cycle");
    assert_eq!(p.to_string(), "node `a`: nodes `a` → `b` → `c` form a cycle");
}

#[test]
fn missing_required_input() {
    let p = only(&graph(&[("show", "debug.inspect", json!({}))], &[]));
    assert_eq!(p.code, "missing_input");
    assert_eq!(p.to_string(), "node `show` input `value`: needs a connection");
}

#[test]
fn parameters_are_type_and_range_checked() {
    let p = only(&graph(&[("a", "test.add", json!({"add": "three"}))], &[]));
    assert_eq!(p.code, "param_invalid");
    assert_eq!(
        p.to_string(),
        "node `a` parameter `add`: expected number ≤ 100, found \"three\""
    );
    let p = only(&graph(&[("a", "test.add", json!({"add": 1000}))], &[]));
    assert_eq!(
        p.to_string(),
        "node `a` parameter `add`: 1000.0 is out of range: expected number ≤ 100"
    );
    let p = only(&graph(&[("a", "test.add", json!({"ad": 1}))], &[]));
    assert_eq!(p.code, "unknown_param");
    assert_eq!(
        p.to_string(),
        "node `a` parameter `ad`: `test.add` has no such parameter; did you mean `add`?"
    );
}

#[test]
fn missing_input_files_and_unset_paths() {
    let p = only(&graph(&[("r", "test.read", json!({"path": "nowhere.txt"}))], &[]));
    assert_eq!(p.code, "missing_file");
    assert!(p.to_string().starts_with("node `r` parameter `path`: file /"), "{p}");
    assert!(p.to_string().ends_with("/nowhere.txt does not exist"), "{p}");
    let p = only(&graph(&[("r", "test.read", json!({}))], &[]));
    assert_eq!(p.code, "param_missing");
}

#[test]
fn duplicate_ids_missing_plugins_and_newer_node_versions() {
    let mut doc = graph(&[("a", "test.add", json!({})), ("a", "test.add", json!({}))], &[]);
    doc.plugins.push(PluginRef {
        id: "com.example.tts".into(),
        version: "2.1.0".into(),
    });
    doc.nodes[1].type_version = 9;
    let found = problems(&doc);
    let codes: Vec<&str> = found.iter().map(|p| p.code).collect();
    assert_eq!(codes, ["missing_plugin", "duplicate_id", "type_version"], "{found:#?}");
    assert_eq!(
        found[0].to_string(),
        "graph: needs plugin `com.example.tts` 2.1.0, which is not loaded; install it on the plugin path or pass --plugin"
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let doc = graph(
        &[
            ("x", "nope.node", json!({})),
            ("a", "test.add", json!({"add": "x"})),
            ("show", "debug.inspect", json!({})),
        ],
        &[("ghost.value", "a.value")],
    );
    let codes: Vec<&str> = problems(&doc).iter().map(|p| p.code).collect();
    assert_eq!(
        codes,
        ["unknown_type", "unknown_node", "param_invalid", "missing_input"]
    );
}

#[test]
fn a_bypassed_node_needs_an_input_to_pass_through() {
    let mut doc = graph(&[("a", "test.add", json!({}))], &[]);
    doc.nodes[0].bypass = true;
    let p = only(&doc);
    assert_eq!(p.code, "bypass");
    assert_eq!(
        p.to_string(),
        "node `a` output `value`: is bypassed but has no connected float input to pass through; un-bypass it"
    );
}
