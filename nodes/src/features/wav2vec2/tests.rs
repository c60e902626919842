//! Parity with Hugging Face transformers on tiny random models of both layouts
//! (fixtures made by `tests/fixtures/make_wav2vec2_fixtures.py`).

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use gspeech_sdk::testing::TestRun;
use gspeech_sdk::{Inputs, Value};
use serde_json::json;

use super::*;
use crate::audio::audio_value;

fn fixtures() -> PathBuf {
    crate::testing::repo_path("tests/fixtures/wav2vec2")
}

fn reference() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join("outputs.safetensors"), &Device::Cpu).unwrap()
}

/// Largest absolute difference relative to the largest reference magnitude.
pub(super) fn relative_error(got: &Tensor, expected: &Tensor) -> f32 {
    assert_eq!(got.dims(), expected.dims());
    let diff = (got - expected)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let scale = expected.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    diff / scale
}

#[test]
fn every_hidden_state_matches_transformers_for_both_layouts() {
    let reference = reference();
    let input = reference["input"].clone();
    for variant in ["base", "large"] {
        let (config, model) = load_model(&fixtures().join(variant), &Device::Cpu).unwrap();
        let out = model.forward(&input).unwrap();
        let err = relative_error(
            &out.extract_features.squeeze(0).unwrap(),
            &reference[&format!("{variant}.extract_features")],
        );
        assert!(err <= 1e-4, "{variant} extract_features: relative error {err}");
        let err = relative_error(
            &out.last_hidden_state.squeeze(0).unwrap(),
            &reference[&format!("{variant}.last_hidden_state")],
        );
        assert!(err <= 1e-4, "{variant} last_hidden_state: relative error {err}");
        assert_eq!(out.hidden_states.len(), config.num_hidden_layers + 1);
        for (i, h) in out.hidden_states.iter().enumerate() {
            let err = relative_error(&h.squeeze(0).unwrap(), &reference[&format!("{variant}.hidden_{i}")]);
            assert!(err <= 1e-4, "{variant} hidden state {i}: relative error {err}");
        }
    }
}

fn run_node(params: serde_json::Value, samples: Vec<f32>) -> Result<(Vec<f32>, Vec<usize>, f64), NodeError> {
    let run = TestRun::new();
    let audio = audio_value(16000, &[samples]);
    let inputs = Inputs::new([("audio".to_string(), audio)].into());
    let out = run.run(&Wav2Vec2Features, inputs, params)?;
    let Some(Value::Data(features)) = out.get("features") else {
        panic!("features")
    };
    let values = features.tensor("values").unwrap();
    let rate = features.attr("rate").unwrap().as_f64().unwrap();
    Ok((values.as_f32().unwrap().to_vec(), values.shape().to_vec(), rate))
}

fn fixture_input() -> Vec<f32> {
    reference()["input"].flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn the_node_outputs_the_chosen_hidden_state() {
    let reference = reference();
    let base = fixtures().join("base");
    let last = reference["base.hidden_3"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let (values, shape, rate) = run_node(json!({"model": base, "normalize": false}), fixture_input()).unwrap();
    assert_eq!(shape, vec![159, 32]);
    assert_eq!(rate, 800.0, "16 kHz over the tiny model's total stride of 20");
    assert!(values.iter().zip(&last).all(|(a, b)| (a - b).abs() < 1e-4));

    let first = reference["base.hidden_1"]
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let (values, _, _) = run_node(
        json!({"model": base, "normalize": false, "output": "layer", "layer": 1}),
        fixture_input(),
    )
    .unwrap();
    assert!(values.iter().zip(&first).all(|(a, b)| (a - b).abs() < 1e-4));

    let err = run_node(json!({"model": base, "output": "layer", "layer": 9}), fixture_input()).unwrap_err();
    assert_eq!(err.to_string(), "parameter `layer`: the model has hidden states 0 to 3");
}

#[test]
fn chunks_tile_the_frames_exactly() {
    let base = fixtures().join("base");
    let input = fixture_input();
    let (whole, shape, _) = run_node(json!({"model": base, "chunk_seconds": 0.0}), input.clone()).unwrap();
    // Chunks of 40 frames whose context covers the whole clip reproduce it exactly.
    let wide = json!({"model": base, "chunk_seconds": 0.05, "overlap_seconds": 1.0});
    let (chunked, chunked_shape, _) = run_node(wide, input.clone()).unwrap();
    assert_eq!(chunked_shape, shape);
    assert!(whole.iter().zip(&chunked).all(|(a, b)| (a - b).abs() < 1e-4));
    // With little context they differ, but every frame is there once.
    let (_, narrow_shape, _) = run_node(
        json!({"model": base, "chunk_seconds": 0.05, "overlap_seconds": 0.01}),
        input,
    )
    .unwrap();
    assert_eq!(narrow_shape, shape);
    let (config, _) = load_model(&base, &Device::Cpu).unwrap();
    let plan = chunk_plan(&config, 3200, 40, 8);
    assert_eq!(plan.iter().map(|p| p.3).sum::<usize>(), 159);
    // The second chunk keeps frames 40..80 and computes 32..88: from sample 32 · 20 to the
    // end of frame 87's receptive field (40 samples).
    assert_eq!(config.receptive_field(), 40);
    assert_eq!(plan[1], (32 * 20, 87 * 20 + 40 - 32 * 20, 8, 40));
    assert_eq!(config.frames_for(plan[1].1), 56);
}

#[test]
fn bad_models_and_audio_get_clear_errors() {
    let run_dir = TestRun::new().dir();
    let copy = |name: &str| {
        let dir = run_dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(fixtures().join("base/config.json"), dir.join("config.json")).unwrap();
        dir
    };
    let bin = copy("bin-only");
    std::fs::write(bin.join("pytorch_model.bin"), b"pickle").unwrap();
    let err = load_model(&bin, &Device::Cpu).err().unwrap().to_string();
    assert!(
        err.contains("model.safetensors: is missing; the folder has a PyTorch .bin checkpoint")
            && err.contains("safe_serialization=True"),
        "{err}"
    );

    let partial = copy("partial");
    let mut weights = candle_core::safetensors::load(fixtures().join("base/model.safetensors"), &Device::Cpu).unwrap();
    weights.remove("encoder.layers.1.attention.k_proj.weight");
    candle_core::safetensors::save(&weights, partial.join("model.safetensors")).unwrap();
    let err = load_model(&partial, &Device::Cpu).err().unwrap().to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("encoder.layers.1.attention.k_proj.weight"),
        "{err}"
    );

    let audio = audio_value(22050, &[vec![0.1; 22050]]);
    let inputs = Inputs::new([("audio".to_string(), audio)].into());
    let err = TestRun::new()
        .run(&Wav2Vec2Features, inputs, json!({"model": fixtures().join("base")}))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "input `audio`: is at 22050 Hz; Wav2Vec 2.0 needs 16000 Hz (set audio.load's sample_rate to 16000)"
    );
}
