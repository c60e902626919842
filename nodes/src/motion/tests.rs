//! The motion model's tests that span parts: shapes through every stage,
//! learning, checkpoints and resuming.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use super::checkpoint::{FeatureStats, MotionModel, to_record};
use super::config::tests::tiny;
use super::config::{Architecture, Config};
use super::data::Clip;
use super::init::SeededVars;
use super::model::{Masks, MotionTransformer, styles};
use super::data::Targets;
use super::train::{LossWeights, Monitor, Objective, Quiet, RunFiles, TrainData, TrainSettings, assemble, train};
use crate::face::FaceRig;
use crate::face::rig::tests::square;

/// The tiny configuration on the four-vertex square rig (expressions `up`, `out`).
fn config(architecture: Architecture) -> Config {
    let mut c = tiny(architecture, 4);
    c.expression_names = square().expression_names.clone();
    c
}

fn random(shape: &[usize], seed: u64) -> Vec<f32> {
    let mut rng = crate::dataset::random::Rng::new(seed);
    (0..shape.iter().product()).map(|_| rng.normal() as f32).collect()
}

fn network(c: &Config, seed: u64) -> (SeededVars, MotionTransformer) {
    let vars = SeededVars::new(seed);
    let network = MotionTransformer::new(vars.builder(&Device::Cpu), c).unwrap();
    (vars, network)
}

#[test]
fn shapes_through_every_part() {
    let device = Device::Cpu;
    for architecture in [Architecture::GaussianSpeech, Architecture::FaceFormer] {
        let c = config(architecture);
        let (_, net) = network(&c, 3);
        let width = c.features.dims * c.steps_per_frame;
        let audio = Tensor::from_vec(random(&[2, 7, width], 1), (2, 7, width), &device).unwrap();
        let masks = Masks::new(&c, 7, &[7, 5], &device).unwrap();
        let style = styles(&[Some(1), None], 2, &device).unwrap();
        let lip = net.lip_features(&audio, &style, &masks).unwrap();
        assert_eq!(lip.dims(), [2, 7, 16]);
        let prediction = net.forward(&audio, &style, &masks).unwrap();
        assert_eq!(prediction.offsets.dims(), [2, 7, 12]);
        match architecture {
            Architecture::GaussianSpeech => {
                assert_eq!(net.wrinkle_features(&audio, &lip, &masks).unwrap().dims(), [2, 7, 16]);
                assert_eq!(prediction.codes.unwrap().dims(), [2, 7, 2]);
            }
            Architecture::FaceFormer => {
                assert!(prediction.codes.is_none());
                assert!(net.wrinkle_features(&audio, &lip, &masks).is_err());
            }
        }
        let all: Vec<f32> = prediction.offsets.flatten_all().unwrap().to_vec1().unwrap();
        assert!(all.iter().all(|v| *v == 0.0), "a new vertex mapper rests on the template");
    }
}

#[test]
fn padding_does_not_change_the_real_frames() {
    // A sequence alone, and padded in a batch beside a longer one, decodes the same.
    let device = Device::Cpu;
    let c = config(Architecture::GaussianSpeech);
    let (vars, net) = network(&c, 5);
    // Give the vertex mapper weights so the offsets carry the network's state.
    for (name, var) in vars.map.data().lock().unwrap().iter() {
        if name.contains("vertex_mapper") {
            var.set(&Tensor::from_vec(random(var.dims(), 9), var.dims(), &device).unwrap()).unwrap();
        }
    }
    let width = c.features.dims * c.steps_per_frame;
    let long = random(&[9, width], 2);
    let short = random(&[5, width], 3);
    let mut padded = short.clone();
    padded.resize(9 * width, 0.0);
    let batch = Tensor::from_vec([padded, long].concat(), (2, 9, width), &device).unwrap();
    let out = net
        .forward(&batch, &styles(&[Some(0), Some(0)], 2, &device).unwrap(), &Masks::new(&c, 9, &[5, 9], &device).unwrap())
        .unwrap();
    let alone = net
        .forward(
            &Tensor::from_vec(short, (1, 5, width), &device).unwrap(),
            &styles(&[Some(0)], 2, &device).unwrap(),
            &Masks::new(&c, 5, &[5], &device).unwrap(),
        )
        .unwrap();
    let a: Vec<f32> = out.offsets.get(0).unwrap().narrow(0, 0, 5).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let b: Vec<f32> = alone.offsets.flatten_all().unwrap().to_vec1().unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
}

/// One speaker's clip on the square rig whose weights follow its features.
fn clip(id: &str, speaker: &str, frames: usize, seed: u64) -> Clip {
    let c = config(Architecture::GaussianSpeech);
    let width = c.features.dims * c.steps_per_frame;
    let features = random(&[frames, width], seed);
    let weights = features
        .chunks_exact(width)
        .flat_map(|row| [(row[0] * 0.5).clamp(0.0, 1.0), (row[1] * 0.3 + 0.2).clamp(0.0, 1.0)])
        .collect();
    Clip {
        id: id.into(),
        speaker: speaker.into(),
        features,
        truth: weights,
        frames,
        bilabials: vec![],
        audio: Default::default(),
    }
}

fn data(train: Vec<Clip>) -> TrainData {
    let face: FaceRig = square();
    TrainData {
        val: vec![clip("val", "a", 12, 77)],
        train,
        face,
        fps: 25.0,
        speakers: vec!["a".into(), "b".into()],
        features: config(Architecture::GaussianSpeech).features,
        nyquist: 8000.0,
        source: serde_json::json!("test"),
    }
}

fn tiny_settings(steps: usize) -> TrainSettings {
    let c = config(Architecture::GaussianSpeech);
    TrainSettings {
        sizes: c.sizes,
        steps,
        batch: 2,
        max_frames: 16,
        warmup: 10,
        learning_rate: 3e-3,
        validate_every: 10,
        checkpoint_every: 10,
        ..TrainSettings::default()
    }
}

fn weights_of(path: &std::path::Path) -> BTreeMap<String, Vec<f32>> {
    let record = super::checkpoint::read(path).unwrap();
    record
        .tensors()
        .iter()
        .map(|(n, t)| (n.clone(), t.as_f32().unwrap().to_vec()))
        .collect()
}

#[test]
fn a_tiny_model_overfits_one_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let files = RunFiles::beside(&dir.path().join("m.safetensors"));
    let mut settings = tiny_settings(400);
    settings.batch = 1;
    // The mouth-opening and upper-face mechanics of the square rig only;
    // the decoder must learn the mapping from features to both.
    let report = train(&data(vec![clip("one", "a", 20, 1)]), &settings, &files, "test", &Device::Cpu, &Quiet).unwrap();
    assert!(
        report.first_loss / report.last_loss > 100.0,
        "loss {} → {}",
        report.first_loss,
        report.last_loss
    );
    assert!(files.plot.exists() && files.metrics.exists() && files.state.exists());
    let lines = std::fs::read_to_string(&files.metrics).unwrap();
    assert_eq!(lines.lines().filter(|l| !l.contains("\"val\"")).count(), 400);
    assert_eq!(lines.lines().filter(|l| l.contains("\"val\"")).count(), 40);
}

/// Cancels once the run has reported half its steps.
struct StopHalfway(std::cell::Cell<bool>);

impl Monitor for StopHalfway {
    fn progress(&self, fraction: f32, _: &str) {
        if fraction >= 0.5 {
            self.0.set(true);
        }
    }
    fn info(&self, _: &str) {}
    fn cancelled(&self) -> bool {
        self.0.get()
    }
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let clips = vec![clip("x", "a", 20, 1), clip("y", "b", 14, 2), clip("z", "a", 25, 3)];
    let settings = tiny_settings(20);
    let whole = RunFiles::beside(&dir.path().join("whole.safetensors"));
    train(&data(clips.clone()), &settings, &whole, "test", &Device::Cpu, &Quiet).unwrap();

    let split = RunFiles::beside(&dir.path().join("split.safetensors"));
    let stopped = train(&data(clips.clone()), &settings, &split, "test", &Device::Cpu, &StopHalfway(Default::default()));
    assert!(matches!(stopped, Err(gspeech_sdk::NodeError::Cancelled)));
    assert!(!split.checkpoint.exists(), "an interrupted run writes no final checkpoint");
    let report = train(&data(clips), &settings, &split, "test", &Device::Cpu, &Quiet).unwrap();
    assert_eq!(report.resumed_from, 10);
    assert_eq!(weights_of(&whole.checkpoint), weights_of(&split.checkpoint));
    let metrics = std::fs::read_to_string(&split.metrics).unwrap();
    assert_eq!(metrics.lines().filter(|l| !l.contains("\"val\"")).count(), 20, "{metrics}");

    let mut other = settings.clone();
    other.learning_rate = 1e-2;
    let err = train(&data(vec![clip("x", "a", 20, 1)]), &other, &split, "test", &Device::Cpu, &Quiet).unwrap_err();
    assert!(err.to_string().contains("other settings"), "{err}");
}

/// A clip with audio: a harmonic tone whose loudness and brightness follow
/// the square rig's two weights, its features made as training makes them.
fn spoken(id: &str, speaker: &str, frames: usize, seed: u64) -> Clip {
    use super::data::{FeatureRecipe, Pcm};
    let (rate, fps) = (16000u32, 25.0);
    let c = config(Architecture::GaussianSpeech);
    let mut rng = crate::dataset::random::Rng::new(seed);
    let weights: Vec<f32> = (0..frames * 2).map(|_| rng.uniform() as f32).collect();
    let per_frame = (rate as f64 / fps) as usize;
    let samples: Vec<f32> = (0..frames * per_frame)
        .map(|i| {
            let (w, t) = (&weights[i / per_frame * 2..][..2], i as f64 / rate as f64);
            let f0 = 120.0 + 40.0 * seed as f64;
            let harmonics: f64 = (1..=8).map(|k| (std::f64::consts::TAU * f0 * k as f64 * t).sin() * (w[1] as f64).powi(k - 1)).sum();
            (0.05 + 0.2 * w[0] as f64) as f32 * harmonics as f32 / 4.0
        })
        .collect();
    let recipe = FeatureRecipe {
        mel_bands: c.features.dims,
        ..FeatureRecipe::default()
    };
    Clip {
        id: id.into(),
        speaker: speaker.into(),
        features: recipe.frame_features(&samples, rate, frames, c.steps_per_frame).unwrap(),
        truth: weights,
        frames,
        bilabials: vec![(0.1, 0.2)],
        audio: Pcm::new(&samples, rate),
    }
}

#[test]
fn training_with_audio_augmentation_resumes_exactly_and_changes_what_is_learnt() {
    let dir = tempfile::tempdir().unwrap();
    let clips = vec![spoken("x", "a", 30, 1), spoken("y", "b", 22, 2), spoken("z", "a", 26, 3)];
    let mut settings = tiny_settings(20);
    settings.augment = super::augment::AudioAugment {
        speed: [0.9, 1.1],
        pitch: [-2.0, 2.0],
        noise_probability: 0.5,
        reverb_probability: 0.5,
        eq_probability: 0.5,
        overdrive_probability: 0.3,
        telephone_probability: 0.3,
        ..Default::default()
    };
    let whole = RunFiles::beside(&dir.path().join("whole.safetensors"));
    let report = train(&data(clips.clone()), &settings, &whole, "test", &Device::Cpu, &Quiet).unwrap();
    assert!(report.last_loss < report.first_loss, "it learns: {} → {}", report.first_loss, report.last_loss);

    let split = RunFiles::beside(&dir.path().join("split.safetensors"));
    let stopped = train(&data(clips.clone()), &settings, &split, "test", &Device::Cpu, &StopHalfway(Default::default()));
    assert!(matches!(stopped, Err(gspeech_sdk::NodeError::Cancelled)));
    let report = train(&data(clips.clone()), &settings, &split, "test", &Device::Cpu, &Quiet).unwrap();
    assert_eq!(report.resumed_from, 10);
    assert_eq!(weights_of(&whole.checkpoint), weights_of(&split.checkpoint));

    let plain = RunFiles::beside(&dir.path().join("plain.safetensors"));
    let mut off = settings.clone();
    off.augment = Default::default();
    train(&data(clips.clone()), &off, &plain, "test", &Device::Cpu, &Quiet).unwrap();
    assert_ne!(weights_of(&whole.checkpoint), weights_of(&plain.checkpoint), "the augmentation changes the batches");
    let recorded = super::checkpoint::read(&whole.checkpoint).unwrap();
    let config = recorded.attr("config").unwrap();
    assert_eq!(config["training"]["settings"]["augment"]["speed"], serde_json::json!([0.9, 1.1]));

    let mut inverted = settings.clone();
    inverted.augment.pitch = [2.0, -2.0];
    let err = train(&data(clips), &inverted, &plain, "test", &Device::Cpu, &Quiet).unwrap_err();
    assert!(err.to_string().contains("pitch_min"), "{err}");
}

#[test]
fn settings_written_before_augmentation_existed_still_read() {
    let mut old = serde_json::to_value(tiny_settings(20)).unwrap();
    old.as_object_mut().unwrap().remove("augment");
    let settings: TrainSettings = serde_json::from_value(old.clone()).unwrap();
    assert_eq!(settings, tiny_settings(20), "a missing option reads as its default");
    let run = serde_json::json!({"settings": old, "data": "test"});
    let today = serde_json::json!({"settings": tiny_settings(20), "data": "test"});
    assert_eq!(super::train::canonical(&run), today, "so an older state file resumes");
}

#[test]
fn the_same_seed_gives_the_same_model_and_a_saved_model_the_same_output() {
    let device = Device::Cpu;
    let c = config(Architecture::GaussianSpeech);
    let (vars, net) = network(&c, 11);
    let (again, _) = network(&c, 11);
    let snapshot = |v: &SeededVars| -> BTreeMap<String, Tensor> {
        v.map.data().lock().unwrap().iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect()
    };
    let (a, b) = (snapshot(&vars), snapshot(&again));
    for (name, t) in &a {
        let (x, y): (Vec<f32>, Vec<f32>) =
            (t.flatten_all().unwrap().to_vec1().unwrap(), b[name].flatten_all().unwrap().to_vec1().unwrap());
        assert_eq!(x, y, "{name}");
    }
    for (name, var) in vars.map.data().lock().unwrap().iter() {
        if name.contains("vertex_mapper") {
            var.set(&Tensor::from_vec(random(var.dims(), 4), var.dims(), &device).unwrap()).unwrap();
        }
    }
    let stats = FeatureStats::identity(6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let record = to_record(&c, &stats, &snapshot(&vars)).unwrap();
    super::checkpoint::save(&path, record, &gspeech_sdk::CancelToken::new()).unwrap();
    let loaded = MotionModel::load(&path).unwrap();
    assert_eq!(loaded.config, c);
    let width = c.features.dims * c.steps_per_frame;
    let audio = Tensor::from_vec(random(&[1, 6, width], 8), (1, 6, width), &device).unwrap();
    let masks = Masks::new(&c, 6, &[6], &device).unwrap();
    let style = styles(&[Some(0)], 2, &device).unwrap();
    let x: Vec<f32> = net.forward(&audio, &style, &masks).unwrap().offsets.flatten_all().unwrap().to_vec1().unwrap();
    let y: Vec<f32> =
        loaded.network.forward(&audio, &style, &masks).unwrap().offsets.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(x, y);
    assert!(x.iter().any(|v| *v != 0.0));
}

#[test]
fn a_checkpoint_missing_a_tensor_or_with_a_wrong_shape_names_it() {
    let c = config(Architecture::GaussianSpeech);
    let (vars, _) = network(&c, 1);
    let stats = FeatureStats::identity(6);
    let mut weights: BTreeMap<String, Tensor> =
        vars.map.data().lock().unwrap().iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
    weights.remove("decoder.norm.weight");
    let record = to_record(&c, &stats, &weights).unwrap();
    let err = MotionModel::from_record(&record, &Device::Cpu).unwrap_err();
    assert!(err.contains("decoder.norm.weight"), "{err}");

    weights.insert("decoder.norm.weight".into(), Tensor::zeros(7, candle_core::DType::F32, &Device::Cpu).unwrap());
    let record = to_record(&c, &stats, &weights).unwrap();
    let err = MotionModel::from_record(&record, &Device::Cpu).unwrap_err();
    assert!(err.contains("decoder.norm.weight") && err.contains("7"), "{err}");

    let mut short = c.clone();
    short.features.dims = 5;
    weights.insert("decoder.norm.weight".into(), Tensor::ones(16, candle_core::DType::F32, &Device::Cpu).unwrap());
    let record = to_record(&short, &stats, &weights).unwrap();
    let err = MotionModel::from_record(&record, &Device::Cpu).unwrap_err();
    assert!(err.contains("features.mean") || err.contains("lip_encoder.input.weight"), "{err}");
}

#[test]
fn the_gram_form_of_the_vertex_losses_equals_the_direct_sum() {
    let device = Device::Cpu;
    let c = config(Architecture::GaussianSpeech);
    let (vars, net) = network(&c, 21);
    for (name, var) in vars.map.data().lock().unwrap().iter() {
        if name.contains("vertex_mapper") {
            var.set(&Tensor::from_vec(random(var.dims(), 22), var.dims(), &device).unwrap()).unwrap();
        }
    }
    // Vertex 1 is the upper inner lip's landmark (62), vertex 2 the lower's (66).
    let mut face = square();
    face.landmarks = (0..68).map(|i| match i {
        62 => 1,
        66 => 2,
        _ => 0,
    }).collect();
    let moved: Vec<u32> = (0..4).collect();
    let objective = Objective::new(&face, &moved, LossWeights::default(), &device).unwrap();
    let mut clips = [clip("x", "a", 9, 1), clip("y", "b", 6, 2)];
    // Frames 2–4 and 5 of the first clip are bilabial, frame 3 of the second.
    clips[0].bilabials = vec![(0.08, 0.16), (0.2, 0.2)];
    clips[1].bilabials = vec![(0.12, 0.12)];
    let speakers = [("a", 0), ("b", 1)].into_iter().collect();
    let batch = assemble(&[(&clips[0], 0, 9), (&clips[1], 0, 6)], &c, &speakers, &device).unwrap();
    let masks = Masks::new(&c, 9, &batch.lengths, &device).unwrap();
    let (hidden, codes) = net.hidden(&batch.audio, &batch.style, &masks).unwrap();
    let losses = objective.losses(net.vertex_mapper(), &hidden, codes.as_ref(), &batch).unwrap();

    // The same terms from the offsets themselves (square rig units are cm: ×10 mm).
    let offsets: Vec<f32> = net.forward(&batch.audio, &batch.style, &masks).unwrap().offsets.flatten_all().unwrap().to_vec1().unwrap();
    let weights: Vec<f32> = batch.truth.flatten_all().unwrap().to_vec1().unwrap();
    let truth = Targets::new(&face, &moved).offsets(&weights);
    let lengths = [9usize, 6];
    let direct = |coords: &[usize], velocity: bool| -> f64 {
        let (mut sum, mut n) = (0.0, 0usize);
        for (b, &len) in lengths.iter().enumerate() {
            for t in (velocity as usize)..len {
                let at = |v: &[f32], t: usize, c: usize| 10.0 * v[(b * 9 + t) * 12 + c] as f64;
                for &cc in coords {
                    let (p, g) = if velocity {
                        (at(&offsets, t, cc) - at(&offsets, t - 1, cc), at(&truth, t, cc) - at(&truth, t - 1, cc))
                    } else {
                        (at(&offsets, t, cc), at(&truth, t, cc))
                    };
                    sum += (p - g).powi(2);
                }
                n += 1;
            }
        }
        sum / (n * coords.len()) as f64
    };
    let coords = |vertices: &[usize]| -> Vec<usize> { vertices.iter().flat_map(|&v| [3 * v, 3 * v + 1, 3 * v + 2]).collect() };
    let gap = |frames: &[(usize, usize)]| -> f64 {
        let at = |v: &[f32], b: usize, t: usize| 10.0 * (v[(b * 9 + t) * 12 + 4] - v[(b * 9 + t) * 12 + 7]) as f64;
        let sum: f64 = frames.iter().map(|&(b, t)| (at(&offsets, b, t) - at(&truth, b, t)).powi(2)).sum();
        sum / frames.len() as f64
    };
    let every: Vec<(usize, usize)> = (0..9).map(|t| (0, t)).chain((0..6).map(|t| (1, t))).collect();
    let expected = [
        ("gap", gap(&every)),
        ("closure", gap(&[(0, 2), (0, 3), (0, 4), (0, 5), (1, 3)])),
        ("vertex", direct(&coords(&[0, 1, 2, 3]), false)),
        ("lip", direct(&coords(&[1, 2]), false)),
        ("upper", direct(&coords(&[2, 3]), false)),
        ("velocity", direct(&coords(&[0, 1, 2, 3]), true)),
        ("lip_velocity", direct(&coords(&[1, 2]), true)),
    ];
    for (name, value) in expected {
        let got = losses.terms.iter().find(|t| t.0 == name).unwrap().1;
        assert!((got - value).abs() <= 1e-4 * value.max(1.0), "{name}: {got} vs {value}");
        assert!(value > 0.1, "{name} is not trivially small");
    }
}

#[test]
fn matches_the_independent_pytorch_implementation() {
    // tests/fixtures/make_motion_fixture.py: random weights, PyTorch outputs.
    let device = Device::Cpu;
    let fixture = crate::testing::repo_path("tests/fixtures/motion_parity.safetensors");
    let tensors = candle_core::safetensors::load(&fixture, &device).unwrap();
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::testing::repo_path("tests/fixtures/motion_parity.json")).unwrap(),
    )
    .unwrap();
    let lengths: Vec<usize> = serde_json::from_value(meta["lengths"].clone()).unwrap();
    for architecture in ["gaussian_speech", "faceformer"] {
        let config: Config = serde_json::from_value(meta["configs"][architecture].clone()).unwrap();
        let prefix = format!("{architecture}/");
        let take = |name: &str| tensors[&format!("{prefix}{name}")].clone();
        let weights: std::collections::HashMap<String, Tensor> = tensors
            .iter()
            .filter_map(|(n, t)| n.strip_prefix(&prefix).map(|n| (n.to_string(), t.clone())))
            .filter(|(n, _)| !n.starts_with("input.") && !n.starts_with("expected."))
            .collect();
        let vb = candle_nn::VarBuilder::from_tensors(weights, candle_core::DType::F32, &device);
        let net = MotionTransformer::new(vb, &config).unwrap();
        let masks = Masks::new(&config, meta["frames"].as_u64().unwrap() as usize, &lengths, &device).unwrap();
        let audio = take("input.audio");
        let prediction = net.forward(&audio, &take("input.style"), &masks).unwrap();
        let mut compared = vec![
            ("lip", net.lip_features(&audio, &take("input.style"), &masks).unwrap(), take("expected.lip")),
            ("offsets", prediction.offsets, take("expected.offsets")),
        ];
        if let Some(codes) = prediction.codes {
            compared.push(("codes", codes, take("expected.codes")));
        }
        assert_eq!(compared.len(), if architecture == "faceformer" { 2 } else { 3 });
        for (name, got, expected) in compared {
            let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
            let expected: Vec<f32> = expected.flatten_all().unwrap().to_vec1().unwrap();
            assert_eq!(got.len(), expected.len(), "{architecture} {name}");
            let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs()));
            let worst = got.iter().zip(&expected).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(worst <= 1e-4 * scale.max(1.0), "{architecture} {name}: off by {worst} (scale {scale})");
            assert!(scale > 0.1, "{architecture} {name} is not trivially small");
        }
    }
}

#[test]
fn every_parameter_learns_and_gradients_match_finite_differences() {
    // Every variable must get a gradient from the losses: a norm or softmax
    // that records no gradient would silently freeze everything before it.
    let device = Device::Cpu;
    let c = config(Architecture::GaussianSpeech);
    let settings = tiny_settings(1);
    let face = square();
    let mut trainer = super::train::Trainer::new(&c, &settings, &face, &device).unwrap();
    for (name, var) in &trainer.named {
        if name.contains("vertex_mapper") {
            var.set(&Tensor::from_vec(random(var.dims(), 31), var.dims(), &device).unwrap()).unwrap();
        }
    }
    let clips = [clip("x", "a", 9, 1), clip("y", "b", 6, 2)];
    let speakers = [("a", 0), ("b", 1)].into_iter().collect();
    let batch = assemble(&[(&clips[0], 0, 9), (&clips[1], 0, 6)], &c, &speakers, &device).unwrap();
    let loss = |t: &super::train::Trainer| -> (Tensor, f64) {
        let masks = Masks::new(&c, 9, &batch.lengths, &device).unwrap();
        let (hidden, codes) = t.network.hidden(&batch.audio, &batch.style, &masks).unwrap();
        let l = t.objective.losses(t.network.vertex_mapper(), &hidden, codes.as_ref(), &batch).unwrap().total;
        let v = l.to_scalar::<f32>().unwrap() as f64;
        (l, v)
    };
    let (total, _) = loss(&trainer);
    let grads = total.backward().unwrap();
    // Except where attention cannot learn: a key bias shifts every score of a
    // row alike, and the alignment mask leaves each decoder frame one key, so
    // the cross-attention's queries (and the norm before them) and keys do
    // not change its output.
    let frozen = |name: &str| {
        name.ends_with("key.bias") || ["cross_attention.query", "cross_attention.key", "cross_norm"].iter().any(|p| name.contains(p))
    };
    for (name, var) in trainer.named.iter().filter(|(n, _)| !frozen(n)) {
        let g = grads.get(var.as_tensor()).unwrap_or_else(|| panic!("{name} has no gradient"));
        let size: f32 = g.abs().unwrap().sum_all().unwrap().to_scalar().unwrap();
        assert!(size > 0.0, "{name} has a zero gradient");
    }
    // Central differences on a few weights of the first layer of the lip encoder.
    let name = "lip_encoder.encoder.layers.0.attention.query.weight";
    let var = trainer.named[name].clone();
    let analytic: Vec<f32> = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let original: Vec<f32> = var.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
    for i in [0usize, 17, 100] {
        let at = |delta: f32| {
            let mut values = original.clone();
            values[i] += delta;
            var.set(&Tensor::from_vec(values, var.dims(), &device).unwrap()).unwrap();
            loss(&trainer).1
        };
        let h = 1e-2;
        let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
        let a = analytic[i] as f64;
        assert!((numeric - a).abs() <= 2e-2 * a.abs().max(1e-2), "{name}[{i}]: {a} vs {numeric}");
    }
    var.set(&Tensor::from_vec(original, var.dims(), &device).unwrap()).unwrap();
    trainer.step(&batch, 1e-3).unwrap();
}

#[test]
fn generate_blends_smooths_and_scales_exactly_as_on_the_offsets() {
    // Four windows of 7 frames overlapping by 3 or more on a 19-frame take:
    // the fast path (windows in batches of two; blending the decoder's output,
    // one product) against running each window alone and blending,
    // smoothing and scaling its offsets directly.
    use super::generate::{GenerateOptions, blend_windows, generate, smooth, values};
    let c = config(Architecture::GaussianSpeech);
    let (_, net) = network(&c, 31);
    let stats = FeatureStats::identity(6);
    let model = MotionModel::new(stats, net).unwrap();
    let width = c.features.dims * c.steps_per_frame;
    let frames = 19;
    let input = random(&[frames, width], 32);
    let options = GenerateOptions {
        speaker: "b".into(),
        intensity: 0.7,
        smoothing: 1.5,
        window: 8,
        overlap: 3,
        batch: 2,
    };
    let fast = generate(&model, &input, frames, &options, &|| false).unwrap();
    let style = styles(&[Some(1)], 2, &Device::Cpu).unwrap();
    let outputs = c.vertex_outputs();
    let one_by_one = GenerateOptions { batch: 1, ..options.clone() };
    let mut direct = blend_windows(frames, &one_by_one, &[outputs], &|| false, |batch| {
        let (start, len) = (batch.starts[0], batch.frames);
        let audio = Tensor::from_slice(&input[start * width..(start + len) * width], (1, len, width), &Device::Cpu).unwrap();
        let masks = Masks::new(&c, len, &[len], &Device::Cpu).unwrap();
        Ok(vec![values(&model.network.forward(&audio, &style, &masks).unwrap().offsets)?])
    })
    .unwrap()
    .remove(0);
    smooth(&mut direct, outputs, 1.5);
    direct.iter_mut().for_each(|v| *v *= 0.7);
    assert_eq!(fast.offsets.len(), direct.len());
    let scale = direct.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in fast.offsets.iter().zip(&direct) {
        assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
    }
}

#[test]
fn the_affine_map_matches_the_product_by_hand() {
    let (x, w, b) = (random(&[5, 3], 41), random(&[4, 3], 42), random(&[4], 43));
    for bias in [&b[..], &[]] {
        let out = super::generate::Affine::new(&w, bias, 3).apply(&x, 0.5);
        for n in 0..5 {
            for o in 0..4 {
                let expected: f32 =
                    (0..3).map(|i| x[n * 3 + i] * w[o * 3 + i]).sum::<f32>() + 0.5 * bias.get(o).unwrap_or(&0.0);
                assert!((out[n * 4 + o] - expected).abs() < 1e-5, "{n},{o}");
            }
        }
    }
}

#[test]
fn per_utterance_statistics_ignore_a_take_s_average_spectrum() {
    let takes = [random(&[20, 3], 51), random(&[30, 3], 52)];
    let stats = FeatureStats::measure(takes.iter().map(|t| t.as_slice()), 3, true);
    assert!(stats.mean.iter().all(|m| m.abs() < 1e-6), "centred takes have zero mean: {:?}", stats.mean);
    let (mut plain, mut shifted) = (takes[0].clone(), takes[0].clone());
    shifted.chunks_exact_mut(3).for_each(|row| row.iter_mut().zip([4.0, -2.0, 9.0]).for_each(|(v, s)| *v += s));
    stats.apply(&mut plain);
    stats.apply(&mut shifted);
    for (a, b) in plain.iter().zip(&shifted) {
        assert!((a - b).abs() < 1e-4, "{a} vs {b}");
    }
    let global = FeatureStats::measure(takes.iter().map(|t| t.as_slice()), 3, false);
    let mut global_shifted = takes[0].clone();
    global_shifted[0] += 4.0;
    global.apply(&mut global_shifted);
    assert!(global_shifted[0] > -10.0 && global.mean.iter().any(|m| m.abs() > 1e-3));
}

#[test]
fn warping_moves_a_formant_by_the_factor() {
    use crate::features::{hz_to_mel, mel_to_hz};
    let (bands, nyquist) = (80, 8000.0);
    let step = hz_to_mel(nyquist) / (bands + 1) as f64;
    let centre = |i: usize| mel_to_hz(step * (i + 1) as f64);
    let peak = |alpha: f64| -> usize {
        let mut row: Vec<f32> = (0..bands).map(|i| -((centre(i) - 1500.0) / 150.0).powi(2) as f32).collect();
        super::data::warp_bands(&mut row, bands, nyquist, alpha);
        (0..bands).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap()
    };
    let nearest = |hz: f64| (0..bands).min_by(|&a, &b| (centre(a) - hz).abs().total_cmp(&(centre(b) - hz).abs())).unwrap();
    assert_eq!(peak(1.0), nearest(1500.0));
    assert_eq!(peak(1.15), nearest(1500.0 * 1.15), "a shorter tract raises the formant");
    assert_eq!(peak(0.85), nearest(1500.0 * 0.85));
    let mut row: Vec<f32> = (0..bands).map(|i| i as f32).collect();
    let original = row.clone();
    super::data::warp_bands(&mut row, bands, nyquist, 1.0);
    assert!(row.iter().zip(&original).all(|(a, b)| (a - b).abs() < 1e-4), "1 changes nothing");
}
