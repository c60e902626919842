//! Multi-view captures: calibrated cameras, per-frame images and tracked
//! meshes on a face model, the data avatar fitting learns from. The synthetic
//! studio rig writes them, importers convert other layouts to them, and
//! `capture.load` reads them.
//!
//! - [`format`]: the folder's files, their types, readers and writers;
//! - [`check`]: every problem a capture can have, each naming its file and entry;
//! - [`import`]: other tools' capture layouts converted to this one;
//! - `capture.load`: the node that opens and checks a capture;
//! - `capture.synthesize`: the synthetic studio rig ([`timeline`] and
//!   [`expressions`] pose the face, [`studio`] renders it, `film` films every
//!   camera, [`resume`] keeps what was written);
//! - [`preview`]: a contact sheet of every camera and a video of one, to check a capture by eye.

pub mod check;
pub mod expressions;
mod film;
pub mod format;
pub mod import;
mod load;
pub mod preview;
pub mod resume;
pub mod studio;
mod synthesize;
pub mod timeline;

use std::sync::Arc;

use gspeech_sdk::Node;

pub use check::Problem;
pub use format::{Capture, CaptureCamera, CaptureFrame, CaptureIndex, FaceModelRef, MeshFile};
pub use load::LoadCapture;
pub use synthesize::{DEFAULT_VOICE, SynthesizeCapture};

/// The capture nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(LoadCapture), Arc::new(SynthesizeCapture)]
}

#[cfg(test)]
mod tests;
