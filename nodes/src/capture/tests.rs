//! A tiny capture (2 cameras, 3 frames of 8×6 images, the 4-vertex test face)
//! written, read back, and broken one way at a time.

use std::path::Path;

use gspeech_sdk::testing::TestRun;
use gspeech_sdk::{CancelToken, Inputs, PortType};
use serde_json::json;

use super::LoadCapture;
use super::check::camera_problems;
use super::format::{
    Capture, CaptureCamera, CaptureFrame, CaptureIndex, FORMAT, FaceModelRef, INDEX, MAX_INDEX_BYTES, MESHES, VERSION,
    image_path, write_image, write_index, write_mask, write_meshes,
};
use crate::face::asset::{read_asset, write_asset};
use crate::face::rig::tests::square;

const W: u32 = 8;
const H: u32 = 6;

/// "left" looks down −z from (0, 0, 5); "right" looks down −x from (5, 0, 0)
/// (its rows are the camera's right, down and forward axes in world space).
fn cameras() -> Vec<CaptureCamera> {
    let camera = |name: &str, world_to_camera, held_out| CaptureCamera {
        name: name.into(),
        width: W,
        height: H,
        fx: 4.0,
        fy: 4.0,
        cx: 4.0,
        cy: 3.0,
        world_to_camera,
        held_out,
    };
    vec![
        camera(
            "left",
            [[1., 0., 0., 0.], [0., 1., 0., 0.], [0., 0., 1., 5.], [0., 0., 0., 1.]],
            false,
        ),
        camera(
            "right",
            [
                [0., 0., -1., 0.],
                [0., -1., 0., 0.],
                [-1., 0., 0., 5.],
                [0., 0., 0., 1.],
            ],
            true,
        ),
    ]
}

fn index() -> CaptureIndex {
    let face = square();
    let frame = |index: usize, split: &str| CaptureFrame {
        index,
        time: index as f64 / 25.0,
        split: split.into(),
        weights: Some(vec![0.1 * index as f32, 0.0]),
    };
    CaptureIndex {
        format: FORMAT.into(),
        version: VERSION,
        fps: Some(25.0),
        audio: None,
        face_model: FaceModelRef::of(&face, None),
        cameras: cameras(),
        weight_names: face.expression_names.clone(),
        frames: vec![frame(0, "train"), frame(1, "train"), frame(2, "val")],
    }
}

/// Frame `t`'s mesh: the square raised by `t / 10`.
fn meshes(frames: usize, vertices: usize) -> Vec<f32> {
    (0..frames * vertices * 3)
        .map(|i| {
            (i % 7) as f32
                + if i % 3 == 1 {
                    (i / (vertices * 3)) as f32 * 0.1
                } else {
                    0.0
                }
        })
        .collect()
}

fn pixels(camera: usize, frame: usize) -> Vec<u8> {
    (0..W * H * 3)
        .map(|i| (i as usize * 7 + camera * 50 + frame * 20) as u8)
        .collect()
}

/// Writes the tiny capture into `root`.
fn write_capture(root: &Path) -> CaptureIndex {
    let cancel = CancelToken::new();
    let index = index();
    write_index(root, &index, &cancel).unwrap();
    write_meshes(root, 3, 4, &meshes(3, 4), &cancel).unwrap();
    for (c, camera) in index.cameras.iter().enumerate() {
        for frame in 0..3 {
            write_image(root, camera, frame, &pixels(c, frame), &cancel).unwrap();
        }
    }
    index
}

/// Rewrites `capture.json` changed by `edit`, without the writer's checks.
fn rewrite(root: &Path, edit: impl FnOnce(&mut CaptureIndex)) {
    let mut index = Capture::read(root).unwrap().index;
    edit(&mut index);
    std::fs::write(root.join(INDEX), serde_json::to_string_pretty(&index).unwrap()).unwrap();
}

fn problems(root: &Path) -> Vec<String> {
    Capture::read(root)
        .unwrap()
        .problems()
        .iter()
        .map(|p| p.to_string())
        .collect()
}

fn has(problems: &[String], wanted: &str) -> bool {
    problems.iter().any(|p| p.contains(wanted))
}

#[test]
fn a_written_capture_opens_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let index = write_capture(dir.path());
    let capture = Capture::open(dir.path()).unwrap();
    assert_eq!(capture.index, index);
    let mesh_file = capture.meshes().unwrap();
    assert_eq!((mesh_file.frames, mesh_file.vertices), (3, 4));
    assert_eq!(mesh_file.read_all().unwrap(), meshes(3, 4));
    assert_eq!(mesh_file.read_frames(1, 2).unwrap(), meshes(3, 4)[12..]);
    assert!(
        mesh_file
            .read_frames(2, 2)
            .unwrap_err()
            .to_string()
            .contains("holds 3 meshes")
    );
    let image = image::open(image_path(dir.path(), "right", 2)).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (W, H));
    assert_eq!(image.into_raw(), pixels(1, 2));
    assert_eq!(capture.split("train").map(|f| f.index).collect::<Vec<_>>(), [0, 1]);
    assert!(capture.camera("right").unwrap().held_out);
    // A renderer camera and back is the same camera.
    let right = &index.cameras[1];
    assert_eq!(&CaptureCamera::from_camera("right", &right.to_camera(), true), right);
    // Masks are optional; one of the camera's size is fine.
    write_mask(dir.path(), right, 0, &[255; (W * H) as usize], &CancelToken::new()).unwrap();
    assert_eq!(problems(dir.path()), Vec::<String>::new());
}

#[test]
fn cameras_project_points_where_worked_by_hand() {
    let [left, right] = cameras().try_into().unwrap();
    // Left: camera space (1, 0.5, 5) → (4·1/5 + 4, 4·0.5/5 + 3).
    assert_eq!(left.project([1.0, 0.5, 0.0]), Some([4.8, 3.4]));
    // Right: camera space (R·p + t) = (0, −0.5, −1 + 5) → (4, 4·(−0.5)/4 + 3).
    assert_eq!(right.project([1.0, 0.5, 0.0]), Some([4.0, 2.5]));
    assert_eq!(right.position(), [5.0, 0.0, 0.0]);
    assert_eq!(left.position(), [0.0, 0.0, -5.0]);
    // Behind the camera: nowhere in the image.
    assert_eq!(left.project([0.0, 0.0, -6.0]), None);
}

#[test]
fn bad_cameras_frames_and_splits_are_all_named() {
    let dir = tempfile::tempdir().unwrap();
    write_capture(dir.path());
    rewrite(dir.path(), |index| {
        index.cameras[0].fx = 0.0;
        // Scaled by 2: not rigid.
        index.cameras[1].world_to_camera[0][2] = -2.0;
        index.cameras.push(CaptureCamera {
            // A reflection (x flipped), under a name already used.
            world_to_camera: [[-1., 0., 0., 0.], [0., 1., 0., 0.], [0., 0., 1., 5.], [0., 0., 0., 1.]],
            ..cameras()[0].clone()
        });
        index.frames[1].split = "training".into();
        index.frames[2].weights = Some(vec![0.5]);
    });
    let found = problems(dir.path());
    let index = dir.path().join(INDEX).display().to_string();
    let expected = [
        format!("{index}: camera \"left\": the focal lengths (fx 0, fy 4) must be positive"),
        format!("{index}: camera \"right\": `world_to_camera`'s 3×3 part is not a rotation"),
        format!("{index}: camera \"left\": `world_to_camera`'s 3×3 part has determinant -1.0000, not +1"),
        format!("{index}: camera \"left\": the name is used by another camera"),
        format!("{index}: frame 1: unknown split \"training\" (splits are train, val, test)"),
        format!("{index}: frame 2: has 1 weights, but `weight_names` names 2"),
    ];
    for wanted in &expected {
        assert!(has(&found, wanted), "{wanted}\nnot in\n{found:#?}");
    }
    // The third camera's images are left's: nothing else is wrong.
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    // The writer refuses such an index.
    let bad = Capture::read(dir.path()).unwrap().index;
    let err = write_index(dir.path(), &bad, &CancelToken::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("would not be a valid capture index") && err.contains("unknown split"),
        "{err}"
    );
    // Values JSON cannot hold are caught too.
    let mut camera = cameras()[0].clone();
    camera.cx = f64::NAN;
    assert_eq!(
        camera_problems(&camera),
        ["the intrinsics (fx 4, fy 4, cx NaN, cy 3) are not all finite"]
    );
}

#[test]
fn missing_and_wrongly_sized_images_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let index = write_capture(dir.path());
    std::fs::remove_file(image_path(dir.path(), "right", 1)).unwrap();
    let mut small = index.cameras[0].clone();
    small.width = 7;
    write_image(dir.path(), &small, 2, &vec![0; 7 * 6 * 4], &CancelToken::new()).unwrap();
    let mut mask_camera = index.cameras[0].clone();
    mask_camera.height = 5;
    write_mask(dir.path(), &mask_camera, 0, &[0; 8 * 5], &CancelToken::new()).unwrap();
    let found = problems(dir.path());
    let file = |kind: &str, camera: &str, frame: usize| {
        dir.path()
            .join(kind)
            .join(camera)
            .join(format!("{frame:05}.png"))
            .display()
            .to_string()
    };
    assert_eq!(
        found,
        [
            format!(
                "{}: camera \"left\", frame 0: is 8×5, but the camera's images are 8×6",
                file("masks", "left", 0)
            ),
            format!(
                "{}: camera \"left\", frame 2: is 7×6, but the camera's images are 8×6",
                file("images", "left", 2)
            ),
            format!("{}: camera \"right\", frame 1: is missing", file("images", "right", 1)),
        ]
    );
}

#[test]
fn short_wrong_or_damaged_meshes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_capture(dir.path());
    let cancel = CancelToken::new();
    let meshes_path = dir.path().join(MESHES).display().to_string();
    write_meshes(dir.path(), 2, 4, &meshes(2, 4), &cancel).unwrap();
    assert_eq!(
        problems(dir.path()),
        [format!("{meshes_path}: frame 2: has no mesh: the file holds 2 meshes")]
    );
    write_meshes(dir.path(), 3, 5, &meshes(3, 5), &cancel).unwrap();
    assert_eq!(
        problems(dir.path()),
        [format!(
            "{meshes_path}: its meshes have 5 vertices, but the face model \"square\" has 4"
        )]
    );
    write_meshes(dir.path(), 3, 4, &meshes(3, 4), &cancel).unwrap();
    let bytes = std::fs::read(dir.path().join(MESHES)).unwrap();
    std::fs::write(dir.path().join(MESHES), &bytes[..bytes.len() - 4]).unwrap();
    let found = problems(dir.path());
    assert!(
        found.len() == 1 && found[0].starts_with(&format!("{meshes_path}: does not match its header")),
        "{found:?}"
    );
    std::fs::remove_file(dir.path().join(MESHES)).unwrap();
    assert!(has(&problems(dir.path()), &format!("{meshes_path}: No such file")));
    assert!(
        write_meshes(dir.path(), 3, 4, &[f32::NAN; 36], &cancel)
            .unwrap_err()
            .to_string()
            .contains("mesh 0 vertex 0 is not finite")
    );
}

#[test]
fn the_face_model_beside_the_capture_must_be_the_recorded_one() {
    let dir = tempfile::tempdir().unwrap();
    write_capture(dir.path());
    let cancel = CancelToken::new();
    let manifest = dir.path().join("face/square.json");
    write_asset(&square(), &manifest, 0.0, json!({}), &cancel).unwrap();
    // The digest of the model as it loads (its shapes are stored quantised).
    let digest = read_asset(&manifest).unwrap().digest();
    rewrite(dir.path(), |index| {
        index.face_model.path = Some("face/square.json".into());
        index.face_model.digest = digest;
    });
    assert_eq!(problems(dir.path()), Vec::<String>::new());
    rewrite(dir.path(), |index| index.face_model.digest = "ab".repeat(32));
    let found = problems(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("records the face model \"square\" (digest abababababab…), not \"square\""));
    rewrite(dir.path(), |index| {
        index.face_model.path = Some("face/other.json".into())
    });
    assert!(has(
        &problems(dir.path()),
        "other.json: the capture's face model is missing"
    ));
}

#[test]
fn foreign_or_oversized_indexes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = Capture::read(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("capture.json") && err.contains("is this a capture folder?"),
        "{err}"
    );
    std::fs::write(dir.path().join(INDEX), r#"{"format": "gspeech-capture", "version": 2}"#).unwrap();
    let err = Capture::read(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("is capture format version 2, but this build reads version 1"),
        "{err}"
    );
    // A sparse file: no disk is used for its size.
    let file = std::fs::File::create(dir.path().join(INDEX)).unwrap();
    file.set_len(MAX_INDEX_BYTES + 1).unwrap();
    let err = Capture::read(dir.path()).unwrap_err().to_string();
    assert!(err.contains("more than a capture index may be"), "{err}");
}

#[test]
fn capture_load_outputs_a_dataset_or_every_problem() {
    let run = TestRun::new();
    let root = run.dir().join("take");
    write_capture(&root);
    let out = run.run(&LoadCapture, Inputs::default(), json!({"path": root})).unwrap();
    let record = out.get("dataset").unwrap().as_record().unwrap();
    assert_eq!(record.kind(), PortType::Dataset);
    record.validate().unwrap();
    let attr = |name: &str| record.attr(name).cloned().unwrap();
    assert_eq!(attr("root"), json!(root));
    assert_eq!(attr("kind"), json!("capture"));
    assert_eq!(attr("splits"), json!({"train": [0, 1], "val": [2], "test": []}));
    assert_eq!(attr("cameras"), json!(2));
    assert_eq!(attr("held_out_cameras"), json!(["right"]));
    assert_eq!(attr("frames"), json!(3));
    assert_eq!(attr("face_model")["digest"], json!(square().digest()));
    assert!(
        run.logs()
            .iter()
            .any(|(_, m)| m.contains("2 cameras (1 held out), 3 frames (2 train, 1 val, 0 test)"))
    );

    std::fs::remove_file(image_path(&root, "left", 0)).unwrap();
    rewrite(&root, |index| index.cameras[1].fy = -1.0);
    let err = run
        .run(&LoadCapture, Inputs::default(), json!({"path": root}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not a valid capture (2 problem(s))"), "{err}");
    assert!(
        err.contains("camera \"right\": the focal lengths (fx 4, fy -1) must be positive"),
        "{err}"
    );
    assert!(err.contains("00000.png: camera \"left\", frame 0: is missing"), "{err}");
}

mod preview {
    use super::*;
    use crate::audio::wav::pcm16;
    use crate::capture::format::encode_png;
    use crate::capture::preview::{Clip, camera_video, contact_sheet};
    use crate::export::testing::{decoded_audio, decoded_frame_rgb, ffprobe, number};
    use gspeech_sdk::{LogLevel, Reporter};

    struct Quiet;

    impl Reporter for Quiet {
        fn progress(&self, _fraction: f32, _message: &str) {}
        fn log(&self, _level: LogLevel, _message: &str) {}
    }

    #[test]
    fn the_sheet_shows_every_camera_marks_held_out_ones_and_dots_the_mesh() {
        let dir = tempfile::tempdir().unwrap();
        write_capture(dir.path());
        let flat = [200u8, 100, 50].repeat((W * H) as usize);
        write_image(dir.path(), &cameras()[0], 1, &flat, &CancelToken::new()).unwrap();
        let capture = Capture::open(dir.path()).unwrap();
        let plain = contact_sheet(&capture, 1, 16, false).unwrap();
        assert_eq!((plain.columns, plain.cell), (2, [16, 12]));
        assert_eq!((plain.width, plain.height), (4 + 2 * 20, 4 + 16));
        assert_eq!(plain.cameras, ["left", "right"]);
        let at = |sheet: &crate::capture::preview::Sheet, camera: usize, [x, y]: [u32; 2]| {
            let [x0, y0] = sheet.origin(camera);
            let i = (((y0 + y) * sheet.width + x0 + x) * 3) as usize;
            [sheet.rgb[i], sheet.rgb[i + 1], sheet.rgb[i + 2]]
        };
        assert_eq!(at(&plain, 0, [5, 3]), [200, 100, 50], "camera `left`, frame 1");
        assert_eq!(at(&plain, 1, [0, 0]), [255, 150, 30], "held-out `right` is framed");
        assert_ne!(at(&plain, 0, [0, 0]), [255, 150, 30], "`left` is not");

        // Vertex 0 of frame 1 is (0, 1.1, 2): 7 in front of `left`, at pixel (4, 3.63), (8, 7) scaled.
        let dotted = contact_sheet(&capture, 1, 16, true).unwrap();
        let (before, after) = (at(&plain, 0, [8, 7]), at(&dotted, 0, [8, 7]));
        assert!(after[1] > before[1] && after != before, "{before:?} → {after:?}");
        let changed = plain.rgb.iter().zip(&dotted.rgb).filter(|(a, b)| a != b).count();
        assert!(
            changed < plain.rgb.len() / 20,
            "only the dots change ({changed} values)"
        );

        let missing = contact_sheet(&capture, 7, 16, false).unwrap_err().to_string();
        assert!(missing.contains(INDEX) && missing.contains("no frame 7"), "{missing}");
        std::fs::write(
            image_path(dir.path(), "right", 1),
            encode_png(&[9; 4 * 4 * 3], 4, 4).unwrap(),
        )
        .unwrap();
        let small = contact_sheet(&capture, 1, 16, false).unwrap_err().to_string();
        assert!(small.contains("right/00001.png") && small.contains("4×4"), "{small}");
    }

    /// A 32×24 capture of 12 frames at 25 fps: frame 6 is bright, the rest
    /// dark, and the sound is silent until frame 6's time, then a tone.
    fn flash_capture(root: &Path) -> Capture {
        let cancel = CancelToken::new();
        let mut index = index();
        for camera in &mut index.cameras {
            (camera.width, camera.height, camera.cx, camera.cy) = (32, 24, 16.0, 12.0);
        }
        index.frames = (0..12)
            .map(|i| CaptureFrame {
                index: i,
                time: i as f64 / 25.0,
                split: "train".into(),
                weights: None,
            })
            .collect();
        index.audio = Some("take.wav".into());
        write_index(root, &index, &cancel).unwrap();
        write_meshes(root, 12, 4, &meshes(12, 4), &cancel).unwrap();
        for camera in &index.cameras {
            for i in 0..12 {
                let level = if i == 6 { 230 } else { 20 };
                write_image(root, camera, i, &[level; 32 * 24 * 3], &cancel).unwrap();
            }
        }
        let rate = 16_000;
        let sound: Vec<i16> = (0..rate * 12 / 25)
            .map(|i| {
                let t = i as f64 / rate as f64;
                if t < 6.0 / 25.0 {
                    0
                } else {
                    ((t * 2.0 * std::f64::consts::PI * 440.0).sin() * 12_000.0) as i16
                }
            })
            .collect();
        std::fs::write(root.join("take.wav"), pcm16(rate as u32, 1, &sound)).unwrap();
        Capture::open(root).unwrap()
    }

    #[test]
    fn the_camera_video_keeps_pictures_and_sound_in_step() {
        let dir = tempfile::tempdir().unwrap();
        let capture = flash_capture(dir.path());
        let out = dir.path().join("left.mp4");
        let clip = Clip {
            camera: "left".into(),
            first: 2,
            count: 8,
        };
        camera_video(&capture, &clip, &out, &Quiet, &CancelToken::new()).unwrap();
        let probe = ffprobe(&out);
        let streams = probe["streams"].as_array().unwrap();
        let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
        assert_eq!(number(video, "nb_read_frames"), 8.0);
        assert_eq!((number(video, "width"), number(video, "height")), (32.0, 24.0));
        // Frame 6 of the take is the clip's fifth picture, and its sound starts with it.
        let brightness = |n: usize| {
            let rgb = decoded_frame_rgb(&out, n);
            rgb.iter().map(|&v| v as f64).sum::<f64>() / rgb.len() as f64
        };
        assert!(brightness(4) > 180.0 && brightness(3) < 60.0 && brightness(5) < 60.0);
        let sound = decoded_audio(&out);
        let rate = number(
            streams.iter().find(|s| s["codec_type"] == "audio").unwrap(),
            "sample_rate",
        );
        let onset = sound.iter().position(|s| s.abs() > 0.05).unwrap() as f64 / rate;
        assert!(
            (onset - 4.0 / 25.0).abs() < 0.003,
            "the tone starts at {onset:.4} s, not 0.16 s"
        );
        // The sound lasts as long as the pictures, up to the last AAC frame's padding.
        let extra = sound.len() as f64 - 8.0 / 25.0 * rate;
        assert!((0.0..1024.0).contains(&extra), "{} samples at {rate}", sound.len());

        let bad = Clip {
            camera: "middle".into(),
            ..clip
        };
        let error = camera_video(&capture, &bad, &out, &Quiet, &CancelToken::new())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no camera `middle`") && error.contains("left, right"),
            "{error}"
        );
    }
}
