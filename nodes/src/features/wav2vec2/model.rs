//! Wav2Vec 2.0 (Baevski et al. 2020) in candle, matching Hugging Face
//! `transformers`' `Wav2Vec2Model`: the convolutional feature encoder (group
//! norm "base" or layer norm "large/lv60", with or without conv bias), the
//! feature projection, the weight-normalised positional convolution, and the
//! transformer encoder in post-norm (base) or pre-norm ("stable layer norm")
//! form.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, GroupNorm, LayerNorm, Linear, VarBuilder};
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

#[derive(Debug, Clone, Copy)]
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

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Gelu => x.gelu_erf(),
            Activation::GeluTanh => x.gelu(),
            Activation::Relu => x.relu(),
            Activation::Silu => candle_nn::ops::silu(x),
        }
    }
}

enum ConvNorm {
    Group(GroupNorm),
    Layer(LayerNorm),
}

struct ConvLayer {
    conv: Conv1d,
    norm: Option<ConvNorm>,
    act: Activation,
}

impl ConvLayer {
    fn load(vb: VarBuilder, cfg: &Config, i: usize, act: Activation) -> Result<ConvLayer> {
        let in_dim = if i == 0 { 1 } else { cfg.conv_dim[i - 1] };
        let out_dim = cfg.conv_dim[i];
        let conv_cfg = Conv1dConfig {
            stride: cfg.conv_stride[i],
            ..Default::default()
        };
        let vbc = vb.pp("conv");
        let conv = if cfg.conv_bias {
            candle_nn::conv1d(in_dim, out_dim, cfg.conv_kernel[i], conv_cfg, vbc)?
        } else {
            candle_nn::conv1d_no_bias(in_dim, out_dim, cfg.conv_kernel[i], conv_cfg, vbc)?
        };
        let norm = match cfg.feat_extract_norm.as_str() {
            "group" if i == 0 => Some(ConvNorm::Group(candle_nn::group_norm(
                out_dim,
                out_dim,
                1e-5,
                vb.pp("layer_norm"),
            )?)),
            "group" => None,
            "layer" => Some(ConvNorm::Layer(candle_nn::layer_norm(
                out_dim,
                1e-5,
                vb.pp("layer_norm"),
            )?)),
            other => candle_core::bail!("feat_extract_norm `{other}` is not supported (group or layer)"),
        };
        Ok(ConvLayer { conv, norm, act })
    }

    /// `[batch, channels, time]` → `[batch, channels', time']`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.conv.forward(x)?;
        let x = match &self.norm {
            Some(ConvNorm::Group(n)) => n.forward(&x)?,
            Some(ConvNorm::Layer(n)) => n.forward(&x.transpose(1, 2)?)?.transpose(1, 2)?,
            None => x,
        };
        self.act.apply(&x)
    }
}

/// The positional convolution, its weight rebuilt from the weight-norm factors.
struct PositionalConv {
    conv: Conv1d,
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
        let conv_cfg = Conv1dConfig {
            padding: k / 2,
            groups,
            ..Default::default()
        };
        Ok(PositionalConv {
            conv: Conv1d::new(weight, Some(bias), conv_cfg),
            drop_last: k % 2 == 0,
            act,
        })
    }

    /// `[batch, time, hidden]` → the positional embeddings, same shape.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv.forward(&x.transpose(1, 2)?)?;
        let y = if self.drop_last {
            y.narrow(2, 0, y.dim(2)? - 1)?
        } else {
            y
        };
        self.act.apply(&y)?.transpose(1, 2)
    }
}

struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
    head_dim: usize,
}

impl Attention {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<Attention> {
        let h = cfg.hidden_size;
        Ok(Attention {
            q: candle_nn::linear(h, h, vb.pp("q_proj"))?,
            k: candle_nn::linear(h, h, vb.pp("k_proj"))?,
            v: candle_nn::linear(h, h, vb.pp("v_proj"))?,
            out: candle_nn::linear(h, h, vb.pp("out_proj"))?,
            heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let split = |y: Tensor| {
            y.reshape((b, t, self.heads, self.head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split((self.q.forward(x)? * (self.head_dim as f64).powf(-0.5))?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
        let weights = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?;
        let y = weights.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        self.out.forward(&y)
    }
}

struct FeedForward {
    intermediate: Linear,
    output: Linear,
    act: Activation,
}

impl FeedForward {
    fn load(vb: VarBuilder, cfg: &Config) -> Result<FeedForward> {
        Ok(FeedForward {
            intermediate: candle_nn::linear(cfg.hidden_size, cfg.intermediate_size, vb.pp("intermediate_dense"))?,
            output: candle_nn::linear(cfg.intermediate_size, cfg.hidden_size, vb.pp("output_dense"))?,
            act: Activation::parse(&cfg.hidden_act)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.output.forward(&self.act.apply(&self.intermediate.forward(x)?)?)
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
            let x = self.layer_norm.forward(&(x + self.attention.forward(x)?)?)?;
            self.final_layer_norm.forward(&(&x + self.feed_forward.forward(&x)?)?)
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
    projection: Linear,
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
            projection: candle_nn::linear(cfg.conv_dim[n - 1], cfg.hidden_size, fp.pp("projection"))?,
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
        let mut x = audio.unsqueeze(1)?;
        for layer in &self.conv_layers {
            x = layer.forward(&x)?;
        }
        let extract_features = self.projection_norm.forward(&x.transpose(1, 2)?)?;
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
