//! The dataset on disk:
//!
//! ```text
//! <root>/dataset.json                 index: settings, speakers, splits, sequences
//! <root>/sequences/<id>/audio.wav      16-bit PCM, mono
//! <root>/sequences/<id>/motion.safetensors
//!     one `motion` value (io.load reads it): weights [T, K], vertices [T, Vs, 3],
//!     head_rotation [T, 3], template [Vs, 3], vertex_indices [Vs]; fps, weight_names
//!     (`template`: the speaker's face at rest, head unturned: identity,
//!     resting smile and lightly closed lips, as in silence)
//! <root>/sequences/<id>/meta.json      sentence, speaker, voice, phonemes and visemes, blinks
//! ```
//!
//! Each sequence is written into a hidden folder and renamed into place, so a
//! sequence folder is always complete; `dataset.json` is written last. A
//! sequence whose `meta.json` has the same key (a digest of everything it
//! depends on) is kept as it is, so an interrupted run resumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gspeech_sdk::{CancelToken, NodeError, PortType, Record, Tensor, Value, fs::write_atomic, store};
use serde_json::Value as Json;

use crate::audio::wav::pcm16;

/// The index file's name.
pub const INDEX: &str = "dataset.json";
/// The index's `format` field.
pub const FORMAT: &str = "gspeech-speech-motion-dataset";
/// Layout version of the files.
pub const VERSION: u64 = 1;

/// The files of one sequence, ready to write.
pub struct SequenceFiles {
    /// Audio samples in [-1, 1].
    pub audio: Vec<f32>,
    /// Its sample rate.
    pub sample_rate: u32,
    /// The `motion` value.
    pub motion: Record,
    /// `meta.json`'s content.
    pub meta: Json,
}

/// The folder holding the sequences.
pub fn sequences_dir(root: &Path) -> PathBuf {
    root.join("sequences")
}

/// The key stored in a sequence's `meta.json`, if it is complete.
pub fn existing_key(root: &Path, id: &str) -> Option<String> {
    let meta = std::fs::read_to_string(sequences_dir(root).join(id).join("meta.json")).ok()?;
    let json: Json = serde_json::from_str(&meta).ok()?;
    json["key"].as_str().map(str::to_string)
}

/// A sequence's `meta.json`.
pub fn read_meta(root: &Path, id: &str) -> Result<Json, NodeError> {
    let path = sequences_dir(root).join(id).join("meta.json");
    let text = std::fs::read_to_string(&path).map_err(|e| NodeError::file(&path, e))?;
    serde_json::from_str(&text).map_err(|e| NodeError::file(&path, e))
}

/// Removes hidden folders left by a run that was killed mid-write.
pub fn remove_stale(root: &Path) -> Result<(), NodeError> {
    let dir = sequences_dir(root);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with(".partial") {
            std::fs::remove_dir_all(entry.path()).map_err(|e| NodeError::file(entry.path(), e))?;
        }
    }
    Ok(())
}

/// Removes a folder when dropped, unless kept.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Writes one sequence folder, complete or not at all.
pub fn write_sequence(root: &Path, id: &str, files: &SequenceFiles, cancel: &CancelToken) -> Result<(), NodeError> {
    let dir = sequences_dir(root);
    let temp = dir.join(format!(".{id}.{}.partial", std::process::id()));
    std::fs::create_dir_all(&temp).map_err(|e| NodeError::file(&temp, e))?;
    let mut guard = TempDir(Some(temp.clone()));
    let samples: Vec<i16> = files
        .audio
        .iter()
        .map(|s| (s * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect();
    write_atomic(&temp.join("audio.wav"), &pcm16(files.sample_rate, 1, &samples), cancel)?;
    let motion = BTreeMap::from([("motion".to_string(), Value::data(files.motion.clone()))]);
    store::save(&temp.join("motion.safetensors"), &motion, cancel)?;
    let meta = serde_json::to_string_pretty(&files.meta).expect("JSON") + "\n";
    write_atomic(&temp.join("meta.json"), meta.as_bytes(), cancel)?;
    if cancel.is_cancelled() {
        return Err(NodeError::Cancelled);
    }
    let target = dir.join(id);
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| NodeError::file(&target, e))?;
    }
    std::fs::rename(&temp, &target).map_err(|e| NodeError::file(&target, e))?;
    guard.0 = None;
    Ok(())
}

/// The `motion` value of a sequence.
pub fn motion_record(
    weights: Vec<f32>,
    weight_names: &[String],
    vertices: Vec<f32>,
    head: &[[f32; 3]],
    template: Vec<f32>,
    stored: &[u32],
    fps: f64,
) -> Record {
    let (frames, k, vs) = (head.len(), weight_names.len(), stored.len());
    let tensor = |shape: &[usize], data: Vec<f32>| Tensor::from_f32(shape, data).expect("sizes agree");
    Record::new(PortType::Motion)
        .with_tensor("weights", tensor(&[frames, k], weights))
        .with_tensor("vertices", tensor(&[frames, vs, 3], vertices))
        .with_tensor("head_rotation", tensor(&[frames, 3], head.as_flattened().to_vec()))
        .with_tensor("template", tensor(&[vs, 3], template))
        .with_tensor("vertex_indices", Tensor::from_u32(&[vs], stored.to_vec()).expect("1-D"))
        .with_attr("fps", fps)
        .with_attr("weight_names", weight_names.to_vec())
}

/// Writes `dataset.json`.
pub fn write_index(root: &Path, index: &Json, cancel: &CancelToken) -> Result<(), NodeError> {
    let text = serde_json::to_string_pretty(index).expect("JSON") + "\n";
    write_atomic(&root.join(INDEX), text.as_bytes(), cancel)
}
