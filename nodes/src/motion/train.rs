//! Training the motion model: AdamW with warm-up and cosine decay, gradient
//! clipping; vertex, lip, velocity, expression-code and upper-face losses;
//! validation every N steps; checkpoints that a run resumes from exactly.
//!
//! Beside the checkpoint `NAME.safetensors` a run keeps
//! `NAME.state.safetensors` (weights and optimiser moments, written
//! atomically every `checkpoint_every` steps), `NAME.metrics.jsonl` (one JSON
//! object per logged step and per validation) and `NAME.png` (the curves).
//! Each step's batch, and each of its takes' augmentation, is drawn from a
//! stream keyed by the seed and the step number, so a resumed run sees the
//! batches an uninterrupted one would.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, IndexOp, Tensor};
use gspeech_sdk::{CancelToken, NodeError, PortType, Record, RunContext, Value, store};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::augment::AudioAugment;
use super::checkpoint::{FeatureStats, centre, to_record};
use super::config::{Architecture, Config, FaceSpec, FeatureSpec, Sizes};
use super::data::{Clip, Corpus, FeatureRecipe, Targets, warp_bands};
use super::init::SeededVars;
use super::model::{Masks, MotionTransformer, styles};
use super::optim::{AdamW, AdamWSettings, learning_rate};
use super::plot;
use crate::dataset::random::Rng;
use crate::face::FaceRig;
use crate::face::to_ranges;

/// How much each loss counts. Vertex losses are in mm².
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossWeights {
    /// Mean squared error over every moved vertex.
    pub vertex: f64,
    /// The same over the lip vertices.
    pub lip: f64,
    /// Mean squared error of frame-to-frame velocities.
    pub velocity: f64,
    /// The same over the lip vertices alone, where flicker shows most.
    #[serde(default)]
    pub lip_velocity: f64,
    /// Mean squared error of the expression codes against the rig's weights.
    pub expression: f64,
    /// Mean squared error over the upper-face vertices.
    pub upper: f64,
    /// Mean squared error of the inner lips' gap (mouth opening), every frame.
    #[serde(default)]
    pub gap: f64,
    /// The same on the frames of bilabials (/p b m/), where the lips close.
    #[serde(default)]
    pub closure: f64,
}

impl Default for LossWeights {
    fn default() -> LossWeights {
        LossWeights {
            vertex: 1.0,
            lip: 2.0,
            velocity: 2.0,
            lip_velocity: 0.0,
            expression: 10.0,
            upper: 1.0,
            gap: 0.2,
            closure: 0.3,
        }
    }
}

/// Everything a training run is set up with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// The network to train.
    pub architecture: Architecture,
    /// The network's sizes.
    #[serde(flatten)]
    pub sizes: Sizes,
    /// Optimisation steps.
    pub steps: usize,
    /// Clips per batch.
    pub batch: usize,
    /// Longest window trained on, frames (longer clips are cropped at random).
    pub max_frames: usize,
    /// Warm-up steps.
    pub warmup: usize,
    /// Whether each take's features are centred on their own mean (see
    /// [`FeatureSpec::per_utterance`]).
    #[serde(default)]
    pub per_utterance: bool,
    /// Whether the lip encoder reads the speaker style (see
    /// [`Config::personalised`]).
    #[serde(default)]
    pub personalised: bool,
    /// Vocal-tract-length perturbation: each training window's frequencies
    /// are scaled by a factor drawn uniformly from `1 ± warp` (0: none).
    #[serde(default)]
    pub warp: f64,
    /// Audio-domain augmentation of each training take (all off by
    /// default; see [`AudioAugment`]).
    #[serde(default)]
    pub augment: AudioAugment,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Final learning rate as a fraction of the peak.
    pub final_fraction: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Gradients are scaled down to this global norm.
    pub clip: f64,
    /// Seed of the initial weights and of every batch.
    pub seed: u64,
    /// Loss weights.
    pub losses: LossWeights,
    /// Validate every this many steps.
    pub validate_every: usize,
    /// Write the resumable state every this many steps.
    pub checkpoint_every: usize,
}

impl Default for TrainSettings {
    fn default() -> TrainSettings {
        TrainSettings {
            architecture: Architecture::GaussianSpeech,
            sizes: Sizes::default(),
            steps: 3000,
            batch: 16,
            max_frames: 100,
            warmup: 200,
            per_utterance: true,
            personalised: false,
            warp: 0.1,
            augment: AudioAugment::default(),
            learning_rate: 1e-3,
            final_fraction: 0.05,
            weight_decay: 0.01,
            clip: 1.0,
            seed: 1,
            losses: LossWeights::default(),
            validate_every: 250,
            checkpoint_every: 250,
        }
    }
}

/// What a run reports as it goes, and how it is stopped.
pub trait Monitor {
    /// Fraction done and a status line.
    fn progress(&self, fraction: f32, message: &str);
    /// A line for the log.
    fn info(&self, message: &str);
    /// Whether to stop now.
    fn cancelled(&self) -> bool;
}

impl Monitor for RunContext<'_> {
    fn progress(&self, fraction: f32, message: &str) {
        RunContext::progress(self, fraction, message)
    }
    fn info(&self, message: &str) {
        RunContext::info(self, message)
    }
    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }
}

/// A monitor that reports nothing and never cancels.
pub struct Quiet;

impl Monitor for Quiet {
    fn progress(&self, _: f32, _: &str) {}
    fn info(&self, _: &str) {}
    fn cancelled(&self) -> bool {
        false
    }
}

/// The files of a run, named after its checkpoint.
#[derive(Clone, Debug)]
pub struct RunFiles {
    /// The final checkpoint.
    pub checkpoint: PathBuf,
    /// The resumable state.
    pub state: PathBuf,
    /// Metrics, one JSON object per line.
    pub metrics: PathBuf,
    /// The plot of the curves.
    pub plot: PathBuf,
}

impl RunFiles {
    /// The files beside `checkpoint`.
    pub fn beside(checkpoint: &Path) -> RunFiles {
        let with = |suffix: &str| {
            let stem = checkpoint.file_stem().unwrap_or_default().to_string_lossy();
            checkpoint.with_file_name(format!("{stem}{suffix}"))
        };
        RunFiles {
            checkpoint: checkpoint.to_path_buf(),
            state: with(".state.safetensors"),
            metrics: with(".metrics.jsonl"),
            plot: with(".png"),
        }
    }
}

/// How a finished run went.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// The step the run resumed from (0 for a fresh run).
    pub resumed_from: usize,
    /// Training loss of the first and last logged steps.
    pub first_loss: f64,
    /// See `first_loss`.
    pub last_loss: f64,
    /// The last validation loss, when there is a validation split.
    pub validation_loss: Option<f64>,
    /// Wall time of this invocation, seconds.
    pub seconds: f64,
}

/// The training data in memory.
pub struct TrainData {
    /// Training clips.
    pub train: Vec<Clip>,
    /// Validation clips.
    pub val: Vec<Clip>,
    /// The face model the targets are on.
    pub face: FaceRig,
    /// Frames per second of the data.
    pub fps: f64,
    /// Speaker ids, in style order.
    pub speakers: Vec<String>,
    /// What the clips' features are (before `steps_per_frame` rows are put side by side).
    pub features: FeatureSpec,
    /// The highest frequency the features' bands reach, Hz (half the audio's sample rate).
    pub nyquist: f64,
    /// The dataset's description for the checkpoint.
    pub source: serde_json::Value,
}

impl TrainData {
    /// Reads the `train` and `val` splits of `corpus`, whose motion is on
    /// `face`, keeping the training clips' audio when they will be `augmented`.
    pub fn from_corpus(
        corpus: &Corpus,
        face: FaceRig,
        steps: usize,
        augmented: bool,
        cancel: &CancelToken,
    ) -> Result<TrainData, NodeError> {
        let recipe = FeatureRecipe::default();
        let train = corpus.load("train", &recipe, steps, augmented, cancel)?;
        let val = corpus.load("val", &recipe, steps, false, cancel)?;
        if train.is_empty() {
            return Err(NodeError::file(corpus.root(), "has no training sequences"));
        }
        Ok(TrainData {
            train,
            val,
            face,
            fps: corpus.fps(),
            speakers: corpus.training_speakers(),
            features: FeatureSpec {
                kind: "mel".into(),
                dims: recipe.mel_bands,
                rate: 50.0,
                per_utterance: false,
            },
            nyquist: corpus.nyquist(),
            source: corpus.description(),
        })
    }
}

/// Millimetres per model unit.
pub fn millimetres_per_unit(units: &str) -> f64 {
    match units {
        "m" => 1000.0,
        "cm" => 10.0,
        _ => 1.0,
    }
}

/// The vertices a model moves on `face`: every vertex some expression
/// moves (on ICT-FaceKit the face, the mouth's interior, teeth and eyes;
/// not the back of the head and neck, which follow the head pose), or every
/// vertex of a face model without expressions.
pub fn moved_vertices(face: &FaceRig) -> Vec<u32> {
    let v = face.vertex_count();
    if face.expression_names.is_empty() {
        // A mesh without expression shapes (VOCASET, BIWI): all of it.
        return (0..v as u32).collect();
    }
    let mut moved = vec![false; v];
    for shape in face.expressions.chunks_exact(v * 3) {
        for (i, delta) in shape.chunks_exact(3).enumerate() {
            moved[i] |= delta.iter().any(|d| *d != 0.0);
        }
    }
    (0..v as u32).filter(|&i| moved[i as usize]).collect()
}

/// Expression codes of a model trained on a face model without expression
/// shapes: free, learnt only through the motion they help predict.
pub const FREE_CODES: usize = 32;

/// The model configuration for `settings` on `data`.
pub fn model_config(settings: &TrainSettings, data: &TrainData, command: &str) -> Config {
    let moved = moved_vertices(&data.face);
    let rig = !data.face.expression_names.is_empty();
    Config {
        architecture: settings.architecture,
        features: FeatureSpec {
            per_utterance: settings.per_utterance,
            ..data.features.clone()
        },
        fps: data.fps,
        steps_per_frame: steps_per_frame(data.fps),
        sizes: settings.sizes,
        expression_names: if rig {
            data.face.expression_names.clone()
        } else {
            (0..FREE_CODES).map(|i| format!("code{i}")).collect()
        },
        codes_are_weights: rig,
        personalised: settings.personalised,
        face: FaceSpec {
            name: data.face.name.clone(),
            vertices: data.face.vertex_count(),
            digest: data.face.digest(),
            units: data.face.units.clone(),
            moved: to_ranges(moved).into_iter().map(|r| [r.start, r.end]).collect(),
        },
        speakers: data.speakers.clone(),
        training: json!({"command": command, "data": data.source, "settings": settings}),
    }
}

/// Feature frames per video frame for 50 Hz features.
pub fn steps_per_frame(fps: f64) -> usize {
    (50.0 / fps).round().max(1.0) as usize
}

/// A batch of windows.
pub struct Batch {
    /// Normalised features `[B, T, steps·dims]`.
    pub audio: Tensor,
    /// The true motion `[B, T, W]` (see [`Clip::truth`]).
    pub truth: Tensor,
    /// 1 on real frames, 0 on padding, `[B, T, 1]`.
    pub mask: Tensor,
    /// 1 on the frames of bilabials, `[B, T, 1]`.
    pub bilabial: Tensor,
    /// Speaker styles, one-hot `[B, speakers]`.
    pub style: Tensor,
    /// Real frames per window.
    pub lengths: Vec<usize>,
}

/// Assembles windows `(clip, first frame, frames)` into a padded batch.
pub fn assemble(
    windows: &[(&Clip, usize, usize)],
    config: &Config,
    speakers: &HashMap<&str, usize>,
    device: &Device,
) -> candle_core::Result<Batch> {
    let frames = windows.iter().map(|w| w.2).max().unwrap_or(1);
    let width = config.features.dims * config.steps_per_frame;
    let k = windows.first().map_or(0, |w| w.0.truth.len() / w.0.frames.max(1));
    let b = windows.len();
    let (mut audio, mut truth, mut mask) = (vec![0f32; b * frames * width], vec![0f32; b * frames * k], vec![0f32; b * frames]);
    let mut bilabial = vec![0f32; b * frames];
    let mut style = Vec::with_capacity(b);
    for (i, &(clip, start, len)) in windows.iter().enumerate() {
        audio[i * frames * width..][..len * width].copy_from_slice(&clip.features[start * width..(start + len) * width]);
        truth[i * frames * k..][..len * k].copy_from_slice(&clip.truth[start * k..(start + len) * k]);
        mask[i * frames..][..len].fill(1.0);
        for (first, last) in clip.bilabial_frames(config.fps) {
            for f in first.max(start)..=last.min(start + len - 1) {
                bilabial[i * frames + f - start] = 1.0;
            }
        }
        style.push(speakers.get(clip.speaker.as_str()).copied());
    }
    Ok(Batch {
        audio: Tensor::from_vec(audio, (b, frames, width), device)?,
        truth: Tensor::from_vec(truth, (b, frames, k), device)?,
        mask: Tensor::from_vec(mask, (b, frames, 1), device)?,
        bilabial: Tensor::from_vec(bilabial, (b, frames, 1), device)?,
        style: styles(&style, config.speakers.len(), device)?,
        lengths: windows.iter().map(|w| w.2).collect(),
    })
}

/// The loss terms and their weighted sum.
pub struct Losses {
    /// The weighted sum, to differentiate.
    pub total: Tensor,
    /// Each term's value, by name.
    pub terms: Vec<(&'static str, f64)>,
}

/// One vertex set's part of the objective: its coordinates within the moved
/// vertices, and the expression shapes on them.
struct VertexSet {
    /// Coordinate indices into a row of moved-vertex offsets.
    coordinates: Tensor,
    /// Expression shapes on those coordinates in mm, `[K, n]`.
    shapes: Tensor,
    /// `shapes · shapesᵀ` in f64, `[K, K]`.
    gram: Tensor,
    /// Coordinates in the set.
    count: usize,
}

/// The inner lips' gap, a linear function of the offsets: the upper lip's
/// height minus the lower lip's (landmarks 62 and 66).
struct Gap {
    /// The two height coordinates within a row of moved-vertex offsets.
    coordinates: Tensor,
    /// The gap each expression shape makes, mm, `[K, 1]`.
    shapes: Tensor,
}

/// What the losses compare a prediction against.
///
/// On a blendshape rig the true offsets are the weights times the expression
/// shapes (`T = w E`) and the predicted ones the decoder's output times the
/// vertex mapper (`P = ĥ A`, `ĥ` with a 1 appended for the bias). Every vertex
/// loss is then a quadratic form, `Σ ĥᵀ(AᵀA)ĥ − 2 ĥᵀ(AᵀEᵀ)w + wᵀ(EEᵀ)w`, computed
/// from small Gram matrices instead of the `[B, T, 28k]` offsets: the same
/// value and gradients, at a fraction of the cost (ours; checked against the
/// direct sum in the tests). The quadratic forms are summed in f64, as the
/// three terms nearly cancel once the model fits. On a face model without
/// expressions (VOCASET's and BIWI's meshes) the truth is the offsets
/// themselves, and the losses are computed on them directly.
pub struct Objective {
    form: Form,
    /// Millimetres per model unit.
    mm: f64,
    weights: LossWeights,
}

/// The two kinds of truth an [`Objective`] compares against.
enum Form {
    /// Expression weights on a blendshape rig, through the Gram matrices.
    Rig {
        all: VertexSet,
        lip: Option<VertexSet>,
        upper: Option<VertexSet>,
        gap: Option<Gap>,
    },
    /// Offsets on the moved vertices; the lip and upper-face coordinates
    /// within a row of them.
    Offsets { lip: Option<Tensor>, upper: Option<Tensor> },
}

impl Objective {
    /// The objective on `face` for a model moving `moved`.
    pub fn new(face: &FaceRig, moved: &[u32], weights: LossWeights, device: &Device) -> candle_core::Result<Objective> {
        let mm = millimetres_per_unit(&face.units);
        let position: HashMap<u32, usize> = moved.iter().enumerate().map(|(i, &v)| (v, i)).collect();
        let coordinates_of = |vertices: &[u32]| -> Vec<usize> {
            vertices
                .iter()
                .filter_map(|v| position.get(v))
                .flat_map(|&i| [3 * i, 3 * i + 1, 3 * i + 2])
                .collect()
        };
        if face.expression_names.is_empty() {
            let index = |vertices: &[u32]| -> candle_core::Result<Option<Tensor>> {
                let coordinates: Vec<u32> = coordinates_of(vertices).into_iter().map(|c| c as u32).collect();
                let n = coordinates.len();
                (n > 0).then(|| Tensor::from_vec(coordinates, n, device)).transpose()
            };
            return Ok(Objective {
                form: Form::Offsets {
                    lip: index(&face.lip_vertices)?,
                    upper: index(&face.upper_face_vertices)?,
                },
                mm,
                weights,
            });
        }
        let targets = Targets::new(face, moved);
        let k = targets.expressions;
        let width = moved.len() * 3;
        let set = |coordinates: Vec<usize>| -> candle_core::Result<Option<VertexSet>> {
            if coordinates.is_empty() {
                return Ok(None);
            }
            let n = coordinates.len();
            let shapes: Vec<f32> = (0..k)
                .flat_map(|e| coordinates.iter().map(move |&c| (e, c)))
                .map(|(e, c)| targets.shapes[e * width + c] * mm as f32)
                .collect();
            let shapes = Tensor::from_vec(shapes, (k, n), device)?;
            let wide = shapes.to_dtype(DType::F64)?;
            Ok(Some(VertexSet {
                coordinates: Tensor::from_vec(coordinates.iter().map(|&c| c as u32).collect::<Vec<_>>(), n, device)?,
                gram: wide.matmul(&wide.t()?)?,
                shapes,
                count: n,
            }))
        };
        Ok(Objective {
            form: Form::Rig {
                all: set((0..width).collect())?.ok_or_else(|| candle_core::Error::msg("no moved vertices"))?,
                lip: set(coordinates_of(&face.lip_vertices))?,
                upper: set(coordinates_of(&face.upper_face_vertices))?,
                gap: match face.landmarks.get(62..=66).map(|l| (position.get(&l[0]), position.get(&l[4]))) {
                    Some((Some(&upper), Some(&lower))) => {
                        let (upper, lower) = (3 * upper + 1, 3 * lower + 1);
                        let shapes: Vec<f32> = (0..k)
                            .map(|e| (targets.shapes[e * width + upper] - targets.shapes[e * width + lower]) * mm as f32)
                            .collect();
                        Some(Gap {
                            coordinates: Tensor::new(&[upper as u32, lower as u32], device)?,
                            shapes: Tensor::from_vec(shapes, (k, 1), device)?,
                        })
                    }
                    _ => None,
                },
            },
            mm,
            weights,
        })
    }

    /// The mapper's Gram matrices on the set `S`, `(A_Sᵀ A_S, A_Sᵀ E_Sᵀ)` in
    /// f64, for `mapper` = `A` `[outputs, hidden + 1]` in mm.
    fn grams(set: &VertexSet, mapper: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let a = if set.count == mapper.dim(0)? { mapper.clone() } else { mapper.index_select(&set.coordinates, 0)? };
        let at = a.t()?;
        Ok((at.matmul(&a)?.to_dtype(DType::F64)?, at.matmul(&set.shapes.t()?)?.to_dtype(DType::F64)?))
    }

    /// `Σₙ maskₙ ‖ĥₙ A_S − wₙ E_S‖²` from the set's Gram matrices.
    fn squared_error(set: &VertexSet, grams: &(Tensor, Tensor), hidden: &Tensor, weights: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (h, w, m) = (hidden.to_dtype(DType::F64)?, weights.to_dtype(DType::F64)?, mask.to_dtype(DType::F64)?);
        let predicted = (h.matmul(&grams.0)? * &h)?.sum_keepdim(1)?;
        let between = (h.matmul(&grams.1)? * &w)?.sum_keepdim(1)?;
        let truth = (w.matmul(&set.gram)? * &w)?.sum_keepdim(1)?;
        let per_frame = ((predicted - (between * 2.0)?)? + truth)?;
        (per_frame * m)?.sum_all()?.to_dtype(DType::F32)
    }

    /// Every loss term for the decoder's output `hidden` `[B, T, H]` (and the
    /// expression codes) under `mapper`, the vertex mapper, on a batch.
    pub fn losses(
        &self,
        mapper: &candle_nn::Linear,
        hidden: &Tensor,
        codes: Option<&Tensor>,
        batch: &Batch,
    ) -> candle_core::Result<Losses> {
        let w = &self.weights;
        let (b, t, _) = hidden.dims3()?;
        let bias = mapper.bias().ok_or_else(|| candle_core::Error::msg("the vertex mapper has no bias"))?;
        let mapper = (Tensor::cat(&[mapper.weight(), &bias.unsqueeze(1)?], 1)? * self.mm)?;
        let ones = Tensor::ones((b, t, 1), hidden.dtype(), hidden.device())?;
        let h = Tensor::cat(&[hidden, &ones], 2)?;
        let flat = |x: &Tensor, n: usize| x.reshape((b * n, ()));
        let (h_all, w_all, m_all) = (flat(&h, t)?, flat(&batch.truth, t)?, flat(&batch.mask, t)?);
        let frames = batch.mask.sum_all()?;
        let mut terms = Vec::new();
        let mut total = Tensor::zeros((), DType::F32, hidden.device())?;
        let mut add = |name: &'static str, weight: f64, value: Tensor| -> candle_core::Result<()> {
            terms.push((name, value.to_scalar::<f32>()? as f64));
            if weight != 0.0 {
                total = (&total + (value * weight)?)?;
            }
            Ok(())
        };
        // Consecutive frames both real, and the change from one to the next.
        let pairs = (t > 1)
            .then(|| -> candle_core::Result<(Tensor, Tensor)> {
                let pairs = (batch.mask.i((.., 1..))? * batch.mask.i((.., ..t - 1))?)?;
                let count = pairs.sum_all()?.maximum(1.0)?;
                Ok((flat(&pairs, t - 1)?, count))
            })
            .transpose()?;
        let step = |x: &Tensor| -> candle_core::Result<Tensor> { flat(&(x.i((.., 1..))? - x.i((.., ..t - 1))?)?, t - 1) };
        match &self.form {
            Form::Rig { all, lip, upper, gap } => {
                let mse = |set: &VertexSet, grams: &(Tensor, Tensor), h: &Tensor, w: &Tensor, m: &Tensor, count: &Tensor| {
                    Self::squared_error(set, grams, h, w, m)?.div(&(count * set.count as f64)?)
                };
                let grams = Self::grams(all, &mapper)?;
                add("vertex", w.vertex, mse(all, &grams, &h_all, &w_all, &m_all, &frames)?)?;
                let lip_grams = lip.as_ref().map(|set| Self::grams(set, &mapper)).transpose()?;
                if let (Some(set), Some(grams)) = (lip, &lip_grams) {
                    add("lip", w.lip, mse(set, grams, &h_all, &w_all, &m_all, &frames)?)?;
                }
                if let Some(set) = upper {
                    add("upper", w.upper, mse(set, &Self::grams(set, &mapper)?, &h_all, &w_all, &m_all, &frames)?)?;
                }
                if let Some((pairs, count)) = &pairs {
                    let (dh, dw) = (step(&h)?, step(&batch.truth)?);
                    add("velocity", w.velocity, mse(all, &grams, &dh, &dw, pairs, count)?)?;
                    if let (Some(set), Some(grams)) = (lip, &lip_grams) {
                        add("lip_velocity", w.lip_velocity, mse(set, grams, &dh, &dw, pairs, count)?)?;
                    }
                }
                if let Some(gap) = gap {
                    let rows = mapper.index_select(&gap.coordinates, 0)?;
                    let between = (rows.i(0)? - rows.i(1)?)?.unsqueeze(1)?;
                    let error = (h_all.matmul(&between)? - w_all.matmul(&gap.shapes)?)?.sqr()?;
                    add("gap", w.gap, (&error * &m_all)?.sum_all()?.div(&frames)?)?;
                    let bilabial = (flat(&batch.bilabial, t)? * &m_all)?;
                    let count = bilabial.sum_all()?.maximum(1.0)?;
                    add("closure", w.closure, (&error * &bilabial)?.sum_all()?.div(&count)?)?;
                }
                if let Some(codes) = codes {
                    let k = batch.truth.dim(2)?;
                    let squared = (codes - &batch.truth)?.sqr()?.broadcast_mul(&batch.mask)?.sum_all()?;
                    add("expression", w.expression, squared.div(&(&frames * k as f64)?)?)?;
                }
            }
            Form::Offsets { lip, upper } => {
                let predicted = h.broadcast_matmul(&mapper.t()?)?;
                let error = (&predicted - (&batch.truth * self.mm)?)?.sqr()?;
                let n = error.dim(2)?;
                let masked = flat(&error, t)?.broadcast_mul(&m_all)?;
                add("vertex", w.vertex, masked.sum_all()?.div(&(&frames * n as f64)?)?)?;
                for (name, weight, set) in [("lip", w.lip, lip), ("upper", w.upper, upper)] {
                    if let Some(set) = set {
                        let count = &frames * set.dim(0)? as f64;
                        add(name, weight, masked.index_select(set, 1)?.sum_all()?.div(&count?)?)?;
                    }
                }
                if let Some((pairs, count)) = &pairs {
                    let velocity = (step(&predicted)? - step(&(&batch.truth * self.mm)?)?)?.sqr()?.broadcast_mul(pairs)?;
                    add("velocity", w.velocity, velocity.sum_all()?.div(&(count * n as f64)?)?)?;
                    if let Some(set) = lip {
                        let squared = velocity.index_select(set, 1)?.sum_all()?;
                        add("lip_velocity", w.lip_velocity, squared.div(&(count * set.dim(0)? as f64)?)?)?;
                    }
                }
            }
        }
        drop(add);
        Ok(Losses { total, terms })
    }
}

/// Trains a model on `data` into `files`, resuming from its state file when
/// one with the same settings exists.
pub fn train(
    data: &TrainData,
    settings: &TrainSettings,
    files: &RunFiles,
    command: &str,
    device: &Device,
    monitor: &dyn Monitor,
) -> Result<TrainReport, NodeError> {
    let started = Instant::now();
    let err = |e: candle_core::Error| NodeError::other(format!("training: {e}"));
    settings.augment.check()?;
    let config = model_config(settings, data, command);
    let dims = config.features.dims;
    let stats = FeatureStats::measure(data.train.iter().map(|c| c.features.as_slice()), dims, settings.per_utterance);
    // Training clips are centred once; each drawn window is then warped and
    // scaled (warping commutes with centring). A clip whose audio is
    // augmented has its features made again, whole, and centred likewise.
    // Validation clips are never augmented and are normalised whole, as
    // inference normalises a take.
    let train: Vec<Clip> = data
        .train
        .iter()
        .map(|c| {
            let mut c = c.clone();
            if stats.per_utterance {
                centre(&mut c.features, dims);
            }
            c
        })
        .collect();
    let val: Vec<Clip> = data
        .val
        .iter()
        .map(|c| {
            let mut c = c.clone();
            stats.apply(&mut c.features);
            c
        })
        .collect();
    let speakers: HashMap<&str, usize> = config.speakers.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();

    let mut trainer = Trainer::new(&config, settings, &data.face, device).map_err(err)?;
    let settings_json = json!({"settings": settings, "data": data.source});
    let resumed_from = resume(&files.state, &settings_json, &trainer.named, &mut trainer.optimiser)?;
    if resumed_from > 0 {
        monitor.info(&format!("resuming from step {resumed_from} ({})", files.state.display()));
    }
    let mut metrics = Metrics::open(&files.metrics, resumed_from)?;

    let (mut first_loss, mut last_loss, mut validation_loss) = (None, 0.0, None);
    let run_start = Instant::now();
    for step in resumed_from..settings.steps {
        if monitor.cancelled() {
            return Err(NodeError::Cancelled);
        }
        let windows = draw_windows(&train, settings, step);
        let clips = augment(&windows, &stats, settings, &config, data.nyquist, step)?;
        let views: Vec<(&Clip, usize, usize)> = clips
            .iter()
            .zip(&windows)
            .map(|(clip, &(_, at))| {
                let (start, len) = crop(clip.frames, settings.max_frames, at);
                (clip, start, len)
            })
            .collect();
        let batch = assemble(&views, &config, &speakers, device).map_err(err)?;
        let lr = learning_rate(step, settings.steps, settings.warmup, settings.learning_rate, settings.final_fraction);
        let (losses, norm) = trainer.step(&batch, lr).map_err(err)?;
        let total = losses.total.to_scalar::<f32>().map_err(err)? as f64;
        if !total.is_finite() {
            return Err(NodeError::other(format!("training diverged at step {step}: the loss is {total}")));
        }
        first_loss.get_or_insert(total);
        last_loss = total;
        let done = step + 1;
        let mut line = json!({"step": done, "loss": total, "lr": lr, "grad_norm": norm,
                              "seconds": started.elapsed().as_secs_f64()});
        for (name, value) in &losses.terms {
            line[*name] = json!(value);
        }
        metrics.write(&line)?;

        if done % settings.validate_every == 0 || done == settings.steps {
            if let Some(v) = validate(&trainer.network, &trainer.objective, &val, &config, &speakers, device).map_err(err)? {
                let mut line = json!({"step": done, "split": "val", "loss": v.0});
                for (name, value) in &v.1 {
                    line[*name] = json!(value);
                }
                metrics.write(&line)?;
                monitor.info(&format!("step {done}: validation loss {:.4}", v.0));
                validation_loss = Some(v.0);
            }
        }
        if done % settings.checkpoint_every == 0 || done == settings.steps {
            save_state(&files.state, &config, &stats, &trainer.named, &trainer.optimiser, &settings_json)?;
            plot::curves(&files.metrics, &files.plot).map_err(|e| NodeError::file(&files.plot, e))?;
        }
        let per_step = run_start.elapsed().as_secs_f64() / (done - resumed_from) as f64;
        let eta = per_step * (settings.steps - done) as f64;
        monitor.progress(
            done as f32 / settings.steps as f32,
            &format!("step {done}/{}, loss {total:.4}, {:.2} s/step, ETA {}", settings.steps, per_step, clock(eta)),
        );
    }
    if resumed_from >= settings.steps {
        monitor.info("the run was already complete; writing its checkpoint again");
    }
    let record = to_record(&config, &stats, &tensors(&trainer.named)).map_err(NodeError::other)?;
    super::checkpoint::save(&files.checkpoint, record, &CancelToken::new())?;
    Ok(TrainReport {
        resumed_from,
        first_loss: first_loss.unwrap_or(last_loss),
        last_loss,
        validation_loss,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A network with its optimiser and objective: what one training step needs.
pub struct Trainer {
    /// The network being trained.
    pub network: MotionTransformer,
    /// Its variables by name.
    pub named: BTreeMap<String, candle_core::Var>,
    /// The optimiser over them.
    pub optimiser: AdamW,
    /// The losses.
    pub objective: Objective,
    clip: f64,
}

impl Trainer {
    /// A new network for `config`, seeded by `settings.seed`, on `face`.
    pub fn new(config: &Config, settings: &TrainSettings, face: &FaceRig, device: &Device) -> candle_core::Result<Trainer> {
        let vars = SeededVars::new(settings.seed);
        let network = MotionTransformer::new(vars.builder(device), config)?;
        let named: BTreeMap<String, candle_core::Var> = vars.map.data().lock().expect("lock").clone().into_iter().collect();
        let optimiser = AdamW::new(
            named.clone(),
            AdamWSettings {
                weight_decay: settings.weight_decay,
                ..Default::default()
            },
        )?;
        let objective = Objective::new(face, &config.face.moved_vertices(), settings.losses.clone(), device)?;
        Ok(Trainer {
            network,
            named,
            optimiser,
            objective,
            clip: settings.clip,
        })
    }

    /// One step on `batch` at learning rate `lr`: the losses and the
    /// gradients' norm before clipping.
    pub fn step(&mut self, batch: &Batch, lr: f64) -> candle_core::Result<(Losses, f64)> {
        let masks = Masks::new(&self.network.config, batch.audio.dim(1)?, &batch.lengths, batch.audio.device())?;
        let (hidden, codes) = self.network.hidden(&batch.audio, &batch.style, &masks)?;
        let losses = self
            .objective
            .losses(self.network.vertex_mapper(), &hidden, codes.as_ref(), batch)?;
        let grads = losses.total.backward()?;
        let norm = self.optimiser.gradient_norm(&grads)?;
        let scale = if norm > self.clip { self.clip / norm } else { 1.0 };
        self.optimiser.step(&grads, lr, scale)?;
        Ok((losses, norm))
    }
}

/// `h:mm:ss`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The clips of one step's batch, drawn without replacement from a stream
/// keyed by the seed and step, each with where its window is cropped (a
/// fraction in [0, 1), see [`crop`]).
fn draw_windows<'a>(clips: &'a [Clip], settings: &TrainSettings, step: usize) -> Vec<(&'a Clip, f64)> {
    let mut rng = Rng::stream(settings.seed, &format!("batch/{step}"));
    let mut order: Vec<usize> = (0..clips.len()).collect();
    rng.shuffle(&mut order);
    order
        .into_iter()
        .cycle()
        .take(settings.batch)
        .map(|i| (&clips[i], rng.uniform()))
        .collect()
}

/// The window `(start, frames)` of at most `max_frames` of a clip of
/// `frames`, at the fraction `at` of the starts it can have. It is cropped
/// once the clip is augmented, as a change of speed changes its length.
fn crop(frames: usize, max_frames: usize, at: f64) -> (usize, usize) {
    let len = frames.min(max_frames);
    let starts = frames - len + 1;
    ((at * starts as f64) as usize % starts, len)
}

/// The drawn clips as the network reads them: each through its own audio
/// augmentation (from the stream `audio/STEP/INDEX`) when any is on, warped
/// by its own factor (from the stream `warp/STEP`), then scaled.
fn augment(
    windows: &[(&Clip, f64)],
    stats: &FeatureStats,
    settings: &TrainSettings,
    config: &Config,
    nyquist: f64,
    step: usize,
) -> Result<Vec<Clip>, NodeError> {
    let mut rng = Rng::stream(settings.seed, &format!("warp/{step}"));
    let alphas: Vec<f64> = windows.iter().map(|_| 1.0 + settings.warp * rng.range(-1.0, 1.0)).collect();
    let dims = stats.mean.len();
    let recipe = FeatureRecipe {
        mel_bands: dims,
        ..FeatureRecipe::default()
    };
    windows
        .par_iter()
        .zip(alphas)
        .enumerate()
        .map(|(i, (&(clip, _), alpha))| {
            let mut clip = if settings.augment.is_active() {
                let draw = settings.augment.draw(&mut Rng::stream(settings.seed, &format!("audio/{step}/{i}")));
                let mut clip = clip
                    .augmented(&draw, &recipe, config.fps, config.steps_per_frame)
                    .map_err(|e| NodeError::other(format!("augmenting at step {step}: {e}")))?;
                if stats.per_utterance {
                    centre(&mut clip.features, dims);
                }
                clip
            } else {
                clip.clone()
            };
            if settings.warp > 0.0 {
                warp_bands(&mut clip.features, dims, nyquist, alpha);
            }
            stats.scale(&mut clip.features);
            Ok(clip)
        })
        .collect()
}

/// Mean losses over the validation clips (whole clips, in batches of one
/// length bucket at a time), or `None` when there are none.
fn validate(
    network: &MotionTransformer,
    objective: &Objective,
    clips: &[Clip],
    config: &Config,
    speakers: &HashMap<&str, usize>,
    device: &Device,
) -> candle_core::Result<Option<(f64, Vec<(&'static str, f64)>)>> {
    if clips.is_empty() {
        return Ok(None);
    }
    let mut sums: Vec<(&'static str, f64)> = Vec::new();
    let mut total = 0.0;
    let mut frames = 0.0;
    for clip in clips {
        let batch = assemble(&[(clip, 0, clip.frames)], config, speakers, device)?;
        let masks = Masks::new(config, clip.frames, &batch.lengths, device)?;
        let (hidden, codes) = network.hidden(&batch.audio, &batch.style, &masks)?;
        let losses = objective.losses(network.vertex_mapper(), &hidden, codes.as_ref(), &batch)?;
        let n = clip.frames as f64;
        total += losses.total.to_scalar::<f32>()? as f64 * n;
        for (name, value) in losses.terms {
            match sums.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) => entry.1 += value * clip.frames as f64,
                None => sums.push((name, value * n)),
            }
        }
        frames += n;
    }
    Ok(Some((total / frames, sums.into_iter().map(|(n, v)| (n, v / frames)).collect())))
}

fn tensors(named: &BTreeMap<String, candle_core::Var>) -> BTreeMap<String, Tensor> {
    named.iter().map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect()
}

/// The state file's optimiser value name.
const OPTIMISER: &str = "optimiser";

fn save_state(
    path: &Path,
    config: &Config,
    stats: &FeatureStats,
    named: &BTreeMap<String, candle_core::Var>,
    optimiser: &AdamW,
    settings: &serde_json::Value,
) -> Result<(), NodeError> {
    let model = to_record(config, stats, &tensors(named)).map_err(NodeError::other)?;
    let mut moments = Record::new(PortType::MotionModel)
        .with_attr("architecture", "adamw")
        .with_attr("config", json!({"step": optimiser.step, "run": settings}));
    for (name, t) in optimiser.state() {
        let values: Vec<f32> = t.flatten_all().and_then(|t| t.to_vec1()).map_err(|e| NodeError::other(e.to_string()))?;
        moments = moments.with_tensor(name, gspeech_sdk::Tensor::from_f32(t.dims(), values).expect("shape"));
    }
    let values = BTreeMap::from([
        (super::checkpoint::VALUE.to_string(), Value::data(model)),
        (OPTIMISER.to_string(), Value::data(moments)),
    ]);
    store::save(path, &values, &CancelToken::new())
}

/// A state file's run description as this version writes it: settings
/// saved before an option existed read as that option's default.
pub(super) fn canonical(run: &serde_json::Value) -> serde_json::Value {
    match serde_json::from_value::<TrainSettings>(run["settings"].clone()) {
        Ok(settings) => json!({"settings": settings, "data": run["data"]}),
        Err(_) => run.clone(),
    }
}

/// Loads a state file into the variables and optimiser; returns its step (0
/// when there is none).
fn resume(
    path: &Path,
    settings: &serde_json::Value,
    named: &BTreeMap<String, candle_core::Var>,
    optimiser: &mut AdamW,
) -> Result<usize, NodeError> {
    if !path.exists() {
        return Ok(0);
    }
    let values = store::load(path)?;
    let record = |name: &str| -> Result<&Record, NodeError> {
        match values.get(name) {
            Some(Value::Data(r)) => Ok(r),
            _ => Err(NodeError::file(path, format!("is not a training state (no `{name}`)"))),
        }
    };
    let (model, moments) = (record(super::checkpoint::VALUE)?, record(OPTIMISER)?);
    let config = moments.attr("config").cloned().unwrap_or_default();
    if canonical(&config["run"]) != *settings {
        return Err(NodeError::file(
            path,
            "belongs to a run with other settings or data; delete it (or train into another file) to start afresh",
        ));
    }
    let device = named.values().next().map_or(Device::Cpu, |v| v.device().clone());
    let to_candle = |t: &gspeech_sdk::Tensor| -> Result<Tensor, NodeError> {
        Tensor::from_slice(t.as_f32().unwrap_or_default(), t.shape(), &device).map_err(|e| NodeError::file(path, e))
    };
    for (name, var) in named {
        let t = model
            .tensor(name)
            .ok_or_else(|| NodeError::file(path, format!("has no tensor `{name}`")))?;
        var.set(&to_candle(t)?).map_err(|e| NodeError::file(path, e))?;
    }
    let state: BTreeMap<String, Tensor> = moments
        .tensors()
        .iter()
        .map(|(n, t)| Ok((n.clone(), to_candle(t)?)))
        .collect::<Result<_, NodeError>>()?;
    let step = config["step"].as_u64().unwrap_or(0) as usize;
    optimiser.restore(&state, step).map_err(|e| NodeError::file(path, e))?;
    Ok(step)
}

/// The metrics file, cut back to the resumed step and appended to.
struct Metrics {
    file: std::fs::File,
    path: PathBuf,
}

impl Metrics {
    fn open(path: &Path, resumed_from: usize) -> Result<Metrics, NodeError> {
        let kept: String = std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                serde_json::from_str::<serde_json::Value>(l)
                    .ok()
                    .and_then(|v| v["step"].as_u64())
                    .is_some_and(|s| s as usize <= resumed_from)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        gspeech_sdk::fs::write_atomic(path, kept.as_bytes(), &CancelToken::new())?;
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| NodeError::file(path, e))?;
        Ok(Metrics {
            file,
            path: path.to_path_buf(),
        })
    }

    fn write(&mut self, line: &serde_json::Value) -> Result<(), NodeError> {
        writeln!(self.file, "{line}").map_err(|e| NodeError::file(&self.path, e))
    }
}

/// `motion.train`: trains a motion model on a dataset folder.
pub struct Train;

impl gspeech_sdk::Node for Train {
    fn spec(&self) -> gspeech_sdk::NodeSpec {
        use gspeech_sdk::{FileFilter, ParamSpec, PathRole, PortSpec};
        let d = TrainSettings::default();
        let int = |name: &str, value: usize, min: i64, doc: &str| ParamSpec::int(name, value as i64, (Some(min), None), doc);
        let spec = gspeech_sdk::NodeSpec::new("motion.train", 1, "Train Motion Model")
            .doc(
                "Trains the speech-to-motion model on a dataset folder made by the capture factory (its train split; \
                 validation on its val split), for the connected face model, or on VOCASET or BIWI in FaceFormer's \
                 layout (FaceFormer's splits; the face is the folder's templates with the `lips` and `upper` sets). AdamW with warm-up and cosine decay, \
                 gradient clipping; vertex, lip, velocity, expression-code and upper-face losses. Training takes can \
                 be augmented (speed, pitch, room, noise, EQ, overdrive, telephone band; all off by default), each \
                 take's draws seeded by `seed` and the step. Writes the \
                 checkpoint, and beside it a resumable state (every `checkpoint_every` steps), metrics as JSON lines \
                 and a PNG of the curves; a run started again with the same settings resumes where it stopped and \
                 ends exactly where an uninterrupted run would.",
            )
            .input(PortSpec::optional(
                "face",
                PortType::FaceModel,
                "The face model a capture-factory dataset was made on (a VOCASET or BIWI folder brings its own).",
            ))
            .output(PortSpec::new("model", PortType::MotionModel, "The trained model."))
            .param(ParamSpec::path(
                "data",
                PathRole::InputDir,
                Vec::new(),
                "",
                "The dataset folder: made by the capture factory, or VOCASET or BIWI in FaceFormer's layout.",
            ))
            .param(
                ParamSpec::path(
                    "lips",
                    PathRole::InputFile,
                    Vec::new(),
                    "",
                    "VOCASET and BIWI: the lip vertices (FLAME_masks.pkl's `lips`, or a list such as CodeTalker's lve.txt).",
                )
                .optional(),
            )
            .param(
                ParamSpec::path(
                    "upper",
                    PathRole::InputFile,
                    Vec::new(),
                    "",
                    "VOCASET and BIWI: the upper-face vertices (FLAME_masks.pkl's `forehead` and `eye_region`, or a \
                     list such as CodeTalker's fdd.txt).",
                )
                .optional(),
            )
            .param(ParamSpec::path(
                "out",
                PathRole::OutputFile,
                vec![FileFilter::new("Motion model", &["safetensors"])],
                "",
                "The checkpoint to write.",
            ))
            .param(ParamSpec::choice(
                "architecture",
                d.architecture.name(),
                &[Architecture::GaussianSpeech.name(), Architecture::FaceFormer.name()],
                "The paper's model, or the FaceFormer-style baseline (one audio encoder, the same decoder).",
            ))
            .param(int("steps", d.steps, 1, "Optimisation steps."))
            .param(int("batch", d.batch, 1, "Clips per step."))
            .param(int("hidden", d.sizes.hidden, 4, "Transformer width."))
            .param(int("heads", d.sizes.heads, 1, "Attention heads."))
            .param(int("lip_layers", d.sizes.lip_layers, 1, "Lip (audio) encoder layers."))
            .param(int("decoder_layers", d.sizes.decoder_layers, 1, "Decoder layers."))
            .param(int("max_frames", d.max_frames, 2, "Longest training window in frames."))
            .param(int("warmup", d.warmup, 0, "Warm-up steps."))
            .param(ParamSpec::float("learning_rate", d.learning_rate, (Some(0.0), Some(1.0)), "Peak learning rate."))
            .param(ParamSpec::bool(
                "per_utterance",
                d.per_utterance,
                "Centre each take's features on their own mean first (removes the voice's and channel's average \
                 spectrum; recorded in the model, so inference does the same).",
            ))
            .param(ParamSpec::bool(
                "personalised",
                d.personalised,
                "The lip encoder reads the speaker style beside the audio (the paper's personalised lip features): \
                 better on the voices trained on, worse on voices never heard.",
            ))
            .param(ParamSpec::float(
                "warp",
                d.warp,
                (Some(0.0), Some(0.5)),
                "Vocal-tract-length perturbation: each training window's frequencies scaled by a random factor in \
                 1 ± warp (0: none).",
            ));
        // The audio augmentation's settings, every one off by default.
        AudioAugment::params()
            .into_iter()
            .fold(spec, gspeech_sdk::NodeSpec::param)
            .param(ParamSpec::float(
                "lip_velocity_loss",
                d.losses.lip_velocity,
                (Some(0.0), None),
                "Weight of the frame-to-frame velocity loss on the lip vertices alone (the all-vertex one averages \
                 over the whole head, where the mouth is a small part; this one damps the mouth's flicker).",
            ))
            .param(ParamSpec::float(
                "gap_loss",
                d.losses.gap,
                (Some(0.0), None),
                "Weight of the mouth-opening loss (the inner lips' gap, every frame).",
            ))
            .param(ParamSpec::float(
                "closure_loss",
                d.losses.closure,
                (Some(0.0), None),
                "Weight of the same loss on the frames of /p b m/, where the lips must close.",
            ))
            .param(int("seed", d.seed as usize, 0, "Seed of the weights, batches and augmentation."))
            .param(int("validate_every", d.validate_every, 1, "Validate every N steps."))
            .param(int("checkpoint_every", d.checkpoint_every, 1, "Save the resumable state every N steps."))
            .param(ParamSpec::choice(
                "device",
                "cpu",
                &["cpu", "cuda", "metal"],
                "Where to train: the CPU, or a GPU in builds with the `cuda` or `metal` feature.",
            ))
    }

    fn run(
        &self,
        ctx: &RunContext,
        inputs: &gspeech_sdk::Inputs,
        params: &gspeech_sdk::Params,
    ) -> Result<gspeech_sdk::Outputs, NodeError> {
        let face = match inputs.get("face") {
            Some(_) => Some(
                FaceRig::from_record(inputs.record("face", PortType::FaceModel)?).map_err(|e| NodeError::input("face", e))?,
            ),
            None => None,
        };
        let int = |name: &str| -> Result<usize, NodeError> { Ok(params.int(name)? as usize) };
        let architecture = params.text("architecture")?;
        let settings = TrainSettings {
            architecture: Architecture::parse(architecture)
                .ok_or_else(|| NodeError::param("architecture", format!("unknown architecture {architecture}")))?,
            steps: int("steps")?,
            batch: int("batch")?,
            sizes: Sizes {
                hidden: int("hidden")?,
                heads: int("heads")?,
                lip_layers: int("lip_layers")?,
                decoder_layers: int("decoder_layers")?,
                ..Sizes::default()
            },
            max_frames: int("max_frames")?,
            warmup: int("warmup")?,
            learning_rate: params.float("learning_rate")?,
            per_utterance: params.bool("per_utterance")?,
            personalised: params.bool("personalised")?,
            warp: params.float("warp")?,
            augment: AudioAugment::from_params(params)?,
            losses: LossWeights {
                lip_velocity: params.float("lip_velocity_loss")?,
                gap: params.float("gap_loss")?,
                closure: params.float("closure_loss")?,
                ..LossWeights::default()
            },
            seed: int("seed")? as u64,
            validate_every: int("validate_every")?,
            checkpoint_every: int("checkpoint_every")?,
            ..TrainSettings::default()
        };
        if settings.sizes.hidden % settings.sizes.heads != 0 {
            return Err(NodeError::param("heads", format!("must divide `hidden` ({})", settings.sizes.hidden)));
        }
        let out = params.path("out")?;
        if out.as_os_str().is_empty() {
            return Err(NodeError::param("out", "names no file"));
        }
        let corpus = Corpus::open(params.path("data")?)?;
        let face = corpus.face(face, params.optional_path("lips")?, params.optional_path("upper")?)?;
        ctx.progress(0.0, "reading the dataset");
        let steps = steps_per_frame(corpus.fps());
        let data = TrainData::from_corpus(&corpus, face, steps, settings.augment.is_active(), ctx.cancel_token())?;
        ctx.info(&format!(
            "{} training and {} validation clips, {} speakers",
            data.train.len(),
            data.val.len(),
            data.speakers.len()
        ));
        let command = format!(
            "motion.train {}",
            serde_json::to_string(&params.values().iter().map(|(k, v)| (k, v.to_json())).collect::<BTreeMap<_, _>>())
                .unwrap_or_default()
        );
        let device = crate::model_device(params.text("device")?)?;
        let report = train(&data, &settings, &RunFiles::beside(out), &command, &device, ctx)?;
        ctx.info(&format!(
            "trained in {:.0} s (from step {}): loss {:.4} → {:.4}{}",
            report.seconds,
            report.resumed_from,
            report.first_loss,
            report.last_loss,
            report.validation_loss.map_or(String::new(), |v| format!(", validation {v:.4}"))
        ));
        let record = super::checkpoint::read(out)?;
        Ok(gspeech_sdk::Outputs::new().with("model", Value::data(record)))
    }
}
