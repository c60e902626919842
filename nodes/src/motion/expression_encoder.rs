//! The expression encoder: lip and wrinkle tokens → one expression code per
//! frame. On an ARKit-named rig the codes are the rig's blendshape weights
//! (supervised by them in training), so a prediction also leaves as ARKit
//! curves.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

use super::attention::{Encoder, concat_features};
use super::config::Config;
use super::generate::{model_input, part_input, part_spec, run_part};
use gspeech_sdk::{Inputs, Node, NodeError, NodeSpec, Outputs, Params, PortSpec, PortType, Record, RunContext, Value};

/// Lip and wrinkle features → expression codes.
#[derive(Clone, Debug)]
pub struct ExpressionEncoder {
    input: Linear,
    encoder: Encoder,
    head: Linear,
}

impl ExpressionEncoder {
    /// Loads the encoder from `vb` (`expression_encoder.*`).
    pub fn new(vb: VarBuilder, config: &Config) -> Result<ExpressionEncoder> {
        Ok(ExpressionEncoder {
            input: linear(2 * config.sizes.hidden, config.sizes.hidden, vb.pp("input"))?,
            encoder: Encoder::new(
                vb.pp("encoder"),
                config.sizes.expression_layers,
                config.sizes.hidden,
                config.sizes.heads,
                config.sizes.feed_forward,
            )?,
            head: linear(config.sizes.hidden, config.expression_names.len(), vb.pp("head"))?,
        })
    }

    /// `lip` and `wrinkle` `[B, T, hidden]` → codes `[B, T, codes]`.
    pub fn forward(&self, lip: &Tensor, wrinkle: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let tokens = self.input.forward(&concat_features(&[lip, wrinkle])?)?;
        self.head.forward(&self.encoder.forward(&tokens, bias)?)
    }
}

/// `motion.expression_encoder`: runs a model's expression encoder alone.
pub struct ExpressionEncoderNode;

impl Node for ExpressionEncoderNode {
    fn spec(&self) -> NodeSpec {
        part_spec(
            NodeSpec::new("motion.expression_encoder", 1, "Expression Encoder")
                .doc(
                    "The motion model's expression encoder on its own: lip and wrinkle features → expression codes \
                     per frame, as a motion of weights named after the codes (the rig's blendshapes on ARKit rigs; \
                     unclamped, as the decoder reads them).",
                )
                .input(PortSpec::new("lip", PortType::Features, "Lip features from the lip encoder."))
                .input(PortSpec::new("wrinkle", PortType::Features, "Wrinkle features from the wrinkle encoder."))
                .output(PortSpec::new("codes", PortType::Motion, "Expression codes as weights.")),
        )
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, _params: &Params) -> std::result::Result<Outputs, NodeError> {
        let model = model_input(inputs)?;
        let c = &model.config;
        let (lip, frames) = part_input(inputs, "lip", c.sizes.hidden)?;
        let (wrinkle, wrinkle_frames) = part_input(inputs, "wrinkle", c.sizes.hidden)?;
        if wrinkle_frames != frames {
            return Err(NodeError::input("wrinkle", format!("has {wrinkle_frames} frames, `lip` {frames}")));
        }
        let k = c.expression_names.len();
        let codes = run_part(
            ctx,
            frames,
            k,
            |batch, masks| {
                let (l, w) = (batch.tensor(lip, c.sizes.hidden)?, batch.tensor(wrinkle, c.sizes.hidden)?);
                model.network.expression_codes(&l, &w, masks)
            },
            &model,
        )?;
        let record = Record::new(PortType::Motion)
            .with_attr("fps", c.fps)
            .with_attr("weight_names", c.expression_names.clone())
            .with_tensor("weights", gspeech_sdk::Tensor::from_f32(&[frames, k], codes).expect("shape"));
        Ok(Outputs::new().with("codes", Value::data(record)))
    }
}
