//! The lip transformer encoder: interpolated audio features → personalised
//! lip features, one per video frame. In the FaceFormer-style baseline the
//! same block is the whole audio encoder.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

use super::attention::{Encoder, add_positions};
use super::config::Config;
use super::generate::{audio_input, model_input, part_spec, run_part};
use crate::features::features_value;
use gspeech_sdk::{Inputs, Node, NodeError, NodeSpec, Outputs, Params, PortSpec, PortType, RunContext};

/// Audio features → lip features.
#[derive(Clone, Debug)]
pub struct LipEncoder {
    input: Linear,
    encoder: Encoder,
    period: usize,
}

impl LipEncoder {
    /// Loads the encoder from `vb` (`lip_encoder.*` in a checkpoint).
    pub fn new(vb: VarBuilder, config: &Config) -> Result<LipEncoder> {
        let audio = config.features.dims * config.steps_per_frame;
        Ok(LipEncoder {
            input: linear(audio, config.sizes.hidden, vb.pp("input"))?,
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
    /// of them side by side per video frame) → lip features `[B, T, hidden]`.
    pub fn forward(&self, audio: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let x = add_positions(&self.input.forward(audio)?, self.period)?;
        self.encoder.forward(&x, bias)
    }
}

/// `motion.lip_encoder`: runs a model's lip encoder alone.
pub struct LipEncoderNode;

impl Node for LipEncoderNode {
    fn spec(&self) -> NodeSpec {
        part_spec(
            NodeSpec::new("motion.lip_encoder", 1, "Lip Encoder")
                .doc(
                    "The motion model's lip transformer encoder on its own: audio features → personalised lip \
                     features, one row per video frame, to inspect or to feed a replacement part.",
                )
                .input(PortSpec::new("features", PortType::Features, "Audio features (50 Hz)."))
                .input(PortSpec::optional("audio", PortType::Audio, "The audio, for its duration."))
                .output(PortSpec::new("lip", PortType::Features, "Lip features at the video frame rate.")),
        )
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, _params: &Params) -> std::result::Result<Outputs, NodeError> {
        let model = model_input(inputs)?;
        let (input, frames) = audio_input(&model, inputs)?;
        let c = &model.config;
        let width = c.features.dims * c.steps_per_frame;
        let lip = run_part(
            ctx,
            frames,
            c.sizes.hidden,
            |batch, masks| model.network.lip_features(&batch.tensor(&input, width)?, masks),
            &model,
        )?;
        Ok(Outputs::new().with("lip", features_value(lip, c.sizes.hidden, c.fps, "motion.lip")))
    }
}
