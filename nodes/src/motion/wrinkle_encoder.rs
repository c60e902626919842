//! The wrinkle transformer encoder: audio features and lip features →
//! wrinkle features, the upper-face and fine-detail half of the expression.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear, linear_no_bias};

use super::attention::{Encoder, add_positions};
use super::config::Config;
use super::generate::{audio_input, model_input, part_input, part_spec, run_part};
use crate::features::features_value;
use gspeech_sdk::{Inputs, Node, NodeError, NodeSpec, Outputs, Params, PortSpec, PortType, RunContext};

/// Audio and lip features → wrinkle features.
#[derive(Clone, Debug)]
pub struct WrinkleEncoder {
    audio: Linear,
    lip: Linear,
    encoder: Encoder,
    period: usize,
}

impl WrinkleEncoder {
    /// Loads the encoder from `vb` (`wrinkle_encoder.*`).
    pub fn new(vb: VarBuilder, config: &Config) -> Result<WrinkleEncoder> {
        let audio = config.features.dims * config.steps_per_frame;
        Ok(WrinkleEncoder {
            audio: linear(audio, config.sizes.hidden, vb.pp("audio"))?,
            lip: linear_no_bias(config.sizes.hidden, config.sizes.hidden, vb.pp("lip"))?,
            encoder: Encoder::new(
                vb.pp("encoder"),
                config.sizes.wrinkle_layers,
                config.sizes.hidden,
                config.sizes.heads,
                config.sizes.feed_forward,
            )?,
            period: config.sizes.period,
        })
    }

    /// `audio` `[B, T, steps·dims]` and `lip` `[B, T, hidden]` → wrinkle
    /// features `[B, T, hidden]`.
    pub fn forward(&self, audio: &Tensor, lip: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let x = (self.audio.forward(audio)? + self.lip.forward(lip)?)?;
        self.encoder.forward(&add_positions(&x, self.period)?, bias)
    }
}

/// `motion.wrinkle_encoder`: runs a model's wrinkle encoder alone.
pub struct WrinkleEncoderNode;

impl Node for WrinkleEncoderNode {
    fn spec(&self) -> NodeSpec {
        part_spec(
            NodeSpec::new("motion.wrinkle_encoder", 1, "Wrinkle Encoder")
                .doc("The motion model's wrinkle transformer encoder on its own: audio and lip features → wrinkle features.")
                .input(PortSpec::new("features", PortType::Features, "Audio features (50 Hz)."))
                .input(PortSpec::new("lip", PortType::Features, "Lip features from the lip encoder."))
                .input(PortSpec::optional("audio", PortType::Audio, "The audio, for its duration."))
                .output(PortSpec::new("wrinkle", PortType::Features, "Wrinkle features at the video frame rate.")),
        )
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, _params: &Params) -> std::result::Result<Outputs, NodeError> {
        let model = model_input(inputs)?;
        let (input, frames) = audio_input(&model, inputs)?;
        let c = &model.config;
        let (lip, lip_frames) = part_input(inputs, "lip", c.sizes.hidden)?;
        if lip_frames != frames {
            return Err(NodeError::input("lip", format!("has {lip_frames} frames, the audio {frames}")));
        }
        let width = c.features.dims * c.steps_per_frame;
        let wrinkle = run_part(
            ctx,
            frames,
            c.sizes.hidden,
            |batch, masks| {
                let audio = batch.tensor(&input, width)?;
                model.network.wrinkle_features(&audio, &batch.tensor(lip, c.sizes.hidden)?, masks)
            },
            &model,
        )?;
        Ok(Outputs::new().with("wrinkle", features_value(wrinkle, c.sizes.hidden, c.fps, "motion.wrinkle")))
    }
}
