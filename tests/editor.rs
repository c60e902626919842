//! The desktop editor, driven like a user would through egui_kittest: nodes
//! added from the palette, connected (and a wrong connection refused),
//! parameters edited, undo/redo, save and reopen, a run with progress, the
//! previews rendered with wgpu (lavapipe without a GPU) and compared with
//! committed snapshots; and the real binary started under Xvfb.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use egui::accesskit::Role;
use egui::{Key, Modifiers, Pos2, Vec2};
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::{Harness, SnapshotOptions};
use gspeech::editor::{Editor, EditorOptions};
use gspeech::graph::GraphDoc;
use gspeech::registry::{Origin, Registry};
use gspeech_sdk::{
    Inputs, Node, NodeError, NodeSpec, Outputs, Params, PortSpec, PortType, Record, RunContext, Tensor, Value,
};

use common::{Probes, repo_path};

/// The test face's sphere: rings from top to bottom, segments around.
const RINGS: usize = 16;
const SEGMENTS: usize = 24;

/// `test.face`: a small face model: a UV sphere with two expression shapes.
struct Face;

impl Node for Face {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.face", 1, "Test Face")
            .doc("A sphere as a face model.")
            .output(PortSpec::new("face", PortType::FaceModel, "The model."))
    }
    fn run(&self, _: &RunContext, _: &Inputs, _: &Params) -> Result<Outputs, NodeError> {
        let (rings, segments) = (RINGS, SEGMENTS);
        let mut neutral = Vec::new();
        for r in 0..=rings {
            let phi = std::f32::consts::PI * r as f32 / rings as f32;
            for s in 0..segments {
                let theta = std::f32::consts::TAU * s as f32 / segments as f32;
                neutral.extend([
                    phi.sin() * theta.sin() * 8.0,
                    phi.cos() * 10.0,
                    phi.sin() * theta.cos() * 8.0,
                ]);
            }
        }
        let mut triangles = Vec::new();
        for r in 0..rings {
            for s in 0..segments {
                let (a, b) = ((r * segments + s) as u32, (r * segments + (s + 1) % segments) as u32);
                let (c, d) = (a + segments as u32, b + segments as u32);
                triangles.extend([a, c, b, b, c, d]);
            }
        }
        let v = neutral.len() / 3;
        // Expression 0 opens the lower half downwards; expression 1 pushes the front out.
        let mut shapes = vec![0.0f32; 2 * v * 3];
        for i in 0..v {
            let (y, z) = (neutral[i * 3 + 1], neutral[i * 3 + 2]);
            if y < 0.0 {
                shapes[i * 3 + 1] = -3.0;
            }
            if z > 4.0 {
                shapes[(v + i) * 3 + 2] = 3.0;
            }
        }
        let record = Record::new(PortType::FaceModel)
            .with_tensor("neutral", Tensor::from_f32(&[v, 3], neutral).unwrap())
            .with_tensor(
                "triangles",
                Tensor::from_u32(&[triangles.len() / 3, 3], triangles).unwrap(),
            )
            .with_tensor("expressions", Tensor::from_f32(&[2, v, 3], shapes).unwrap())
            .with_attr("expression_names", serde_json::json!(["jawOpen", "mouthFunnel"]));
        Ok(Outputs::new().with("face", Value::data(record)))
    }
}

/// `test.motion`: two blendshape curves over one second at 25 fps.
struct Motion;

impl Node for Motion {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.motion", 1, "Test Motion")
            .doc("Two sine curves as blendshape weights.")
            .output(PortSpec::new("motion", PortType::Motion, "The motion."))
    }
    fn run(&self, _: &RunContext, _: &Inputs, _: &Params) -> Result<Outputs, NodeError> {
        let weights: Vec<f32> = (0..25)
            .flat_map(|f| {
                let t = f as f32 / 25.0;
                [(t * std::f32::consts::TAU).sin() * 0.5 + 0.5, t]
            })
            .collect();
        let record = Record::new(PortType::Motion)
            .with_tensor("weights", Tensor::from_f32(&[25, 2], weights).unwrap())
            .with_attr("fps", 25)
            .with_attr("weight_names", serde_json::json!(["jawOpen", "mouthFunnel"]));
        Ok(Outputs::new().with("motion", Value::data(record)))
    }
}

/// `test.avatar`: one flat Gaussian on each triangle of the test face, bound
/// to it, in a checkerboard of rainbow bands from top to bottom.
struct Avatar;

impl Node for Avatar {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("test.avatar", 1, "Test Avatar")
            .doc("Gaussians bound to the test face.")
            .output(PortSpec::new("avatar", PortType::Avatar, "The avatar."))
    }
    fn run(&self, _: &RunContext, _: &Inputs, _: &Params) -> Result<Outputs, NodeError> {
        use gspeech_nodes::splats::{Gaussians, SH_C0};
        let triangles = RINGS * SEGMENTS * 2;
        let mut local = Gaussians::empty(0);
        let mut sh = Vec::new();
        for t in 0..triangles {
            // At the triangle's centroid, in its plane, about as wide as its edges.
            local.means.push([0.0; 3]);
            local.scales.push([0.4, 0.4, 0.05]);
            local.rotations.push([1.0, 0.0, 0.0, 0.0]);
            local.opacities.push(0.95);
            let (ring, segment) = (t / (2 * SEGMENTS), t / 2 % SEGMENTS);
            let value = if (ring + segment / 3) % 2 == 0 { 0.95 } else { 0.45 };
            let color = egui::ecolor::rgb_from_hsv((0.8 * ring as f32 / RINGS as f32, 0.6, value));
            sh.extend(color.map(|c| (c - 0.5) / SH_C0));
        }
        local.sh = sh.into();
        let binding: Vec<u32> = (0..triangles as u32).collect();
        Ok(Outputs::new().with("avatar", Value::data(local.to_record(Some(&binding)))))
    }
}

fn registry() -> Registry {
    let mut registry = common::registry(&Probes::default());
    registry.register(Arc::new(Face), Origin::Builtin).unwrap();
    registry.register(Arc::new(Motion), Origin::Builtin).unwrap();
    registry.register(Arc::new(Avatar), Origin::Builtin).unwrap();
    registry
}

/// An editor in a harness that renders with wgpu on the editor's own device.
fn harness(state_dir: &Path, graph: Option<PathBuf>) -> Harness<'static, Editor> {
    let render_state = egui_kittest::wgpu::create_render_state(
        egui_kittest::wgpu::default_wgpu_setup(),
        egui_wgpu::RendererOptions::PREDICTABLE,
    );
    let options = EditorOptions {
        graph,
        state_dir: state_dir.to_path_buf(),
        cache_dir: None,
    };
    let editor = Editor::new(options, registry(), Some(render_state.clone()));
    let mut harness = Harness::builder()
        .with_size(Vec2::new(1280.0, 820.0))
        .with_max_steps(40)
        .renderer(egui_kittest::wgpu::WgpuTestRenderer::from_render_state(render_state))
        .build_ui_state(|ui, editor: &mut Editor| editor.ui(ui), editor);
    harness.run_steps(3);
    harness
}

/// Adds a node through the palette: Tab with the pointer at `at`, type, Enter.
fn add_from_palette(h: &mut Harness<'_, Editor>, at: Pos2, query: &str) -> String {
    let before = h.state().document().graph().nodes.len();
    h.hover_at(at);
    h.key_press(Key::Tab);
    h.run_steps(2);
    h.get_by_label("Add node");
    h.event(egui::Event::Text(query.into()));
    h.run_steps(2);
    h.key_press(Key::Enter);
    h.run_steps(3);
    let nodes = &h.state().document().graph().nodes;
    assert_eq!(nodes.len(), before + 1, "the palette added a node for {query:?}");
    nodes.last().unwrap().id.clone()
}

/// Drags a wire from an output socket to an input socket.
fn drag_wire(h: &mut Harness<'_, Editor>, from: (&str, &str), to: (&str, &str)) {
    let canvas = h.state().canvas();
    let a = canvas.socket_pos(from.0, from.1, false).expect("output socket drawn");
    let b = canvas.socket_pos(to.0, to.1, true).expect("input socket drawn");
    h.hover_at(a);
    h.step();
    h.drag_at(a);
    h.step();
    for i in 1..=6 {
        h.hover_at(a + (b - a) * (i as f32 / 6.0));
        h.step();
    }
    h.drop_at(b);
    h.run_steps(3);
}

fn edges(h: &Harness<'_, Editor>) -> Vec<(String, String)> {
    h.state()
        .document()
        .graph()
        .edges
        .iter()
        .map(|e| (e.from.to_string(), e.to.to_string()))
        .collect()
}

/// Snapshot options for software rendering: small per-pixel differences and a
/// few hundred differing pixels (font hinting, lavapipe versions) pass.
fn snapshot_options() -> SnapshotOptions {
    SnapshotOptions::new()
        .threshold(2.0)
        .max_failed_pixels(600)
        .output_path(repo_path("tests/snapshots"))
}

#[test]
fn palette_wires_parameters_undo_and_a_refused_connection() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path(), None);
    let float = add_from_palette(&mut h, Pos2::new(120.0, 120.0), "Float");
    let text = add_from_palette(&mut h, Pos2::new(120.0, 330.0), "Text");
    let add = add_from_palette(&mut h, Pos2::new(480.0, 180.0), "test.add");
    assert_eq!((float.as_str(), text.as_str(), add.as_str()), ("float", "text", "add"));
    let types: Vec<&str> = h
        .state()
        .document()
        .graph()
        .nodes
        .iter()
        .map(|n| n.type_id.as_str())
        .collect();
    assert_eq!(types, ["value.float", "value.text", "test.add"]);

    drag_wire(&mut h, ("float", "value"), ("add", "value"));
    assert_eq!(edges(&h), [("float.value".to_string(), "add.value".to_string())]);

    // Text into a float input: refused, with the validator's reason on screen.
    drag_wire(&mut h, ("text", "value"), ("add", "value"));
    assert_eq!(edges(&h).len(), 1, "the refused wire was not added");
    let reason = h.state().canvas().refusal().expect("a refusal is shown").to_string();
    assert!(reason.contains("takes float but `text.value` gives text"), "{reason}");
    h.get_by_label_contains("gives text");

    // Edit the text node's parameter in the inspector.
    h.state_mut().focus_node(Some("text"));
    h.run_steps(2);
    let field = h
        .get_all_by_label("value")
        .filter(|n| n.accesskit_node().role() == Role::TextInput)
        .max_by(|a, b| a.rect().left().total_cmp(&b.rect().left()))
        .expect("the inspector's text field");
    field.focus();
    h.step();
    h.event(egui::Event::Text("hello".into()));
    h.run_steps(2);
    let params = |h: &Harness<'_, Editor>| h.state().document().graph().node("text").unwrap().params.clone();
    assert_eq!(params(&h)["value"], "hello");
    h.key_press(Key::Escape);
    h.run_steps(2);

    // Undo the edit, then the wire; redo both.
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert!(params(&h).get("value").is_none(), "undo restored the default");
    h.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    h.run_steps(2);
    assert!(edges(&h).is_empty(), "second undo removed the wire");
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    h.run_steps(3);
    assert_eq!(edges(&h).len(), 1);
    assert_eq!(params(&h)["value"], "hello");

    // Copy and paste the selected node (clicked by its title), bypass it.
    let title = h.get_by_label("Add").rect().center();
    h.hover_at(title);
    h.step();
    h.drag_at(title);
    h.step();
    h.drop_at(title);
    h.run_steps(2);
    h.key_press_modifiers(Modifiers::COMMAND, Key::C);
    h.hover_at(Pos2::new(500.0, 420.0));
    h.step();
    h.key_press_modifiers(Modifiers::COMMAND, Key::V);
    h.run_steps(3);
    assert!(
        h.state().document().graph().node("add_2").is_some(),
        "pasted under a fresh id: {:?}",
        h.state().message()
    );
    h.key_press_modifiers(Modifiers::COMMAND, Key::B);
    h.run_steps(2);
    assert!(h.state().document().graph().node("add").unwrap().bypass);
    h.key_press_modifiers(Modifiers::COMMAND, Key::B);
    h.run_steps(2);

    h.state_mut().focus_node(None);
    h.remove_cursor();
    h.run_steps(8);
    h.snapshot_options("editor_canvas", &snapshot_options());
}

#[test]
fn save_and_reopen_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let demo = repo_path("projects/demo/demo.gsgraph");
    let original = std::fs::read_to_string(&demo).unwrap();
    let mut h = harness(dir.path(), Some(demo.clone()));
    assert!(!h.state().document().is_dirty());
    let copy = dir.path().join("demo.gsgraph");
    h.state_mut().save_as(&copy);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), original, "saved byte for byte");
    assert_eq!(h.state().document().path(), Some(copy.as_path()));

    let second = dir.path().join("again.gsgraph");
    h.state_mut().open(&copy);
    h.run_steps(3);
    assert!(!h.state().document().is_dirty(), "drawing a graph does not modify it");
    h.state_mut().save_as(&second);
    assert_eq!(std::fs::read(&second).unwrap(), original.as_bytes());
    assert_eq!(GraphDoc::load(&second).unwrap(), GraphDoc::load(&demo).unwrap());
}

#[test]
fn a_run_shows_progress_then_completion_and_previews_render() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("written.txt");
    let graph = serde_json::json!({
        "format": "gspeech-graph",
        "version": 1,
        "nodes": [
            {"id": "speech", "type": "audio.load", "type_version": 1,
             "params": {"path": repo_path("projects/demo/speech.wav").to_string_lossy()}, "position": [0.0, 0.0]},
            {"id": "mel", "type": "features.mel", "type_version": 1, "position": [280.0, 0.0]},
            {"id": "write", "type": "test.write", "type_version": 1,
             "params": {"path": out.to_string_lossy(), "steps": 12}, "position": [560.0, 0.0]},
            {"id": "face", "type": "test.face", "type_version": 1, "position": [0.0, 260.0]},
            {"id": "motion", "type": "test.motion", "type_version": 1, "position": [280.0, 260.0]},
            {"id": "avatar", "type": "test.avatar", "type_version": 1, "position": [560.0, 260.0]}
        ],
        "edges": [
            {"from": "speech.audio", "to": "mel.audio"},
            {"from": "mel.features", "to": "write.value"}
        ]
    });
    let path = dir.path().join("run.gsgraph");
    std::fs::write(&path, serde_json::to_string_pretty(&graph).unwrap()).unwrap();
    let mut h = harness(dir.path(), Some(path));
    h.key_press_modifiers(Modifiers::COMMAND, Key::Enter);
    h.step();
    assert!(h.state().runner().is_running(), "{:?}", h.state().message());
    // Watch the slow writer: a progress bar with a fraction between 0 and 1.
    let mut saw_progress = false;
    for _ in 0..400 {
        h.step();
        if let gspeech::editor::runner::NodeState::Running { fraction, .. } = h.state().runner().state("write")
            && *fraction > 0.0
            && h.query_all_by_role(Role::ProgressIndicator).next().is_some()
        {
            saw_progress = true;
        }
        if !h.state().runner().is_running() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(saw_progress, "a running node shows its progress bar");
    h.run_steps(2);
    assert!(!h.state().runner().is_running(), "the run finished");
    for node in ["speech", "mel", "write", "face", "motion", "avatar"] {
        let state = h.state().runner().state(node).clone();
        assert!(
            matches!(state, gspeech::editor::runner::NodeState::Done { .. }),
            "{node}: {state:?}"
        );
    }
    assert!(h.query_all_by_label_contains("done in").count() >= 6);
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 12);

    // Previews: features as a heatmap, motion as curves on the posed face,
    // the avatar as splats on the face posed by the motion.
    let preview = |h: &mut Harness<'_, Editor>| {
        let image = h.render().expect("renders with wgpu");
        let top = h.get_by_label("Preview").rect().top() as u32;
        image::imageops::crop_imm(&image, 0, top, 960, image.height() - top - 30).to_image()
    };
    for (node, name) in [
        ("mel", "preview_features"),
        ("motion", "preview_motion"),
        ("face", "preview_face"),
        ("avatar", "preview_avatar"),
    ] {
        h.state_mut().focus_node(Some(node));
        h.remove_cursor();
        h.run_steps(4);
        egui_kittest::image_snapshot_options(&preview(&mut h), name, &snapshot_options());
    }
    assert!(
        h.query_by_label_contains("posed on the face model by the motion (25 frames)")
            .is_some()
    );

    // Scrubbing poses the avatar at another frame of the motion.
    let first = preview(&mut h);
    let scrub = h.get_by_role(Role::Slider);
    set_value(&scrub, 0.9, &h);
    h.run_steps(4);
    let later = preview(&mut h);
    let changed = first.pixels().zip(later.pixels()).filter(|(a, b)| a != b).count();
    assert!(changed > 500, "only {changed} pixels changed");
}

#[test]
fn unsaved_work_survives_a_crash_and_quitting_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path(), None);
    add_from_palette(&mut h, Pos2::new(200.0, 200.0), "Float");
    h.run_steps(2);
    let graph = h.state().document().graph().clone();

    // Closing the window with unsaved changes asks first.
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    h.run_steps(2);
    h.get_by_label("Save changes?");
    assert!(!h.state().may_close());
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(h.query_by_label("Save changes?").is_none());

    // A crash: the process ends without shutting the editor down. Its
    // recovery copy is then under a process id that no longer runs.
    let own = dir.path().join(format!("recovery-{}.json", std::process::id()));
    assert!(own.is_file(), "unsaved work was copied");
    drop(h);
    std::fs::rename(&own, dir.path().join(format!("recovery-{}.json", u32::MAX - 3))).unwrap();

    let mut h = harness(dir.path(), None);
    assert!(h.state().recovery_offer().is_some());
    h.get_by_label("Restore unsaved work?");
    h.get_by_label("Restore").click();
    h.run_steps(3);
    assert_eq!(h.state().document().graph(), &graph, "the work is back");
    assert!(h.state().document().is_dirty(), "and still unsaved");
    assert!(h.state().recovery_offer().is_none());
}

/// The real binary in a real (virtual) X display: it opens its window, draws
/// the demo graph with wgpu and writes a screenshot.
#[test]
fn the_binary_opens_a_window_under_xvfb_and_takes_a_screenshot() {
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("editor.png");
    let out = std::process::Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1400x900x24"])
        .arg(env!("CARGO_BIN_EXE_gspeech"))
        .arg("edit")
        .arg(repo_path("projects/demo/demo.gsgraph"))
        .arg("--screenshot")
        .arg(&shot)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("WGPU_BACKEND", "vulkan")
        .output()
        .expect("xvfb-run is installed (scripts/setup.sh installs xvfb)");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the editor failed under Xvfb: {log}");
    let image = image::open(&shot).expect("a PNG screenshot").to_rgba8();
    assert!(
        image.width() >= 1000 && image.height() >= 700,
        "{}x{}",
        image.width(),
        image.height()
    );
    let distinct: std::collections::HashSet<[u8; 4]> = image.pixels().map(|p| p.0).collect();
    assert!(
        distinct.len() > 50,
        "the window shows more than a blank fill ({} colours)",
        distinct.len()
    );
}

/// Sets a numeric widget's value as a screen reader would.
fn set_value(node: &egui_kittest::Node<'_>, value: f64, h: &Harness<'_, impl Sized>) {
    let (target_node, target_tree) = node.accesskit_node().locate();
    h.event(egui::Event::AccessKitActionRequest(egui::accesskit::ActionRequest {
        action: egui::accesskit::Action::SetValue,
        target_node,
        target_tree,
        data: Some(egui::accesskit::ActionData::NumericValue(value)),
    }));
}

#[test]
fn every_parameter_kind_has_an_editor() {
    use gspeech::editor::params::{FileDialogs, Layout, param_editor, param_name};
    use gspeech_sdk::{FileFilter, ParamSpec, PathRole};

    let specs = vec![
        ParamSpec::int("count", 3, (Some(0), Some(10)), "A bounded integer: a slider."),
        ParamSpec::int("seed", 7, (None, None), "An unbounded integer: a drag value."),
        ParamSpec::float("gain", 0.5, (Some(0.0), Some(1.0)), "A bounded real: a slider."),
        ParamSpec::float("offset", 0.0, (None, None), "An unbounded real: a drag value."),
        ParamSpec::bool("looped", false, "A checkbox."),
        ParamSpec::text("label", "", "Text."),
        ParamSpec::choice("mode", "peak", &["peak", "lufs"], "A choice."),
        ParamSpec::path(
            "input",
            PathRole::InputFile,
            vec![FileFilter::new("Audio", &["wav"])],
            "",
            "A file.",
        ),
        ParamSpec::color("tint", [1.0, 0.5, 0.0, 1.0], "A colour."),
    ];
    let mut values = serde_json::Map::new();
    values.insert("gain".into(), 3.0.into()); // out of range, as a hand-edited file might say
    let mut dialogs = FileDialogs::default();
    let mut h = Harness::builder().with_size(Vec2::new(500.0, 500.0)).build_ui_state(
        move |ui, values: &mut serde_json::Map<String, serde_json::Value>| {
            for spec in &specs {
                ui.horizontal(|ui| {
                    let label = param_name(ui, spec);
                    let current = values.get(&spec.name).cloned();
                    let edited = param_editor(
                        ui,
                        spec,
                        current.as_ref(),
                        &spec.name,
                        Path::new("/tmp"),
                        &mut dialogs,
                        Layout::Inspector,
                        Some(label),
                    );
                    if let Some(v) = edited {
                        values.insert(spec.name.clone(), v);
                    }
                });
            }
        },
        values,
    );
    h.run();
    // The refused value offers the default back.
    h.get_by_label("reset").click();
    h.run();
    assert_eq!(h.state()["gain"], 0.5);

    for (name, value) in [("count", 8.0), ("seed", 42.0), ("gain", 0.25), ("offset", -3.5)] {
        set_value(&h.get_by_label(name), value, &h);
        h.run();
        assert_eq!(h.state()[name].as_f64(), Some(value), "{name}");
    }
    assert!(
        h.state()["count"].is_i64() && h.state()["seed"].is_i64(),
        "integers stay integers"
    );

    h.get_by_role(Role::CheckBox).click();
    h.run();
    assert_eq!(h.state()["looped"], true);

    for (name, text) in [("label", "take 2"), ("input", "takes/a.wav")] {
        h.get_by_label(name).focus();
        h.run();
        h.event(egui::Event::Text(text.into()));
        h.run();
        assert_eq!(h.state()[name], text);
    }

    h.get_by_label("mode").click();
    h.run();
    h.get_by_label("lufs").click();
    h.run();
    assert_eq!(h.state()["mode"], "lufs");

    // The colour opens a picker; the file dialog button sits beside the path.
    h.get_by_label("tint");
    h.get_by_label("…");
}

#[test]
fn a_capture_previews_as_a_contact_sheet_that_follows_the_playhead() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("take");
    common::write_capture(&root, 16);
    let graph = serde_json::json!({
        "format": "gspeech-graph",
        "version": 1,
        "nodes": [{"id": "take", "type": "capture.load", "type_version": 1,
                   "params": {"path": root.to_string_lossy()}, "position": [0.0, 0.0]}],
        "edges": []
    });
    let path = dir.path().join("capture.gsgraph");
    std::fs::write(&path, serde_json::to_string_pretty(&graph).unwrap()).unwrap();
    let mut h = harness(dir.path(), Some(path));
    h.key_press_modifiers(Modifiers::COMMAND, Key::Enter);
    for _ in 0..200 {
        h.step();
        if !h.state().runner().is_running() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    h.state_mut().focus_node(Some("take"));
    h.run_steps(4);
    assert!(h.query_by_label_contains("frame 0 (1 of 3, 0.00 s, train)").is_some());
    for camera in ["cam_a", "cam_b"] {
        assert!(h.query_by_label(camera).is_some(), "the cell of {camera} is named");
    }
    set_value(&h.get_by_role(Role::Slider), 0.99, &h);
    h.run_steps(4);
    assert!(h.query_by_label_contains("frame 2 (3 of 3, 0.08 s, test)").is_some());
}
