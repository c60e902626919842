//! VOCASET and BIWI in the layout FaceFormer's preprocessing writes, which
//! CodeTalker and most later speech-to-face work reuse:
//!
//! ```text
//! DATA/wav/SUBJECT_SENTENCE.wav           FaceTalk_170725_00137_TA_sentence01.wav, F2_e01.wav
//! DATA/vertices_npy/SUBJECT_SENTENCE.npy  [T, V·3] floats
//! DATA/templates.pkl                      {subject: [V, 3] array}, pickled
//! ```
//!
//! As FaceFormer's `data_loader.py` does: the wav folder is walked (with
//! its subfolders) and each `NAME.wav` pairs with `vertices_npy/NAME.npy`;
//! the subject is the name up to its last `_`, the sentence number its last
//! two characters; a wav without vertices is skipped (listed in
//! [`FaceformerData::unpaired`], as are vertices without a wav). VOCASET's
//! 60 fps captures are thinned to every second frame (FaceFormer's `[::2]`),
//! 30 fps; BIWI's are 25 fps. The splits are FaceFormer's `main.py`
//! defaults and `data_loader.py` sentence ranges (see [`Kind::split_rules`]).
//!
//! - [`pickle`]: the templates file, read without Python;
//! - [`npy`]: the vertex files;
//! - [`regions`]: the lip and upper-face vertex sets, from the files they are published in;
//! - [`units`]: the vertices' units, and metric values in published tables' units.

pub mod npy;
pub mod pickle;
pub mod regions;
pub mod units;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use gspeech_sdk::NodeError;

use self::pickle::Value;
pub use self::units::Unit;

/// Which dataset a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// VOCASET: 12 FLAME subjects (5023 vertices), 40 sentences each.
    Vocaset,
    /// BIWI (B3D(AC)²): 14 subjects (23370 vertices), 40 sentences each.
    Biwi,
}

/// A FaceFormer split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Training.
    Train,
    /// Validation.
    Val,
    /// FaceFormer's test set: VOCASET-Test; for BIWI, BIWI-Test-B (the unseen subjects).
    Test,
    /// BIWI-Test-A: the training subjects' sentences 37–40, which FaceFormer's
    /// paper reports and CodeTalker's `cal_metric.py` scores. None in VOCASET.
    SeenTest,
}

impl Split {
    /// Every split, in order.
    pub const ALL: [Split; 4] = [Split::Train, Split::Val, Split::Test, Split::SeenTest];

    /// Its name on the command line and in tables: `train`, `val`, `test`
    /// (VOCASET-Test, BIWI-Test-B) and `test_a` (BIWI-Test-A).
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
            Split::SeenTest => "test_a",
        }
    }

    /// The split named `name`.
    pub fn parse(name: &str) -> Option<Split> {
        Split::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// One split's sequences: these subjects' sentences in `sentences`.
#[derive(Clone, Debug)]
pub struct SplitRule {
    /// The split.
    pub split: Split,
    /// Its subjects.
    pub subjects: &'static [&'static str],
    /// Its sentence numbers.
    pub sentences: RangeInclusive<u32>,
}

const VOCASET_TRAIN: &[&str] = &[
    "FaceTalk_170728_03272_TA",
    "FaceTalk_170904_00128_TA",
    "FaceTalk_170725_00137_TA",
    "FaceTalk_170915_00223_TA",
    "FaceTalk_170811_03274_TA",
    "FaceTalk_170913_03279_TA",
    "FaceTalk_170904_03276_TA",
    "FaceTalk_170912_03278_TA",
];
const VOCASET_VAL: &[&str] = &["FaceTalk_170811_03275_TA", "FaceTalk_170908_03277_TA"];
const VOCASET_TEST: &[&str] = &["FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA"];
const BIWI_TRAIN: &[&str] = &["F2", "F3", "F4", "M3", "M4", "M5"];
const BIWI_TEST: &[&str] = &["F1", "F5", "F6", "F7", "F8", "M1", "M2", "M6"];

impl Kind {
    /// Which dataset a folder in FaceFormer's layout holds, told by its
    /// subjects' names (VOCASET's `FaceTalk_…`, BIWI's `F1`…`M6`).
    pub fn detect(root: &Path) -> Result<Kind, NodeError> {
        let path = root.join(TEMPLATES);
        let templates = read_templates(&path)?;
        let biwi = |s: &str| s.len() >= 2 && s.starts_with(['F', 'M']) && s[1..].bytes().all(|b| b.is_ascii_digit());
        if templates.keys().all(|s| s.starts_with("FaceTalk_")) {
            Ok(Kind::Vocaset)
        } else if templates.keys().all(|s| biwi(s)) {
            Ok(Kind::Biwi)
        } else {
            let names: Vec<&str> = templates.keys().map(String::as_str).collect();
            Err(NodeError::file(
                path,
                format!(
                    "has subjects {}: neither VOCASET's (FaceTalk_…) nor BIWI's (F1…M6)",
                    names.join(", ")
                ),
            ))
        }
    }

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Vocaset => "VOCASET",
            Kind::Biwi => "BIWI",
        }
    }

    /// The capture rate of the stored vertices.
    pub fn native_fps(self) -> f64 {
        match self {
            Kind::Vocaset => 60.0,
            Kind::Biwi => 25.0,
        }
    }

    /// Every how many stored frames FaceFormer keeps one.
    pub fn frame_step(self) -> usize {
        match self {
            Kind::Vocaset => 2,
            Kind::Biwi => 1,
        }
    }

    /// The rate of the frames [`FaceformerData::load`] gives.
    pub fn fps(self) -> f64 {
        self.native_fps() / self.frame_step() as f64
    }

    /// The unit of the vertex coordinates.
    pub fn unit(self) -> Unit {
        match self {
            Kind::Vocaset => Unit::Metres,
            Kind::Biwi => Unit::UnitSurfaceArea,
        }
    }

    /// FaceFormer's splits: subjects from `main.py`'s `--train_subjects`,
    /// `--val_subjects`, `--test_subjects` defaults (VOCASET) and its README's
    /// BIWI command, sentence ranges from `data_loader.py`; BIWI-Test-A from
    /// the paper and CodeTalker's `cal_metric.py`.
    pub fn split_rules(self) -> Vec<SplitRule> {
        let rule = |split, subjects, sentences| SplitRule {
            split,
            subjects,
            sentences,
        };
        match self {
            Kind::Vocaset => vec![
                rule(Split::Train, VOCASET_TRAIN, 1..=40),
                rule(Split::Val, VOCASET_VAL, 21..=40),
                rule(Split::Test, VOCASET_TEST, 21..=40),
            ],
            Kind::Biwi => vec![
                rule(Split::Train, BIWI_TRAIN, 1..=32),
                rule(Split::Val, BIWI_TRAIN, 33..=36),
                rule(Split::Test, BIWI_TEST, 37..=40),
                rule(Split::SeenTest, BIWI_TRAIN, 37..=40),
            ],
        }
    }

    /// The split of `subject`'s sentence `sentence`; `None` for the sequences
    /// FaceFormer uses in none (VOCASET's validation and test subjects'
    /// sentences 1–20, BIWI's test subjects' 1–36, unknown subjects).
    pub fn split_of(self, subject: &str, sentence: u32) -> Option<Split> {
        self.split_rules()
            .into_iter()
            .find(|r| r.subjects.contains(&subject) && r.sentences.contains(&sentence))
            .map(|r| r.split)
    }
}

/// One sequence of the folder.
#[derive(Clone, Debug, PartialEq)]
pub struct Sequence {
    /// The file name without extension, e.g. `F2_e01`.
    pub id: String,
    /// The subject, e.g. `F2`.
    pub subject: String,
    /// The sentence number, 1–40.
    pub sentence: u32,
    /// Its split, if FaceFormer uses it.
    pub split: Option<Split>,
    /// The audio.
    pub wav: PathBuf,
    /// The vertices, `[T, V·3]`.
    pub vertices: PathBuf,
    /// Frames stored in the vertex file (before thinning).
    pub stored_frames: usize,
}

/// A file without its partner, skipped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Unpaired {
    /// A wav whose `vertices_npy/NAME.npy` is missing.
    WavWithoutVertices(PathBuf),
    /// A vertex file with no `NAME.wav` under `wav/`.
    VerticesWithoutWav(PathBuf),
}

impl fmt::Display for Unpaired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unpaired::WavWithoutVertices(p) => write!(f, "{}: no vertices, skipped", p.display()),
            Unpaired::VerticesWithoutWav(p) => write!(f, "{}: no audio, skipped", p.display()),
        }
    }
}

/// A VOCASET or BIWI folder in FaceFormer's layout, checked.
#[derive(Clone, Debug)]
pub struct FaceformerData {
    /// The folder.
    pub root: PathBuf,
    /// Which dataset.
    pub kind: Kind,
    /// Vertices per mesh.
    pub vertex_count: usize,
    /// Each subject's template, `[V·3]`.
    pub templates: BTreeMap<String, Vec<f32>>,
    /// The paired sequences, by id.
    pub sequences: Vec<Sequence>,
    /// Files skipped for want of a partner.
    pub unpaired: Vec<Unpaired>,
}

/// One sequence read whole, as a trainer takes it.
#[derive(Clone, Debug)]
pub struct LoadedSequence {
    /// The file name without extension.
    pub id: String,
    /// The subject.
    pub subject: String,
    /// Its split, if any.
    pub split: Option<Split>,
    /// Mono audio (the channels averaged) at `sample_rate`.
    pub audio: Vec<f32>,
    /// The audio's sample rate.
    pub sample_rate: u32,
    /// Vertices `[frames, V·3]`, in [`Kind::unit`], at `fps`.
    pub vertices: Vec<f32>,
    /// Frames in `vertices`.
    pub frames: usize,
    /// Frames per second.
    pub fps: f64,
    /// The subject's template `[V·3]`.
    pub template: Vec<f32>,
}

/// The template file's name under the root.
pub const TEMPLATES: &str = "templates.pkl";
/// The audio folder's name.
pub const WAV: &str = "wav";
/// The vertex folder's name.
pub const VERTICES: &str = "vertices_npy";

impl FaceformerData {
    /// Reads the templates and every vertex file's header, and pairs the
    /// files; errors name the file at fault.
    pub fn open(root: &Path, kind: Kind) -> Result<FaceformerData, NodeError> {
        let templates_path = root.join(TEMPLATES);
        let templates = read_templates(&templates_path)?;
        let vertex_count = templates.values().next().map_or(0, |t| t.len() / 3);

        let mut wavs = Vec::new();
        collect_wavs(&root.join(WAV), &mut wavs)?;
        wavs.sort();
        let mut sequences = Vec::new();
        let mut unpaired = Vec::new();
        let mut ids = BTreeSet::new();
        for wav in wavs {
            let id = wav.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
            if !ids.insert(id.clone()) {
                return Err(NodeError::file(
                    &wav,
                    format!("is a second wav named {id}.wav under {WAV}/"),
                ));
            }
            let vertices = root.join(VERTICES).join(format!("{id}.npy"));
            if !vertices.is_file() {
                unpaired.push(Unpaired::WavWithoutVertices(wav));
                continue;
            }
            let (subject, sentence) = parse_name(&id).map_err(|e| NodeError::file(&wav, e))?;
            let (subject, split) = (subject.to_string(), kind.split_of(subject, sentence));
            let template = templates.get(&subject).ok_or_else(|| {
                NodeError::file(
                    &templates_path,
                    format!("has no template for subject {subject} (of {})", wav.display()),
                )
            })?;
            let header = npy::read_header(&vertices)?;
            let stored_frames =
                check_shape(&header.shape, &subject, template.len() / 3).map_err(|e| NodeError::file(&vertices, e))?;
            sequences.push(Sequence {
                id,
                subject,
                sentence,
                split,
                wav,
                vertices,
                stored_frames,
            });
        }
        for entry in std::fs::read_dir(root.join(VERTICES)).map_err(|e| NodeError::file(root.join(VERTICES), e))? {
            let path = entry.map_err(|e| NodeError::file(root.join(VERTICES), e))?.path();
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
            if path.extension().is_some_and(|e| e == "npy") && !ids.contains(stem) {
                unpaired.push(Unpaired::VerticesWithoutWav(path));
            }
        }
        unpaired.sort();
        Ok(FaceformerData {
            root: root.to_path_buf(),
            kind,
            vertex_count,
            templates,
            sequences,
            unpaired,
        })
    }

    /// The subjects with a template.
    pub fn subjects(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }

    /// The sequences of `split`.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Sequence> {
        self.sequences.iter().filter(move |s| s.split == Some(split))
    }

    /// Reads one sequence: audio, vertices thinned to [`Kind::fps`], template.
    /// Errors name the file, and the frame holding a NaN.
    pub fn load(&self, sequence: &Sequence) -> Result<LoadedSequence, NodeError> {
        let template = &self.templates[&sequence.subject];
        let (shape, stored) = npy::read(&sequence.vertices)?;
        let width = template.len();
        check_shape(&shape, &sequence.subject, width / 3).map_err(|e| NodeError::file(&sequence.vertices, e))?;
        if let Some(at) = stored.iter().position(|v| v.is_nan()) {
            return Err(NodeError::file(
                &sequence.vertices,
                format!("holds NaN at frame {}, coordinate {}", at / width, at % width),
            ));
        }
        let vertices: Vec<f32> = stored
            .chunks_exact(width)
            .step_by(self.kind.frame_step())
            .flatten()
            .copied()
            .collect();
        let budget = crate::audio::memory_budget();
        let decoded = crate::audio::decode(&sequence.wav, budget, &|_| {}, &|| false)?;
        Ok(LoadedSequence {
            id: sequence.id.clone(),
            subject: sequence.subject.clone(),
            split: sequence.split,
            audio: mono(&decoded.channels),
            sample_rate: decoded.sample_rate,
            frames: vertices.len() / width,
            vertices,
            fps: self.kind.fps(),
            template: template.clone(),
        })
    }

    /// The face model the sequences live on: the mean of the subjects'
    /// templates as its rest shape, no expression shapes (the truth is the
    /// vertices themselves), and `lips` and `upper` as its lip and upper-face
    /// vertex sets (see [`regions`]). Its digest is the mean template's, so a
    /// model trained on the folder meets its evaluation on the same folder.
    pub fn face_model(&self, lips: Vec<u32>, upper: Vec<u32>) -> crate::face::FaceRig {
        let width = self.vertex_count * 3;
        let mut neutral = vec![0f32; width];
        for template in self.templates.values() {
            for (n, t) in neutral.iter_mut().zip(template) {
                *n += t / self.templates.len() as f32;
            }
        }
        crate::face::FaceRig {
            name: format!("{} mesh ({} vertices)", self.kind.name(), self.vertex_count),
            units: match self.kind.unit() {
                Unit::Metres => "m".into(),
                Unit::UnitSurfaceArea => "unit area".into(),
            },
            neutral,
            triangles: Vec::new(),
            expression_names: Vec::new(),
            expressions: Vec::new(),
            identity_names: Vec::new(),
            identities: Vec::new(),
            uvs: None,
            regions: Vec::new(),
            lip_vertices: lips,
            upper_face_vertices: upper,
            landmarks: Vec::new(),
        }
    }

    /// The skipped files, one per line.
    pub fn unpaired_listing(&self) -> String {
        self.unpaired.iter().map(|u| format!("{u}\n")).collect()
    }
}

/// Subject and sentence number of a file stem, as FaceFormer reads them:
/// everything before the last `_`, and the last two characters.
fn parse_name(id: &str) -> Result<(&str, u32), String> {
    let (subject, _) = id
        .rsplit_once('_')
        .ok_or_else(|| format!("is not named SUBJECT_SENTENCE (no '_' in {id})"))?;
    let digits = id.get(id.len().saturating_sub(2)..).unwrap_or_default();
    let sentence = digits
        .parse()
        .ok()
        .filter(|_| digits.len() == 2 && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("does not end in a two-digit sentence number ({id})"))?;
    Ok((subject, sentence))
}

/// Checks a vertex file's shape `[T, V·3]` against the template's `V`; the frames.
fn check_shape(shape: &[usize], subject: &str, vertex_count: usize) -> Result<usize, String> {
    match shape {
        [0, _] => Err("holds no frames".into()),
        [frames, width] if *width == 3 * vertex_count => Ok(*frames),
        [_, width] if width % 3 == 0 => Err(format!(
            "holds {} vertices per frame, but subject {subject}'s template has {vertex_count}",
            width / 3
        )),
        _ => Err(format!(
            "holds an array of shape {shape:?}, not [frames, {}]",
            3 * vertex_count
        )),
    }
}

/// The templates file as subject → `[V·3]`, all with the same `V`.
fn read_templates(path: &Path) -> Result<BTreeMap<String, Vec<f32>>, NodeError> {
    let not_layout =
        |message: String| NodeError::file(path, format!("is not FaceFormer's templates layout: {message}"));
    let Value::Dict(pairs) = pickle::load(path)? else {
        return Err(not_layout("it does not hold a dict".into()));
    };
    let mut templates = BTreeMap::new();
    let mut first: Option<(String, usize)> = None;
    for (key, value) in pairs {
        let subject = key
            .text()
            .ok_or_else(|| not_layout(format!("a key is {}, not a subject name", key.kind())))?;
        let array = match value {
            Value::Array(a) if a.shape.len() == 2 && a.shape[1] == 3 && a.shape[0] > 0 => a,
            Value::Array(a) => {
                return Err(not_layout(format!(
                    "key '{subject}' holds an array of shape {:?}, not [V, 3]",
                    a.shape
                )));
            }
            other => {
                return Err(not_layout(format!(
                    "key '{subject}' holds {}, not a [V, 3] array",
                    other.kind()
                )));
            }
        };
        match &first {
            Some((name, count)) if *count != array.shape[0] => {
                return Err(not_layout(format!(
                    "key '{subject}' has {} vertices, but '{name}' has {count}",
                    array.shape[0]
                )));
            }
            Some(_) => {}
            None => first = Some((subject.clone(), array.shape[0])),
        }
        templates.insert(subject, array.values.iter().map(|&v| v as f32).collect());
    }
    if templates.is_empty() {
        return Err(not_layout("it holds no subjects".into()));
    }
    Ok(templates)
}

fn collect_wavs(folder: &Path, out: &mut Vec<PathBuf>) -> Result<(), NodeError> {
    for entry in std::fs::read_dir(folder).map_err(|e| NodeError::file(folder, e))? {
        let path = entry.map_err(|e| NodeError::file(folder, e))?.path();
        if path.is_dir() {
            collect_wavs(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "wav") {
            out.push(path);
        }
    }
    Ok(())
}

fn mono(channels: &[Vec<f32>]) -> Vec<f32> {
    let frames = channels.iter().map(Vec::len).min().unwrap_or(0);
    let scale = 1.0 / channels.len().max(1) as f32;
    (0..frames)
        .map(|i| channels.iter().map(|c| c[i]).sum::<f32>() * scale)
        .collect()
}

#[cfg(test)]
mod tests;
