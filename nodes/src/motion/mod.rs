//! The motion model: speech → face motion, as the paper's audio-conditioned
//! transformer.
//!
//! - the network, one file per part: [`lip_encoder`], [`wrinkle_encoder`],
//!   [`expression_encoder`], [`latent`] (Expression2Latent), [`decoder`]
//!   (with the vertex mapper), built from the blocks and masks in
//!   [`attention`] and put together in [`model`]; sizes and provenance in
//!   [`config`];
//! - checkpoints and `motion.model` ([`checkpoint`]), seeded initial weights
//!   ([`init`]), `motion.generate` ([`generate`]);
//! - training ([`data`], [`augment`], [`optim`], [`train`], [`plot`]) and evaluation
//!   ([`metrics`], [`eval`]).

pub mod attention;
pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod decoder;
pub mod eval;
pub mod expression_encoder;
pub mod fused;
pub mod generate;
pub mod init;
pub mod latent;
pub mod lip_encoder;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod plot;
pub mod train;
pub mod wrinkle_encoder;

use std::sync::Arc;

use gspeech_sdk::Node;

pub use checkpoint::{FeatureStats, MotionModel};
pub use config::{Architecture, Config};
pub use model::MotionTransformer;

/// The motion nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![
        Arc::new(checkpoint::LoadModel),
        Arc::new(generate::Generate),
        Arc::new(lip_encoder::LipEncoderNode),
        Arc::new(wrinkle_encoder::WrinkleEncoderNode),
        Arc::new(expression_encoder::ExpressionEncoderNode),
        Arc::new(decoder::DecoderNode),
        Arc::new(train::Train),
    ]
}
#[cfg(test)]
mod tests;
#[cfg(test)]
mod node_tests;
