//! `gspeech capture import` through the built binary, on the fixtures of
//! `scripts/make-capture-fixtures.py`.

use std::path::Path;
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

fn fixture(name: &str) -> String {
    common::repo_path("tests/fixtures/capture-import")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn capture_import_writes_captures_that_capture_info_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let avatars = dir.path().join("avatars");
    let out = gspeech(&[
        "capture",
        "import",
        "--from",
        "gaussian-avatars",
        &fixture("gaussian-avatars"),
        path(&avatars),
        "--flame",
        &fixture("flame.npz"),
        "--flame-shape-params",
        "3",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout
            .contains("3 cameras (1 held out), 3 frames (2 train, 0 val, 1 test), meshes on \"FLAME\" (8 vertices, m)"),
        "{stdout}"
    );
    assert!(stdout.ends_with(&format!("wrote {}\n", avatars.display())), "{stdout}");
    let info = gspeech(&["capture", "info", path(&avatars)]);
    assert_eq!(info.status.code(), Some(0), "{}", text(&info.stdout));
    assert!(text(&info.stdout).contains("222200039"), "{}", text(&info.stdout));

    let meshes = dir.path().join("meshes");
    let out = gspeech(&[
        "capture",
        "import",
        "--from",
        "transforms",
        &fixture("transforms"),
        path(&meshes),
        "--meshes",
        &fixture("transforms/meshes-ply"),
        "--fps",
        "30",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("2 cameras (0 held out), 3 frames (3 train, 0 val, 0 test), meshes on \"transforms\" (8 vertices, m), written as face_model.json"),
        "{stdout}"
    );
    let info = text(&gspeech(&["capture", "info", path(&meshes)]).stdout);
    assert!(
        info.contains("3 frames at 30 fps") && info.contains("no problems"),
        "{info}"
    );
}

#[test]
fn capture_import_refuses_missing_options_and_names_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let out = gspeech(&[
        "capture",
        "import",
        "--from",
        "gaussian-avatars",
        &fixture("gaussian-avatars"),
        path(&dest),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("needs --flame FILE"),
        "{}",
        text(&out.stderr)
    );

    // The fixture's parameters have 3 identity coefficients, FLAME 2020/2023's split 300.
    let out = gspeech(&[
        "capture",
        "import",
        "--from",
        "gaussian-avatars",
        &fixture("gaussian-avatars"),
        path(&dest),
        "--flame",
        &fixture("flame.npz"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("flame.npz: is not in FLAME's layout") && stderr.contains("above the 300 identity directions"),
        "{stderr}"
    );
    assert!(!dest.exists());
}
