//! `gspeech face`, `gspeech dataset` and `gspeech capture` through the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

fn gspeech(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gspeech"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A small OBJ rig: a quad grid (12 vertices, 6 quads) with one expression and one identity.
fn write_rig(dir: &Path) {
    let mesh = |lift: f32, widen: f32| {
        let mut obj = String::new();
        for i in 0..12 {
            let (x, y) = ((i % 4) as f32, (i / 4) as f32);
            let z = if i == 5 { lift } else { 0.0 };
            obj += &format!("v {} {y} {z}\n", x * (1.0 + widen));
        }
        for row in 0..2 {
            for col in 0..3 {
                let a = row * 4 + col + 1;
                obj += &format!("f {} {} {} {}\n", a, a + 1, a + 5, a + 4);
            }
        }
        obj
    };
    std::fs::write(dir.join("neutral.obj"), mesh(0.0, 0.0)).unwrap();
    std::fs::write(dir.join("pout.obj"), mesh(0.5, 0.0)).unwrap();
    std::fs::write(dir.join("identity000.obj"), mesh(0.0, 0.1)).unwrap();
    std::fs::write(dir.join("LICENSE"), "Test licence.\n").unwrap();
}

#[test]
fn face_import_converts_an_obj_folder_and_info_describes_it() {
    let dir = tempfile::tempdir().unwrap();
    let rig = dir.path().join("rig");
    std::fs::create_dir(&rig).unwrap();
    write_rig(&rig);
    let manifest = dir.path().join("asset/grid.json");
    let out = gspeech(&["face", "import", path(&rig), "--out", path(&manifest), "--units", "cm"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("12 vertices, 12 triangles, 1 expressions, 1 identities"),
        "{}",
        text(&out.stdout)
    );
    assert!(manifest.with_extension("safetensors").is_file());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("asset/LICENSE")).unwrap(),
        "Test licence.\n"
    );
    let info = gspeech(&["face", "info", path(&manifest)]);
    assert_eq!(info.status.code(), Some(0), "{}", text(&info.stderr));
    assert!(
        text(&info.stdout).contains("expressions: pout"),
        "{}",
        text(&info.stdout)
    );

    std::fs::remove_file(rig.join("neutral.obj")).unwrap();
    let out = gspeech(&["face", "import", path(&rig), "--out", path(&manifest)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has no neutral mesh"),
        "{}",
        text(&out.stderr)
    );
}

fn asset() -> PathBuf {
    common::repo_path("projects/assets/face/ict-facekit.json")
}

fn corpus() -> PathBuf {
    common::repo_path("projects/assets/corpus/harvard.txt")
}

/// `gspeech dataset synth` into `data` on the default face model and corpus, with more arguments.
fn synth(data: &Path, more: &[&str]) -> Output {
    let (face, corpus) = (asset(), corpus());
    let mut args = vec![
        "dataset",
        "synth",
        "--out",
        path(data),
        "--face",
        path(&face),
        "--corpus",
        path(&corpus),
    ];
    args.extend_from_slice(more);
    gspeech(&args)
}

#[test]
fn dataset_synth_writes_sequences_and_preview_renders_one_with_its_audio() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let face = asset();
    let out = synth(
        &data,
        &[
            "--sentences",
            "2",
            "--voices",
            "en-us+m3",
            "--held-out-voice",
            "",
            "--regions",
            "face",
            "--param",
            "voices_per_sentence=1",
            "--param",
            "val_fraction=0",
            "--param",
            "test_fraction=0",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(data.join("dataset.json")).unwrap()).unwrap();
    assert_eq!(index["splits"]["train"], serde_json::json!(["s0001-v0", "s0002-v0"]));
    let frames = index["sequences"][0]["frames"].as_u64().unwrap();

    let sequence = data.join("sequences/s0001-v0");
    let shown = dir.path().join("shown");
    let out = gspeech(&[
        "dataset",
        "preview",
        path(&sequence),
        "--face",
        path(&face),
        "--out",
        path(&shown),
        "--size",
        "96",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pngs = std::fs::read_dir(shown.join("frames")).unwrap().count() as u64;
    assert_eq!(pngs, frames);
    // The project encodes the MP4 itself; ffprobe (from scripts/setup.sh) reads it independently.
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=codec_type,nb_read_frames,width",
            "-of",
            "csv=p=0",
        ])
        .arg(shown.join("preview.mp4"))
        .output()
        .expect("ffprobe (scripts/setup.sh installs it)");
    let streams = text(&probe.stdout);
    assert!(streams.contains(&format!("video,96,{frames}")), "{streams}");
    assert!(streams.contains("audio"), "{streams}");
}

#[test]
fn dataset_synth_names_an_unknown_voice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = synth(&data, &["--sentences", "1", "--voices", "en-us,xx-nowhere"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("eSpeak NG has no voice `xx-nowhere`"),
        "{}",
        text(&out.stderr)
    );
    let out = gspeech(&["dataset", "synth", "--out", path(&data), "--param", "speed=2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--param speed=2"), "{}", text(&out.stderr));
}

#[test]
fn the_example_dataset_graph_is_valid() {
    let graph = common::repo_path("projects/dataset/synth.gsgraph");
    let out = gspeech(&["validate", path(&graph)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn capture_info_describes_a_capture_and_lists_every_problem() {
    use gspeech_nodes::capture::format::{image_path, write_meshes};
    use gspeech_sdk::CancelToken;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("take");
    let cancel = CancelToken::new();
    common::write_capture(&root, 8);
    let out = gspeech(&["capture", "info", path(&root)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    for line in [
        "2 cameras, 3 frames at 25 fps",
        "cam_a                8×8     focal 40.0, 40.0 px  at (-10.000, 0.000, -50.000)",
        "cam_b                8×8     focal 40.0, 40.0 px  at (10.000, 0.000, -50.000)  held out",
        "frames: 2 train, 0 val, 1 test",
        "face model: \"quad\", 4 vertices, units cm, digest 0123456789ab…",
        "meshes: 3 of 4 vertices",
        "audio: none",
        "no problems",
    ] {
        assert!(stdout.contains(line), "`{line}` not in\n{stdout}");
    }

    std::fs::remove_file(image_path(&root, "cam_b", 2)).unwrap();
    write_meshes(&root, 2, 4, &[0.5; 24], &cancel).unwrap();
    let out = gspeech(&["capture", "info", path(&root)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("2 problem(s):"), "{stdout}");
    assert!(
        stdout.contains("meshes.safetensors: frame 2: has no mesh: the file holds 2 meshes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("00002.png: camera \"cam_b\", frame 2: is missing"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("is not a valid capture (2 problem(s))"));

    let out = gspeech(&["capture", "info", path(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is this a capture folder?"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn capture_preview_writes_the_sheet_and_a_video_of_one_camera() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("take");
    common::write_capture(&root, 16);
    let out = gspeech(&["capture", "preview", path(&root), "--frame", "1", "--cell", "32"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let sheet = root.join("preview/sheet-00001.png");
    assert!(
        stdout.contains(&format!("wrote {}: 2 cameras of frame 1", sheet.display())),
        "{stdout}"
    );
    assert!(stdout.contains("  cam_a  cam_b\n"), "{stdout}");
    assert_eq!(image::image_dimensions(&sheet).unwrap(), (4 + 2 * 36, 36 + 4));
    let video = root.join("preview/cam_a-00001.mp4");
    assert!(stdout.contains(&format!("wrote {}: ", video.display())), "{stdout}");
    assert!(std::fs::metadata(&video).unwrap().len() > 100);

    let out = gspeech(&["capture", "preview", path(&root), "--camera", "cam_c"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("has no camera `cam_c` (it has cam_a, cam_b)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn capture_synth_films_a_checked_capture_and_a_rerun_keeps_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("studio");
    let (face, corpus) = (asset(), corpus());
    let args = [
        "capture",
        "synth",
        "--out",
        path(&root),
        "--face",
        path(&face),
        "--corpus",
        path(&corpus),
        "--sentences",
        "3",
        "--expression-frames",
        "8",
        "--resolution",
        "32",
        "--cameras",
        "3",
        "--held-out-cameras",
        "1",
        "--frames",
        "12",
    ];
    let out = gspeech(&args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("36 images of 32×32 (0 kept from an earlier run)"),
        "{stderr}"
    );
    let info = gspeech(&["capture", "info", path(&root)]);
    let stdout = text(&info.stdout);
    assert_eq!(info.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("3 cameras, 12 frames at 25 fps")
            && stdout.contains("held out")
            && stdout.contains("no problems"),
        "{stdout}"
    );
    let first = std::fs::read(root.join("images/cam00/00005.png")).unwrap();

    let removed = root.join("images/cam01/00007.png");
    let before = std::fs::read(&removed).unwrap();
    std::fs::remove_file(&removed).unwrap();
    let again = gspeech(&args);
    let stderr = text(&again.stderr);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("(33 kept from an earlier run)") && stderr.contains("filmed 3 in"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(root.join("images/cam00/00005.png")).unwrap(), first);
    // The frame is filmed again from every camera, to the same bytes.
    assert_eq!(std::fs::read(&removed).unwrap(), before);
}

/// `gspeech capture synth` at thumbnail size on the default face model and corpus, with more arguments.
fn capture_synth(root: &Path, more: &[&str]) -> Output {
    let (face, corpus) = (asset(), corpus());
    let mut args = vec![
        "capture",
        "synth",
        "--out",
        path(root),
        "--face",
        path(&face),
        "--corpus",
        path(&corpus),
        "--sentences",
        "1",
        "--expression-frames",
        "1",
        "--cameras",
        "3",
        "--held-out-cameras",
        "1",
        "--frames",
        "10",
        "--param",
        "val_fraction=0",
        "--param",
        "test_fraction=0",
    ];
    args.extend_from_slice(more);
    gspeech(&args)
}

#[test]
fn capture_synth_prints_its_folder_and_what_is_in_it_and_refuses_other_settings_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("take");
    let out = capture_synth(&root, &["--resolution", "24"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with(&format!("{}\n", root.display())), "{stdout}");
    assert!(
        stdout.contains(
            "3 cameras (1 held out) × 10 frames (10 train, 0 val, 0 test) = 30 images of 24×24, 0.4 s at 25 fps, \
             audio: audio.wav"
        ),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    assert!(stderr.contains("the take: 1 sentence(s) in "), "{stderr}");
    assert!(stderr.contains("; filming its first 10 frames"), "{stderr}");

    let other = capture_synth(&root, &["--resolution", "32"]);
    assert_eq!(other.status.code(), Some(1));
    assert!(
        text(&other.stderr).contains("resolution 24 → 32"),
        "{}",
        text(&other.stderr)
    );
}
