//! Training and evaluation data: a speech–motion dataset folder as the
//! capture factory writes it, read into memory as clips of audio features
//! and per-frame expression weights.
//!
//! The factory's stored vertices carry the head's motion; the motion model
//! predicts the face in the head's frame, as FaceFormer and the datasets it
//! reads do (VOCASET and BIWI come with the head pose removed). The face's
//! offsets are linear in the weights on a blendshape rig, so the targets are
//! the weights applied to the rig's expression shapes ([`Targets`]), exactly
//! the offsets the factory posed before it turned the head.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gspeech_sdk::{CancelToken, NodeError, PortType, Value, store};
use rayon::prelude::*;
use serde_json::Value as Json;

use crate::audio::decode;
use crate::dataset::faceformer::{self, FaceformerData, Split};
use crate::audio::loudness::integrated;
use super::augment::Draw;
use crate::face::FaceRig;
use crate::features::{frame_count, hz_to_mel, interpolate_linear, log_mel, mel_to_hz};

/// The bilabial phonemes, in the factory's (eSpeak NG's) symbols.
pub const BILABIALS: [&str; 3] = ["p", "b", "m"];

/// How audio becomes features: as the default project makes them, with
/// `audio.load` normalising the loudness and `features.mel` at its defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureRecipe {
    /// Mel bands (the `features.mel` node's default, 80).
    pub mel_bands: usize,
    /// Integrated loudness the audio is normalised to first, LUFS.
    pub loudness: f64,
}

impl Default for FeatureRecipe {
    fn default() -> FeatureRecipe {
        FeatureRecipe {
            mel_bands: 80,
            loudness: -23.0,
        }
    }
}

impl FeatureRecipe {
    /// Log-mel features of mono audio, `[frames, bands]` at 50 Hz.
    pub fn features(&self, samples: &[f32], sample_rate: u32) -> Result<Vec<f32>, String> {
        let measured = integrated(&[samples], sample_rate).ok_or("is too quiet to measure its loudness")?;
        let gain = 10f64.powf((self.loudness - measured) / 20.0) as f32;
        let scaled: Vec<f32> = samples.iter().map(|s| s * gain).collect();
        log_mel(&scaled, sample_rate, self.mel_bands, 0.0, 0.0)
    }

    /// Features of audio lasting `frames` video frames, resampled to `steps`
    /// rows per frame, `[frames · steps, bands]`.
    pub fn frame_features(&self, samples: &[f32], sample_rate: u32, frames: usize, steps: usize) -> Result<Vec<f32>, String> {
        let mel = self.features(samples, sample_rate)?;
        if mel.len() < self.mel_bands || frames == 0 {
            return Err("is shorter than one video frame".into());
        }
        Ok(interpolate_linear(&mel, self.mel_bands, frames * steps))
    }
}

/// Vocal-tract-length perturbation of log-mel rows `[frames, bands]` whose
/// bands span 0 Hz to `nyquist`: every frequency is scaled by `alpha`, so band
/// `i` takes the value at its centre frequency divided by `alpha` (linear
/// interpolation between bands, the edge bands held). `alpha` above 1
/// sounds like a shorter vocal tract (higher formants).
pub fn warp_bands(values: &mut [f32], bands: usize, nyquist: f64, alpha: f64) {
    let top = hz_to_mel(nyquist);
    let step = top / (bands + 1) as f64;
    let sources: Vec<(usize, f32)> = (0..bands)
        .map(|i| {
            let centre = mel_to_hz(step * (i + 1) as f64);
            let at = (hz_to_mel(centre / alpha) / step - 1.0).clamp(0.0, (bands - 1) as f64);
            let below = (at.floor() as usize).min(bands.saturating_sub(2));
            (below, (at - below as f64) as f32)
        })
        .collect();
    let mut source = vec![0f32; bands];
    for row in values.chunks_exact_mut(bands) {
        source.copy_from_slice(row);
        for (v, &(below, t)) in row.iter_mut().zip(&sources) {
            let above = (below + 1).min(bands - 1);
            *v = source[below] * (1.0 - t) + source[above] * t;
        }
    }
}

/// A take's audio kept for augmentation: 16-bit samples (half the memory
/// of f32, and the factory writes 16-bit WAV), shared between copies.
#[derive(Clone, Debug, Default)]
pub struct Pcm {
    /// Mono samples at full scale ±32767.
    pub samples: Arc<[i16]>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Pcm {
    /// Quantises mono samples in [-1, 1] (beyond it they are clipped).
    pub fn new(samples: &[f32], sample_rate: u32) -> Pcm {
        Pcm {
            samples: samples.iter().map(|s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16).collect(),
            sample_rate,
        }
    }

    /// The samples as f32 in [-1, 1].
    pub fn to_f32(&self) -> Vec<f32> {
        self.samples.iter().map(|&s| s as f32 / 32767.0).collect()
    }
}

/// One sequence in memory.
#[derive(Clone, Debug)]
pub struct Clip {
    /// Its id (`s0001-v0`).
    pub id: String,
    /// The speaker's id.
    pub speaker: String,
    /// Raw features resampled to `steps` rows per video frame, `[frames · steps, dims]`.
    pub features: Vec<f32>,
    /// The true motion, `[frames, W]`: on a blendshape rig the expression
    /// weights (W = K, see [`Targets`]); on a face model without expressions
    /// (VOCASET, BIWI) the offsets from the speaker's template on the moved
    /// vertices, in the model's units (W = moved · 3).
    pub truth: Vec<f32>,
    /// Video frames.
    pub frames: usize,
    /// When each bilabial phoneme starts and ends, seconds.
    pub bilabials: Vec<(f64, f64)>,
    /// Its audio (empty where only the features are known).
    pub audio: Pcm,
}

impl Clip {
    /// Each bilabial's frames at `fps`, `[first, last]`, within the clip.
    pub fn bilabial_frames(&self, fps: f64) -> Vec<(usize, usize)> {
        let frame = |t: f64| ((t * fps).round() as usize).min(self.frames.saturating_sub(1));
        self.bilabials.iter().map(|&(a, b)| (frame(a), frame(b).max(frame(a)))).collect()
    }

    /// The clip with its audio through `draw`, the features made again by
    /// `recipe` (`steps` rows per frame at `fps`) and the motion and
    /// bilabials stretched in time with the audio.
    pub fn augmented(&self, draw: &Draw, recipe: &FeatureRecipe, fps: f64, steps: usize) -> Result<Clip, String> {
        if self.audio.samples.is_empty() {
            return Err(format!("clip `{}` has no audio to augment", self.id));
        }
        let rate = self.audio.sample_rate;
        let samples = draw.apply(&self.audio.to_f32(), rate)?;
        let frames = frame_count(samples.len(), rate as f64, fps);
        let features = recipe
            .frame_features(&samples, rate, frames, steps)
            .map_err(|e| format!("clip `{}` augmented {e}", self.id))?;
        let width = self.truth.len() / self.frames;
        Ok(Clip {
            id: self.id.clone(),
            speaker: self.speaker.clone(),
            features,
            truth: interpolate_linear(&self.truth, width, frames),
            frames,
            bilabials: self.bilabials.iter().map(|&(a, b)| (a / draw.speed, b / draw.speed)).collect(),
            audio: self.audio.clone(),
        })
    }
}

/// A dataset folder's index.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The folder.
    pub root: PathBuf,
    /// `dataset.json`.
    pub index: Json,
    /// Frames per second of its motion.
    pub fps: f64,
    /// The rig's expression names, one per weight.
    pub weight_names: Vec<String>,
}

impl Dataset {
    /// Opens a dataset folder written by the capture factory.
    pub fn open(root: &Path) -> Result<Dataset, NodeError> {
        let path = root.join(crate::dataset::writer::INDEX);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            NodeError::file(&path, format!("{e} (is this a dataset folder made by `gspeech dataset synth`?)"))
        })?;
        let index: Json = serde_json::from_str(&text).map_err(|e| NodeError::file(&path, e))?;
        if index["format"] != crate::dataset::writer::FORMAT {
            return Err(NodeError::file(&path, "is not a speech–motion dataset index"));
        }
        let fps = index["settings"]["fps"]
            .as_f64()
            .ok_or_else(|| NodeError::file(&path, "has no `settings.fps`"))?;
        let weight_names = index["weight_names"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
            .ok_or_else(|| NodeError::file(&path, "has no `weight_names`"))?;
        Ok(Dataset {
            root: root.to_path_buf(),
            index,
            fps,
            weight_names,
        })
    }

    /// The digest of the face model the dataset was made on.
    pub fn face_digest(&self) -> &str {
        self.index["face_model"]["digest"].as_str().unwrap_or("")
    }

    /// Checks that the dataset was made on `face`, naming both when not.
    pub fn check_face(&self, face: &FaceRig) -> Result<(), NodeError> {
        let digest = face.digest();
        if self.face_digest() != digest {
            return Err(NodeError::file(
                self.root.join(crate::dataset::writer::INDEX),
                format!(
                    "was made on the face model `{}` (digest {}…), not on `{}` (digest {}…)",
                    self.index["face_model"]["name"].as_str().unwrap_or("?"),
                    self.face_digest().get(..12).unwrap_or(""),
                    face.name,
                    &digest[..12]
                ),
            ));
        }
        Ok(())
    }

    /// The sequence ids of a split (`train`, `val`, `test`, `test_voice`).
    pub fn split(&self, name: &str) -> Result<Vec<String>, NodeError> {
        let known: Vec<&str> = self.index["splits"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let ids = self.index["splits"][name].as_array().ok_or_else(|| {
            NodeError::file(
                self.root.join(crate::dataset::writer::INDEX),
                format!("has no split `{name}`; it has {}", known.join(", ")),
            )
        })?;
        Ok(ids.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
    }

    /// The ids of the speakers whose sequences are in `train`, in order.
    pub fn training_speakers(&self) -> Vec<String> {
        self.index["speakers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|s| s["held_out"] != true)
                    .filter_map(|s| s["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Reads the clips of `ids` (in parallel), with features `steps` rows per
    /// frame, keeping their audio only when `keep_audio` (for augmentation).
    /// Any problem names the sequence's file.
    pub fn load(
        &self,
        ids: &[String],
        recipe: &FeatureRecipe,
        steps: usize,
        keep_audio: bool,
        cancel: &CancelToken,
    ) -> Result<Vec<Clip>, NodeError> {
        ids.par_iter()
            .map(|id| {
                if cancel.is_cancelled() {
                    return Err(NodeError::Cancelled);
                }
                self.load_clip(id, recipe, steps, keep_audio)
            })
            .collect()
    }

    fn load_clip(&self, id: &str, recipe: &FeatureRecipe, steps: usize, keep_audio: bool) -> Result<Clip, NodeError> {
        let dir = crate::dataset::writer::sequences_dir(&self.root).join(id);
        let meta_path = dir.join("meta.json");
        let meta: Json = std::fs::read_to_string(&meta_path)
            .map_err(|e| NodeError::file(&meta_path, e))
            .and_then(|t| serde_json::from_str(&t).map_err(|e| NodeError::file(&meta_path, e)))?;

        let audio_path = dir.join("audio.wav");
        let audio = decode(&audio_path, 1 << 30, &|_| {}, &|| false)?;
        let samples = audio.channels.into_iter().next().unwrap_or_default();
        let frames = frame_count(samples.len(), audio.sample_rate as f64, self.fps);

        let motion_path = dir.join("motion.safetensors");
        let values = store::load(&motion_path)?;
        let motion = match values.values().next() {
            Some(Value::Data(r)) if r.kind() == PortType::Motion => r.clone(),
            _ => return Err(NodeError::file(&motion_path, "holds no motion value")),
        };
        let weights = motion
            .tensor("weights")
            .and_then(|t| t.as_f32().map(|w| (t.shape().to_vec(), w.to_vec())))
            .ok_or_else(|| NodeError::file(&motion_path, "has no f32 `weights`"))?;
        let (shape, weights) = weights;
        if shape[1] != self.weight_names.len() {
            return Err(NodeError::file(
                &motion_path,
                format!("has {} weights per frame, the dataset names {}", shape[1], self.weight_names.len()),
            ));
        }
        if shape[0] != frames {
            return Err(NodeError::file(
                &motion_path,
                format!(
                    "has {} frames of motion but its audio lasts {frames} frames at {} fps",
                    shape[0], self.fps
                ),
            ));
        }
        for (name, tensor) in [("weights", motion.tensor("weights")), ("vertices", motion.tensor("vertices"))] {
            if let Some(values) = tensor.and_then(|t| t.as_f32())
                && let Some(i) = values.iter().position(|v| !v.is_finite())
            {
                return Err(NodeError::file(&motion_path, format!("`{name}` holds a non-finite value at {i}")));
            }
        }

        let features = recipe
            .frame_features(&samples, audio.sample_rate, frames, steps)
            .map_err(|e| NodeError::file(&audio_path, e))?;
        let bilabials = meta["phonemes"]
            .as_array()
            .map(|phones| {
                phones
                    .iter()
                    .filter(|p| p["symbol"].as_str().is_some_and(|s| BILABIALS.contains(&s)))
                    .filter_map(|p| Some((p["start"].as_f64()?, p["end"].as_f64()?)))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Clip {
            id: id.to_string(),
            speaker: meta["speaker"].as_str().unwrap_or_default().to_string(),
            features,
            truth: weights,
            frames,
            bilabials,
            audio: if keep_audio { Pcm::new(&samples, audio.sample_rate) } else { Pcm::default() },
        })
    }
}

/// The sample rate audio is read at, as `audio.load` makes it by default.
pub const SAMPLE_RATE: u32 = 16_000;

/// Where training and evaluation clips come from: a capture-factory dataset,
/// or VOCASET or BIWI in FaceFormer's layout.
pub enum Corpus {
    /// A folder made by `gspeech dataset synth` (`dataset.json`).
    Factory(Dataset),
    /// A folder in FaceFormer's layout (`templates.pkl`, `wav/`, `vertices_npy/`).
    Faceformer(FaceformerData),
}

impl Corpus {
    /// Opens a dataset folder of either kind, told apart by its files.
    pub fn open(root: &Path) -> Result<Corpus, NodeError> {
        if Corpus::is_faceformer(root) {
            let kind = faceformer::Kind::detect(root)?;
            return Ok(Corpus::Faceformer(FaceformerData::open(root, kind)?));
        }
        Dataset::open(root).map(Corpus::Factory)
    }

    /// Whether `root` is in FaceFormer's layout rather than the factory's.
    pub fn is_faceformer(root: &Path) -> bool {
        root.join(faceformer::TEMPLATES).is_file() && !root.join(crate::dataset::writer::INDEX).exists()
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        match self {
            Corpus::Factory(d) => &d.root,
            Corpus::Faceformer(d) => &d.root,
        }
    }

    /// Frames per second of its motion.
    pub fn fps(&self) -> f64 {
        match self {
            Corpus::Factory(d) => d.fps,
            Corpus::Faceformer(d) => d.kind.fps(),
        }
    }

    /// The highest frequency its features reach, Hz.
    pub fn nyquist(&self) -> f64 {
        match self {
            Corpus::Factory(d) => d.index["settings"]["sample_rate"].as_f64().unwrap_or(SAMPLE_RATE as f64) / 2.0,
            Corpus::Faceformer(_) => SAMPLE_RATE as f64 / 2.0,
        }
    }

    /// The face model its motion lives on. A factory dataset's is `given`
    /// (the one it was made on, checked by digest); a FaceFormer folder's is
    /// made from its templates and the `lips` and `upper` vertex-set files.
    pub fn face(&self, given: Option<FaceRig>, lips: Option<&Path>, upper: Option<&Path>) -> Result<FaceRig, NodeError> {
        match self {
            Corpus::Factory(d) => {
                let face = given.ok_or_else(|| {
                    NodeError::input("face", "is not connected: a capture-factory dataset needs the face model it was made on")
                })?;
                d.check_face(&face)?;
                Ok(face)
            }
            Corpus::Faceformer(d) => {
                let read = |name: &str, path: Option<&Path>, role| match path {
                    Some(path) => faceformer::regions::read(path, role, d.vertex_count),
                    None => Err(NodeError::param(
                        name,
                        format!(
                            "names no file: {} needs its {} vertex set (FLAME_masks.pkl, or a list of indices such as CodeTalker's regions/{})",
                            d.kind.name(),
                            if name == "lips" { "lip" } else { "upper-face" },
                            if name == "lips" { "lve.txt" } else { "fdd.txt" }
                        ),
                    )),
                };
                let lips = read("lips", lips, faceformer::regions::Role::Lips)?;
                let upper = read("upper", upper, faceformer::regions::Role::Upper)?;
                Ok(d.face_model(lips, upper))
            }
        }
    }

    /// Whether split `name` exists and holds sequences.
    pub fn has_split(&self, name: &str) -> bool {
        match self {
            Corpus::Factory(d) => d.split(name).is_ok_and(|ids| !ids.is_empty()),
            Corpus::Faceformer(d) => Split::parse(name).is_some_and(|s| d.split(s).next().is_some()),
        }
    }

    /// The splits scored unless others are named: the factory's held-out
    /// sentences, voice and recorded lines; FaceFormer's test splits.
    pub fn evaluation_splits(&self) -> Vec<&'static str> {
        let candidates: &[&'static str] = match self {
            Corpus::Factory(_) => &["test", "test_voice", "test_recorded"],
            Corpus::Faceformer(_) => &["test", "test_a"],
        };
        candidates.iter().copied().filter(|s| self.has_split(s)).collect()
    }

    /// The speaker ids of the training split, in style order.
    pub fn training_speakers(&self) -> Vec<String> {
        match self {
            Corpus::Factory(d) => d.training_speakers(),
            Corpus::Faceformer(d) => {
                let mut subjects: Vec<String> = d.split(Split::Train).map(|s| s.subject.clone()).collect();
                subjects.sort_unstable();
                subjects.dedup();
                subjects
            }
        }
    }

    /// The corpus described for a checkpoint.
    pub fn description(&self) -> Json {
        match self {
            Corpus::Factory(d) => serde_json::json!({
                "root": d.root.to_string_lossy(), "seed": d.index["seed"],
                "sequences": d.index["sequences"].as_array().map_or(0, |a| a.len())}),
            Corpus::Faceformer(d) => serde_json::json!({
                "root": d.root.to_string_lossy(), "layout": "faceformer", "dataset": d.kind.name(),
                "sequences": d.sequences.len()}),
        }
    }

    /// Reads split `name`'s clips (in parallel), with features `steps` rows
    /// per frame, keeping their audio only when `keep_audio`.
    pub fn load(
        &self,
        name: &str,
        recipe: &FeatureRecipe,
        steps: usize,
        keep_audio: bool,
        cancel: &CancelToken,
    ) -> Result<Vec<Clip>, NodeError> {
        match self {
            Corpus::Factory(d) => d.load(&d.split(name)?, recipe, steps, keep_audio, cancel),
            Corpus::Faceformer(d) => {
                let split = Split::parse(name).ok_or_else(|| {
                    let names: Vec<&str> = Split::ALL.iter().map(|s| s.name()).collect();
                    NodeError::file(&d.root, format!("has no split `{name}`; FaceFormer's are {}", names.join(", ")))
                })?;
                let sequences: Vec<&faceformer::Sequence> = d.split(split).collect();
                sequences
                    .par_iter()
                    .map(|sequence| {
                        if cancel.is_cancelled() {
                            return Err(NodeError::Cancelled);
                        }
                        faceformer_clip(d, sequence, recipe, steps, keep_audio)
                    })
                    .collect()
            }
        }
    }
}

/// One FaceFormer sequence as a clip: its audio at [`SAMPLE_RATE`], and the
/// vertices' offsets from the subject's template as the truth. Audio and
/// motion are cut to the shorter of the two, as FaceFormer's loader does.
fn faceformer_clip(
    data: &FaceformerData,
    sequence: &faceformer::Sequence,
    recipe: &FeatureRecipe,
    steps: usize,
    keep_audio: bool,
) -> Result<Clip, NodeError> {
    let loaded = data.load(sequence)?;
    let samples = crate::audio::resample(&[loaded.audio], loaded.sample_rate, SAMPLE_RATE)
        .map_err(|e| NodeError::file(&sequence.wav, e))?
        .remove(0);
    let frames = loaded.frames.min(frame_count(samples.len(), SAMPLE_RATE as f64, loaded.fps));
    let heard = ((frames as f64 / loaded.fps * SAMPLE_RATE as f64).round() as usize).min(samples.len());
    let features = recipe
        .frame_features(&samples[..heard], SAMPLE_RATE, frames, steps)
        .map_err(|e| NodeError::file(&sequence.wav, e))?;
    let width = loaded.template.len();
    let truth = loaded.vertices[..frames * width]
        .chunks_exact(width)
        .flat_map(|frame| frame.iter().zip(&loaded.template).map(|(v, t)| v - t))
        .collect();
    Ok(Clip {
        id: sequence.id.clone(),
        speaker: sequence.subject.clone(),
        features,
        truth,
        frames,
        bilabials: Vec::new(),
        audio: if keep_audio { Pcm::new(&samples[..heard], SAMPLE_RATE) } else { Pcm::default() },
    })
}

/// The map from expression weights to vertex offsets on the moved vertices:
/// the rig's expression shapes restricted to them, `[K, moved · 3]`.
#[derive(Clone, Debug)]
pub struct Targets {
    /// The shapes, row-major.
    pub shapes: Vec<f32>,
    /// Weights per frame.
    pub expressions: usize,
}

impl Targets {
    /// The expression shapes of `face` on `moved` vertices.
    pub fn new(face: &FaceRig, moved: &[u32]) -> Targets {
        let v = face.vertex_count();
        let shapes = face
            .expressions
            .chunks_exact(v * 3)
            .flat_map(|shape| moved.iter().flat_map(move |&i| &shape[i as usize * 3..i as usize * 3 + 3]))
            .copied()
            .collect();
        Targets {
            shapes,
            expressions: face.expression_names.len(),
        }
    }

    /// Vertex offsets `[frames, moved · 3]` for weights `[frames, K]`.
    pub fn offsets(&self, weights: &[f32]) -> Vec<f32> {
        let width = self.shapes.len() / self.expressions.max(1);
        let mut out = vec![0f32; weights.len() / self.expressions.max(1) * width];
        for (row, w) in out.chunks_exact_mut(width).zip(weights.chunks_exact(self.expressions)) {
            crate::face::add_shapes(row, &self.shapes, w);
        }
        out
    }
}
