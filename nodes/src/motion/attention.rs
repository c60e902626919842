//! The attention blocks every part of the motion model is built from, and the
//! masks that shape them: FaceFormer's periodic positional encoding, its
//! ALiBi-style biased causal mask, and the diagonal alignment mask between
//! the decoder and the audio-side features.
//!
//! All blocks are pre-norm (a layer norm before each sub-layer, residual
//! around it): ours, because pre-norm trains without a learning-rate warm-up
//! trap at the small sizes we ship; FaceFormer's PyTorch modules are post-norm.
//!
//! The layer norm and softmax here carry their gradients ([`super::fused`]):
//! candle-nn's fused `layer_norm` and `softmax_last_dim` record none, so a
//! network built on them trains only the layers after its last norm.

use candle_core::{D, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

/// Layer normalisation over the last axis with a gain and a bias.
#[derive(Clone, Debug)]
pub struct Norm {
    weight: Tensor,
    bias: Tensor,
}

/// The norms' epsilon, as PyTorch's `nn.LayerNorm`.
const NORM_EPS: f64 = 1e-5;

impl Norm {
    /// A `width`-wide norm (`weight` starts at one, `bias` at zero).
    pub fn new(vb: VarBuilder, width: usize) -> Result<Norm> {
        Ok(Norm {
            weight: vb.get_with_hints(width, "weight", candle_nn::init::ONE)?,
            bias: vb.get_with_hints(width, "bias", candle_nn::init::ZERO)?,
        })
    }
}

impl Module for Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        super::fused::standardise(x, NORM_EPS)?
            .broadcast_mul(&self.weight)?
            .broadcast_add(&self.bias)
    }
}

/// The additive value of a masked attention score. Finite, so a row whose
/// every key is masked gives a uniform softmax instead of NaN (a NaN would
/// reach the gradients even where the loss ignores that frame).
pub const MASKED: f32 = -1e9;

/// ALiBi's per-head slopes (Press et al. 2022), as FaceFormer computes them:
/// a geometric sequence for a power-of-two head count, interleaved otherwise.
pub fn alibi_slopes(heads: usize) -> Vec<f32> {
    fn power_of_two(n: usize) -> Vec<f32> {
        let start = 2f64.powf(-(2f64.powf(-((n as f64).log2() - 3.0))));
        (0..n).map(|i| start.powi(i as i32 + 1) as f32).collect()
    }
    if heads.is_power_of_two() {
        return power_of_two(heads);
    }
    let closest = 1 << (usize::BITS - 1 - heads.leading_zeros());
    let mut slopes = power_of_two(closest);
    let extra = power_of_two(2 * closest);
    slopes.extend(extra.into_iter().step_by(2).take(heads - closest));
    slopes
}

/// FaceFormer's biased causal mask, `[heads, frames, frames]`: frame `i` sees
/// frames `j ≤ i` with the bias `-slopeₕ · ⌊(i − j) / period⌋`, and never the
/// future.
pub fn causal_bias(heads: usize, frames: usize, period: usize) -> Vec<f32> {
    let slopes = alibi_slopes(heads);
    let mut out = vec![MASKED; heads * frames * frames];
    for (h, slope) in slopes.iter().enumerate() {
        for i in 0..frames {
            for j in 0..=i {
                out[(h * frames + i) * frames + j] = -slope * ((i - j) / period) as f32;
            }
        }
    }
    out
}

/// The encoders' bias, `[heads, frames, frames]`: the same ALiBi slopes in
/// both directions, `-slopeₕ · ⌊|i − j| / period⌋`, so the encoders see the
/// whole window yet favour nearby frames and carry over to windows longer
/// than those trained on (ours; the paper does not say how its encoders
/// attend).
pub fn symmetric_bias(heads: usize, frames: usize, period: usize) -> Vec<f32> {
    let slopes = alibi_slopes(heads);
    let mut out = Vec::with_capacity(heads * frames * frames);
    for slope in &slopes {
        for i in 0..frames {
            out.extend((0..frames).map(|j| -slope * (i.abs_diff(j) / period) as f32));
        }
    }
    out
}

/// FaceFormer's alignment mask, `[frames, frames]`: decoder frame `i` attends
/// to the audio-side features of frame `i` alone.
pub fn alignment_mask(frames: usize) -> Vec<f32> {
    let mut out = vec![MASKED; frames * frames];
    for i in 0..frames {
        out[i * frames + i] = 0.0;
    }
    out
}

/// FaceFormer's periodic positional encoding, `[frames, width]`: the
/// sinusoidal encoding of `position mod period`, so every period looks the
/// same and sequences of any length are covered.
pub fn periodic_encoding(frames: usize, width: usize, period: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(frames * width);
    for t in 0..frames {
        let position = (t % period) as f64;
        for d in 0..width {
            let rate = (-(10000f64.ln()) * (2 * (d / 2)) as f64 / width as f64).exp();
            let angle = position * rate;
            out.push(if d % 2 == 0 { angle.sin() } else { angle.cos() } as f32);
        }
    }
    out
}

/// A `[rows, cols]` bias as a tensor with a leading batch axis of one.
pub fn bias_tensor(values: Vec<f32>, shape: &[usize], device: &Device) -> Result<Tensor> {
    let mut dims = vec![1];
    dims.extend_from_slice(shape);
    Tensor::from_vec(values, dims, device)
}

/// A key-padding bias `[batch, 1, 1, frames]` from per-sequence lengths:
/// frames past a sequence's end are masked as keys.
pub fn padding_bias(lengths: &[usize], frames: usize, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = lengths
        .iter()
        .flat_map(|&n| (0..frames).map(move |t| if t < n { 0.0 } else { MASKED }))
        .collect();
    Tensor::from_vec(values, (lengths.len(), 1, 1, frames), device)
}

/// Multi-head scaled dot-product attention with an additive bias.
#[derive(Clone, Debug)]
pub struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    out: Linear,
    heads: usize,
}

impl Attention {
    /// Loads the four projections of a `width`-wide block with `heads` heads.
    pub fn new(vb: VarBuilder, width: usize, heads: usize) -> Result<Attention> {
        if width % heads != 0 {
            candle_core::bail!("attention width {width} is not a multiple of {heads} heads");
        }
        Ok(Attention {
            query: linear(width, width, vb.pp("query"))?,
            key: linear(width, width, vb.pp("key"))?,
            value: linear(width, width, vb.pp("value"))?,
            out: linear(width, width, vb.pp("out"))?,
            heads,
        })
    }

    /// `x` `[B, Tq, W]` attends to `memory` `[B, Tk, W]`; `bias` broadcasts to
    /// `[B, heads, Tq, Tk]`.
    pub fn forward(&self, x: &Tensor, memory: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (b, tq, width) = x.dims3()?;
        let tk = memory.dim(1)?;
        let head = width / self.heads;
        let split = |t: Tensor, frames: usize| -> Result<Tensor> {
            t.reshape((b, frames, self.heads, head))?.transpose(1, 2)?.contiguous()
        };
        let q = (split(self.query.forward(x)?, tq)? * (1.0 / (head as f64).sqrt()))?;
        let k = split(self.key.forward(memory)?, tk)?;
        let v = split(self.value.forward(memory)?, tk)?;
        let scores = q.matmul(&k.t()?.contiguous()?)?.broadcast_add(bias)?;
        let weights = super::fused::softmax(&scores)?;
        let mixed = weights.matmul(&v)?.transpose(1, 2)?.reshape((b, tq, width))?;
        self.out.forward(&mixed)
    }
}

/// A two-layer feed-forward block with a GELU between.
#[derive(Clone, Debug)]
pub struct FeedForward {
    up: Linear,
    down: Linear,
}

impl FeedForward {
    /// `width → hidden → width`.
    pub fn new(vb: VarBuilder, width: usize, hidden: usize) -> Result<FeedForward> {
        Ok(FeedForward {
            up: linear(width, hidden, vb.pp("up"))?,
            down: linear(hidden, width, vb.pp("down"))?,
        })
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.down.forward(&self.up.forward(x)?.gelu_erf()?)
    }
}

/// A transformer encoder layer: self-attention, then feed-forward.
#[derive(Clone, Debug)]
pub struct EncoderLayer {
    attention_norm: Norm,
    attention: Attention,
    feed_forward_norm: Norm,
    feed_forward: FeedForward,
}

impl EncoderLayer {
    /// A `width`-wide layer.
    pub fn new(vb: VarBuilder, width: usize, heads: usize, hidden: usize) -> Result<EncoderLayer> {
        Ok(EncoderLayer {
            attention_norm: Norm::new(vb.pp("attention_norm"), width)?,
            attention: Attention::new(vb.pp("attention"), width, heads)?,
            feed_forward_norm: Norm::new(vb.pp("feed_forward_norm"), width)?,
            feed_forward: FeedForward::new(vb.pp("feed_forward"), width, hidden)?,
        })
    }

    /// `x` `[B, T, W]` with its self-attention bias.
    pub fn forward(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let h = self.attention_norm.forward(x)?;
        let x = (x + self.attention.forward(&h, &h, bias)?)?;
        &x + self.feed_forward.forward(&self.feed_forward_norm.forward(&x)?)?
    }
}

/// A stack of encoder layers with a final layer norm.
#[derive(Clone, Debug)]
pub struct Encoder {
    layers: Vec<EncoderLayer>,
    norm: Norm,
}

impl Encoder {
    /// `count` layers of `width`.
    pub fn new(vb: VarBuilder, count: usize, width: usize, heads: usize, hidden: usize) -> Result<Encoder> {
        let layers = (0..count)
            .map(|i| EncoderLayer::new(vb.pp(format!("layers.{i}")), width, heads, hidden))
            .collect::<Result<_>>()?;
        Ok(Encoder {
            layers,
            norm: Norm::new(vb.pp("norm"), width)?,
        })
    }

    /// Runs every layer over `x` `[B, T, W]`.
    pub fn forward(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for layer in &self.layers {
            x = layer.forward(&x, bias)?;
        }
        self.norm.forward(&x)
    }
}

/// The sum of the attention masks for one batch: a `[heads, T, T]` pattern
/// plus, where sequences are padded, their key padding.
pub fn batch_bias(pattern: Vec<f32>, heads: usize, frames: usize, padding: Option<&Tensor>) -> Result<Tensor> {
    let device = padding.map_or(Device::Cpu, |p| p.device().clone());
    let bias = bias_tensor(pattern, &[heads, frames, frames], &device)?;
    match padding {
        Some(p) => bias.broadcast_add(p),
        None => Ok(bias),
    }
}

/// Adds `[T, W]` positional encodings to `x` `[B, T, W]`.
pub fn add_positions(x: &Tensor, period: usize) -> Result<Tensor> {
    let (_, frames, width) = x.dims3()?;
    let encoding = Tensor::from_vec(periodic_encoding(frames, width, period), (1, frames, width), x.device())?;
    x.broadcast_add(&encoding.to_dtype(x.dtype())?)
}

/// Concatenates `[B, T, ·]` tensors along the feature axis.
pub fn concat_features(parts: &[&Tensor]) -> Result<Tensor> {
    Tensor::cat(parts, D::Minus1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    #[test]
    fn causal_bias_matches_faceformer_by_hand() {
        // Two heads: slopes 2^-4 and 2^-8 (start = 2^-(2^-(1-3)) = 2^-4 for n = 2).
        let slopes = alibi_slopes(2);
        assert_eq!(slopes, vec![1.0 / 16.0, 1.0 / 256.0]);
        let bias = causal_bias(2, 4, 2);
        let head0: Vec<f32> = bias[..16].to_vec();
        let s = 1.0 / 16.0;
        #[rustfmt::skip]
        let expected = [
            0.0, MASKED, MASKED, MASKED,
            0.0, 0.0, MASKED, MASKED,
            -s, 0.0, 0.0, MASKED,
            -s, -s, 0.0, 0.0,
        ];
        assert_eq!(head0, expected);
        assert_eq!(bias[16 + 3 * 4], -1.0 / 256.0, "second head, frame 3 to frame 0");
    }

    #[test]
    fn alibi_slopes_for_other_head_counts() {
        // FaceFormer's get_slopes(8) and get_slopes(6).
        let eight: Vec<f32> = (1..=8).map(|i| 0.5f32.powi(i)).collect();
        assert_eq!(alibi_slopes(8), eight);
        let four: Vec<f32> = (1..=4).map(|i| 0.25f32.powi(i)).collect();
        let six = alibi_slopes(6);
        assert_eq!(&six[..4], &four[..]);
        assert_eq!(six[4..], [0.5, 0.125]);
    }

    #[test]
    fn symmetric_bias_and_alignment_mask_by_hand() {
        let bias = symmetric_bias(1, 3, 1);
        let s = alibi_slopes(1)[0];
        assert_eq!(bias, vec![0.0, -s, -2.0 * s, -s, 0.0, -s, -2.0 * s, -s, 0.0]);
        let m = MASKED;
        assert_eq!(alignment_mask(3), vec![0.0, m, m, m, 0.0, m, m, m, 0.0]);
    }

    #[test]
    fn periodic_encoding_repeats_with_the_period() {
        let pe = periodic_encoding(7, 4, 3);
        assert_eq!(&pe[..4], &[0.0, 1.0, 0.0, 1.0]);
        assert_eq!(&pe[3 * 4..4 * 4], &pe[..4]);
        assert_eq!(&pe[4 * 4..5 * 4], &pe[4..8]);
        // Position 1, dims 2-3: rate 10000^(-2/4) = 0.01.
        assert!((pe[6] - 0.01f32.sin()).abs() < 1e-7 && (pe[7] - 0.01f32.cos()).abs() < 1e-7);
    }

    #[test]
    fn a_fully_masked_row_is_not_nan() {
        let device = Device::Cpu;
        let varmap = candle_nn::VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let attention = Attention::new(vb, 4, 2).unwrap();
        let x = Tensor::ones((1, 2, 4), DType::F32, &device).unwrap();
        let bias = Tensor::full(MASKED, (1, 1, 2, 2), &device).unwrap();
        let y = attention.forward(&x, &x, &bias).unwrap();
        let values: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert!(values.iter().all(|v| v.is_finite()));
    }
}
