//! Expression2Latent: a small MLP lifting the expression codes into the
//! decoder's width; its output is concatenated with the lip features to form
//! what the decoder attends to.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, linear};

use super::config::Config;

/// Expression codes → expression latents.
#[derive(Clone, Debug)]
pub struct Expression2Latent {
    first: Linear,
    second: Linear,
}

impl Expression2Latent {
    /// Loads the MLP from `vb` (`expression_latent.*`).
    pub fn new(vb: VarBuilder, config: &Config) -> Result<Expression2Latent> {
        Ok(Expression2Latent {
            first: linear(config.expression_names.len(), config.sizes.hidden, vb.pp("first"))?,
            second: linear(config.sizes.hidden, config.sizes.hidden, vb.pp("second"))?,
        })
    }
}

impl Module for Expression2Latent {
    /// `[B, T, codes]` → `[B, T, hidden]`.
    fn forward(&self, codes: &Tensor) -> Result<Tensor> {
        self.second.forward(&self.first.forward(codes)?.gelu_erf()?)
    }
}
