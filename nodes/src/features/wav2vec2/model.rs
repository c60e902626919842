//! Wav2Vec 2.0 (Baevski et al. 2020) in candle, matching Hugging Face
//! `transformers`' `Wav2Vec2Model`: the convolutional feature encoder (group
//! norm "base" or layer norm "large/lv60", with or without conv bias), the
//! feature projection, the weight-normalised positional convolution, and the
//! transformer encoder in post-norm (base) or pre-norm ("stable layer norm")
//! form.

use candle_core::{Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};

use super::kernels::{self, ChannelsLastConv};
use serde::Deserialize;

/// The fields of a Hugging Face `config.json` this model reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Width of the transformer.
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layers.
    pub intermediate_size: usize,
    /// Channels of each feature-encoder convolution.
    pub conv_dim: Vec<usize>,
    /// Stride of each feature-encoder convolution.
    pub conv_stride: Vec<usize>,
    /// Kernel of each feature-encoder convolution.
    pub conv_kernel: Vec<usize>,
    /// Whether the feature-encoder convolutions have a bias.
    #[serde(default)]
    pub conv_bias: bool,
    /// Kernel of the positional convolution.
    pub num_conv_pos_embeddings: usize,
    /// Groups of the positional convolution.
    pub num_conv_pos_embedding_groups: usize,
    /// "group" (base) or "layer" (large/lv60) normalisation in the feature encoder.
    #[serde(default = "default_norm")]
    pub feat_extract_norm: String,
    /// Pre-norm encoder layers (large/lv60) instead of post-norm (base).
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// Epsilon of the projection and encoder layer norms.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Activation of the encoder's feed-forward layers.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Activation of the feature encoder and positional convolution.
    #[serde(default = "default_act")]
    pub feat_extract_activation: String,
}

fn default_norm() -> String {
    "group".into()
}
fn default_eps() -> f64 {
    1e-5
}
fn default_act() -> String {
    "gelu".into()
}

impl Config {
    /// Input samples per output frame (the product of the strides).
    pub fn total_stride(&self) -> usize {
        self.conv_stride.iter().product()
    }

    /// Output frames for `samples` input samples.
    pub fn frames_for(&self, samples: usize) -> usize {
        self.conv_kernel
            .iter()
            .zip(&self.conv_stride)
            .fold(samples, |n, (&k, &s)| if n < k { 0 } else { (n - k) / s + 1 })
    }

    /// Input samples one output frame sees.
    pub fn receptive_field(&self) -> usize {
        let mut field = 1;
        let mut jump = 1;
        for (&k, &s) in self.conv_kernel.iter().zip(&self.conv_stride) {
            field += (k - 1) * jump;
            jump *= s;
        }
        field
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Activation {
    Gelu,
    GeluTanh,
    Relu,
    Silu,
}

impl Activation {
    fn parse(name: &str) -> Result<Activation> {
        Ok(match name {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            other => candle_core::bail!("activation `{other}` is not supported"),
        })
    }

    /// The activation of `x`, a fresh result that this may overwrite.
    fn apply(self, x: Tensor) -> Result<Tensor> {
        match self {
            Activation::Gelu => kernels::gelu_erf(x),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
            Activation::Silu => candle_nn::ops::silu(&x),
        }
    }
}

enum ConvNorm {
    /// Group norm with one channel per group: each channel over time ("base").
    Channel { weight: Tensor, bias: Tensor },
    /// Layer norm over the channels of each frame ("large/lv60").
    Layer(LayerNorm),
}

/// One layer of the feature encoder, on `[batch, time, channels]` data.
struct ConvLayer {
    conv: ChannelsLastConv,
    norm: Option<ConvNorm>,
    act: Activation,
}

impl ConvLayer {
    fn load(vb: VarBuilder, cfg: &Config, i: usize, act: Activation) -> Result<ConvLayer> {
        let in_dim = if i == 0 { 1 } else { cfg.conv_dim[i - 1] };
        let out_dim = cfg.conv_dim[i];
        let vbc = vb.pp("conv");
        let weight = vbc.get((out_dim, in_dim, cfg.conv_kernel[i]), "weight")?;
        let bias = cfg.conv_bias.then(|| vbc.get(out_dim, "bias")).transpose()?;
        let conv = ChannelsLastConv::new(&weight, bias.as_ref(), cfg.conv_stride[i], 0, 1)?;
        let vbn = vb.pp("layer_norm");
        let norm = match cfg.feat_extract_norm.as_str() {
            "group" if i == 0 => Some(ConvNorm::Channel {
                weight: vbn.get(out_dim, "weight")?,
                bias: vbn.get(out_dim, "bias")?,
            }),
            "group" => None,
            "layer" => Some(ConvNorm::Layer(candle_nn::layer_norm(out_dim, 1e-5, vbn)?)),
            other => candle_core::bail!("feat_extract_norm `{other}` is not supported (group or layer)"),
        };
        Ok(ConvLayer { conv, norm, act })
    }

    /// `[batch, time, channels]` → `[batch, time', channels']`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.conv.forward(x)?;
        match &self.norm {
            Some(ConvNorm::Channel { weight, bias }) => {
                // The norm and a GELU run in one pass over the data.
                let fused = self.act == Activation::Gelu;
                let x = kernels::normalize_channels_over_time(x, weight, bias, 1e-5, fused)?;
                if fused { Ok(x) } else { self.act.apply(x) }
            }
            Some(ConvNorm::Layer(n)) => self.act.apply(n.forward(&x)?),
            None => self.act.apply(x),
        }
    }
}

/// The positional convolution, its weight rebuilt from the weight-norm factors.
struct PositionalConv {
    conv: ChannelsLastConv,
    drop_last: bool,
    act: Activation,
}

impl PositionalConv {
    fn load(vb: VarBuilder, cfg: &Config, act: Activation) -> Result<PositionalConv> {
        let (h, k, groups) = (
            cfg.hidden_size,
            cfg.num_conv_pos_embeddings,
            cfg.num_conv_pos_embedding_groups,
        );
        let vb = vb.pp("conv");
        // Released checkpoints say weight_g/weight_v; newer transformers write parametrizations.
        let (g, v) = if vb.contains_tensor("weight_g") {
            (vb.get((1, 1, k), "weight_g")?, vb.get((h, h / groups, k), "weight_v")?)
        } else {
            let p = vb.pp("parametrizations.weight");
            (p.get((1, 1, k), "original0")?, p.get((h, h / groups, k), "original1")?)
        };
        // Weight norm over every dimension but the kernel's (dim 2).
        let norm = v.sqr()?.sum_keepdim(0)?.sum_keepdim(1)?.sqrt()?;
        let weight = v.broadcast_mul(&g.broadcast_div(&norm)?)?;
        let bias = vb.get(h, "bias")?;
        Ok(PositionalConv {
            conv: ChannelsLastConv::new(&weight, Some(&bias), 1, k / 2, groups)?,
            drop_last: k % 2 == 0,
            act,
        })
    }

    /// `[batch, time, hidden]` → the positional embeddings, same shape.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv.forward(x)?;
        let y = if self.drop_last {
            y.narrow(1, 0, y.dim(1)? - 1)?
        } else {
            y
        };
        self.act.apply(y)
    }
}

/// Multi-head self-attention. The query, key and value projections are one
/// dense layer whose query rows are pre-scaled by `head_dim^-1/2`.
struct Attention {
    qkv: ChannelsLastConv,
    out: ChannelsLastConv,
    heads: usize,
}

impl Attention {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Attention> {
        let h = cfg.hidden_size;
        let heads = cfg.num_attention_heads;
        let scale = ((h / heads) as f64).powf(-0.5);
        let part = |name: &str, scale: f64| -> Result<(Tensor, Tensor)> {
            let vb = vb.pp(name);
            Ok(((vb.get((h, h), "weight")? * scale)?, (vb.get(h, "bias")? * scale)?))
        };
        let (q, k, v) = (part("q_proj", scale)?, part("k_proj", 1.0)?, part("v_proj", 1.0)?);
        let weight = Tensor::cat(&[&q.0, &k.0, &v.0], 0)?;
        let bias = Tensor::cat(&[&q.1, &k.1, &v.1], 0)?;
        let out = vb.pp("out_proj");
        Ok(Attention {
            qkv: kernels::dense(&weight, Some(&bias))?,
            out: kernels::dense(&out.get((h, h), "weight")?, Some(&out.get(h, "bias")?))?,
            heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.out
            .forward(&kernels::attention(&self.qkv.forward(x)?, self.heads)?)
    }
}

/// A dense layer loaded from `weight` `[out, in]` and `bias` `[out]`.
fn load_dense(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<ChannelsLastConv> {
    kernels::dense(&vb.get((out_dim, in_dim), "weight")?, Some(&vb.get(out_dim, "bias")?))
}

struct FeedForward {
    intermediate: ChannelsLastConv,
    output: ChannelsLastConv,
    act: Activation,
}

impl FeedForward {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<FeedForward> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        Ok(FeedForward {
            intermediate: load_dense(vb.pp("intermediate_dense"), h, i)?,
            output: load_dense(vb.pp("output_dense"), i, h)?,
            act: Activation::parse(&cfg.hidden_act)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.output.forward(&self.act.apply(self.intermediate.forward(x)?)?)
    }
}

struct EncoderLayer {
    attention: Attention,
    layer_norm: LayerNorm,
    feed_forward: FeedForward,
    final_layer_norm: LayerNorm,
    pre_norm: bool,
}

impl EncoderLayer {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<EncoderLayer> {
        let ln = |name| candle_nn::layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp(name));
        Ok(EncoderLayer {
            attention: Attention::load(vb.pp("attention"), cfg)?,
            layer_norm: ln("layer_norm")?,
            feed_forward: FeedForward::load(vb.pp("feed_forward"), cfg)?,
            final_layer_norm: ln("final_layer_norm")?,
            pre_norm: cfg.do_stable_layer_norm,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.pre_norm {
            let x = (x + self.attention.forward(&self.layer_norm.forward(x)?)?)?;
            &x + self.feed_forward.forward(&self.final_layer_norm.forward(&x)?)?
        } else {
            let x = kernels::residual_layer_norm(self.attention.forward(x)?, x, &self.layer_norm)?;
            kernels::residual_layer_norm(self.feed_forward.forward(&x)?, &x, &self.final_layer_norm)
        }
    }
}

/// What the model computes for a batch of audio.
pub struct Output {
    /// The feature encoder's output after the projection's layer norm, `[batch, frames, conv_dim]`.
    pub extract_features: Tensor,
    /// The encoder input and each layer's output, `[batch, frames, hidden]` each
    /// (as `output_hidden_states` in transformers: layers + 1 tensors; in the
    /// pre-norm layout the last is taken before the final layer norm).
    pub hidden_states: Vec<Tensor>,
    /// The model's output, `[batch, frames, hidden]`.
    pub last_hidden_state: Tensor,
}

/// The Wav2Vec 2.0 model.
pub struct Wav2Vec2 {
    conv_layers: Vec<ConvLayer>,
    projection_norm: LayerNorm,
    projection: ChannelsLastConv,
    positional: PositionalConv,
    encoder_norm: LayerNorm,
    layers: Vec<EncoderLayer>,
    pre_norm: bool,
}

impl Wav2Vec2 {
    /// Loads the weights of a `Wav2Vec2Model` (or of the `wav2vec2.` part of a
    /// larger checkpoint such as `Wav2Vec2ForCTC`).
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Wav2Vec2> {
        let vb = if vb.contains_tensor("wav2vec2.feature_projection.projection.weight") {
            vb.pp("wav2vec2")
        } else {
            vb
        };
        let act = Activation::parse(&cfg.feat_extract_activation)?;
        let n = cfg.conv_dim.len();
        if cfg.conv_stride.len() != n || cfg.conv_kernel.len() != n || n == 0 {
            candle_core::bail!("conv_dim, conv_stride and conv_kernel must have the same, non-zero length");
        }
        let conv_layers = (0..n)
            .map(|i| ConvLayer::load(vb.pp(format!("feature_extractor.conv_layers.{i}")), cfg, i, act))
            .collect::<Result<Vec<_>>>()?;
        let fp = vb.pp("feature_projection");
        let encoder = vb.pp("encoder");
        Ok(Wav2Vec2 {
            conv_layers,
            projection_norm: candle_nn::layer_norm(cfg.conv_dim[n - 1], cfg.layer_norm_eps, fp.pp("layer_norm"))?,
            projection: load_dense(fp.pp("projection"), cfg.conv_dim[n - 1], cfg.hidden_size)?,
            positional: PositionalConv::load(encoder.pp("pos_conv_embed"), cfg, act)?,
            encoder_norm: candle_nn::layer_norm(cfg.hidden_size, cfg.layer_norm_eps, encoder.pp("layer_norm"))?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| EncoderLayer::load(encoder.pp(format!("layers.{i}")), cfg))
                .collect::<Result<Vec<_>>>()?,
            pre_norm: cfg.do_stable_layer_norm,
        })
    }

    /// Runs the model on `[batch, samples]` audio at 16 kHz.
    pub fn forward(&self, audio: &Tensor) -> Result<Output> {
        let mut x = audio.unsqueeze(2)?;
        for layer in &self.conv_layers {
            x = layer.forward(&x)?;
        }
        let extract_features = self.projection_norm.forward(&x)?;
        let mut h = self.projection.forward(&extract_features)?;
        h = (&h + self.positional.forward(&h)?)?;
        if !self.pre_norm {
            h = self.encoder_norm.forward(&h)?;
        }
        let mut hidden_states = Vec::with_capacity(self.layers.len() + 1);
        for layer in &self.layers {
            hidden_states.push(h.clone());
            h = layer.forward(&h)?;
        }
        let last_hidden_state = if self.pre_norm {
            self.encoder_norm.forward(&h)?
        } else {
            h.clone()
        };
        hidden_states.push(h);
        Ok(Output {
            extract_features,
            hidden_states,
            last_hidden_state,
        })
    }
}
