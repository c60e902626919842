//! AdamW with its state in the open, and the learning-rate schedule.
//!
//! candle-nn's `AdamW` keeps its moment estimates private, so a run resumed
//! from a checkpoint could not continue exactly where it stopped; this one
//! saves and restores them. The update is PyTorch's `AdamW` (decoupled weight
//! decay, bias-corrected moments), with decay on matrices only (not on biases
//! or norms' gains, a common choice and ours).

use std::collections::BTreeMap;

use candle_core::{Result, Tensor, Var, backprop::GradStore};

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
        let correct1 = 1.0 - s.beta1.powi(t);
        let correct2 = 1.0 - s.beta2.powi(t);
        for slot in &self.slots {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            let g = (g * scale)?;
            let first = ((slot.first.as_tensor() * s.beta1)? + (&g * (1.0 - s.beta1))?)?;
            let second = ((slot.second.as_tensor() * s.beta2)? + (g.sqr()? * (1.0 - s.beta2))?)?;
            let decay = if slot.var.rank() >= 2 { 1.0 - lr * s.weight_decay } else { 1.0 };
            let update = ((&first / correct1)? / ((&second / correct2)?.sqrt()? + s.eps)?)?;
            let next = ((slot.var.as_tensor() * decay)? - (update * lr)?)?;
            slot.first.set(&first)?;
            slot.second.set(&second)?;
            slot.var.set(&next)?;
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
    fn schedule_warms_up_then_decays() {
        assert!((learning_rate(0, 100, 10, 1.0, 0.0) - 0.1).abs() < 1e-12);
        assert!((learning_rate(9, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((learning_rate(10, 100, 10, 1.0, 0.0) - 1.0).abs() < 1e-12);
        assert!((learning_rate(55, 100, 10, 1.0, 0.0) - 0.5).abs() < 1e-12);
        assert!((learning_rate(100, 100, 10, 1.0, 0.1) - 0.1).abs() < 1e-12);
    }
}
