//! The colour MLP: per-Gaussian latents, the frame's expression and the view
//! direction → RGB, as GaussianSpeech makes colour expression- and
//! view-dependent.
//!
//! The paper gives the inputs (a latent per Gaussian, the expression, the view
//! direction) but not the layout; ours, in the spirit of its "small MLP":
//!
//! - the expression code (the face model's blendshape weights, 53 for
//!   ICT-FaceKit) goes through one linear layer to a shared embedding
//!   (default 16), once per frame;
//! - the view direction is the unit vector from the Gaussian to the camera in
//!   its triangle's local frame (so a head turn and a camera orbit look the
//!   same to the MLP, and the colour follows the surface it sits on), encoded
//!   as `[d, sin(2ᵏπd), cos(2ᵏπd)]` for `k < frequencies` (NeRF's encoding);
//! - `[latent, embedding, encoded view]` goes through `layers` hidden layers
//!   of `hidden` units with ReLU, then a linear layer to RGB and a sigmoid, so
//!   colours lie in (0, 1) as 3D Gaussian Splatting's do.
//!
//! [`ColorInputs::Constant`] is the ablation the evaluation compares with:
//! the same MLP on the latent alone, one colour per Gaussian whatever the
//! expression and view.

use std::collections::BTreeMap;

use candle_core::{Module, Result, Tensor, backprop::GradStore};
use candle_nn::{Linear, VarBuilder, linear};
use serde::{Deserialize, Serialize};

/// What the colour MLP reads besides each Gaussian's latent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColorInputs {
    /// The frame's expression code and the view direction (the paper's).
    ExpressionAndView,
    /// Nothing: constant colour per Gaussian (the ablation).
    Constant,
}

/// The sizes of a colour MLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColorConfig {
    /// Latent values per Gaussian.
    pub latent: usize,
    /// Expression code width: the face model's expression count.
    pub expressions: usize,
    /// Width of the expression embedding.
    pub embedding: usize,
    /// Width of the hidden layers.
    pub hidden: usize,
    /// Number of hidden layers.
    pub layers: usize,
    /// Frequencies of the view direction's encoding.
    pub frequencies: usize,
    /// What it reads.
    pub inputs: ColorInputs,
}

/// The largest size any entry of a [`ColorConfig`] may have, so a damaged
/// file cannot ask for absurd allocations.
pub const MAX_WIDTH: usize = 4096;

impl ColorConfig {
    /// The default sizes for a face model with `expressions` expressions:
    /// latent 32, embedding 16, two hidden layers of 64, two frequencies.
    pub fn new(expressions: usize) -> ColorConfig {
        ColorConfig {
            latent: 32,
            expressions,
            embedding: 16,
            hidden: 64,
            layers: 2,
            frequencies: 2,
            inputs: ColorInputs::ExpressionAndView,
        }
    }

    /// Whether it reads the expression and the view.
    pub fn is_dynamic(&self) -> bool {
        self.inputs == ColorInputs::ExpressionAndView
    }

    /// Values of the encoded view direction.
    pub fn view_width(&self) -> usize {
        3 + 6 * self.frequencies
    }

    /// Width of the first hidden layer's input.
    pub fn input_width(&self) -> usize {
        match self.inputs {
            ColorInputs::ExpressionAndView => self.latent + self.embedding + self.view_width(),
            ColorInputs::Constant => self.latent,
        }
    }

    /// Checks that every size is usable; the message names the entry.
    pub fn check(&self) -> std::result::Result<(), String> {
        let sizes = [
            ("latent", self.latent, 1),
            ("expressions", self.expressions, 0),
            ("embedding", self.embedding, 1),
            ("hidden", self.hidden, 1),
            ("layers", self.layers, 1),
            ("frequencies", self.frequencies, 0),
        ];
        for (name, value, least) in sizes {
            if value < least || value > MAX_WIDTH {
                return Err(format!(
                    "colour MLP `{name}` is {value}, not within {least}–{MAX_WIDTH}"
                ));
            }
        }
        Ok(())
    }

    /// The name and shape of every weight, as [`ColorMlp::new`] reads them.
    pub fn weight_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut layers = Vec::new();
        if self.is_dynamic() {
            layers.push(("embed".to_string(), self.expressions, self.embedding));
        }
        for l in 0..self.layers {
            let input = if l == 0 { self.input_width() } else { self.hidden };
            layers.push((format!("hidden.{l}"), input, self.hidden));
        }
        layers.push(("out".to_string(), self.hidden, 3));
        layers
            .into_iter()
            .flat_map(|(name, input, output)| {
                [
                    (format!("{name}.weight"), vec![output, input]),
                    (format!("{name}.bias"), vec![output]),
                ]
            })
            .collect()
    }
}

/// The colour MLP.
#[derive(Clone, Debug)]
pub struct ColorMlp {
    /// Its sizes.
    pub config: ColorConfig,
    embed: Option<Linear>,
    hidden: Vec<Linear>,
    out: Linear,
}

impl ColorMlp {
    /// Loads (or, from a fresh variable map, creates) the weights:
    /// `embed`, `hidden.0` … and `out`, each with `weight` and `bias`.
    pub fn new(vb: VarBuilder, config: &ColorConfig) -> Result<ColorMlp> {
        config.check().map_err(candle_core::Error::msg)?;
        let hidden = (0..config.layers)
            .map(|l| {
                let input = if l == 0 { config.input_width() } else { config.hidden };
                linear(input, config.hidden, vb.pp(format!("hidden.{l}")))
            })
            .collect::<Result<_>>()?;
        Ok(ColorMlp {
            config: *config,
            embed: config
                .is_dynamic()
                .then(|| linear(config.expressions, config.embedding, vb.pp("embed")))
                .transpose()?,
            hidden,
            out: linear(config.hidden, 3, vb.pp("out"))?,
        })
    }

    /// The expression embedding `[1, embedding]` of one frame's code `[expressions]`
    /// (`None` for the constant ablation). Computed once per frame.
    pub fn embed(&self, expression: &Tensor) -> Result<Option<Tensor>> {
        self.embed
            .as_ref()
            .map(|e| e.forward(&expression.reshape((1, self.config.expressions))?))
            .transpose()
    }

    /// RGB in (0, 1), `[N, 3]`, of Gaussians with latents `[N, latent]`, for a
    /// frame's expression code `[expressions]` and local view directions
    /// `[N, 3]` (unit vectors, Gaussian → camera). The constant ablation
    /// reads neither.
    pub fn forward(&self, latents: &Tensor, expression: &Tensor, views: &Tensor) -> Result<Tensor> {
        let mut x = match self.embed(expression)? {
            Some(embedding) => {
                let n = latents.dim(0)?;
                let embedding = embedding.broadcast_as((n, self.config.embedding))?;
                let views = view_encoding(views, self.config.frequencies)?;
                Tensor::cat(&[latents, &embedding, &views], 1)?
            }
            None => latents.clone(),
        };
        for layer in &self.hidden {
            x = layer.forward(&x)?.relu()?;
        }
        candle_nn::ops::sigmoid(&self.out.forward(&x)?)
    }

    /// Every weight by name (`embed.weight`, …), as [`ColorMlp::new`] reads them.
    pub fn weights(&self) -> BTreeMap<String, Tensor> {
        let mut layers: Vec<(String, &Linear)> = Vec::new();
        if let Some(embed) = &self.embed {
            layers.push(("embed".into(), embed));
        }
        layers.extend(self.hidden.iter().enumerate().map(|(l, h)| (format!("hidden.{l}"), h)));
        layers.push(("out".into(), &self.out));
        let mut weights = BTreeMap::new();
        for (name, layer) in layers {
            weights.insert(format!("{name}.weight"), layer.weight().clone());
            if let Some(bias) = layer.bias() {
                weights.insert(format!("{name}.bias"), bias.clone());
            }
        }
        weights
    }
}

/// NeRF's positional encoding of directions `[N, 3]`: `[N, 3 + 6·frequencies]`,
/// the directions, then `sin(2ᵏπd)` and `cos(2ᵏπd)` for each `k`.
pub fn view_encoding(views: &Tensor, frequencies: usize) -> Result<Tensor> {
    let mut parts = vec![views.clone()];
    for k in 0..frequencies {
        let scaled = (views * (std::f64::consts::PI * (1u64 << k) as f64))?;
        parts.push(scaled.sin()?);
        parts.push(scaled.cos()?);
    }
    Tensor::cat(&parts, 1)
}

/// Back-propagates a renderer's gradient with respect to the colours
/// (`grad`, the shape of `colors`, e.g. `[N, 3]`) into whatever `colors` was
/// computed from (the MLP's weights and the latents, when they are `Var`s):
/// the gradients of `Σ colors · grad`, with `grad` held constant.
pub fn backward_colors(colors: &Tensor, grad: &Tensor) -> Result<GradStore> {
    (colors * grad.detach())?.sum_all()?.backward()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::init::SeededVars;
    use candle_core::{DType, Device, Var};

    fn tiny(inputs: ColorInputs) -> ColorConfig {
        ColorConfig {
            latent: 4,
            expressions: 3,
            embedding: 2,
            hidden: 5,
            layers: 2,
            frequencies: 1,
            inputs,
        }
    }

    fn inputs(n: usize) -> (Tensor, Tensor, Tensor) {
        let cpu = &Device::Cpu;
        let latents = Tensor::from_vec((0..n * 4).map(|i| (i as f32 * 0.37).sin()).collect(), (n, 4), cpu).unwrap();
        let expression = Tensor::new(&[0.7f32, 0.0, 0.3], cpu).unwrap();
        let views: Vec<f32> = (0..n)
            .flat_map(|i| {
                let a = i as f32;
                let v = [a.cos(), a.sin(), 1.0];
                let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
                v.map(|c| c / norm)
            })
            .collect();
        (latents, expression, Tensor::from_vec(views, (n, 3), cpu).unwrap())
    }

    #[test]
    fn colours_depend_on_expression_and_view_unless_constant() {
        let cpu = Device::Cpu;
        let (latents, expression, views) = inputs(3);
        let other_expression = Tensor::new(&[0.0f32, 1.0, 0.0], &cpu).unwrap();
        let other_views = views.neg().unwrap();
        let differ = |a: &Tensor, b: &Tensor| {
            (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 1e-4
        };
        for (inputs, dynamic) in [(ColorInputs::ExpressionAndView, true), (ColorInputs::Constant, false)] {
            let config = tiny(inputs);
            let vars = SeededVars::new(1);
            let mlp = ColorMlp::new(vars.builder(&cpu), &config).unwrap();
            let rgb = mlp.forward(&latents, &expression, &views).unwrap();
            assert_eq!(rgb.dims(), [3, 3]);
            let values: Vec<f32> = rgb.flatten_all().unwrap().to_vec1().unwrap();
            assert!(values.iter().all(|v| *v > 0.0 && *v < 1.0));
            assert_eq!(
                differ(&rgb, &mlp.forward(&latents, &other_expression, &views).unwrap()),
                dynamic
            );
            assert_eq!(
                differ(&rgb, &mlp.forward(&latents, &expression, &other_views).unwrap()),
                dynamic
            );
            // The weights it names are the weights it has, and a new MLP built on them agrees.
            let weights = mlp.weights();
            let shapes: Vec<(String, Vec<usize>)> =
                weights.iter().map(|(n, t)| (n.clone(), t.dims().to_vec())).collect();
            let mut expected = config.weight_shapes();
            expected.sort();
            assert_eq!(shapes, expected);
            let vb = VarBuilder::from_tensors(weights.into_iter().collect(), DType::F32, &cpu);
            let again = ColorMlp::new(vb, &config).unwrap();
            assert!(!differ(&rgb, &again.forward(&latents, &expression, &views).unwrap()));
        }
        assert_eq!(tiny(ColorInputs::Constant).input_width(), 4);
        assert_eq!(tiny(ColorInputs::ExpressionAndView).input_width(), 4 + 2 + 9);
        let mut bad = tiny(ColorInputs::Constant);
        bad.hidden = 0;
        assert!(bad.check().unwrap_err().contains("`hidden` is 0"));
    }

    #[test]
    fn colour_gradients_reach_weights_and_latents_as_finite_differences_say() {
        let cpu = Device::Cpu;
        let (latents, expression, views) = inputs(4);
        let latents = Var::from_tensor(&latents).unwrap();
        let vars = SeededVars::new(2);
        let mlp = ColorMlp::new(vars.builder(&cpu), &tiny(ColorInputs::ExpressionAndView)).unwrap();
        let grad = Tensor::from_vec(
            (0..12).map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.5).collect(),
            (4, 3),
            &cpu,
        )
        .unwrap();
        let colors = mlp.forward(latents.as_tensor(), &expression, &views).unwrap();
        let grads = backward_colors(&colors, &grad).unwrap();
        // L = Σ colours · grad, in f64 from the forward pass.
        let loss = |mlp: &ColorMlp, latents: &Tensor| -> f64 {
            let c: Vec<f32> = mlp
                .forward(latents, &expression, &views)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let g: Vec<f32> = grad.flatten_all().unwrap().to_vec1().unwrap();
            c.iter().zip(&g).map(|(a, b)| (*a as f64) * (*b as f64)).sum()
        };
        let h = 1e-3;
        let mut every: Vec<(String, Var)> = vars.map.data().lock().unwrap().clone().into_iter().collect();
        every.push(("latents".to_string(), latents.clone()));
        let mut checked = 0;
        for (name, var) in &every {
            let analytic: Vec<f32> = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name} has no gradient"))
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let original = var.as_tensor().copy().unwrap();
            let flat: Vec<f32> = original.flatten_all().unwrap().to_vec1().unwrap();
            for k in [0, flat.len() / 2, flat.len() - 1] {
                let at = |delta: f32| {
                    let mut nudged = flat.clone();
                    nudged[k] += delta;
                    var.set(&Tensor::from_vec(nudged, original.shape(), &cpu).unwrap())
                        .unwrap();
                    loss(&mlp, latents.as_tensor())
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
                var.set(&original).unwrap();
                let tolerance = 2e-3 * (1.0 + numeric.abs());
                assert!(
                    (analytic[k] as f64 - numeric).abs() < tolerance,
                    "{name}[{k}]: analytic {}, finite difference {numeric}",
                    analytic[k]
                );
                checked += 1;
            }
        }
        assert_eq!(
            checked,
            3 * (8 + 1),
            "every weight and bias of four layers, and the latents"
        );
    }
}
