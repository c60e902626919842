//! The candle side of the motion-model benchmark (see scripts/bench-motion.sh):
//!
//! - `cargo bench -p gspeech-nodes --bench motion -- step` times one training
//!   step of the default model on the default face model (batch 16 windows
//!   of 100 frames: forward, Gram losses, backward, clipping, AdamW), median
//!   of 10 after 2 warm-ups;
//! - `-- infer SECONDS` times inference on SECONDS of 50 Hz features at
//!   25 fps (prepared, windows of 200 frames overlapping by 25, blended),
//!   median of 5 after one warm-up;
//! - `-- augment` times what audio augmentation adds to a step: 16 takes of
//!   4 s through every effect (speed, pitch, room, noise, EQ, overdrive,
//!   telephone band) and their features made again, in parallel as training
//!   does, beside the features alone; median of 10 after one warm-up.
//!
//! Each prints one JSON line, as scripts/motion_torch_bench.py does.

mod common;

/// The allocator the `gspeech` binary uses (see app/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use common::peak_mib;
use std::path::Path;
use std::time::Instant;

use candle_core::Device;
use gspeech_nodes::face::asset::read_asset;
use gspeech_nodes::motion::checkpoint::{FeatureStats, MotionModel};
use gspeech_nodes::motion::config::FeatureSpec;
use gspeech_nodes::dataset::random::Rng;
use gspeech_nodes::motion::augment::AudioAugment;
use gspeech_nodes::motion::data::{Clip, FeatureRecipe, Pcm};
use gspeech_nodes::motion::generate::{GenerateOptions, generate, prepare};
use gspeech_nodes::motion::train::{TrainData, TrainSettings, Trainer, assemble, model_config};

/// A fixed pseudo-random sequence: the timing does not depend on the values.
fn noise(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| ((i as f32 * 12.9898 + seed).sin() * 43758.547).fract()).collect()
}

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let face = read_asset(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../projects/assets/face/ict-facekit.json")))
        .expect("the default face model");
    let settings = TrainSettings::default();
    let data = TrainData {
        train: Vec::new(),
        val: Vec::new(),
        speakers: (0..5).map(|i| format!("speaker{i}")).collect(),
        face,
        fps: 25.0,
        features: FeatureSpec {
            kind: "mel".into(),
            dims: 80,
            rate: 50.0,
            per_utterance: false,
        },
        nyquist: 8000.0,
        source: serde_json::Value::Null,
    };
    let config = model_config(&settings, &data, "bench");
    let moved = config.face.moved_vertices().len();
    let width = config.features.dims * config.steps_per_frame;
    let k = config.expression_names.len();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["step"] => {
            let mut trainer = Trainer::new(&config, &settings, &data.face, &Device::Cpu).unwrap();
            let clips: Vec<Clip> = (0..settings.batch)
                .map(|i| Clip {
                    id: format!("c{i}"),
                    speaker: format!("speaker{}", i % 5),
                    features: noise(100 * width, i as f32),
                    truth: noise(100 * k, 100.0 + i as f32),
                    frames: 100,
                    bilabials: Vec::new(),
                    audio: Default::default(),
                })
                .collect();
            let speakers = data.speakers.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
            let windows: Vec<(&Clip, usize, usize)> = clips.iter().map(|c| (c, 0, 100)).collect();
            let batch = assemble(&windows, &config, &speakers, &Device::Cpu).unwrap();
            let times: Vec<f64> = (0..12)
                .map(|_| {
                    let start = Instant::now();
                    trainer.step(&batch, 1e-4).unwrap();
                    start.elapsed().as_secs_f64()
                })
                .skip(2)
                .collect();
            println!(r#"{{"case": "step", "time_s": {}, "peak_mib": {}, "moved": {moved}}}"#, median(times), peak_mib());
        }
        ["infer", seconds] => {
            let seconds: f64 = seconds.parse().expect("SECONDS is a number");
            let trainer = Trainer::new(&config, &settings, &data.face, &Device::Cpu).unwrap();
            let stats = FeatureStats::identity(config.features.dims);
            let model = MotionModel::new(stats, trainer.network).unwrap();
            let frames = (seconds * 25.0) as usize;
            let features = noise((seconds * 50.0) as usize * config.features.dims, 7.0);
            let options = GenerateOptions::default();
            let run = || {
                let input = prepare(&model, &features, config.features.dims, frames);
                generate(&model, &input, frames, &options, &|| false).unwrap()
            };
            run();
            let times: Vec<f64> = (0..5)
                .map(|_| {
                    let start = Instant::now();
                    let out = run();
                    assert_eq!(out.frames, frames);
                    start.elapsed().as_secs_f64()
                })
                .collect();
            println!(
                r#"{{"case": "infer", "seconds": {seconds}, "time_s": {}, "peak_mib": {}, "moved": {moved}}}"#,
                median(times),
                peak_mib()
            );
        }
        ["augment"] => {
            use rayon::prelude::*;
            let rate = 16000;
            let clips: Vec<Clip> = (0..settings.batch)
                .map(|i| {
                    // A 4 s buzz at 120–270 Hz, its loudness changing every frame.
                    let samples: Vec<f32> = (0..4 * rate as usize)
                        .map(|n| {
                            let t = n as f32 / rate as f32;
                            let level = 0.1 + 0.1 * (t * 5.0 + i as f32).sin().abs();
                            level * ((t * (120.0 + 10.0 * i as f32) * std::f32::consts::TAU).sin()).signum()
                        })
                        .collect();
                    Clip {
                        id: format!("c{i}"),
                        speaker: format!("speaker{}", i % 5),
                        features: Vec::new(),
                        truth: noise(100 * k, i as f32),
                        frames: 100,
                        bilabials: Vec::new(),
                        audio: Pcm::new(&samples, rate),
                    }
                })
                .collect();
            let recipe = FeatureRecipe::default();
            let all = AudioAugment::every_effect();
            let time = |augment: &AudioAugment| {
                let run = |step: usize| {
                    clips.par_iter().enumerate().for_each(|(i, clip)| {
                        let draw = augment.draw(&mut Rng::stream(1, &format!("audio/{step}/{i}")));
                        clip.augmented(&draw, &recipe, 25.0, 2).unwrap();
                    })
                };
                run(0);
                median(
                    (1..=10)
                        .map(|step| {
                            let start = Instant::now();
                            run(step);
                            start.elapsed().as_secs_f64()
                        })
                        .collect(),
                )
            };
            let features = time(&AudioAugment::default());
            let everything = time(&all);
            println!(r#"{{"case": "augment", "features_only_s": {features}, "every_effect_s": {everything}, "takes": 16}}"#);
        }
        _ => eprintln!(
            "usage: cargo bench -p gspeech-nodes --bench motion -- step | infer SECONDS | augment (scripts/bench-motion.sh runs the first two)"
        ),
    }
}
