//! Exports: what leaves the tool, in the formats the tools downstream read.
//!
//! - `export.video`: MP4 with H.264 video and AAC-LC or Opus sound, in sync;
//! - `export.images`: PNG (8 or 16 bits) or OpenEXR (float, with alpha) sequences;
//! - `export.audio`: WAV;
//! - `export.blendshapes`: ARKit blendshape curves as Live Link Face CSV;
//! - `export.gltf`: the face mesh and its animation as binary glTF.
//!
//! The encoders and the MP4 writer are modules of their own, shared by the nodes;
//! [`write_video`], `export.video`'s encoding, also makes the dataset preview's MP4.

pub mod aac;
mod audio;
mod blendshapes;
pub mod frames;
pub mod glb;
mod gltf;
pub mod h264;
mod images;
pub mod mp4;
pub mod opus;
pub mod sequence;
mod video;
pub mod weights;

#[cfg(test)]
pub(crate) mod testing;

use std::path::Path;
use std::sync::Arc;

use gspeech_sdk::fs::write_atomic;
use gspeech_sdk::{FileFilter, Node, NodeError, ParamSpec, PathRole, RunContext};

pub use audio::Audio;
pub use blendshapes::{Blendshapes, LIVE_LINK_FACE_COLUMNS};
pub use gltf::Gltf;
pub use images::Images;
pub use video::{AudioCodec, Pictures, Video, VideoOptions, frame_timing, write_video};

/// The export nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![
        Arc::new(Video),
        Arc::new(Images),
        Arc::new(Audio),
        Arc::new(Blendshapes),
        Arc::new(Gltf),
    ]
}

/// The `path` parameter of an export writing one file of a given kind.
fn output_path(kind: &str, extensions: &[&str]) -> ParamSpec {
    ParamSpec::path(
        "path",
        PathRole::OutputFile,
        vec![FileFilter::new(kind, extensions)],
        "",
        "Where to write, relative to the graph file.",
    )
}

/// The error for an output that cannot be created at `path`.
fn cannot_write(path: &Path, error: impl std::fmt::Display) -> NodeError {
    NodeError::file(path, format!("cannot write here: {error}"))
}

/// Writes a whole file atomically, stopping (and leaving nothing) on cancellation.
fn write_file(ctx: &RunContext, path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    write_atomic(path, bytes, ctx.cancel_token()).map_err(|e| match e {
        NodeError::File { path, message } => cannot_write(&path, message),
        other => other,
    })
}
