//! `capture.synthesize` on the committed ICT-FaceKit asset, at thumbnail
//! sizes: what it writes, that it is deterministic and resumes, and that the
//! expression moves reach every blendshape.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gspeech_sdk::testing::{TestRun, files_under};
use gspeech_sdk::{CancelToken, Inputs, NodeError, Value};
use serde_json::json;

use super::SynthesizeCapture;
use crate::capture::expressions::{moves, ramp};
use crate::capture::format::{Capture, INDEX, mask_path};
use crate::capture::resume::SYNTHESIS;
use crate::capture::timeline::Performer;
use crate::dataset::sequence::Settings;
use crate::face::FaceRig;
use crate::face::asset::read_asset;

fn ict() -> &'static FaceRig {
    static RIG: OnceLock<FaceRig> = OnceLock::new();
    RIG.get_or_init(|| read_asset(&crate::testing::repo_path("projects/assets/face/ict-facekit.json")).unwrap())
}

fn face_input() -> Inputs {
    Inputs::new(BTreeMap::from([("face".to_string(), Value::data(ict().to_record()))]))
}

/// Three short sentences.
fn corpus(dir: &Path) -> PathBuf {
    let path = dir.join("corpus.txt");
    std::fs::write(&path, "Pop a map.\nBob is here.\nA cat sat.\n").unwrap();
    path
}

/// Parameters of a tiny capture into `out`, with `more` on top.
fn params(run: &TestRun, out: &str, more: serde_json::Value) -> serde_json::Value {
    let mut p = json!({
        "out": run.dir().join(out), "corpus": corpus(&run.dir()), "sentences": 1, "expression_frames": 1,
        "resolution": 24, "cameras": 2, "held_out_cameras": 0, "val_fraction": 0.0, "test_fraction": 0.0,
        "voice": "en-us+f2",
    });
    p.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
    p
}

/// The mask's largest value around pixel `(x, y)`.
fn mask_near(mask: &image::GrayImage, x: f32, y: f32) -> u8 {
    let (x, y) = (x.floor() as i64, y.floor() as i64);
    let mut most = 0;
    for dy in -1..=1 {
        for dx in -1..=1 {
            let (u, v) = (x + dx, y + dy);
            if u >= 0 && v >= 0 && (u as u32) < mask.width() && (v as u32) < mask.height() {
                most = most.max(mask.get_pixel(u as u32, v as u32)[0]);
            }
        }
    }
    most
}

#[test]
fn capture_synthesize_writes_a_capture_that_opens_with_no_problems_and_whose_masks_cover_the_mesh() {
    let run = TestRun::new();
    let more = json!({"sentences": 3, "val_fraction": 0.34, "test_fraction": 0.34, "resolution": 32, "cameras": 3,
                      "held_out_cameras": 1});
    let out = run
        .run(&SynthesizeCapture, face_input(), params(&run, "take", more))
        .unwrap();
    let root = run.dir().join("take");
    let record = out.get("capture").unwrap().as_record().unwrap();
    assert_eq!(record.attr("root").unwrap(), &json!(root));
    assert_eq!(run.progress().last(), Some(&1.0), "progress reaches the end");

    let capture = Capture::read(&root).unwrap();
    assert_eq!(capture.problems(), Vec::new());
    let index = &capture.index;
    let rig = ict();
    assert_eq!(index.cameras.len(), 3);
    assert_eq!(index.cameras.iter().filter(|c| c.held_out).count(), 1);
    assert_eq!(index.weight_names, rig.expression_names);
    assert_eq!(index.face_model.digest, rig.digest());

    // Speech first (three sentences, one per split), then a frame per move: the singles trained on,
    // the combinations split too.
    let synthesis: serde_json::Value = serde_json::from_slice(&std::fs::read(root.join(SYNTHESIS)).unwrap()).unwrap();
    let segments = synthesis["segments"].as_array().unwrap();
    let kinds: Vec<&str> = segments.iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.iter().filter(|&&k| k == "speech").count(), 3);
    assert_eq!(kinds.iter().filter(|&&k| k == "expression").count(), moves(rig).len());
    assert!(kinds[..3].iter().all(|&k| k == "speech"));
    let split_of = |kind: &str| -> Vec<&str> {
        segments
            .iter()
            .filter(|s| s["kind"] == kind)
            .map(|s| s["split"].as_str().unwrap())
            .collect()
    };
    let mut spoken = split_of("speech");
    spoken.sort_unstable();
    assert_eq!(spoken, ["test", "train", "val"]);
    let expressed = split_of("expression");
    assert!(expressed[..rig.expression_names.len()].iter().all(|&s| s == "train"));
    for split in ["val", "test"] {
        assert!(expressed.contains(&split), "a combination is held out for {split}");
    }
    let frames = index.frames.len();
    assert_eq!(synthesis["frames"], json!(frames));
    for frame in &index.frames {
        let segment = segments
            .iter()
            .find(|s| {
                let first = s["first_frame"].as_u64().unwrap() as usize;
                (first..first + s["frames"].as_u64().unwrap() as usize).contains(&frame.index)
            })
            .unwrap();
        assert_eq!(frame.split, segment["split"].as_str().unwrap(), "frame {}", frame.index);
        assert!((frame.time - frame.index as f64 / 25.0).abs() < 1e-9);
    }

    // The audio spans every frame at 16 kHz: 640 samples a frame.
    let audio = crate::audio::decode(&root.join("audio.wav"), 1 << 30, &|_| {}, &|| false).unwrap();
    assert_eq!(audio.sample_rate, 16_000);
    assert_eq!(audio.channels[0].len(), frames * 640);
    let speech_end = segments[2]["first_frame"].as_u64().unwrap() + segments[2]["frames"].as_u64().unwrap();
    let loudest = |range: std::ops::Range<usize>| audio.channels[0][range].iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!(loudest(0..speech_end as usize * 640) > 0.1, "the sentences are heard");
    assert_eq!(
        loudest(speech_end as usize * 640..frames * 640),
        0.0,
        "the expressions are silent"
    );

    // Every landmark of every frame's mesh projects onto the subject in every camera.
    let meshes = capture.meshes().unwrap().read_all().unwrap();
    let values = rig.vertex_count() * 3;
    for camera in &index.cameras {
        for frame in &index.frames {
            let mask = image::open(mask_path(&root, &camera.name, frame.index))
                .unwrap()
                .to_luma8();
            for (i, &v) in rig.landmarks.iter().enumerate() {
                let at = frame.index * values + v as usize * 3;
                let [x, y] = camera.project([meshes[at], meshes[at + 1], meshes[at + 2]]).unwrap();
                assert!(
                    mask_near(&mask, x, y) > 128,
                    "{} frame {}: landmark {i} at ({x:.1}, {y:.1}) is off the mask",
                    camera.name,
                    frame.index
                );
            }
        }
    }
}

#[test]
fn capture_synthesize_is_deterministic_and_an_interrupted_run_resumes_to_the_same_bytes() {
    let mut run = TestRun::new();
    let tiny = |run: &TestRun, out: &str| params(run, out, json!({"frames": 12}));
    run.run(&SynthesizeCapture, face_input(), tiny(&run, "whole")).unwrap();
    let whole = files_under(&run.dir().join("whole"));
    // The index, audio, meshes and synthesis record, and an image and a mask per camera and frame.
    assert_eq!(whole.len(), 4 + 2 * 2 * 12, "{:?}", whole.keys());

    // Cancelled once five frames of the first camera are written.
    let cut = run.dir().join("cut");
    let first_camera = cut.join("images/cam00");
    run.cancel = CancelToken::with_probe(move || std::fs::read_dir(&first_camera).map_or(0, |d| d.count()) >= 5);
    let err = run
        .run(&SynthesizeCapture, face_input(), tiny(&run, "cut"))
        .unwrap_err();
    assert_eq!(err, NodeError::Cancelled);
    let left = files_under(&cut);
    assert!(
        !left.contains_key(Path::new(INDEX)),
        "no index before every frame is there"
    );
    assert!(
        left.keys().all(|p| !p.to_string_lossy().ends_with(".partial")),
        "{:?}",
        left.keys()
    );
    let images = left.keys().filter(|p| p.starts_with("images")).count();
    assert!((5..24).contains(&images), "{images} images written before the cancel");

    run.cancel = CancelToken::new();
    run.run(&SynthesizeCapture, face_input(), tiny(&run, "cut")).unwrap();
    assert!(
        run.logs()
            .iter()
            .any(|(_, line)| line.contains("images of 24×24 (") && !line.contains("(0 kept")),
        "{:?}",
        run.logs()
    );
    assert!(
        files_under(&cut) == whole,
        "the resumed capture is the uninterrupted one, byte for byte"
    );

    // Other settings are refused, naming what changed; so is a folder that is not a capture.
    let err = run
        .run(
            &SynthesizeCapture,
            face_input(),
            params(&run, "cut", json!({"frames": 12, "resolution": 28})),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("parameter `out`:") && err.contains("resolution 24 → 28"),
        "{err}"
    );
    std::fs::create_dir_all(run.dir().join("other")).unwrap();
    std::fs::write(run.dir().join("other/notes.txt"), "mine").unwrap();
    let err = run
        .run(&SynthesizeCapture, face_input(), tiny(&run, "other"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not empty and holds no synthesized capture"), "{err}");
    // But a folder a killed run left with only its first file's temporary is started afresh.
    let killed = run.dir().join("killed");
    std::fs::create_dir_all(&killed).unwrap();
    std::fs::write(killed.join(".synthesis.json.123-0.partial"), "{").unwrap();
    run.run(&SynthesizeCapture, face_input(), tiny(&run, "killed")).unwrap();
    assert!(files_under(&killed) == whole);

    // Another appearance seed films another skin.
    run.run(
        &SynthesizeCapture,
        face_input(),
        params(&run, "other-look", json!({"frames": 12, "appearance": 2})),
    )
    .unwrap();
    let other = files_under(&run.dir().join("other-look"));
    let image = Path::new("images/cam00/00003.png");
    assert!(other[image] != whole[image]);
}

#[test]
fn capture_synthesize_names_bad_settings() {
    let run = TestRun::new();
    let fails = |more: serde_json::Value| {
        run.run(&SynthesizeCapture, face_input(), params(&run, "bad", more))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        fails(json!({"identity": "nobody"})),
        "parameter `identity`: the face model has no identity `nobody`; it has neutral, identity000, identity001, \
         identity002, identity003, identity004, identity005, identity006, identity007, identity008, identity009"
    );
    assert!(fails(json!({"held_out_cameras": 2})).contains("2 of 2 cameras cannot be held out"));
    assert!(fails(json!({"sentences": 0, "expression_frames": 0})).contains("there is nothing to film"));
    let err = fails(json!({"voice": "xx-nowhere"}));
    assert!(
        err.starts_with("parameter `voice`:") && err.contains("xx-nowhere"),
        "{err}"
    );
    assert!(!run.dir().join("bad").join(INDEX).exists(), "nothing was filmed");
}

#[test]
fn capture_expression_moves_take_every_blendshape_to_full_and_back() {
    let rig = ict();
    let bump = ramp(5);
    assert_eq!(bump.len(), 5);
    assert_eq!(bump[2], 1.0, "{bump:?}");
    assert!(
        bump[0] > 0.0 && bump[0] < 0.5 && bump[0] == bump[4] && bump[1] == bump[3],
        "{bump:?}"
    );
    let moves: Vec<_> = moves(rig).into_iter().map(|m| (m, "train")).collect();
    assert!(
        moves.len() > rig.expression_names.len(),
        "combinations follow the single expressions"
    );
    let performer = Performer::new(rig, "en-us", Vec::new(), Settings::default(), 1).unwrap();
    let timeline = performer.timeline(&[], &moves, 5, 1, &CancelToken::new()).unwrap();
    let k = rig.expression_names.len();
    assert_eq!(timeline.frames(), moves.len() * 5);
    assert!(timeline.audio.is_empty(), "nothing is said");
    for (i, name) in rig.expression_names.iter().enumerate() {
        let most = timeline.weights.chunks_exact(k).map(|w| w[i]).fold(0f32, f32::max);
        assert!(most >= 0.9, "{name} reaches only {most}");
    }
    // Each single move is its expression alone; the meshes move with the weights.
    let values = rig.vertex_count() * 3;
    let peak = |segment: usize| segment * 5 + 2;
    let jaw = rig.expression_index("jawOpen").unwrap();
    let row = &timeline.weights[peak(jaw) * k..(peak(jaw) + 1) * k];
    assert_eq!(row.iter().filter(|&&w| w > 0.0).count(), 1);
    let chin = rig.landmarks[8] as usize * 3 + 1;
    let (rest, open) = (rig.neutral[chin], timeline.vertices[peak(jaw) * values + chin]);
    assert!(open < rest - 1.0, "the chin drops from {rest} to {open} cm");
}
