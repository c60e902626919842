//! The lip transformer encoder: interpolated audio features and the speaker
//! style → personalised lip features, one per video frame. In the
//! FaceFormer-style baseline the same block, without the style, is the whole
//! audio encoder.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear, linear_no_bias};

use super::attention::{Encoder, add_positions};
use super::config::Config;
use super::generate::{audio_input, model_error, model_input, part_spec, run_part};
use super::model::styles;
use crate::features::features_value;
use gspeech_sdk::{Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, RunContext};

/// Audio features (and a speaker style) → lip features.
#[derive(Clone, Debug)]
pub struct LipEncoder {
    input: Linear,
    style: Option<Linear>,
    encoder: Encoder,
    period: usize,
}

impl LipEncoder {
    /// Loads the encoder from `vb` (`lip_encoder.*` in a checkpoint).
    pub fn new(vb: VarBuilder, config: &Config) -> Result<LipEncoder> {
        let audio = config.features.dims * config.steps_per_frame;
        Ok(LipEncoder {
            input: linear(audio, config.sizes.hidden, vb.pp("input"))?,
            style: config
                .personalised
                .then(|| linear_no_bias(config.speakers.len(), config.sizes.hidden, vb.pp("style")))
                .transpose()?,
            encoder: Encoder::new(
                vb.pp("encoder"),
                config.sizes.lip_layers,
                config.sizes.hidden,
                config.sizes.heads,
                config.sizes.feed_forward,
            )?,
            period: config.sizes.period,
        })
    }

    /// `audio` `[B, T, steps·dims]` (normalised features, `steps_per_frame`
    /// of them side by side per video frame) in the style `style`
    /// `[B or 1, speakers]` (read when personalised) → lip features `[B, T, hidden]`.
    pub fn forward(&self, audio: &Tensor, style: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let mut x = self.input.forward(audio)?;
        if let Some(projection) = &self.style {
            x = x.broadcast_add(&projection.forward(style)?.unsqueeze(1)?)?;
        }
        self.encoder.forward(&add_positions(&x, self.period)?, bias)
    }
}

/// `motion.lip_encoder`: runs a model's lip encoder alone.
pub struct LipEncoderNode;

impl Node for LipEncoderNode {
    fn spec(&self) -> NodeSpec {
        part_spec(
            NodeSpec::new("motion.lip_encoder", 1, "Lip Encoder")
                .doc(
                    "The motion model's lip transformer encoder on its own: audio features in a speaker's style → \
                     personalised lip features, one row per video frame, to inspect or to feed a replacement part.",
                )
                .input(PortSpec::new("features", PortType::Features, "Audio features (50 Hz)."))
                .input(PortSpec::optional("audio", PortType::Audio, "The audio, for its duration."))
                .output(PortSpec::new("lip", PortType::Features, "Lip features at the video frame rate.")),
        )
        .param(ParamSpec::text("speaker", "", "Speaker style by name (empty: the average style)."))
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> std::result::Result<Outputs, NodeError> {
        let model = model_input(inputs)?;
        let (input, frames) = audio_input(&model, inputs)?;
        let c = &model.config;
        let width = c.features.dims * c.steps_per_frame;
        let speaker = c.speaker_index(params.text("speaker")?).map_err(|e| NodeError::param("speaker", e))?;
        let style = styles(&[speaker], c.speakers.len(), &candle_core::Device::Cpu).map_err(model_error)?;
        let lip = run_part(
            ctx,
            frames,
            c.sizes.hidden,
            |batch, masks| model.network.lip_features(&batch.tensor(&input, width)?, &style, masks),
            &model,
        )?;
        Ok(Outputs::new().with("lip", features_value(lip, c.sizes.hidden, c.fps, "motion.lip")))
    }
}
