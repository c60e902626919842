//! Avatars: Gaussians bound to the triangles of a face mesh, posed by motion.

pub mod binding;
pub mod color;
pub mod file;
pub mod gradients;
pub mod model;
pub mod mouth;
pub use model::{Avatar, AvatarConfig, FaceIdentity};
