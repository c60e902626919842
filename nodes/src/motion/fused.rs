//! Layer normalisation and softmax over the last axis as single CPU ops that
//! carry their gradients. candle-nn's fused versions record no gradient, and
//! composed from tensor operations each costs five to nine passes over its
//! input forward and as many again backward, with a temporary per pass:
//! together a third of a training step. Here each is one pass (per row, in
//! parallel) each way. Other devices use the composed forms
//! ([`standardise_composed`], [`softmax_composed`]), which the tests also
//! hold these to.

use candle_core::{CpuStorage, CustomOp1, D, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Rows per parallel task: enough to amortise the task, few enough to share.
const ROWS_PER_TASK: usize = 256;
/// Fewer rows than this run on the calling thread: waking the pool costs
/// more than the work.
const PARALLEL_ROWS: usize = 4096;

/// `(x − mean) / √(variance + eps)` over the last axis (no gain or bias).
pub fn standardise(x: &Tensor, eps: f64) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.contiguous()?.apply_op1(Standardise { eps: eps as f32 })
    } else {
        standardise_composed(x, eps)
    }
}

/// The same from differentiable tensor operations, on any device.
pub fn standardise_composed(x: &Tensor, eps: f64) -> Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(variance + eps)?.sqrt()?)
}

/// Softmax over the last axis.
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.contiguous()?.apply_op1(Softmax)
    } else {
        softmax_composed(x)
    }
}

/// The same from differentiable tensor operations, on any device.
pub fn softmax_composed(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(x, D::Minus1)
}

/// A contiguous f32 buffer's values and its row width (the last axis).
fn rows<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<(&'a [f32], usize)> {
    let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets()) else {
        candle_core::bail!("the fused motion-model ops need contiguous f32 input");
    };
    Ok((&values[start..end], layout.dims().last().copied().unwrap_or(1).max(1)))
}

/// A tensor's values, contiguous.
fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_vec1()
}

/// Runs `row(out, inputs…)` over matching rows of `width` in parallel.
fn per_row(len: usize, width: usize, row: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0f32; len];
    if len / width < PARALLEL_ROWS {
        out.chunks_mut(width).enumerate().for_each(|(i, o)| row(i, o));
    } else {
        out.par_chunks_mut(width)
            .with_min_len(ROWS_PER_TASK)
            .enumerate()
            .for_each(|(i, o)| row(i, o));
    }
    out
}

/// A row's mean and `1 / √(variance + eps)`.
fn moments(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (variance + eps).sqrt())
}

struct Standardise {
    eps: f32,
}

impl CustomOp1 for Standardise {
    fn name(&self) -> &'static str {
        "motion-standardise"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, width) = rows(storage, layout)?;
        let out = per_row(x.len(), width, |i, o| {
            let x = &x[i * width..][..width];
            let (mean, scale) = moments(x, self.eps);
            o.iter_mut().zip(x).for_each(|(o, v)| *o = (v - mean) * scale);
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    /// `dx = (g − mean(g) − x̂ · mean(g x̂)) / σ` per row.
    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let width = arg.dim(D::Minus1)?;
        let (x, y, g) = (values(arg)?, values(res)?, values(grad)?);
        let out = per_row(x.len(), width, |i, o| {
            let at = i * width..(i + 1) * width;
            let (x, y, g) = (&x[at.clone()], &y[at.clone()], &g[at]);
            let (_, scale) = moments(x, self.eps);
            let n = width as f32;
            let mean_g = g.iter().sum::<f32>() / n;
            let mean_gy = g.iter().zip(y).map(|(g, y)| g * y).sum::<f32>() / n;
            for ((o, g), y) in o.iter_mut().zip(g).zip(y) {
                *o = scale * (g - mean_g - y * mean_gy);
            }
        });
        Ok(Some(Tensor::from_vec(out, arg.shape(), arg.device())?))
    }
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "motion-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (x, width) = rows(storage, layout)?;
        let out = per_row(x.len(), width, |i, o| {
            let x = &x[i * width..][..width];
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0.0;
            for (o, v) in o.iter_mut().zip(x) {
                *o = (v - max).exp();
                sum += *o;
            }
            o.iter_mut().for_each(|o| *o /= sum);
        });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }

    /// `dx = y (g − Σ g y)` per row.
    fn bwd(&self, arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let width = arg.dim(D::Minus1)?;
        let (y, g) = (values(res)?, values(grad)?);
        let out = per_row(y.len(), width, |i, o| {
            let (y, g) = (&y[i * width..][..width], &g[i * width..][..width]);
            let dot: f32 = g.iter().zip(y).map(|(g, y)| g * y).sum();
            for ((o, g), y) in o.iter_mut().zip(g).zip(y) {
                *o = y * (g - dot);
            }
        });
        Ok(Some(Tensor::from_vec(out, arg.shape(), arg.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Forward values and input gradients of `f` and `reference` on the same
    /// input, under a loss that weights every output differently.
    fn compare(f: impl Fn(&Tensor) -> Result<Tensor>, reference: impl Fn(&Tensor) -> Result<Tensor>, scale: f32) {
        let shape = (2, 3, 7);
        let n = 2 * 3 * 7;
        let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.731).sin() * scale).collect();
        let weights = Tensor::from_vec((0..n).map(|i| (i as f32 * 0.37).cos()).collect::<Vec<f32>>(), shape, &Device::Cpu).unwrap();
        let run = |op: &dyn Fn(&Tensor) -> Result<Tensor>| {
            let var = Var::from_tensor(&Tensor::from_vec(x.clone(), shape, &Device::Cpu).unwrap()).unwrap();
            let y = op(var.as_tensor()).unwrap();
            let grads = (&y * &weights).unwrap().sum_all().unwrap().backward().unwrap();
            (values(&y).unwrap(), values(grads.get(var.as_tensor()).unwrap()).unwrap())
        };
        let (fused, fused_grad) = run(&f);
        let (composed, composed_grad) = run(&reference);
        for (a, b) in fused.iter().zip(&composed).chain(fused_grad.iter().zip(&composed_grad)) {
            assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert!(fused_grad.iter().any(|g| g.abs() > 1e-3), "the gradient is not trivially zero");
    }

    #[test]
    fn standardise_and_its_gradient_match_the_composed_form() {
        compare(|x| standardise(x, 1e-5), |x| standardise_composed(x, 1e-5), 3.0);
    }

    #[test]
    fn softmax_and_its_gradient_match_the_composed_form() {
        compare(softmax, softmax_composed, 4.0);
        // A masked score (-1e9) takes no weight and passes no gradient.
        let x = Tensor::new(&[[0.5f32, -1e9, 1.5]], &Device::Cpu).unwrap();
        let y = values(&softmax(&x).unwrap()).unwrap();
        assert_eq!(y[1], 0.0);
        assert!((y[0] + y[2] - 1.0).abs() < 1e-6);
    }
}
