//! `capture.synthesize`: the synthetic studio rig. The face model, posed by
//! the capture factory's speech and by extreme expressions
//! ([`super::timeline`]), filmed by a ring of calibrated cameras
//! ([`StudioRing`]) with the studio's skin and light, and written as a
//! capture folder ([`super::format`]) with `synthesis.json` beside it
//! recording how it was made ([`super::resume`]).

use std::path::{Path, PathBuf};

use gspeech_sdk::{
    Caching, CancelToken, FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole,
    PortSpec, PortType, RunContext, Value, fs::write_atomic,
};
use serde_json::{Value as Json, json};

use super::expressions::{Move, moves};
use super::film::Film;
use super::format::{Capture, CaptureCamera, CaptureIndex, FORMAT, FaceModelRef, VERSION, write_index, write_meshes};
use super::load::{dataset_record, describe};
use super::resume::Folder;
use super::studio::{Appearance, Scene, Studio, StudioRing, Subject};
use super::timeline::{Performer, Timeline};
use crate::audio::wav::{Encoding, encode};
use crate::dataset::corpus::{Sentence, assign_splits, read_corpus};
use crate::dataset::sequence::Settings;
use crate::face::FaceRig;

/// Bumped whenever the same settings would write different files (the
/// studio's look included), so a folder made before is not resumed.
const GENERATOR: u32 = 1;

/// The voice that speaks by default: eSpeak NG's American English, female.
pub const DEFAULT_VOICE: &str = "en-us+f2";

/// Longest silence before and after each sentence, seconds (ours: shorter
/// than the speech factory's, whose long silences teach a motion model to
/// rest, because still frames teach an avatar little).
const SILENCE: f64 = 0.4;

/// The audio file's name in the capture folder.
const AUDIO: &str = "audio.wav";

/// Renders the face model, talking and pulling faces, from a ring of cameras into a capture folder.
pub struct SynthesizeCapture;

impl Node for SynthesizeCapture {
    fn spec(&self) -> NodeSpec {
        let ring = StudioRing::default();
        NodeSpec::new("capture.synthesize", 1, "Synthesize Capture")
            .doc(
                "The synthetic studio rig: renders the face model with procedural skin, expression wrinkles \
                 and soft studio light from a ring of calibrated cameras around the front of the head, posed \
                 first by the capture factory's speech (sentences spoken by an eSpeak NG or Flite voice, with \
                 its visemes, prosody-driven brows and blinks, and head motion) and then by silent extreme \
                 expressions (every blendshape ramped to full and back, then combinations). Writes a capture \
                 folder: capture.json (cameras, frames with time, split and weights), meshes.safetensors, \
                 images and masks for every camera and frame, audio.wav (the speech, in sync from frame 0, \
                 silent under the expressions) and synthesis.json (the settings and segments). Sentences and \
                 expression combinations are held out for validation and testing. Deterministic: the same \
                 settings give the same bytes. An interrupted run resumes: a run into the same folder with the \
                 same settings keeps every frame already written; other settings are refused.",
            )
            .input(PortSpec::new(
                "face",
                PortType::FaceModel,
                "An ARKit-named face rig (ICT-FaceKit's) with the 68 landmarks.",
            ))
            .output(PortSpec::new(
                "capture",
                PortType::Dataset,
                "The capture: its folder, splits, cameras and face model (as capture.load describes it).",
            ))
            .param(ParamSpec::path(
                "out",
                PathRole::OutputDir,
                vec![],
                "",
                "The capture folder: new, empty, or an earlier run of the same settings to resume.",
            ))
            .param(
                ParamSpec::path(
                    "corpus",
                    PathRole::InputFile,
                    vec![FileFilter::new("Text", &["txt"])],
                    "",
                    "Sentences, one per line (projects/assets/corpus/harvard.txt); the first `sentences` are spoken.",
                )
                .optional(),
            )
            .param(ParamSpec::int(
                "sentences",
                5,
                (Some(0), Some(10_000)),
                "How many sentences are spoken (0: none, expressions only).",
            ))
            .param(ParamSpec::text(
                "voice",
                DEFAULT_VOICE,
                "The voice: an eSpeak NG name with an optional variant (en-us, en+f2) or a Flite voice (flite:slt).",
            ))
            .param(ParamSpec::int(
                "expression_frames",
                5,
                (Some(0), Some(250)),
                "Frames per expression move, up to full and back (0: no expressions).",
            ))
            .param(ParamSpec::text(
                "identity",
                "neutral",
                "Whose face: `neutral` (the model's mean face) or one of its identities (identity000, …).",
            ))
            .param(ParamSpec::int(
                "appearance",
                1,
                (Some(0), None),
                "Seed of the skin: tone, freckles, redness, beard shadow, eye and hair colours, and every pore.",
            ))
            .param(ParamSpec::int(
                "resolution",
                ring.width as i64,
                (Some(16), Some(4096)),
                "Image width and height in pixels.",
            ))
            .param(ParamSpec::int(
                "cameras",
                ring.count as i64,
                (Some(1), Some(256)),
                "Cameras on the ring, over 150° around the front of the head.",
            ))
            .param(ParamSpec::int(
                "held_out_cameras",
                ring.held_out as i64,
                (Some(0), Some(254)),
                "Cameras kept out of fitting, to judge novel views (never the ends of the arc).",
            ))
            .param(ParamSpec::float(
                "fps",
                Settings::default().fps,
                (Some(1.0), Some(240.0)),
                "Frames per second.",
            ))
            .param(ParamSpec::float(
                "val_fraction",
                0.1,
                (Some(0.0), Some(0.5)),
                "Share of sentences, and of expression combinations, for validation (at least one each when above 0).",
            ))
            .param(ParamSpec::float(
                "test_fraction",
                0.1,
                (Some(0.0), Some(0.5)),
                "Share of sentences, and of expression combinations, for testing (at least one each when above 0).",
            ))
            .param(ParamSpec::int(
                "frames",
                0,
                (Some(0), None),
                "Keep only the first N frames of the take (0: all), for a quick look or a benchmark. Not part \
                 of the settings: a later run with more frames continues this one.",
            ))
            .param(ParamSpec::int(
                "seed",
                1,
                (Some(0), None),
                "Seed of the speech and its motion.",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let face = FaceRig::from_record(inputs.record("face", PortType::FaceModel)?)
            .map_err(|e| NodeError::input("face", e))?;
        let plan = Plan::read(&face, params)?;
        let performer = Performer::new(
            &face,
            &plan.voice,
            plan.identity.clone(),
            plan.settings.clone(),
            plan.seed,
        )
        .map_err(|e| NodeError::input("face", e))?;
        ctx.progress(0.0, "speaking and posing");
        let mut timeline = performer
            .timeline(
                &plan.sentences,
                &plan.moves,
                plan.ramp_frames,
                plan.seed,
                ctx.cancel_token(),
            )
            .map_err(|e| match e {
                NodeError::Param { name, message } if name == "voices" => NodeError::param("voice", message),
                e => e,
            })?;
        let subject = Subject::new(&face, &plan.identity);
        let cameras = plan
            .ring
            .cameras(&face, &subject.rest)
            .map_err(|e| NodeError::param("cameras", e))?;
        let mut take = format!("the take: {}", timeline.describe());
        if plan.frames > 0 && plan.frames < timeline.frames() {
            take += &format!("; filming its first {} frames", plan.frames);
            timeline.truncate(plan.frames);
        }
        ctx.info(&take);

        let root = &plan.root;
        let folder = Folder::open(root, &plan.settings_json(&face))?;
        folder.describe(&timeline, performer.speaker(), ctx.cancel_token())?;
        let studio = Studio::default();
        let film = Film {
            scene: Scene::new(&subject, &plan.appearance, &studio),
            cameras: &cameras,
            timeline: &timeline,
            root,
        };
        let filmed = film.shoot(ctx)?;
        folder.prune(&cameras, timeline.frames())?;
        write_capture(root, &face, &cameras, &timeline, ctx.cancel_token())?;

        let capture = Capture::open(root)?;
        ctx.info(&describe(&capture));
        let (views, resolution) = (cameras.len(), plan.ring.width);
        ctx.info(&format!(
            "{} images of {resolution}×{resolution} ({} kept from an earlier run), {:.1} s of take; filmed {} in \
             {:.1} s, {:.1} images/s",
            views * timeline.frames(),
            views * filmed.kept,
            timeline.frames() as f64 / timeline.fps,
            views * filmed.rendered,
            filmed.seconds,
            (views * filmed.rendered) as f64 / filmed.seconds.max(1e-9),
        ));
        Ok(Outputs::new().with("capture", Value::data(dataset_record(&capture))))
    }
}

/// What a run films, from the node's parameters.
struct Plan {
    root: PathBuf,
    seed: u64,
    /// The `identity` parameter, and its coefficients.
    identity_name: String,
    identity: Vec<f32>,
    appearance: Appearance,
    voice: String,
    /// The capture factory's settings (its defaults but the frame rate and silences).
    settings: Settings,
    /// Shares of sentences and combinations for validation and testing.
    fractions: [f64; 2],
    /// The sentences spoken, each with its split.
    sentences: Vec<(Sentence, &'static str)>,
    /// The expression moves, each with its split.
    moves: Vec<(Move, &'static str)>,
    ramp_frames: usize,
    ring: StudioRing,
    /// Film only the first this many frames (0: all).
    frames: usize,
}

impl Plan {
    /// Reads and checks the parameters; splits the sentences and the
    /// expression combinations (every single expression is for training).
    fn read(face: &FaceRig, params: &Params) -> Result<Plan, NodeError> {
        let seed = params.int("seed")? as u64;
        let fractions = [params.float("val_fraction")?, params.float("test_fraction")?];
        let sentences = match (params.int("sentences")? as usize, params.optional_path("corpus")?) {
            (0, _) => Vec::new(),
            (_, None) => return Err(NodeError::param("corpus", "no corpus is set to speak sentences from")),
            (n, Some(path)) => {
                let mut sentences = read_corpus(path)?;
                sentences.truncate(n);
                let splits = assign_splits(sentences.len(), fractions, seed, "splits", ["sentences", "sentence(s)"])?;
                sentences.into_iter().zip(splits).collect()
            }
        };
        let ramp_frames = params.int("expression_frames")? as usize;
        if sentences.is_empty() && ramp_frames == 0 {
            return Err(NodeError::param(
                "sentences",
                "with no sentences and no expression frames there is nothing to film",
            ));
        }
        let (singles, combinations): (Vec<_>, Vec<_>) = moves(face).into_iter().partition(|m| !m.combination);
        let splits = match (ramp_frames, combinations.len()) {
            (0, _) | (_, 0) => Vec::new(),
            (_, n) => assign_splits(
                n,
                fractions,
                seed,
                "splits/expressions",
                ["val_fraction", "expression combination(s)"],
            )?,
        };
        let resolution = params.int("resolution")? as u32;
        let ring = StudioRing {
            count: params.int("cameras")? as usize,
            width: resolution,
            height: resolution,
            held_out: params.int("held_out_cameras")? as usize,
            ..StudioRing::default()
        };
        if ring.held_out > ring.count.saturating_sub(2) {
            return Err(NodeError::param(
                "held_out_cameras",
                format!(
                    "{} of {} cameras cannot be held out: the two ends of the arc are always fitted, so at most {} can",
                    ring.held_out,
                    ring.count,
                    ring.count.saturating_sub(2)
                ),
            ));
        }
        let identity_name = params.text("identity")?.trim().to_string();
        Ok(Plan {
            root: params.path("out")?.to_path_buf(),
            seed,
            identity: identity(face, &identity_name)?,
            identity_name,
            appearance: Appearance::from_seed(params.int("appearance")? as u64),
            voice: params.text("voice")?.trim().to_string(),
            settings: Settings {
                fps: params.float("fps")?,
                silence: SILENCE,
                ..Settings::default()
            },
            fractions,
            sentences,
            moves: singles
                .into_iter()
                .map(|m| (m, "train"))
                .chain(combinations.into_iter().zip(splits))
                .collect(),
            ramp_frames,
            ring,
            frames: params.int("frames")? as usize,
        })
    }

    /// Everything the files depend on: what a run must share with an earlier
    /// one to resume it (all but `frames`).
    fn settings_json(&self, face: &FaceRig) -> Json {
        let texts: Vec<&str> = self.sentences.iter().map(|(s, _)| s.text.as_str()).collect();
        json!({
            "generator": GENERATOR, "face": face.digest(), "seed": self.seed, "sentences": texts,
            "voice": self.voice, "expression_frames": self.ramp_frames, "identity": self.identity_name,
            "appearance": self.appearance.seed, "resolution": self.ring.width, "cameras": self.ring.count,
            "held_out_cameras": self.ring.held_out, "fps": self.settings.fps, "fractions": self.fractions,
        })
    }
}

/// The identity coefficients of `name`: none for `neutral` (or nothing),
/// else one-hot on the named identity.
fn identity(face: &FaceRig, name: &str) -> Result<Vec<f32>, NodeError> {
    let name = name.trim();
    if name.is_empty() || name == "neutral" {
        return Ok(Vec::new());
    }
    let Some(i) = face.identity_names.iter().position(|n| n == name) else {
        let mut known = vec!["neutral".to_string()];
        known.extend(face.identity_names.iter().cloned());
        return Err(NodeError::param(
            "identity",
            format!("the face model has no identity `{name}`; it has {}", known.join(", ")),
        ));
    };
    let mut coefficients = vec![0.0; face.identity_names.len()];
    coefficients[i] = 1.0;
    Ok(coefficients)
}

/// Writes what follows the images: the audio (when something is said), the
/// meshes and, last, `capture.json`.
fn write_capture(
    root: &Path,
    face: &FaceRig,
    cameras: &[CaptureCamera],
    timeline: &Timeline,
    cancel: &CancelToken,
) -> Result<(), NodeError> {
    let index = CaptureIndex {
        format: FORMAT.into(),
        version: VERSION,
        fps: Some(timeline.fps),
        audio: (!timeline.audio.is_empty()).then(|| AUDIO.to_string()),
        face_model: FaceModelRef::of(face, None),
        cameras: cameras.to_vec(),
        weight_names: face.expression_names.clone(),
        frames: timeline.capture_frames(),
    };
    if !timeline.audio.is_empty() {
        let wav = encode(timeline.sample_rate, &[&timeline.audio], Encoding::Pcm16);
        write_atomic(&root.join(AUDIO), &wav, cancel)?;
    }
    write_meshes(root, timeline.frames(), face.vertex_count(), &timeline.vertices, cancel)?;
    write_index(root, &index, cancel)
}

#[cfg(test)]
mod tests;
