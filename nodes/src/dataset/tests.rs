//! The factory end to end on the committed ICT-FaceKit asset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gspeech_sdk::testing::{TestRun, files_under};
use gspeech_sdk::{Inputs, NodeError, Value};
use serde_json::json;

use super::random::Rng;
use super::sequence::{Driver, Settings, Speaker, Stage};
use super::synthesize::Synthesize;
use crate::face::FaceRig;
use crate::face::asset::read_asset;

/// The default face model, loaded once.
fn ict() -> &'static FaceRig {
    static RIG: OnceLock<FaceRig> = OnceLock::new();
    RIG.get_or_init(|| read_asset(&crate::testing::repo_path("projects/assets/face/ict-facekit.json")).unwrap())
}

fn settings() -> Settings {
    Settings {
        fps: 25.0,
        sample_rate: 16_000,
        rate: 160,
        rate_jitter: 0.0,
        pitch: 50,
        pitch_jitter: 0,
        identity_scale: 0.5,
        blinks_per_minute: 17.0,
        head_motion: 1.0,
        silence: 0.0,
        pause: 0.6,
        phrase_pauses: 0.0,
        room_tone: -120.0,
    }
}

/// The signed inner-lip gap in cm at each frame: how far the middle of the
/// upper inner lip (landmark 62) is above the lower one's (66) along the
/// head's up direction; negative when the lips press into each other. It is
/// measured on the vertices, independently of how the weights were made.
fn lip_gaps(vertices: &[f32], head: &[[f32; 3]], stored: &[u32], landmarks: &[u32]) -> Vec<f32> {
    let slot = |v: u32| stored.binary_search(&v).expect("the lips are stored");
    let (upper, lower) = (slot(landmarks[62]), slot(landmarks[66]));
    vertices
        .chunks_exact(stored.len() * 3)
        .zip(head)
        .map(|(frame, &rotation)| {
            let up = crate::face::flame::rodrigues(rotation).map(|row| row[1]);
            (0..3)
                .map(|k| (frame[upper * 3 + k] - frame[lower * 3 + k]) * up[k])
                .sum()
        })
        .collect()
}

#[test]
fn bilabials_close_the_lips_and_open_vowels_open_them() {
    let rig = ict();
    let stored: Vec<u32> = rig.region("face").unwrap().vertex_indices().collect();
    let stage = Stage::new(rig, stored.clone());
    let driver = Driver::new(rig).unwrap();
    let mut checked = (0, 0);
    // Two eSpeak NG voices and a Flite one: the same visemes whichever engine spoke.
    for voice in ["en-us+m3", "en+f2", "flite:slt"] {
        let speaker = Speaker::draw("v0", voice, false, &settings(), rig.identity_names.len(), 1);
        let body = stage.body(&speaker);
        let text = "Pop Bob, a bad map by my palm. Papa may ban a mob.";
        let sequence = stage
            .sequence(&driver, &speaker, &body, text, &settings(), &mut Rng::new(1))
            .unwrap();
        let gaps = lip_gaps(&sequence.vertices, &sequence.head, &stored, &rig.landmarks);
        let frame_at = |t: f64| ((t * 25.0).round() as usize).min(gaps.len() - 1);
        for (phone, viseme) in &sequence.phones {
            let middle = frame_at((phone.start + phone.end) / 2.0);
            let gap = gaps[middle] * 10.0;
            if *viseme == "PP" {
                let at = format!("{voice}: /{}/ at {:.2} s", phone.symbol, phone.start);
                assert!(gap < 1.0, "{at}: lips {gap:.2} mm apart");
                assert!(gap > -2.5, "{at}: lips pressed {:.2} mm into each other", -gap);
                checked.0 += 1;
            }
            if ["a", "aa", "A:"].contains(&phone.symbol.as_str()) && phone.end - phone.start > 0.06 {
                assert!(
                    gap > 5.0,
                    "{voice}: /{}/ at {:.2} s: lips only {gap:.2} mm apart",
                    phone.symbol,
                    phone.start
                );
                checked.1 += 1;
            }
        }
    }
    assert!(
        checked.0 >= 30 && checked.1 >= 9,
        "{checked:?} bilabials and open vowels checked"
    );
}

/// Writes a three-sentence corpus and returns its path.
fn corpus(dir: &Path) -> PathBuf {
    let path = dir.join("corpus.txt");
    std::fs::write(
        &path,
        "# test sentences\nThe birch canoe slid on the smooth planks.\nGlue the sheet to the dark blue background.\n\
         It's easy to tell the depth of a well.\n",
    )
    .unwrap();
    path
}

fn face_input() -> Inputs {
    Inputs::new(BTreeMap::from([("face".to_string(), Value::data(ict().to_record()))]))
}

#[test]
fn the_same_seed_gives_the_same_dataset_byte_for_byte() {
    let run = TestRun::new();
    let corpus = corpus(&run.dir());
    let params = |out: &str, seed: i64| {
        json!({"corpus": corpus, "out": run.dir().join(out), "seed": seed, "voices": "en-us+m3,en+f4",
               "held_out_voice": "en-gb-scotland+f3", "voices_per_sentence": 1, "val_fraction": 0.0,
               "test_fraction": 0.34, "regions": "face,teeth", "threads": 2})
    };
    let out = run.run(&Synthesize, face_input(), params("a", 7)).unwrap();
    let dataset = out.get("dataset").unwrap().as_record().unwrap();
    let splits = dataset.attr("splits").unwrap();
    let ids = |split: &str| -> Vec<String> {
        splits[split]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!((ids("train").len(), ids("val").len(), ids("test").len()), (2, 0, 1));
    let test_sentence = &ids("test")[0][..5];
    assert_eq!(
        ids("test_voice"),
        [format!("{test_sentence}-vh")],
        "the held-out voice speaks the test sentence"
    );
    assert!(
        ids("train").iter().all(|id| !id.starts_with(test_sentence)),
        "splits are by sentence"
    );
    let progress = run.progress();
    assert_eq!(progress.last(), Some(&1.0), "progress reaches the end: {progress:?}");
    run.run(&Synthesize, face_input(), params("b", 7)).unwrap();
    let (a, b) = (files_under(&run.dir().join("a")), files_under(&run.dir().join("b")));
    assert_eq!(
        a.len(),
        1 + 4 * 3,
        "the index and three files per sequence: {:?}",
        a.keys()
    );
    assert!(a == b, "same seed, same bytes");
    run.run(&Synthesize, face_input(), params("c", 8)).unwrap();
    assert!(files_under(&run.dir().join("c")) != a, "another seed, another dataset");

    // The files hold what the index says.
    let index: serde_json::Value = serde_json::from_slice(&a[Path::new("dataset.json")]).unwrap();
    let entry = &index["sequences"][1];
    let sequence = run.dir().join("a/sequences").join(entry["id"].as_str().unwrap());
    let motion = gspeech_sdk::store::load(&sequence.join("motion.safetensors")).unwrap();
    let motion = motion["motion"].as_record().unwrap();
    let frames = entry["frames"].as_u64().unwrap() as usize;
    let stored = ict().region("face").unwrap().vertex_indices().count()
        + ict().region("teeth").unwrap().vertex_indices().count();
    assert_eq!(motion.tensor("vertices").unwrap().shape(), &[frames, stored, 3]);
    assert_eq!(motion.tensor("weights").unwrap().shape(), &[frames, 53]);
    let wav = crate::audio::decode(&sequence.join("audio.wav"), 1 << 30, &|_| {}, &|| false).unwrap();
    assert_eq!(wav.sample_rate, 16_000);
    assert_eq!(
        frames,
        crate::features::frame_count(wav.channels[0].len(), 16_000.0, 25.0)
    );

    // A second run into the same folder keeps every sequence.
    run.run(&Synthesize, face_input(), params("a", 7)).unwrap();
    assert!(
        run.logs()
            .iter()
            .any(|(_, line)| line.contains("4 sequences (4 kept from an earlier run)"))
    );
    assert!(files_under(&run.dir().join("a")) == b);
}

#[test]
fn bad_inputs_get_clear_errors() {
    let run = TestRun::new();
    let corpus = corpus(&run.dir());
    let out = run.dir().join("out");
    let params = |extra: serde_json::Value| {
        let mut p = json!({"corpus": corpus, "out": out, "voices": "en-us", "held_out_voice": "", "test_fraction": 0.0,
                           "val_fraction": 0.0, "voices_per_sentence": 1, "regions": "face"});
        p.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        p
    };
    let err = run
        .run(&Synthesize, face_input(), params(json!({"voices": "en-us,xx-nowhere"})))
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::Param { name, message } if name == "voices" && message.contains("no voice `xx-nowhere`")),
        "{err}"
    );
    let err = run
        .run(&Synthesize, face_input(), params(json!({"held_out_voice": "en-us"})))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `held_out_voice`: `en-us` is also a training voice"
    );
    let err = run
        .run(&Synthesize, face_input(), params(json!({"regions": "face,hair"})))
        .unwrap_err();
    assert!(err.to_string().contains("the face model has no region `hair`"), "{err}");
    // One sentence cannot fill the splits asked for.
    let err = run
        .run(&Synthesize, face_input(), params(json!({"sentences": 1, "test_fraction": 0.1})))
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::Param { name, message } if name == "sentences"
            && message.contains("1 sentence(s) leave none for training after 0 for validation and 1 for testing")),
        "{err}"
    );
    // A rig without ARKit names.
    let square = Inputs::new(BTreeMap::from([(
        "face".to_string(),
        Value::data(crate::face::rig::tests::square().to_record()),
    )]));
    let err = run.run(&Synthesize, square, params(json!({}))).unwrap_err().to_string();
    assert!(
        err.starts_with("input `face`: the face model lacks ARKit expressions"),
        "{err}"
    );
    assert!(err.contains("jawOpen, mouthClose"), "{err}");
    assert!(!out.join("dataset.json").exists(), "nothing was written");
}

#[test]
fn one_voice_speaks_every_sentence_whatever_voices_per_sentence_asks() {
    let run = TestRun::new();
    let params = json!({"corpus": corpus(&run.dir()), "out": run.dir().join("out"), "voices": "en-gb",
                        "held_out_voice": "", "voices_per_sentence": 2, "sentences": 1, "val_fraction": 0.0,
                        "test_fraction": 0.0, "regions": "face"});
    let out = run.run(&Synthesize, face_input(), params).unwrap();
    let splits = out.get("dataset").unwrap().as_record().unwrap().attr("splits").unwrap().clone();
    assert_eq!(splits["train"].as_array().unwrap().len(), 1, "{splits}");
    assert!(
        run.logs()
            .iter()
            .any(|(_, line)| line.contains("spoken by all 1 training voices (`voices_per_sentence` asks for 2)")),
        "{:?}",
        run.logs()
    );
}

#[test]
fn phrases_break_after_punctuation_and_by_chance_elsewhere() {
    let mut rng = Rng::new(1);
    let text = "Pop Bob, a bad map: by my palm - Papa. May ban a mob.";
    assert_eq!(
        super::sequence::phrases(text, 0.0, &mut rng),
        ["Pop Bob,", "a bad map:", "by my palm -", "Papa.", "May ban a mob."]
    );
    let every = super::sequence::phrases("one two three", 1.0, &mut rng);
    assert_eq!(every, ["one", "two", "three"]);
    // A dash alone is not a phrase: it stays with the words before it.
    assert_eq!(super::sequence::phrases("- well then", 1.0, &mut rng), ["- well", "then"]);
}

#[test]
fn silence_and_pauses_are_spoken_with_the_mouth_at_rest() {
    let rig = ict();
    let stored: Vec<u32> = rig.region("face").unwrap().vertex_indices().collect();
    let stage = Stage::new(rig, stored.clone());
    let driver = Driver::new(rig).unwrap();
    let settings = Settings {
        silence: 1.5,
        pause: 0.6,
        head_motion: 0.0,
        blinks_per_minute: 0.0,
        room_tone: -50.0,
        ..settings()
    };
    let speaker = Speaker::draw("v0", "en-us+m3", false, &settings, rig.identity_names.len(), 1);
    let body = stage.body(&speaker);
    let template = stage.rest_face(&driver, &speaker, &body);
    let lips: Vec<usize> = rig
        .lip_vertices
        .iter()
        .map(|v| stored.binary_search(v).expect("the lips are stored"))
        .collect();
    let (mut closed, mut parted, mut pauses) = (0, 0, 0);
    for seed in 1..=6 {
        let text = "Pop Bob, a bad map by my palm.";
        let sequence = stage
            .sequence(&driver, &speaker, &body, text, &settings, &mut Rng::new(seed))
            .unwrap();
        let phones: Vec<_> = sequence.phones.iter().map(|(p, _)| p).collect();
        // The phones tile the audio, and the comma brings a pause of 0.1 s or more.
        assert!(phones.windows(2).all(|w| w[0].end == w[1].start));
        let seconds = sequence.audio.len() as f64 / 16_000.0;
        assert!((phones.last().unwrap().end - seconds).abs() < 1e-3);
        let bob = phones.iter().position(|p| p.symbol == "b").unwrap();
        let comma = phones[bob..].iter().find(|p| p.symbol.starts_with('_')).unwrap();
        assert!(comma.end - comma.start >= 0.1, "{comma:?}");
        // Room tone within 12 dB below the asked level, never digital silence.
        let lead = phones[0].end;
        if lead > 0.3 {
            let quiet = &sequence.audio[..(lead * 16_000.0) as usize];
            let rms = (quiet.iter().map(|s| s * s).sum::<f32>() / quiet.len() as f32).sqrt();
            let db = 20.0 * rms.log10();
            assert!((-62.5..=-49.5).contains(&db), "room tone at {db:.1} dBFS");
        }
        // Deep in every pause of 0.4 s or more, the lips are at rest: on the
        // template (closed) or parted by the jaw alone.
        let k = rig.expression_names.len();
        let jaw = rig.expression_index("jawOpen").unwrap();
        for pause in phones.iter().filter(|p| p.symbol == "_" && p.end - p.start >= 0.4) {
            let frame = (((pause.start + pause.end) / 2.0) * 25.0).round() as usize;
            let vertices = &sequence.vertices[frame * stored.len() * 3..(frame + 1) * stored.len() * 3];
            let moved = lips
                .iter()
                .map(|&i| (0..3).map(|c| (vertices[i * 3 + c] - template[i * 3 + c]).powi(2)).sum::<f32>().sqrt())
                .fold(0f32, f32::max);
            let jaw_open = sequence.weights[frame * k + jaw];
            if moved < 0.02 {
                closed += 1;
            } else {
                assert!((0.02..0.12).contains(&jaw_open), "jawOpen {jaw_open} in a pause at {:.2} s", pause.start);
                parted += 1;
            }
            pauses += 1;
        }
    }
    assert!(pauses >= 6 && closed >= 2 && parted >= 1, "{closed} closed, {parted} parted of {pauses} pauses");
}

#[test]
fn recorded_lines_become_sequences_and_a_line_that_does_not_fit_is_named_and_left_out() {
    use crate::audio::wav::{Encoding, encode};
    use crate::dataset::speech::{Voice, speak};
    let run = TestRun::new();
    let recordings = run.dir().join("takes");
    std::fs::create_dir_all(&recordings).unwrap();
    let voice = Voice {
        name: "en-us+f2".into(),
        rate: 160,
        pitch: 50,
        range: 50,
    };
    let lines = [
        ("one", "The birch canoe slid on the smooth planks.", "The birch canoe slid on the smooth planks."),
        ("two", "Glue the sheet to the dark blue background.", "Glue the sheet to the dark blue background."),
        ("wrong", "It's easy to tell the depth of a well.", "Four hours of steady work faced us."),
    ];
    for (name, said, transcript) in lines {
        let speech = speak(said, &voice).unwrap();
        let wav = encode(speech.sample_rate, &[speech.samples.as_slice()], Encoding::Pcm16);
        std::fs::write(recordings.join(format!("{name}.wav")), wav).unwrap();
        std::fs::write(recordings.join(format!("{name}.txt")), transcript).unwrap();
    }
    let out = run.dir().join("data");
    let params = json!({"corpus": corpus(&run.dir()), "out": out, "voices": "", "recordings": recordings,
                        "val_fraction": 0.0, "test_fraction": 0.0, "regions": "face", "threads": 2});
    let made = run.run(&Synthesize, face_input(), params).unwrap();
    let splits = made.get("dataset").unwrap().as_record().unwrap().attr("splits").unwrap().clone();
    assert_eq!(splits["train"], json!(["one-r0", "two-r0"]));
    let warnings: Vec<String> = run.logs().into_iter().map(|(_, m)| m).collect();
    assert!(
        warnings
            .iter()
            .any(|m| m.contains("wrong.wav") && m.contains("cannot be aligned to its transcript")),
        "{warnings:?}"
    );
    // The aligned phonemes drive the lips: the bilabials of "planks" and "blue" close them.
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("sequences/one-r0/meta.json")).unwrap()).unwrap();
    assert!(meta["recording"].as_str().unwrap().ends_with("one.wav"));
    assert_eq!(meta["voice"], serde_json::Value::Null);
    let symbols: Vec<&str> = meta["phonemes"].as_array().unwrap().iter().map(|p| p["symbol"].as_str().unwrap()).collect();
    assert!(symbols.contains(&"p") && symbols.contains(&"b"), "{symbols:?}");
}
