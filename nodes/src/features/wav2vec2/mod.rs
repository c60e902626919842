//! `features.wav2vec2`: speech features from a Wav2Vec 2.0 model, frozen, as
//! in the paper. Loads a Hugging Face model folder (`config.json` +
//! `model.safetensors`); long audio is processed in overlapping chunks so
//! memory stays bounded.

mod kernels;
pub mod model;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use gspeech_sdk::{
    Caching, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType, RunContext,
};

pub use model::{Config, Wav2Vec2};

use super::features_value;
use crate::audio::AudioView;

/// The sample rate every Wav2Vec 2.0 model is trained at.
pub const SAMPLE_RATE: u32 = 16000;

/// Speech features from a Wav2Vec 2.0 model.
pub struct Wav2Vec2Features;

/// A model folder's configuration and weights, with errors naming the file.
pub fn load_model(folder: &Path, device: &Device) -> Result<(Config, Wav2Vec2), NodeError> {
    let config_path = folder.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| NodeError::file(&config_path, e))?;
    let config: Config = serde_json::from_str(&text)
        .map_err(|e| NodeError::file(&config_path, format!("is not a Wav2Vec 2.0 config: {e}")))?;
    let weights = folder.join("model.safetensors");
    if !weights.exists() {
        let message = if folder.join("pytorch_model.bin").exists() {
            "is missing; the folder has a PyTorch .bin checkpoint, which this tool does not read. Convert it once with: \
             python -c \"from transformers import Wav2Vec2Model as M; M.from_pretrained('DIR').save_pretrained('DIR', \
             safe_serialization=True)\" (DIR being this folder)"
        } else {
            "is missing: the model folder needs config.json and model.safetensors"
        };
        return Err(NodeError::file(&weights, message));
    }
    // SAFETY: the file is mapped read-only for the life of the model.
    let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, device) }
        .map_err(|e| NodeError::file(&weights, e))?;
    let model = Wav2Vec2::load(vb, &config).map_err(|e| NodeError::file(&weights, e))?;
    Ok((config, model))
}

/// Zero mean and unit variance, as the Wav2Vec 2.0 feature extractor does.
pub fn normalize(samples: &[f32]) -> Vec<f32> {
    let n = samples.len().max(1) as f64;
    let mean = samples.iter().map(|&s| s as f64).sum::<f64>() / n;
    let var = samples.iter().map(|&s| (s as f64 - mean).powi(2)).sum::<f64>() / n;
    let scale = 1.0 / (var + 1e-7).sqrt();
    samples.iter().map(|&s| ((s as f64 - mean) * scale) as f32).collect()
}

/// Which frames of the whole each chunk computes, and which of them it keeps:
/// `(first sample, samples, first frame kept (local), frames kept)`.
pub fn chunk_plan(
    config: &Config,
    samples: usize,
    chunk_frames: usize,
    overlap_frames: usize,
) -> Vec<(usize, usize, usize, usize)> {
    let stride = config.total_stride();
    let total = config.frames_for(samples);
    if chunk_frames == 0 || total <= chunk_frames {
        return vec![(0, samples, 0, total)];
    }
    let field = config.receptive_field();
    let mut plan = Vec::new();
    let mut kept_from = 0;
    while kept_from < total {
        let kept = chunk_frames.min(total - kept_from);
        let first_frame = kept_from.saturating_sub(overlap_frames);
        let last_frame = (kept_from + kept + overlap_frames).min(total);
        let first_sample = first_frame * stride;
        let length = ((last_frame - 1) * stride + field).min(samples) - first_sample;
        plan.push((first_sample, length, kept_from - first_frame, kept));
        kept_from += kept;
    }
    plan
}

impl Node for Wav2Vec2Features {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("features.wav2vec2", 1, "Wav2Vec 2.0 Features")
            .doc(
                "Runs a frozen Wav2Vec 2.0 model (a Hugging Face folder with config.json and model.safetensors, base \
                 or large/lv60 layouts) on 16 kHz audio and outputs one feature vector per 20 ms: the last layer, a \
                 chosen layer, or the mean of all layers. Audio longer than `chunk_seconds` is processed in chunks \
                 that overlap by `overlap_seconds` on each side, so memory stays bounded.",
            )
            .input(PortSpec::new("audio", PortType::Audio, "16 kHz audio (mixed to mono)."))
            .output(PortSpec::new(
                "features",
                PortType::Features,
                "`[frames, hidden]` at 50 Hz.",
            ))
            .param(ParamSpec::path(
                "model",
                PathRole::InputDir,
                Vec::new(),
                "",
                "The model folder.",
            ))
            .param(ParamSpec::choice(
                "output",
                "last",
                &["last", "layer", "mean"],
                "The model's output, the `layer`-th hidden state, or the mean of all hidden states.",
            ))
            .param(ParamSpec::int(
                "layer",
                0,
                (Some(0), None),
                "Hidden state index for `output` = layer (0: before the first layer).",
            ))
            .param(ParamSpec::bool(
                "normalize",
                true,
                "Scale the audio to zero mean and unit variance first, as the model was trained.",
            ))
            .param(ParamSpec::float(
                "chunk_seconds",
                30.0,
                (Some(0.0), None),
                "Longest span processed at once (0: never chunk).",
            ))
            .param(ParamSpec::float(
                "overlap_seconds",
                2.0,
                (Some(0.0), None),
                "Context added on each side of a chunk.",
            ))
            .param(ParamSpec::choice(
                "device",
                "cpu",
                &["cpu", "cuda", "metal"],
                "Where the model runs.",
            ))
            .caching(Caching::Disk)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let audio =
            AudioView::of(inputs.record("audio", PortType::Audio)?).map_err(|e| NodeError::input("audio", e))?;
        if audio.sample_rate != SAMPLE_RATE {
            return Err(NodeError::input(
                "audio",
                format!(
                    "is at {} Hz; Wav2Vec 2.0 needs 16000 Hz (set audio.load's sample_rate to 16000)",
                    audio.sample_rate
                ),
            ));
        }
        let device = crate::model_device(params.text("device")?)?;
        let (config, model) = load_model(params.path("model")?, &device)?;
        let mono = audio.mono();
        let samples = if params.bool("normalize")? {
            normalize(&mono)
        } else {
            mono
        };
        if config.frames_for(samples.len()) == 0 {
            return Err(NodeError::input("audio", "is too short for one frame"));
        }
        let rate = SAMPLE_RATE as f64 / config.total_stride() as f64;
        let plan = chunk_plan(
            &config,
            samples.len(),
            (params.float("chunk_seconds")? * rate) as usize,
            (params.float("overlap_seconds")? * rate) as usize,
        );
        let (mode, layer) = (params.text("output")?, params.int("layer")? as usize);
        if mode == "layer" && layer > config.num_hidden_layers {
            return Err(NodeError::param(
                "layer",
                format!("the model has hidden states 0 to {}", config.num_hidden_layers),
            ));
        }
        let failed = |e: candle_core::Error| NodeError::other(format!("Wav2Vec 2.0: {e}"));
        let mut values: Vec<f32> = Vec::new();
        for (i, &(first, length, keep_from, keep)) in plan.iter().enumerate() {
            ctx.check_cancelled()?;
            ctx.progress(
                i as f32 / plan.len() as f32,
                &format!("chunk {} of {}", i + 1, plan.len()),
            );
            let input = Tensor::from_slice(&samples[first..first + length], (1, length), &device).map_err(failed)?;
            let out = model.forward(&input).map_err(failed)?;
            let chosen = match mode {
                "layer" => out.hidden_states[layer].clone(),
                "mean" => Tensor::stack(&out.hidden_states, 0)
                    .and_then(|t| t.mean(0))
                    .map_err(failed)?,
                _ => out.last_hidden_state,
            };
            let kept = chosen
                .narrow(1, keep_from, keep)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>());
            values.extend(kept.map_err(failed)?);
        }
        ctx.progress(1.0, "done");
        Ok(Outputs::new().with("features", features_value(values, config.hidden_size, rate, "wav2vec2")))
    }
}

#[cfg(test)]
mod tests;
