//! Editor frame time: a 200-node graph drawn by the real editor (egui_kittest
//! driving it, wgpu rendering on the machine's adapter, lavapipe without a
//! GPU), idle, while panning the canvas, and while panning during a long run.
//!
//! `cargo bench -p gspeech --bench editor` prints a Markdown table. "UI" is
//! the egui pass (layout, canvas, widgets); "frame" adds tessellation and
//! the wgpu render (and the test renderer's read-back of the image, which a
//! window does not pay).

#[path = "../../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use egui::{Pos2, Vec2};
use egui_kittest::Harness;
use gspeech::editor::{Editor, EditorOptions};
use gspeech::graph::{Edge, Endpoint, GraphDoc, NodeEntry};

const NODES: usize = 200;
const FRAMES: usize = 120;

/// 200 `test.add` nodes in 10 chains of 20, laid out on a grid, plus a slow
/// writer fed by the last chain.
fn graph(dir: &std::path::Path) -> GraphDoc {
    let mut doc = GraphDoc::new();
    for i in 0..NODES {
        let mut n = NodeEntry::new(&format!("n{i}"), "test.add", 1);
        n.position = [(i % 20) as f64 * 230.0, (i / 20) as f64 * 160.0];
        doc.nodes.push(n);
        if i % 20 != 0 {
            doc.edges.push(Edge {
                from: Endpoint::new(&format!("n{}", i - 1), "value"),
                to: Endpoint::new(&format!("n{i}"), "value"),
            });
        }
    }
    let mut slow = NodeEntry::new("slow", "test.write", 1);
    slow.position = [20.0 * 230.0, 0.0];
    slow.params.insert(
        "path".into(),
        dir.join("slow.txt").to_string_lossy().into_owned().into(),
    );
    slow.params.insert("steps".into(), 100_000.into());
    doc.nodes.push(slow);
    doc.edges.push(Edge {
        from: Endpoint::new(&format!("n{}", NODES - 1), "value"),
        to: Endpoint::new("slow", "value"),
    });
    doc
}

struct Stats {
    ui: Vec<Duration>,
    frame: Vec<Duration>,
    /// Frames whose render timed out (a loaded software rasteriser).
    lost: usize,
}

fn percentile(v: &[Duration], q: f64) -> f64 {
    let mut v: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

fn mean(v: &[Duration]) -> f64 {
    v.iter().map(|d| d.as_secs_f64() * 1e3).sum::<f64>() / v.len() as f64
}

/// Runs `FRAMES` frames; `input` queues the frame's input first.
fn measure(h: &mut Harness<'_, Editor>, mut input: impl FnMut(&mut Harness<'_, Editor>, usize)) -> Stats {
    let mut stats = Stats {
        ui: Vec::new(),
        frame: Vec::new(),
        lost: 0,
    };
    for i in 0..FRAMES {
        input(h, i);
        let start = Instant::now();
        h.step();
        let ui = start.elapsed();
        stats.ui.push(ui);
        match h.render() {
            Ok(_) => stats.frame.push(start.elapsed()),
            Err(_) => stats.lost += 1,
        }
    }
    stats
}

/// A pan gesture: press on empty canvas, then move a little every frame.
fn pan(h: &mut Harness<'_, Editor>, i: usize) {
    let start = Pos2::new(300.0, 300.0);
    let at = start + Vec2::new((i % 40) as f32 * 6.0, (i % 40) as f32 * 2.0);
    if i.is_multiple_of(40) {
        if i > 0 {
            h.drop_at(at);
        }
        h.hover_at(at);
        h.drag_at(at);
    } else {
        h.hover_at(at);
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.gsgraph");
    graph(dir.path()).save(&path).unwrap();
    let render_state = egui_kittest::wgpu::create_render_state(
        egui_kittest::wgpu::default_wgpu_setup(),
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let adapter = render_state.adapter.get_info();
    let options = EditorOptions {
        graph: Some(path),
        state_dir: dir.path().join("state"),
        cache_dir: None,
    };
    let editor = Editor::new(
        options,
        common::registry(&common::Probes::default()),
        Some(render_state.clone()),
    );
    let mut h = Harness::builder()
        .with_size(Vec2::new(1600.0, 1000.0))
        .renderer(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(render_state))
        .build_ui_state(|ui, editor: &mut Editor| editor.ui(ui), editor);
    // The view first fits the whole graph: all 200 nodes are on screen.
    h.run_steps(10);

    let idle = measure(&mut h, |_, _| {});
    let panning = measure(&mut h, pan);
    let ctx = h.ctx.clone();
    h.state_mut().run(None, &ctx);
    let mut running = measure(&mut h, pan);
    let still_running = h.state().runner().is_running();
    h.state_mut().runner_mut().cancel();
    h.state_mut().runner_mut().wait();
    running.ui.retain(|_| still_running);

    println!(
        "Editor frame time, {NODES}-node graph, 1600×1000 window, {FRAMES} frames each, adapter: {} ({:?})\n",
        adapter.name, adapter.backend
    );
    println!(
        "| scenario | UI mean (ms) | UI p95 (ms) | frame mean (ms) | frame p95 (ms) | frame max (ms) | renders timed out |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, s) in [
        ("idle", &idle),
        ("panning", &panning),
        ("panning during a run", &running),
    ] {
        if s.ui.is_empty() || s.frame.is_empty() {
            println!("| {name} | no frame measured | | | | | {} |", s.lost);
            continue;
        }
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            mean(&s.ui),
            percentile(&s.ui, 0.95),
            mean(&s.frame),
            percentile(&s.frame, 0.95),
            percentile(&s.frame, 1.0),
            s.lost
        );
    }
}
