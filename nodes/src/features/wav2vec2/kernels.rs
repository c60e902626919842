//! CPU kernels for Wav2Vec 2.0's hot spots, used when the model runs on the
//! CPU; other devices use candle's own operations (the `*_reference`
//! functions, which the tests also hold these kernels to).
//!
//! - Convolutions run on `[time, channels]` ("channels last") data as one GEMM
//!   per group whose rows overlap in memory: row `t` of the unfolded input is
//!   the `kernel × channels` values starting at `t × stride × channels`, so
//!   nothing is copied to unfold it.
//! - Dense layers are convolutions of kernel one; the query, key and value
//!   projections are one of them.
//! - Attention is fused per block of queries: scores, softmax and the weighted
//!   sum of values stay in a buffer of `block × frames`, never the full
//!   `heads × frames × frames` matrix, and the softmax's division is applied
//!   to the `head_dim` outputs rather than the `frames` scores.
//! - GELU (fused with the feature encoder's norm), softmax, the per-channel
//!   normalisation and the residual "add & norm" are parallel and compiled for
//!   AVX-512 or AVX2/FMA where the CPU has them (see `vectorised_fn!`).

use candle_core::{CpuStorage, DType, InplaceOp1, Layout, Module, Result, Storage, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, LayerNorm};
use gemm::Parallelism;
use rayon::prelude::*;

/// Defines a function whose body is compiled three times, for AVX-512, for
/// AVX2 with FMA and for the baseline, and runs the best version the CPU has.
/// What the body calls must be `#[inline(always)]` to be compiled with it.
macro_rules! vectorised_fn {
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? $body
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? $body
                if is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the features the function is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body
        }
    };
}

/// `e^x` to about 2 ulp, branch-free so that loops over it vectorise
/// (Cody–Waite range reduction and the Cephes polynomial).
#[inline(always)]
fn exp(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 × 2^23: adding it rounds to an integer.
    let x = x.clamp(-87.3, 88.7);
    let rounded = x * std::f32::consts::LOG2_E + ROUND;
    let n = rounded - ROUND;
    // The integer n sits in the low bits of `rounded`; integer arithmetic vectorises.
    let n_bits = rounded.to_bits().wrapping_sub(ROUND.to_bits());
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

/// The exact (erf) GELU, `x Φ(x)`, through the complementary error function
/// of Numerical Recipes (fractional error under 1.2e-7).
#[inline(always)]
fn gelu(x: f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = 0.170_872_77_f32;
    let p = p * t - 0.822_152_23;
    let p = p * t + 1.488_515_9;
    let p = p * t - 1.135_204;
    let p = p * t + 0.278_868_07;
    let p = p * t - 0.186_288_06;
    let p = p * t + 0.096_784_18;
    let p = p * t + 0.374_091_96;
    let p = p * t + 1.000_023_7;
    let p = p * t - 1.265_512_2;
    let erfc = t * exp(p - z * z);
    let cdf2 = if x >= 0.0 { 2.0 - erfc } else { erfc };
    0.5 * x * cdf2
}

vectorised_fn! {
    /// The exponentials of each row of `scores` less the row's maximum, in
    /// place, and the reciprocal of each row's sum in `inverse_sums`: a softmax
    /// whose division is left for later. The maximum and the sum are kept in
    /// sixteen lanes so that both reductions vectorise (a single running sum
    /// would not: float addition is not associative, so its order is kept).
    fn softmax_rows(scores: &mut [f32], time: usize, inverse_sums: &mut [f32]) {
        const LANES: usize = 16;
        for (row, inverse_sum) in scores.chunks_exact_mut(time).zip(inverse_sums) {
            let split = row.len() / LANES * LANES;
            let (body, tail) = row.split_at_mut(split);
            let mut lanes = [f32::NEG_INFINITY; LANES];
            for chunk in body.chunks_exact(LANES) {
                lanes.iter_mut().zip(chunk).for_each(|(m, &v)| *m = m.max(v));
            }
            let max = lanes.iter().chain(tail.iter()).fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut sums = [0f32; LANES];
            for chunk in body.chunks_exact_mut(LANES) {
                for (s, v) in sums.iter_mut().zip(chunk) {
                    *v = exp(*v - max);
                    *s += *v;
                }
            }
            let mut sum: f32 = sums.iter().sum();
            for v in tail.iter_mut() {
                *v = exp(*v - max);
                sum += *v;
            }
            *inverse_sum = 1.0 / sum;
        }
    }
}

/// The values of a contiguous f32 tensor in CPU storage.
fn cpu_slice<'a>(storage: &'a Storage, layout: &Layout) -> Result<&'a [f32]> {
    let Storage::Cpu(cpu) = storage else {
        candle_core::bail!("a CPU kernel was given a tensor on another device")
    };
    let (start, end) = layout.contiguous_offsets().expect("contiguous");
    Ok(&cpu.as_slice::<f32>()?[start..end])
}

/// A CPU tensor's values as a contiguous slice, handed to `f`.
fn with_values<R>(x: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    let x = x.to_dtype(DType::F32)?.contiguous()?;
    let (storage, layout) = x.storage_and_layout();
    Ok(f(cpu_slice(&storage, layout)?))
}

/// The f32 values of a tensor's storage that `layout` addresses, if contiguous.
fn contiguous_values_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> Option<&'a mut [f32]> {
    let (start, end) = layout.contiguous_offsets()?;
    match storage {
        CpuStorage::F32(values) => Some(&mut values[start..end]),
        _ => None,
    }
}

vectorised_fn! {
    /// The exact GELU of every value, in place.
    fn gelu_all(values: &mut [f32]) {
        values.iter_mut().for_each(|v| *v = gelu(*v));
    }
}

/// The exact GELU of every value of a tensor, in place, in parallel.
struct GeluInPlace;

impl InplaceOp1 for GeluInPlace {
    fn name(&self) -> &'static str {
        "gelu-in-place"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let values = contiguous_values_mut(storage, layout).expect("checked by `in_place`");
        values.par_chunks_mut(1 << 14).for_each(gelu_all);
        Ok(())
    }
}

/// Whether an in-place CPU kernel can overwrite `x`.
fn in_place(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous()
}

/// The exact GELU of every element. On the CPU `x`'s storage is overwritten,
/// so `x` must be a tensor nothing else holds (a fresh operation's result).
pub fn gelu_erf(x: Tensor) -> Result<Tensor> {
    if !in_place(&x) {
        return x.gelu_erf();
    }
    x.inplace_op1(&GeluInPlace)?;
    Ok(x)
}

/// Normalises each channel of `[batch, time, channels]` data over time, then
/// scales and shifts it, and optionally applies the exact GELU in the same pass.
struct ChannelNormInPlace {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f64,
    time: usize,
    gelu: bool,
}

/// Rows per parallel block: small enough that a block of 512 channels stays in cache.
const ROWS: usize = 256;

vectorised_fn! {
    /// The per-channel count, mean and sum of squared deviations of a block of
    /// `[rows, channels]` values, computed in two passes over the (cached) block.
    fn block_moments(block: &[f32], channels: usize) -> (f64, Vec<f64>, Vec<f64>) {
        let rows = (block.len() / channels) as f32;
        let mut mean = vec![0f32; channels];
        let mut m2 = vec![0f32; channels];
        for row in block.chunks_exact(channels) {
            mean.iter_mut().zip(row).for_each(|(s, &v)| *s += v);
        }
        mean.iter_mut().for_each(|s| *s /= rows);
        for row in block.chunks_exact(channels) {
            for ((s, &v), &m) in m2.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        (rows as f64, mean.into_iter().map(f64::from).collect(), m2.into_iter().map(f64::from).collect())
    }
}

vectorised_fn! {
    /// `value × scale + shift` per channel of `[rows, channels]` values, in
    /// place, then the exact GELU if `then_gelu`.
    fn scale_shift_rows(block: &mut [f32], scale: &[f32], shift: &[f32], then_gelu: bool) {
        for row in block.chunks_exact_mut(scale.len()) {
            let scaled = row.iter_mut().zip(scale).zip(shift);
            if then_gelu {
                scaled.for_each(|((v, &s), &b)| *v = gelu(*v * s + b));
            } else {
                scaled.for_each(|((v, &s), &b)| *v = *v * s + b);
            }
        }
    }
}

/// Merges the moments of two blocks (Chan et al.'s parallel variance).
fn merge_moments(a: (f64, Vec<f64>, Vec<f64>), b: (f64, Vec<f64>, Vec<f64>)) -> (f64, Vec<f64>, Vec<f64>) {
    let n = a.0 + b.0;
    if a.0 == 0.0 || b.0 == 0.0 {
        return if a.0 == 0.0 { b } else { a };
    }
    let mean =
        a.1.iter()
            .zip(&b.1)
            .map(|(&ma, &mb)| ma + (mb - ma) * b.0 / n)
            .collect();
    let m2 = (a.2.iter().zip(&b.2))
        .zip(a.1.iter().zip(&b.1))
        .map(|((&qa, &qb), (&ma, &mb))| qa + qb + (mb - ma) * (mb - ma) * a.0 * b.0 / n)
        .collect();
    (n, mean, m2)
}

impl InplaceOp1 for ChannelNormInPlace {
    fn name(&self) -> &'static str {
        "channel-norm-in-place"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let values = contiguous_values_mut(storage, layout).expect("checked by `in_place`");
        let channels = self.weight.len();
        for sequence in values.chunks_mut(self.time * channels) {
            let (count, mean, m2) = sequence
                .par_chunks(ROWS * channels)
                .map(|block| block_moments(block, channels))
                .reduce(|| (0.0, vec![0.0; channels], vec![0.0; channels]), merge_moments);
            let scale: Vec<f32> = m2
                .iter()
                .zip(&self.weight)
                .map(|(q, &w)| (w as f64 / (q / count + self.eps).sqrt()) as f32)
                .collect();
            let shift: Vec<f32> = mean
                .iter()
                .zip(&scale)
                .zip(&self.bias)
                .map(|((&m, &s), &b)| b - m as f32 * s)
                .collect();
            sequence
                .par_chunks_mut(ROWS * channels)
                .for_each(|block| scale_shift_rows(block, &scale, &shift, self.gelu));
        }
        Ok(())
    }
}

/// Group normalisation with one channel per group on `[batch, time, channels]`
/// data: each channel is normalised over time, then scaled and shifted, and
/// with `gelu` passed through the exact GELU. On the CPU `x`'s storage is
/// overwritten, as for [`gelu_erf`].
pub fn normalize_channels_over_time(x: Tensor, weight: &Tensor, bias: &Tensor, eps: f64, gelu: bool) -> Result<Tensor> {
    if !in_place(&x) {
        let y = normalize_channels_over_time_reference(&x, weight, bias, eps)?;
        return if gelu { y.gelu_erf() } else { Ok(y) };
    }
    let op = ChannelNormInPlace {
        weight: with_values(weight, <[f32]>::to_vec)?,
        bias: with_values(bias, <[f32]>::to_vec)?,
        eps,
        time: x.dim(1)?,
        gelu,
    };
    x.inplace_op1(&op)?;
    Ok(x)
}

/// `y + residual`, then normalised over the last dimension, scaled and
/// shifted: the post-norm transformer's "add & norm", in one pass per row.
struct ResidualLayerNormInPlace<'a> {
    residual: &'a [f32],
    weight: &'a [f32],
    bias: &'a [f32],
    eps: f32,
}

impl InplaceOp1 for ResidualLayerNormInPlace<'_> {
    fn name(&self) -> &'static str {
        "residual-layer-norm-in-place"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let values = contiguous_values_mut(storage, layout).expect("checked by `in_place`");
        let width = self.weight.len();
        values
            .par_chunks_mut(ROWS * width)
            .zip(self.residual.par_chunks(ROWS * width))
            .for_each(|(block, residual)| residual_layer_norm_rows(block, residual, self.weight, self.bias, self.eps));
        Ok(())
    }
}

vectorised_fn! {
    /// Adds `residual` to each row of `block`, then normalises the row, scales and shifts it.
    fn residual_layer_norm_rows(block: &mut [f32], residual: &[f32], weight: &[f32], bias: &[f32], eps: f32) {
        let width = weight.len();
        for (row, residual) in block.chunks_exact_mut(width).zip(residual.chunks_exact(width)) {
            row.iter_mut().zip(residual).for_each(|(v, &r)| *v += r);
            let mean = lane_sum(row, |v| v) / width as f32;
            let var = lane_sum(row, |v| (v - mean) * (v - mean)) / width as f32;
            let inv = 1.0 / (var + eps).sqrt();
            for ((v, &w), &b) in row.iter_mut().zip(weight).zip(bias) {
                *v = (*v - mean) * inv * w + b;
            }
        }
    }
}

/// The sum of `f` over `values`, kept in sixteen lanes so that it vectorises.
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(s, &v)| *s += f(v));
    }
    lanes.iter().sum::<f32>() + tail
}

/// `norm(y + residual)` for a layer norm over the last dimension. On the CPU
/// `y`'s storage is overwritten, as for [`gelu_erf`].
pub fn residual_layer_norm(y: Tensor, residual: &Tensor, norm: &LayerNorm) -> Result<Tensor> {
    if !in_place(&y) || y.dims() != residual.dims() {
        return norm.forward(&(y + residual)?);
    }
    let residual = residual.contiguous()?;
    let (weight, bias) = (
        norm.weight().contiguous()?,
        norm.bias().expect("a layer norm with bias").contiguous()?,
    );
    let (r_storage, r_layout) = residual.storage_and_layout();
    let (w_storage, w_layout) = weight.storage_and_layout();
    let (b_storage, b_layout) = bias.storage_and_layout();
    let op = ResidualLayerNormInPlace {
        residual: cpu_slice(&r_storage, r_layout)?,
        weight: cpu_slice(&w_storage, w_layout)?,
        bias: cpu_slice(&b_storage, b_layout)?,
        eps: norm.eps() as f32,
    };
    y.inplace_op1(&op)?;
    Ok(y)
}

/// [`normalize_channels_over_time`] in candle operations, for any device.
pub fn normalize_channels_over_time_reference(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(1)?;
    centred
        .broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(weight)?
        .broadcast_add(bias)
}

/// A 1-D convolution on `[batch, time, channels]` data with zero padding on
/// both sides, groups and an optional bias: on the CPU its weights are packed
/// once for the GEMM; elsewhere it is candle's convolution.
pub struct ChannelsLastConv {
    /// Per group, `[kernel × group inputs, group outputs]` row-major; empty off the CPU.
    packed: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// candle's convolution, off the CPU.
    candle: Option<Conv1d>,
    kernel: usize,
    stride: usize,
    padding: usize,
    groups: usize,
    in_channels: usize,
    out_channels: usize,
}

impl ChannelsLastConv {
    /// A convolution with a PyTorch-layout weight `[out, in / groups, kernel]`.
    pub fn new(weight: &Tensor, bias: Option<&Tensor>, stride: usize, padding: usize, groups: usize) -> Result<Self> {
        let (out_channels, group_in, kernel) = weight.dims3()?;
        let group_out = out_channels / groups;
        let mut conv = ChannelsLastConv {
            packed: Vec::new(),
            bias: None,
            candle: None,
            kernel,
            stride,
            padding,
            groups,
            in_channels: group_in * groups,
            out_channels,
        };
        if weight.device().is_cpu() {
            // [groups, group_out, group_in, kernel] → [groups, kernel, group_in, group_out]
            let packed = weight
                .reshape((groups, group_out, group_in, kernel))?
                .permute((0, 3, 2, 1))?
                .contiguous()?;
            conv.packed = with_values(&packed, <[f32]>::to_vec)?;
            conv.bias = bias.map(|b| with_values(b, <[f32]>::to_vec)).transpose()?;
        } else {
            let config = Conv1dConfig {
                stride,
                padding,
                groups,
                ..Default::default()
            };
            conv.candle = Some(Conv1d::new(weight.clone(), bias.cloned(), config));
        }
        Ok(conv)
    }

    /// Output frames for `time` input frames.
    pub fn output_len(&self, time: usize) -> usize {
        let padded = time + 2 * self.padding;
        if padded < self.kernel {
            0
        } else {
            (padded - self.kernel) / self.stride + 1
        }
    }

    /// `[batch, time, in]` → `[batch, time', out]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let Some(conv) = &self.candle {
            return conv.forward(&x.transpose(1, 2)?)?.transpose(1, 2);
        }
        let (batch, time, channels) = x.dims3()?;
        if channels != self.in_channels {
            candle_core::bail!("convolution expects {} channels, got {channels}", self.in_channels)
        }
        let frames = self.output_len(time);
        let mut out = vec![0f32; batch * frames * self.out_channels];
        if frames > 0 {
            with_values(x, |values| {
                for (input, output) in values
                    .chunks_exact(time * channels)
                    .zip(out.chunks_exact_mut(frames * self.out_channels))
                {
                    self.forward_one(input, time, output, frames);
                }
            })?;
        }
        Tensor::from_vec(out, (batch, frames, self.out_channels), x.device())
    }

    fn forward_one(&self, input: &[f32], time: usize, output: &mut [f32], frames: usize) {
        let (group_in, group_out) = (self.in_channels / self.groups, self.out_channels / self.groups);
        // One contiguous `[padded time, group_in]` array per group, unless the input already is one.
        let padded_time = time + 2 * self.padding;
        let staged: Option<Vec<f32>> = (self.groups > 1 || self.padding > 0).then(|| {
            let mut staged = vec![0f32; self.groups * padded_time * group_in];
            for (t, row) in input.chunks_exact(self.in_channels).enumerate() {
                for (g, values) in row.chunks_exact(group_in).enumerate() {
                    let at = (g * padded_time + t + self.padding) * group_in;
                    staged[at..at + group_in].copy_from_slice(values);
                }
            }
            staged
        });
        let source = staged.as_deref().unwrap_or(input);
        if let Some(bias) = &self.bias {
            for row in output.chunks_exact_mut(self.out_channels) {
                row.copy_from_slice(bias);
            }
        }
        let depth = self.kernel * group_in;
        let out_ptr = SendPtr(output.as_mut_ptr());
        let run_group = |g: usize, parallelism: Parallelism| {
            let lhs = &source[g * padded_time * group_in..];
            let rhs = &self.packed[g * depth * group_out..(g + 1) * depth * group_out];
            // The last row read ends at ((frames-1) × stride + kernel) × group_in ≤ padded_time × group_in.
            debug_assert!(((frames - 1) * self.stride + self.kernel) * group_in <= lhs.len());
            // SAFETY: every index gemm touches is inside `lhs`, `rhs` (bounds above)
            // and this group's columns of `output`, which no other group writes.
            unsafe {
                matmul(
                    (frames, group_out, depth),
                    Strided::rows(out_ptr.get().add(g * group_out), self.out_channels),
                    Strided::rows(lhs.as_ptr(), self.stride * group_in),
                    Strided::rows(rhs.as_ptr(), group_out),
                    self.bias.is_some(),
                    parallelism,
                )
            }
        };
        if self.groups == 1 {
            run_group(0, Parallelism::Rayon(0));
        } else {
            (0..self.groups)
                .into_par_iter()
                .for_each(|g| run_group(g, Parallelism::None));
        }
    }
}

/// A dense layer, `x Wᵀ + b` on `[batch, time, in]` data with a PyTorch-layout
/// weight `[out, in]`: a convolution of kernel one, so it shares the packed GEMM
/// (bias written first, products added onto it) of [`ChannelsLastConv`].
pub fn dense(weight: &Tensor, bias: Option<&Tensor>) -> Result<ChannelsLastConv> {
    ChannelsLastConv::new(&weight.unsqueeze(2)?, bias, 1, 0, 1)
}

/// A matrix in memory: its first element and the distances, in elements,
/// between consecutive rows and between consecutive columns.
#[derive(Clone, Copy)]
struct Strided<P> {
    at: P,
    row_stride: usize,
    col_stride: usize,
}

impl<P> Strided<P> {
    /// A matrix whose rows are `row_stride` apart and whose columns are adjacent.
    fn rows(at: P, row_stride: usize) -> Self {
        Strided {
            at,
            row_stride,
            col_stride: 1,
        }
    }

    /// The transpose of a matrix whose rows are `row_stride` apart and whose
    /// columns are adjacent.
    fn transposed(at: P, row_stride: usize) -> Self {
        Strided {
            at,
            row_stride: 1,
            col_stride: row_stride,
        }
    }
}

/// `dst = lhs · rhs` for an `m × k` and a `k × n` matrix, or `dst += lhs · rhs`
/// with `accumulate`.
///
/// # Safety
/// Every element the three views address for these sizes lies inside its
/// allocation, and nothing else reads or writes `dst`'s elements meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: Strided<*mut f32>,
    lhs: Strided<*const f32>,
    rhs: Strided<*const f32>,
    accumulate: bool,
    parallelism: Parallelism,
) {
    let stride = |s: usize| s as isize;
    // SAFETY: as the caller promises.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.at,
            stride(dst.col_stride),
            stride(dst.row_stride),
            accumulate,
            lhs.at,
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.at,
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// A raw pointer that parallel tasks share to write disjoint parts of one buffer.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the tasks given one write disjoint elements.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Multi-head attention on `[batch, time, 3 × width]` projections holding the
/// queries (already scaled), keys and values side by side: `softmax(q kᵀ) v`
/// per head, `[batch, time, width]`.
pub fn attention(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    if !qkv.device().is_cpu() {
        return attention_reference(qkv, heads);
    }
    let (batch, time, packed) = qkv.dims3()?;
    let width = packed / 3;
    let head_dim = width / heads;
    // Queries per task: enough that packing the keys and values once per task
    // is cheap beside the products, few enough that the scores stay in cache.
    const BLOCK: usize = 256;
    let blocks = time.div_ceil(BLOCK);
    let mut out = vec![0f32; batch * time * width];
    let out_ptr = SendPtr(out.as_mut_ptr());
    let qkv = qkv.contiguous()?;
    let (storage, layout) = qkv.storage_and_layout();
    let qkv = cpu_slice(&storage, layout)?;
    (0..batch * heads * blocks).into_par_iter().for_each_init(
        || (vec![0f32; BLOCK * time], vec![0f32; BLOCK]),
        |(scores, inverse_sums), task| {
            let (b, h, block) = (task / (heads * blocks), task / blocks % heads, task % blocks);
            let first = block * BLOCK;
            let rows = BLOCK.min(time - first);
            // Where this head's query, key or value (`part` 0, 1, 2) of frame `t` starts.
            let at = |t: usize, part: usize| (b * time + t) * packed + part * width + h * head_dim;
            let out_at = (b * time + first) * width + h * head_dim;
            let scores = &mut scores[..rows * time];
            // SAFETY: the pointers address this batch's rows and this head's
            // columns of the projections and of `out`, all in bounds; tasks
            // write disjoint (rows, head) blocks of `out`.
            unsafe {
                matmul(
                    (rows, time, head_dim),
                    Strided::rows(scores.as_mut_ptr(), time),
                    Strided::rows(qkv.as_ptr().add(at(first, 0)), packed),
                    Strided::transposed(qkv.as_ptr().add(at(0, 1)), packed),
                    false,
                    Parallelism::None,
                );
                softmax_rows(scores, time, inverse_sums);
                matmul(
                    (rows, head_dim, time),
                    Strided::rows(out_ptr.get().add(out_at), width),
                    Strided::rows(scores.as_ptr(), time),
                    Strided::rows(qkv.as_ptr().add(at(0, 2)), packed),
                    false,
                    Parallelism::None,
                );
                for (r, &inverse_sum) in inverse_sums[..rows].iter().enumerate() {
                    let row = std::slice::from_raw_parts_mut(out_ptr.get().add(out_at + r * width), head_dim);
                    row.iter_mut().for_each(|v| *v *= inverse_sum);
                }
            }
        },
    );
    Tensor::from_vec(out, (batch, time, width), &candle_core::Device::Cpu)
}

/// [`attention`] in candle operations, for any device.
pub fn attention_reference(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    let (batch, time, packed) = qkv.dims3()?;
    let width = packed / 3;
    let split = |part: usize| {
        qkv.narrow(2, part * width, width)?
            .reshape((batch, time, heads, width / heads))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(0)?, split(1)?, split(2)?);
    let weights = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?;
    weights.matmul(&v)?.transpose(1, 2)?.reshape((batch, time, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::wav2vec2::tests::relative_error;
    use candle_core::Device;

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let n: usize = shape.iter().product();
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let values: Vec<f32> = (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn exp_and_gelu_match_the_standard_library() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.01;
            let e = (x as f64).exp();
            assert!(((exp(x) as f64 - e) / e).abs() < 3e-7, "exp({x})");
            let g = 0.5 * x as f64 * (1.0 + libm_erf(x as f64 / std::f64::consts::SQRT_2));
            assert!(
                (gelu(x) as f64 - g).abs() <= 1e-6 * (1.0 + g.abs()),
                "gelu({x}) = {} not {g}",
                gelu(x)
            );
        }
        assert_eq!(exp(-200.0), exp(-87.3));
        assert!(gelu(-30.0).abs() < 1e-30 && gelu(30.0) == 30.0);
    }

    /// erf by its Taylor series (small x) or continued fraction (large x), in f64.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let (mut term, mut sum, mut n) = (x, x, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let z = x.abs();
            let mut f = z;
            for n in (1..60).rev() {
                f = z + n as f64 / 2.0 / f;
            }
            let erfc = (-z * z).exp() / std::f64::consts::PI.sqrt() / f;
            x.signum() * (1.0 - erfc)
        }
    }

    #[test]
    fn kernels_match_candle_operations() {
        let x = random(&[2, 37, 24], 1);
        assert!(relative_error(&gelu_erf(x.copy().unwrap()).unwrap(), &x.gelu_erf().unwrap()) < 1e-6);

        let (w, b) = (random(&[24], 2), random(&[24], 3));
        // Several blocks of rows, the last one short, and an offset so the variance is not trivial.
        let long = (random(&[2, 700, 24], 12) + 3.0).unwrap();
        let fast = normalize_channels_over_time(long.copy().unwrap(), &w, &b, 1e-5, false).unwrap();
        let reference = normalize_channels_over_time_reference(&long, &w, &b, 1e-5).unwrap();
        assert!(relative_error(&fast, &reference) < 1e-5);
        let fast = normalize_channels_over_time(long.copy().unwrap(), &w, &b, 1e-5, true).unwrap();
        assert!(relative_error(&fast, &reference.gelu_erf().unwrap()) < 1e-5);

        let norm = LayerNorm::new(random(&[24], 13), random(&[24], 14), 1e-5);
        let residual = random(&[2, 37, 24], 15);
        let fast = residual_layer_norm(x.copy().unwrap(), &residual, &norm).unwrap();
        let reference = norm.forward(&(&x + &residual).unwrap()).unwrap();
        assert!(relative_error(&fast, &reference) < 1e-5);

        // Longer than one block of queries, and not a whole number of blocks.
        let qkv = random(&[2, 300, 72], 4);
        let fast = attention(&qkv, 3).unwrap();
        assert!(relative_error(&fast, &attention_reference(&qkv, 3).unwrap()) < 1e-5);
    }

    #[test]
    fn convolutions_match_candle_for_strides_padding_groups_and_bias() {
        let x = random(&[2, 41, 12], 7);
        for (kernel, stride, padding, groups, bias) in [
            (3, 2, 0, 1, false),
            (10, 5, 0, 1, true),
            (2, 2, 0, 1, false),
            (8, 1, 4, 4, true),
            (5, 1, 2, 3, false),
        ] {
            let weight = random(&[12, 12 / groups, kernel], 8);
            let b = random(&[12], 9);
            let conv = ChannelsLastConv::new(&weight, bias.then_some(&b), stride, padding, groups).unwrap();
            let fast = conv.forward(&x).unwrap();
            let config = Conv1dConfig {
                stride,
                padding,
                groups,
                ..Default::default()
            };
            let reference = Conv1d::new(weight, bias.then(|| b.clone()), config);
            let reference = reference
                .forward(&x.transpose(1, 2).unwrap())
                .unwrap()
                .transpose(1, 2)
                .unwrap();
            assert_eq!(fast.dims(), reference.dims(), "kernel {kernel} stride {stride}");
            assert!(
                relative_error(&fast, &reference) < 1e-5,
                "kernel {kernel} stride {stride} groups {groups}"
            );
        }
    }

    #[test]
    fn attention_softmax_is_stable_for_large_scores() {
        let q = (random(&[1, 5, 8], 10) * 100.0).unwrap();
        let qkv = Tensor::cat(&[&q, &q, &random(&[1, 5, 8], 11)], 2).unwrap();
        let out = attention(&qkv, 2).unwrap();
        assert!(
            out.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .all(|v| v.is_finite())
        );
    }
}
