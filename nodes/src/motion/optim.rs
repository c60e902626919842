//! AdamW with its state in the open, and the learning-rate schedule.
//!
//! candle-nn's `AdamW` keeps its moment estimates private, so a run resumed
//! from a checkpoint could not continue exactly where it stopped; this one
//! saves and restores them. The update is PyTorch's `AdamW` (decoupled weight
//! decay, bias-corrected moments), with decay on matrices only (not on biases
//! or norms' gains, a common choice and ours).

use std::collections::BTreeMap;

use candle_core::{CpuStorage, DType, InplaceOp2, InplaceOp3, Layout, Result, Tensor, Var, backprop::GradStore};

/// AdamW's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWSettings {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

impl Default for AdamWSettings {
    fn default() -> AdamWSettings {
        AdamWSettings {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// One variable and its moments.
struct Slot {
    name: String,
    var: Var,
    first: Var,
    second: Var,
}

/// The optimiser over named variables.
pub struct AdamW {
    slots: Vec<Slot>,
    settings: AdamWSettings,
    /// Steps taken.
    pub step: usize,
}

impl AdamW {
    /// An optimiser for `vars` (sorted by name, so state files line up).
    pub fn new(vars: BTreeMap<String, Var>, settings: AdamWSettings) -> Result<AdamW> {
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                Ok(Slot {
                    first: Var::zeros(var.shape(), var.dtype(), var.device())?,
                    second: Var::zeros(var.shape(), var.dtype(), var.device())?,
                    name,
                    var,
                })
            })
            .collect::<Result<_>>()?;
        Ok(AdamW {
            slots,
            settings,
            step: 0,
        })
    }

    /// The global L2 norm of the gradients.
    pub fn gradient_norm(&self, grads: &GradStore) -> Result<f64> {
        let mut sum = 0f64;
        for slot in &self.slots {
            if let Some(g) = grads.get(slot.var.as_tensor()) {
                sum += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        Ok(sum.sqrt())
    }

    /// One update at learning rate `lr`, the gradients scaled by `scale`
    /// (gradient clipping).
    pub fn step(&mut self, grads: &GradStore, lr: f64, scale: f64) -> Result<()> {
        self.step += 1;
        let s = self.settings;
        let t = self.step as i32;
        for slot in &self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let update = Update {
                lr,
                scale,
                decay: if slot.var.rank() >= 2 { 1.0 - lr * s.weight_decay } else { 1.0 },
                correct1: 1.0 - s.beta1.powi(t),
                correct2: 1.0 - s.beta2.powi(t),
                settings: s,
            };
            if slot.var.device().is_cpu() && slot.var.dtype() == DType::F32 {
                update.in_place(slot, g)?;
            } else {
                update.with_tensors(slot, g)?;
            }
        }
        Ok(())
    }

    /// The moments by `<variable>.first` / `.second`, for a state file.
    pub fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for slot in &self.slots {
            out.insert(format!("{}.first", slot.name), slot.first.as_tensor().clone());
            out.insert(format!("{}.second", slot.name), slot.second.as_tensor().clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state`] after `step` steps.
    pub fn restore(&mut self, state: &BTreeMap<String, Tensor>, step: usize) -> Result<()> {
        for slot in &self.slots {
            for (suffix, var) in [("first", &slot.first), ("second", &slot.second)] {
                let name = format!("{}.{suffix}", slot.name);
                let t = state
                    .get(&name)
                    .ok_or_else(|| candle_core::Error::msg(format!("the optimiser state has no `{name}`")))?;
                var.set(t)?;
            }
        }
        self.step = step;
        Ok(())
    }
}

/// One variable's update at one step.
#[derive(Clone, Copy)]
struct Update {
    lr: f64,
    /// The gradient's scale (clipping).
    scale: f64,
    /// `1 − lr · weight decay` on matrices, else 1.
    decay: f64,
    correct1: f64,
    correct2: f64,
    settings: AdamWSettings,
}

impl Update {
    /// The update in tensor operations, on any device.
    fn with_tensors(self, slot: &Slot, g: &Tensor) -> Result<()> {
        let s = self.settings;
        let g = (g * self.scale)?;
        let first = ((slot.first.as_tensor() * s.beta1)? + (&g * (1.0 - s.beta1))?)?;
        let second = ((slot.second.as_tensor() * s.beta2)? + (g.sqr()? * (1.0 - s.beta2))?)?;
        let update = ((&first / self.correct1)? / ((&second / self.correct2)?.sqrt()? + s.eps)?)?;
        let next = ((slot.var.as_tensor() * self.decay)? - (update * self.lr)?)?;
        slot.first.set(&first)?;
        slot.second.set(&second)?;
        slot.var.set(&next)
    }

    /// The same update in place, one pass over each buffer: on the CPU the
    /// tensor form allocates a dozen temporaries the size of the variable,
    /// which for the vertex mapper's millions of weights cost more than the
    /// arithmetic.
    fn in_place(self, slot: &Slot, g: &Tensor) -> Result<()> {
        let g = g.contiguous()?;
        slot.first.inplace_op2(&g, &Moment { beta: self.settings.beta1, scale: self.scale, square: false })?;
        slot.second.inplace_op2(&g, &Moment { beta: self.settings.beta2, scale: self.scale, square: true })?;
        slot.var.inplace_op3(slot.first.as_tensor(), slot.second.as_tensor(), &self)
    }
}

/// The f32 values of a contiguous CPU buffer.
fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => Ok(&values[start..end]),
        _ => candle_core::bail!("AdamW's in-place update needs contiguous f32 buffers"),
    }
}

/// The same, writable.
fn contiguous_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> Result<&'a mut [f32]> {
    match (storage, layout.contiguous_offsets()) {
        (CpuStorage::F32(values), Some((start, end))) => Ok(&mut values[start..end]),
        _ => candle_core::bail!("AdamW's in-place update needs contiguous f32 buffers"),
    }
}

/// A moment estimate's update in place: `m ← β m + (1 − β) x` with `x` the
/// scaled gradient (first moment) or its square (second).
struct Moment {
    beta: f64,
    scale: f64,
    square: bool,
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "adamw-moment"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, g: &CpuStorage, g_l: &Layout) -> Result<()> {
        let (m, g) = (contiguous_mut(dst, dst_l)?, contiguous(g, g_l)?);
        let (beta, rest, scale) = (self.beta as f32, (1.0 - self.beta) as f32, self.scale as f32);
        for (m, &g) in m.iter_mut().zip(g) {
            let x = g * scale;
            *m = beta * *m + rest * if self.square { x * x } else { x };
        }
        Ok(())
    }
}

impl InplaceOp3 for Update {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        first: &CpuStorage,
        first_l: &Layout,
        second: &CpuStorage,
        second_l: &Layout,
    ) -> Result<()> {
        let (x, m, v) = (contiguous_mut(dst, dst_l)?, contiguous(first, first_l)?, contiguous(second, second_l)?);
        let (c1, c2) = (self.correct1 as f32, self.correct2 as f32);
        let (lr, decay, eps) = (self.lr as f32, self.decay as f32, self.settings.eps as f32);
        for ((x, &m), &v) in x.iter_mut().zip(m).zip(v) {
            *x = *x * decay - lr * ((m / c1) / ((v / c2).sqrt() + eps));
        }
        Ok(())
    }
}

/// Linear warm-up to `peak` over `warmup` steps, then cosine decay to
/// `peak · floor` at `total`.
pub fn learning_rate(step: usize, total: usize, warmup: usize, peak: f64, floor: f64) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / span).min(1.0);
    peak * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_pytorch_adamw_by_hand() {
        // One scalar x = 1, gradient 2 each step, lr 0.1, decay 0.5 (as a
        // [1,1] matrix so it decays). PyTorch: x ← x(1 − lr·wd) − lr·m̂/(√v̂ + eps).
        let var = Var::from_tensor(&Tensor::new(&[[1f32]], &Device::Cpu).unwrap()).unwrap();
        let settings = AdamWSettings {
            weight_decay: 0.5,
            ..Default::default()
        };
        let mut opt = AdamW::new(BTreeMap::from([("x".to_string(), var.clone())]), settings).unwrap();
        let mut expected = 1f64;
        for _ in 0..3 {
            let loss = (var.as_tensor() * 2.0).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            opt.step(&grads, 0.1, 1.0).unwrap();
            // m̂ = 2, v̂ = 4 every step for a constant gradient.
            expected = expected * (1.0 - 0.1 * 0.5) - 0.1 * 2.0 / (2.0 + 1e-8);
        }
        let got = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap()[0] as f64;
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }

    #[test]
    fn the_in_place_update_equals_the_tensor_one() {
        let values = |seed: f32| -> Vec<f32> { (0..60).map(|i| (i as f32 * 1.37 + seed).sin() * 3.0).collect() };
        let var = || Var::from_tensor(&Tensor::from_vec(values(0.0), (6, 10), &Device::Cpu).unwrap()).unwrap();
        let slots = [var(), var()].map(|v| Slot {
            name: "x".into(),
            first: Var::zeros(v.shape(), v.dtype(), v.device()).unwrap(),
            second: Var::zeros(v.shape(), v.dtype(), v.device()).unwrap(),
            var: v,
        });
        for step in 1..=4 {
            let g = Tensor::from_vec(values(step as f32), (6, 10), &Device::Cpu).unwrap();
            let s = AdamWSettings::default();
            let update = Update {
                lr: 0.01,
                scale: 0.5,
                decay: 1.0 - 0.01 * s.weight_decay,
                correct1: 1.0 - s.beta1.powi(step),
                correct2: 1.0 - s.beta2.powi(step),
                settings: s,
            };
            update.with_tensors(&slots[0], &g).unwrap();
            update.in_place(&slots[1], &g).unwrap();
        }
        let read = |v: &Var| v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in [(&slots[0].var, &slots[1].var), (&slots[0].first, &slots[1].first), (&slots[0].second, &slots[1].second)] {
            for (x, y) in read(a).iter().zip(read(b)) {
                assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0), "{x} vs {y}");
            }
        }
        assert!(read(&slots[1].var) != values(0.0), "the variable moved");
    }

    #[test]
    fn schedule_warms_up_then_decays() {
        assert!((learning_rate(0, 100, 10, 1.0, 0.0) - 0.1).abs() < 1e-12);
        assert!((learning_rate(9, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((learning_rate(10, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((learning_rate(55, 100, 10, 1.0, 0.0) - 0.5).abs() < 1e-12);
        assert!((learning_rate(100, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
    }
}
