//! The motion decoder: M layers of biased causal self-attention, cross-
//! attention over the lip–expression features through the diagonal
//! alignment mask, and feed-forward; then the vertex mapper, a linear layer
//! from the decoder's width to per-frame vertex offsets on the face template.
//!
//! Its queries are the speaker's style embedding plus the periodic positional
//! encoding, and every frame is decoded in one pass. FaceFormer decodes
//! autoregressively, feeding back its own output; the paper does not say
//! which it does. One pass is ours: it avoids exposure bias, and is what
//! makes inference hundreds of times faster than real time.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear, linear_no_bias};

use super::attention::{Attention, FeedForward, Norm, add_positions};
use super::config::{Architecture, Config};
use super::generate::{Generated, model_error, model_input, motion_record, part_input, part_spec, run_part};
use super::model::styles;
use gspeech_sdk::{Inputs, Node, NodeError, NodeSpec, ParamSpec, Outputs, Params, PortSpec, PortType, RunContext, Value};

/// One decoder layer.
#[derive(Clone, Debug)]
struct DecoderLayer {
    self_norm: Norm,
    self_attention: Attention,
    cross_norm: Norm,
    cross_attention: Attention,
    feed_forward_norm: Norm,
    feed_forward: FeedForward,
}

impl DecoderLayer {
    fn new(vb: VarBuilder, config: &Config) -> Result<DecoderLayer> {
        let (w, h) = (config.sizes.hidden, config.sizes.heads);
        Ok(DecoderLayer {
            self_norm: Norm::new(vb.pp("self_norm"), w)?,
            self_attention: Attention::new(vb.pp("self_attention"), w, h)?,
            cross_norm: Norm::new(vb.pp("cross_norm"), w)?,
            cross_attention: Attention::new(vb.pp("cross_attention"), w, h)?,
            feed_forward_norm: Norm::new(vb.pp("feed_forward_norm"), w)?,
            feed_forward: FeedForward::new(vb.pp("feed_forward"), w, config.sizes.feed_forward)?,
        })
    }

    fn forward(&self, x: &Tensor, memory: &Tensor, causal: &Tensor, alignment: &Tensor) -> Result<Tensor> {
        let h = self.self_norm.forward(x)?;
        let x = (x + self.self_attention.forward(&h, &h, causal)?)?;
        let x = (&x + self.cross_attention.forward(&self.cross_norm.forward(&x)?, memory, alignment)?)?;
        &x + self.feed_forward.forward(&self.feed_forward_norm.forward(&x)?)?
    }
}

/// Lip–expression features and a speaker style → vertex offsets.
#[derive(Clone, Debug)]
pub struct Decoder {
    memory: Linear,
    style: Linear,
    layers: Vec<DecoderLayer>,
    norm: Norm,
    vertex_mapper: Linear,
    period: usize,
}

impl Decoder {
    /// Loads the decoder from `vb` (`decoder.*`). A new vertex mapper starts
    /// at zero (as FaceFormer's), so an untrained model rests on the template.
    pub fn new(vb: VarBuilder, config: &Config) -> Result<Decoder> {
        let memory_width = match config.architecture {
            Architecture::GaussianSpeech => 2 * config.sizes.hidden,
            Architecture::FaceFormer => config.sizes.hidden,
        };
        let outputs = config.vertex_outputs();
        let mapper = vb.pp("vertex_mapper");
        let vertex_mapper = Linear::new(
            mapper.get_with_hints((outputs, config.sizes.hidden), "weight", candle_nn::init::ZERO)?,
            Some(mapper.get_with_hints(outputs, "bias", candle_nn::init::ZERO)?),
        );
        Ok(Decoder {
            memory: linear(memory_width, config.sizes.hidden, vb.pp("memory"))?,
            style: linear_no_bias(config.speakers.len(), config.sizes.hidden, vb.pp("style"))?,
            layers: (0..config.sizes.decoder_layers)
                .map(|i| DecoderLayer::new(vb.pp(format!("layers.{i}")), config))
                .collect::<Result<_>>()?,
            norm: Norm::new(vb.pp("norm"), config.sizes.hidden)?,
            vertex_mapper,
            period: config.sizes.period,
        })
    }

    /// `memory` `[B, T, memory width]` (lip features, with expression latents
    /// concatenated for GaussianSpeech) and `style` `[B, speakers]` → the
    /// decoder's output `[B, T, hidden]`, before the vertex mapper.
    pub fn hidden(&self, memory: &Tensor, style: &Tensor, causal: &Tensor, alignment: &Tensor) -> Result<Tensor> {
        let memory = self.memory.forward(memory)?;
        let (b, t, w) = memory.dims3()?;
        let queries = self.style.forward(style)?.unsqueeze(1)?.broadcast_as((b, t, w))?;
        let mut x = add_positions(&queries.contiguous()?, self.period)?;
        for layer in &self.layers {
            x = layer.forward(&x, &memory, causal, alignment)?;
        }
        self.norm.forward(&x)
    }

    /// The vertex mapper: decoder outputs → offsets `[B, T, moved vertices · 3]`.
    pub fn vertex_mapper(&self) -> &Linear {
        &self.vertex_mapper
    }

    /// [`Decoder::hidden`], then the vertex mapper.
    pub fn forward(&self, memory: &Tensor, style: &Tensor, causal: &Tensor, alignment: &Tensor) -> Result<Tensor> {
        self.vertex_mapper.forward(&self.hidden(memory, style, causal, alignment)?)
    }
}

/// `motion.decoder`: runs a model's decoder and vertex mapper alone.
pub struct DecoderNode;

impl Node for DecoderNode {
    fn spec(&self) -> NodeSpec {
        part_spec(
            NodeSpec::new("motion.decoder", 1, "Motion Decoder")
                .doc(
                    "The motion model's decoder and vertex mapper on their own: lip features and expression codes \
                     (GaussianSpeech models) in a speaker's style → vertex offsets on the face template.",
                )
                .input(PortSpec::new("lip", PortType::Features, "Lip features from the lip encoder."))
                .input(PortSpec::optional("codes", PortType::Motion, "Expression codes from the expression encoder."))
                .output(PortSpec::new("motion", PortType::Motion, "Vertex offsets at the video frame rate.")),
        )
        .param(ParamSpec::text("speaker", "", "Speaker style by name (empty: the average style)."))
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> std::result::Result<Outputs, NodeError> {
        let model = model_input(inputs)?;
        let c = &model.config;
        let (lip, frames) = part_input(inputs, "lip", c.sizes.hidden)?;
        let k = c.expression_names.len();
        let codes = match (c.architecture, inputs.get("codes").and_then(Value::as_record)) {
            (Architecture::FaceFormer, _) => None,
            (Architecture::GaussianSpeech, None) => {
                return Err(NodeError::input("codes", "is needed by a GaussianSpeech model's decoder"));
            }
            (Architecture::GaussianSpeech, Some(record)) => {
                let t = record.tensor("weights").ok_or_else(|| NodeError::input("codes", "has no weights"))?;
                if t.shape() != [frames, k] {
                    return Err(NodeError::input(
                        "codes",
                        format!("has shape {:?}, the decoder reads [{frames}, {k}]", t.shape()),
                    ));
                }
                Some(t.as_f32().expect("validated"))
            }
        };
        let speaker = c.speaker_index(params.text("speaker")?).map_err(|e| NodeError::param("speaker", e))?;
        let style = styles(&[speaker], c.speakers.len(), &candle_core::Device::Cpu).map_err(model_error)?;
        let offsets = run_part(
            ctx,
            frames,
            c.vertex_outputs(),
            |batch, masks| {
                let codes = codes.map(|codes| batch.tensor(codes, k)).transpose()?;
                model.network.decode(&batch.tensor(lip, c.sizes.hidden)?, codes.as_ref(), &style, masks)
            },
            &model,
        )?;
        let generated = Generated {
            offsets,
            codes: None,
            frames,
        };
        Ok(Outputs::new().with("motion", Value::data(motion_record(&model, generated, false))))
    }
}
