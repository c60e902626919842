//! The whole motion network: lip encoder → wrinkle encoder → expression
//! encoder → Expression2Latent → decoder → vertex mapper, with the masks
//! each stage attends through. Each stage is also callable on its own, for
//! the part nodes.

use candle_core::{Device, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::attention::{alignment_mask, batch_bias, bias_tensor, causal_bias, concat_features, padding_bias, symmetric_bias};
use super::config::{Architecture, Config};
use super::decoder::Decoder;
use super::expression_encoder::ExpressionEncoder;
use super::latent::Expression2Latent;
use super::lip_encoder::LipEncoder;
use super::wrinkle_encoder::WrinkleEncoder;

/// The attention masks for a batch of `frames`-long windows.
#[derive(Clone, Debug)]
pub struct Masks {
    /// The encoders' symmetric bias plus key padding, `[B, heads, T, T]`.
    pub encoder: Tensor,
    /// The decoder's biased causal mask, `[1, heads, T, T]`.
    pub causal: Tensor,
    /// The alignment mask, `[1, 1, T, T]`.
    pub alignment: Tensor,
}

impl Masks {
    /// Masks for windows of `frames` frames, of which each sequence uses the
    /// first `lengths[b]` (padding after them is never attended to by a real frame).
    pub fn new(config: &Config, frames: usize, lengths: &[usize], device: &Device) -> Result<Masks> {
        let heads = config.sizes.heads;
        let padding = if lengths.iter().all(|&n| n == frames) {
            None
        } else {
            Some(padding_bias(lengths, frames, device)?)
        };
        let encoder = match padding {
            Some(ref p) => batch_bias(symmetric_bias(heads, frames, config.sizes.period), heads, frames, Some(p))?,
            None => bias_tensor(symmetric_bias(heads, frames, config.sizes.period), &[heads, frames, frames], device)?,
        };
        Ok(Masks {
            encoder,
            causal: bias_tensor(causal_bias(heads, frames, config.sizes.period), &[heads, frames, frames], device)?,
            alignment: bias_tensor(alignment_mask(frames), &[1, frames, frames], device)?,
        })
    }
}

/// What the network predicts for a batch.
#[derive(Clone, Debug)]
pub struct Prediction {
    /// Vertex offsets on the moved vertices, `[B, T, moved · 3]`.
    pub offsets: Tensor,
    /// Expression codes, `[B, T, codes]` (GaussianSpeech only).
    pub codes: Option<Tensor>,
}

/// The motion network.
#[derive(Clone, Debug)]
pub struct MotionTransformer {
    /// Its configuration.
    pub config: Config,
    lip: LipEncoder,
    wrinkle: Option<WrinkleEncoder>,
    expression: Option<ExpressionEncoder>,
    latent: Option<Expression2Latent>,
    decoder: Decoder,
}

impl MotionTransformer {
    /// Loads (or, from a fresh variable map, creates) every part.
    pub fn new(vb: VarBuilder, config: &Config) -> Result<MotionTransformer> {
        config.check().map_err(candle_core::Error::msg)?;
        let full = config.architecture == Architecture::GaussianSpeech;
        Ok(MotionTransformer {
            config: config.clone(),
            lip: LipEncoder::new(vb.pp("lip_encoder"), config)?,
            wrinkle: full
                .then(|| WrinkleEncoder::new(vb.pp("wrinkle_encoder"), config))
                .transpose()?,
            expression: full
                .then(|| ExpressionEncoder::new(vb.pp("expression_encoder"), config))
                .transpose()?,
            latent: full
                .then(|| Expression2Latent::new(vb.pp("expression_latent"), config))
                .transpose()?,
            decoder: Decoder::new(vb.pp("decoder"), config)?,
        })
    }

    /// Lip features `[B, T, hidden]` from audio `[B, T, steps·dims]` in the
    /// style `style` `[B or 1, speakers]` (read by personalised models).
    pub fn lip_features(&self, audio: &Tensor, style: &Tensor, masks: &Masks) -> Result<Tensor> {
        self.lip.forward(audio, style, &masks.encoder)
    }

    /// Wrinkle features `[B, T, hidden]` (GaussianSpeech only).
    pub fn wrinkle_features(&self, audio: &Tensor, lip: &Tensor, masks: &Masks) -> Result<Tensor> {
        self.part(&self.wrinkle, "wrinkle encoder")?
            .forward(audio, lip, &masks.encoder)
    }

    /// Expression codes `[B, T, codes]` (GaussianSpeech only).
    pub fn expression_codes(&self, lip: &Tensor, wrinkle: &Tensor, masks: &Masks) -> Result<Tensor> {
        self.part(&self.expression, "expression encoder")?
            .forward(lip, wrinkle, &masks.encoder)
    }

    /// Vertex offsets from lip features and, for GaussianSpeech, expression
    /// codes, in the style `style` `[B, speakers]`.
    pub fn decode(&self, lip: &Tensor, codes: Option<&Tensor>, style: &Tensor, masks: &Masks) -> Result<Tensor> {
        self.decoder.vertex_mapper().forward(&self.decode_hidden(lip, codes, style, masks)?)
    }

    /// The decoder's output before the vertex mapper, `[B, T, hidden]`.
    pub fn decode_hidden(&self, lip: &Tensor, codes: Option<&Tensor>, style: &Tensor, masks: &Masks) -> Result<Tensor> {
        let memory = match (&self.latent, codes) {
            (Some(latent), Some(codes)) => concat_features(&[lip, &latent.forward(codes)?])?,
            (Some(_), None) => candle_core::bail!("the GaussianSpeech decoder needs expression codes"),
            (None, _) => lip.clone(),
        };
        self.decoder
            .hidden(&memory, style, &masks.causal, &masks.alignment)
    }

    /// The decoder's output before the vertex mapper, and the expression codes
    /// (GaussianSpeech), for audio `[B, T, steps·dims]`. Training reads these:
    /// its vertex losses need only the mapper's weights, not the offsets.
    pub fn hidden(&self, audio: &Tensor, style: &Tensor, masks: &Masks) -> Result<(Tensor, Option<Tensor>)> {
        let lip = self.lip_features(audio, style, masks)?;
        let codes = match self.config.architecture {
            Architecture::GaussianSpeech => {
                let wrinkle = self.wrinkle_features(audio, &lip, masks)?;
                Some(self.expression_codes(&lip, &wrinkle, masks)?)
            }
            Architecture::FaceFormer => None,
        };
        Ok((self.decode_hidden(&lip, codes.as_ref(), style, masks)?, codes))
    }

    /// Runs every stage: audio `[B, T, steps·dims]` → offsets and codes.
    pub fn forward(&self, audio: &Tensor, style: &Tensor, masks: &Masks) -> Result<Prediction> {
        let (hidden, codes) = self.hidden(audio, style, masks)?;
        Ok(Prediction {
            offsets: self.decoder.vertex_mapper().forward(&hidden)?,
            codes,
        })
    }

    /// The vertex mapper.
    pub fn vertex_mapper(&self) -> &candle_nn::Linear {
        self.decoder.vertex_mapper()
    }

    fn part<'a, T>(&self, part: &'a Option<T>, name: &str) -> Result<&'a T> {
        part.as_ref().ok_or_else(|| {
            candle_core::Error::msg(format!(
                "a {} model has no {name}",
                self.config.architecture.name()
            ))
        })
    }
}

/// Speaker styles `[B, speakers]`: one-hot rows, or for `None` every style
/// weighted equally (the average style, for voices the model never heard).
pub fn styles(speakers: &[Option<usize>], count: usize, device: &Device) -> Result<Tensor> {
    let mut values = vec![0f32; speakers.len() * count];
    for (row, s) in speakers.iter().enumerate() {
        match s {
            Some(s) => values[row * count + s] = 1.0,
            None => values[row * count..(row + 1) * count].fill(1.0 / count as f32),
        }
    }
    Tensor::from_vec(values, (speakers.len(), count), device)
}
