//! The synthetic speech-capture factory: paired speech and 3D face motion made
//! from text, for training the motion model where no captured dataset can be
//! had.
//!
//! - [`corpus`]: the sentences;
//! - [`speech`]: eSpeak NG speech with exact phoneme timings;
//! - [`align`]: phoneme timings for recorded speech, by forced alignment;
//! - [`visemes`] and [`coarticulation`]: phonemes → visemes → ARKit mouth
//!   weights, blended by Cohen–Massaro dominance functions;
//! - [`prosody`] and [`head`]: brows, blinks, gaze and head motion from the
//!   speech's pitch and loudness;
//! - [`recordings`]: recorded lines and their transcripts;
//! - [`sequence`]: one sentence spoken by one speaker, as audio, weights and vertices;
//! - [`writer`]: the files; [`preview`]: a flat-shaded look at a sequence;
//! - `dataset.synthesize`: the node that makes a whole dataset with splits.

pub mod align;
pub mod coarticulation;
pub mod corpus;
pub mod faceformer;
pub mod head;
pub mod preview;
pub mod prosody;
pub mod random;
pub mod recordings;
pub mod sequence;
pub mod speech;
mod synthesize;
pub mod visemes;
pub mod writer;

use std::sync::Arc;

use gspeech_sdk::Node;

pub use synthesize::{DEFAULT_HELD_OUT, DEFAULT_VOICES, Synthesize};

/// The dataset nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(Synthesize)]
}

#[cfg(test)]
mod tests;
