//! Avatars: Gaussians bound to the triangles of a face mesh, posed by motion,
//! coloured by an MLP of per-Gaussian latents, expression and view.
//!
//! - [`binding`]: triangle frames and posing (GaussianAvatars-style);
//! - [`gradients`]: gradients through the binding, and the raw
//!   parameterisation (log-scales, opacity logits) a fitter steps;
//! - [`mouth`]: extra triangles closing a mouth hole (FLAME's);
//! - [`color`]: the colour MLP and its constant-colour ablation;
//! - [`model`]: the [`Avatar`] value and its `avatar` record;
//! - [`file`]: `AVATAR.json` + `AVATAR.safetensors`, and the `avatar.load`
//!   and `avatar.save` nodes;
//! - [`posing`]: an avatar record posed frame by frame on a face model's
//!   meshes, as renderers and exporters need it.

pub mod binding;
pub mod color;
pub mod file;
pub mod gradients;
mod load;
pub mod model;
pub mod mouth;
pub mod posing;
mod save;

use std::sync::Arc;

use gspeech_sdk::Node;

pub use load::{LoadAvatar, face_identity};
pub use model::{Avatar, AvatarConfig, FaceIdentity};
pub use save::SaveAvatar;

/// The avatar nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(LoadAvatar), Arc::new(SaveAvatar)]
}
