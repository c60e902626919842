//! Seeded initial weights. candle's CPU random generator cannot be seeded, so
//! new variables are drawn here instead: each from its own stream keyed by
//! the run's seed and the variable's name, so the same seed gives the same
//! model whatever order the parts are built in.

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::init::{Init, NormalOrUniform};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{VarBuilder, VarMap};

use crate::dataset::random::Rng;

/// A [`VarMap`] whose new variables are drawn from seeded streams.
#[derive(Clone)]
pub struct SeededVars {
    /// The variables, trainable.
    pub map: VarMap,
    seed: u64,
}

impl SeededVars {
    /// An empty map drawing from `seed`.
    pub fn new(seed: u64) -> SeededVars {
        SeededVars {
            map: VarMap::new(),
            seed,
        }
    }

    /// A builder creating (or reusing) variables in this map.
    pub fn builder(&self, device: &Device) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(self.clone()), DType::F32, device.clone())
    }

    fn draw(&self, shape: &Shape, name: &str, init: Init) -> Vec<f32> {
        let count = shape.elem_count();
        let mut rng = Rng::stream(self.seed, &format!("init/{name}"));
        let (normal, a, b) = match init {
            Init::Const(c) => return vec![c as f32; count],
            Init::Randn { mean, stdev } => (true, mean, stdev),
            Init::Uniform { lo, up } => (false, lo, up),
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    NormalOrUniform::Normal => (true, 0.0, std),
                    NormalOrUniform::Uniform => (false, -(3f64.sqrt()) * std, 3f64.sqrt() * std),
                }
            }
        };
        (0..count)
            .map(|_| if normal { a + b * rng.normal() } else { rng.range(a, b) } as f32)
            .collect()
    }
}

impl SimpleBackend for SeededVars {
    fn get(&self, shape: Shape, name: &str, init: Init, dtype: DType, device: &Device) -> Result<Tensor> {
        let mut vars = self.map.data().lock().expect("variable map lock");
        if let Some(var) = vars.get(name) {
            if var.shape() != &shape {
                candle_core::bail!("variable `{name}` has shape {:?}, asked for {shape:?}", var.shape());
            }
            return Ok(var.as_tensor().clone());
        }
        let values = self.draw(&shape, name, init);
        let var = Var::from_tensor(&Tensor::from_vec(values, shape, device)?.to_dtype(dtype)?)?;
        vars.insert(name.to_string(), var.clone());
        Ok(var.as_tensor().clone())
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _device: &Device) -> Result<Tensor> {
        candle_core::bail!("variable `{name}` must be created with a shape")
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.map.data().lock().expect("variable map lock").contains_key(name)
    }
}
