//! Evaluation of motion models on a dataset's held-out splits, beside the
//! static-template baseline, with the metrics of [`super::metrics`].

use std::collections::HashMap;

use gspeech_sdk::{CancelToken, NodeError};
use serde::Serialize;

use super::checkpoint::MotionModel;
use super::data::{Clip, Corpus, FeatureRecipe, Targets};
use super::generate::{GenerateOptions, generate};
use super::metrics::{Accumulator, MetricSets, Metrics, Scored};
use super::train::{millimetres_per_unit, moved_vertices};
use crate::dataset::faceformer::units::{Metric, MetricUnit, published};
use crate::dataset::faceformer::{Kind, Unit};
use crate::face::FaceRig;

/// What predicts the motion.
pub enum Method<'a> {
    /// The ground truth itself: the ceiling of the closure rate and mouth
    /// correlation (its errors are zero by definition).
    Truth,
    /// The face at rest: zero offsets.
    Template,
    /// A trained model, its output smoothed over time by a Gaussian of
    /// `smoothing` frames' standard deviation (0: none), as `motion.generate`'s
    /// `smoothing` parameter does.
    Model(&'a MotionModel, f32),
}

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The method's name.
    pub method: String,
    /// The split.
    pub split: String,
    /// Its metrics (on a dataset whose units are not metric, such as BIWI's
    /// unit-area meshes, the "mm" values are in the data's own units).
    pub metrics: Metrics,
    /// On VOCASET and BIWI, the values as published tables print them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
}

/// LVE and FDD in the units of published VOCASET and BIWI tables
/// (CodeTalker's definitions: VOCASET LVE ×10⁻⁵ m², BIWI LVE ×10⁻⁴ and FDD ×10⁻⁵).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Published {
    /// The dataset.
    pub dataset: String,
    /// LVE in the table's unit.
    pub lve: f64,
    /// FDD in the table's unit, where tables report it (BIWI).
    pub fdd: Option<f64>,
}

impl Published {
    /// The published values of `metrics` computed on `kind`'s data, whose
    /// "mm" values are millimetres on VOCASET and data units on BIWI.
    pub fn of(kind: Kind, metrics: &Metrics) -> Published {
        let unit = match kind.unit() {
            Unit::Metres => MetricUnit::SquareMillimetres,
            Unit::UnitSurfaceArea => MetricUnit::SquareDataUnits,
        };
        let value = |metric, v| published(kind, metric, v, unit).ok();
        Published {
            dataset: kind.name().into(),
            lve: value(Metric::Lve, metrics.lve_squared_mm2).unwrap_or(f64::NAN),
            fdd: value(Metric::Fdd, metrics.fdd_mm2),
        }
    }
}

/// A dataset's held-out clips, ready to score.
pub struct Evaluation<'a> {
    face: &'a FaceRig,
    /// VOCASET or BIWI, whose values are also given in published units.
    research: Option<Kind>,
    sets: MetricSets,
    targets: Targets,
    mm: f32,
    fps: f64,
    rest_gaps: HashMap<String, f32>,
    /// `(split, clips)` for each split scored.
    pub splits: Vec<(String, Vec<Clip>)>,
}

impl<'a> Evaluation<'a> {
    /// Reads `splits` of `corpus` (whose motion is on `face`) with `steps`
    /// feature rows per frame.
    pub fn new(
        corpus: &Corpus,
        face: &'a FaceRig,
        splits: &[&str],
        steps: usize,
        cancel: &CancelToken,
    ) -> Result<Evaluation<'a>, NodeError> {
        let moved = moved_vertices(face);
        let sets = MetricSets::new(face, &moved);
        let mm = millimetres_per_unit(&face.units) as f32;
        let mut rest_gaps = HashMap::new();
        if let Corpus::Factory(dataset) = corpus {
            dataset.check_face(face)?;
            if face.landmarks.len() >= 68 {
                let (upper, lower) = (face.landmarks[62] as usize, face.landmarks[66] as usize);
                for speaker in dataset.index["speakers"].as_array().into_iter().flatten() {
                    let identity: Vec<f32> = speaker["identity"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_f64().map(|v| v as f32)).collect())
                        .unwrap_or_default();
                    let rest = face.identity_shape(&identity);
                    let gap = (rest[upper * 3 + 1] - rest[lower * 3 + 1]) * mm;
                    rest_gaps.insert(speaker["id"].as_str().unwrap_or_default().to_string(), gap);
                }
            }
        }
        let recipe = FeatureRecipe::default();
        let splits = splits
            .iter()
            .map(|&name| Ok((name.to_string(), corpus.load(name, &recipe, steps, false, cancel)?)))
            .collect::<Result<Vec<_>, NodeError>>()?;
        Ok(Evaluation {
            face,
            research: match corpus {
                Corpus::Faceformer(d) => Some(d.kind),
                Corpus::Factory(_) => None,
            },
            targets: Targets::new(face, &moved),
            sets,
            mm,
            fps: corpus.fps(),
            rest_gaps,
            splits,
        })
    }

    /// A clip's true offsets in mm: its weights through the rig's shapes, or
    /// its offsets themselves on a face model without expressions.
    fn truth(&self, clip: &Clip) -> Vec<f32> {
        let offsets = if self.face.expression_names.is_empty() {
            clip.truth.clone()
        } else {
            self.targets.offsets(&clip.truth)
        };
        offsets.iter().map(|v| v * self.mm).collect()
    }

    /// Scores `method` on every split.
    pub fn score(&self, name: &str, method: &Method, cancel: &CancelToken) -> Result<Vec<Row>, NodeError> {
        if let Method::Model(model, _) = method {
            super::generate::check_face(model, self.face).map_err(NodeError::other)?;
            if model.config.fps != self.fps {
                return Err(NodeError::other(format!(
                    "{name} makes {} fps motion, the dataset has {} fps",
                    model.config.fps, self.fps
                )));
            }
        }
        let mut rows = Vec::new();
        for (split, clips) in &self.splits {
            let mut acc = Accumulator::default();
            for clip in clips {
                if cancel.is_cancelled() {
                    return Err(NodeError::Cancelled);
                }
                let truth = self.truth(clip);
                let predicted: Vec<f32> = match method {
                    Method::Truth => truth.clone(),
                    Method::Template => vec![0.0; truth.len()],
                    Method::Model(model, smoothing) => self
                        .predict(model, *smoothing, clip)?
                        .iter()
                        .map(|v| v * self.mm)
                        .collect(),
                };
                acc.add(
                    &self.sets,
                    &Scored {
                        predicted: &predicted,
                        truth: &truth,
                        frames: clip.frames,
                        rest_gap: self.rest_gaps.get(&clip.speaker).copied().unwrap_or(0.0),
                        bilabials: clip.bilabial_frames(self.fps),
                    },
                );
            }
            let metrics = acc.finish();
            rows.push(Row {
                method: name.to_string(),
                split: split.clone(),
                published: self.research.map(|kind| Published::of(kind, &metrics)),
                metrics,
            });
        }
        Ok(rows)
    }

    /// A model's offsets for a clip (in the clip speaker's style when the
    /// model knows the speaker, else the average style).
    fn predict(&self, model: &MotionModel, smoothing: f32, clip: &Clip) -> Result<Vec<f32>, NodeError> {
        let mut input = clip.features.clone();
        model.stats.apply(&mut input);
        let speaker = if model.config.speakers.contains(&clip.speaker) {
            clip.speaker.clone()
        } else {
            String::new()
        };
        let options = GenerateOptions {
            speaker,
            smoothing,
            ..GenerateOptions::default()
        };
        let generated = generate(model, &input, clip.frames, &options, &|| false)?;
        Ok(generated.offsets)
    }
}

/// The rows as a text table; where rows carry published values, a second
/// table gives them.
pub fn table(rows: &[Row]) -> String {
    let mut out = metric_table(rows);
    let published: Vec<(&Row, &Published)> = rows.iter().filter_map(|r| Some((r, r.published.as_ref()?))).collect();
    if let Some((_, first)) = published.first() {
        let (lve, fdd) = match first.dataset.as_str() {
            "VOCASET" => ("LVE ×1e-5 m²", "FDD"),
            _ => ("LVE ×1e-4", "FDD ×1e-5"),
        };
        out += &format!("\nin published {} units (CodeTalker's definitions):\n", first.dataset);
        out += &format!("{:<28} {:<11} {:>14} {:>12}\n", "method", "split", lve, fdd);
        for (r, p) in published {
            let fdd = p.fdd.map_or("-".to_string(), |v| format!("{v:.4}"));
            out += &format!("{:<28} {:<11} {:>14.4} {:>12}\n", r.method, r.split, p.lve, fdd);
        }
    }
    out
}

fn metric_table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<28} {:<11} {:>5} {:>8} {:>10} {:>9} {:>9} {:>8} {:>8}\n",
        "method", "split", "seqs", "LVE mm", "LVE² mm²", "FDD mm²", "closure", "mouth r", "jitter"
    );
    for r in rows {
        let m = &r.metrics;
        let opt = |v: Option<f64>, scale: f64, digits: usize| {
            v.map_or("-".to_string(), |v| format!("{:.*}", digits, v * scale))
        };
        out += &format!(
            "{:<28} {:<11} {:>5} {:>8.3} {:>10.3} {:>9.4} {:>8}% {:>8} {:>8.4}\n",
            r.method,
            r.split,
            m.sequences,
            m.lve_mm,
            m.lve_squared_mm2,
            m.fdd_mm2,
            opt(m.bilabial_closure, 100.0, 1),
            opt(m.mouth_opening_r, 1.0, 3),
            m.jitter_mm
        );
    }
    out
}
