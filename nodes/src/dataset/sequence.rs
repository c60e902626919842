//! One captured sequence: a sentence spoken by a speaker, turned into audio,
//! blendshape weights, head motion and vertices.

use gspeech_sdk::NodeError;
use serde_json::{Value as Json, json};

use super::coarticulation::trajectory;
use super::head::NeckRig;
use super::prosody::{Liveliness, UPPER_SHAPES, analyse, upper_face};
use super::random::Rng;
use super::speech::{Phone, Voice, speak};
use super::visemes::{MOUTH_SHAPES, mouth_weights, segments};
use crate::audio::resample;
use crate::face::{FaceRig, add_shapes};
use crate::features::frame_count;

/// A speaker: a voice, how they speak and what they look like.
#[derive(Clone, Debug, PartialEq)]
pub struct Speaker {
    /// Short id used in sequence names (`v0`, …; `vh` for the held-out voice).
    pub id: String,
    /// The voice: an eSpeak NG name, or a Flite one (`flite:slt`).
    pub voice: String,
    /// Base speaking rate, words per minute.
    pub rate: u32,
    /// Base pitch, 0–100.
    pub pitch: u32,
    /// Pitch range, 0–100.
    pub range: u32,
    /// How wide they articulate (scales the jaw).
    pub articulation: f32,
    /// How much their brows move.
    pub expressivity: f32,
    /// A resting smile, as `mouthSmile` weight.
    pub smile: f32,
    /// Identity coefficients of their face (one per identity shape).
    pub identity: Vec<f32>,
    /// Whether the voice is kept out of training.
    pub held_out: bool,
}

impl Speaker {
    /// A speaker for `voice`, drawn from `seed` (so the same voice always gets
    /// the same face and manner under the same seed).
    pub fn draw(id: &str, voice: &str, held_out: bool, settings: &Settings, identities: usize, seed: u64) -> Speaker {
        let mut rng = Rng::stream(seed, &format!("speaker/{voice}"));
        Speaker {
            id: id.into(),
            voice: voice.into(),
            rate: (settings.rate as f64 * rng.range(0.9, 1.1)).round() as u32,
            pitch: (settings.pitch as f64 + rng.range(-10.0, 10.0))
                .round()
                .clamp(0.0, 99.0) as u32,
            range: rng.range(40.0, 75.0).round() as u32,
            articulation: rng.range(0.85, 1.15) as f32,
            expressivity: rng.range(0.7, 1.3) as f32,
            smile: rng.range(0.0, 0.1) as f32,
            identity: (0..identities)
                .map(|_| (rng.normal() * settings.identity_scale).clamp(-2.0, 2.0) as f32)
                .collect(),
            held_out,
        }
    }

    /// The speaker as JSON metadata.
    pub fn to_json(&self) -> Json {
        json!({
            "id": self.id, "voice": self.voice, "rate": self.rate, "pitch": self.pitch, "range": self.range,
            "articulation": self.articulation, "expressivity": self.expressivity, "smile": self.smile,
            "identity": self.identity, "held_out": self.held_out,
        })
    }
}

/// Settings shared by every sequence of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Video frames per second of the motion.
    pub fps: f64,
    /// Audio sample rate of the WAV files.
    pub sample_rate: u32,
    /// Base speaking rate, words per minute.
    pub rate: u32,
    /// Each sequence's rate varies by up to this fraction of its speaker's.
    pub rate_jitter: f64,
    /// Base pitch, 0–100.
    pub pitch: u32,
    /// Each sequence's pitch varies by up to this much.
    pub pitch_jitter: u32,
    /// Standard deviation of speakers' identity coefficients.
    pub identity_scale: f64,
    /// Average blinks per minute.
    pub blinks_per_minute: f32,
    /// Scales head motion.
    pub head_motion: f32,
}

impl Settings {
    /// The settings as JSON metadata.
    pub fn to_json(&self) -> Json {
        json!({
            "fps": self.fps, "sample_rate": self.sample_rate, "rate": self.rate, "rate_jitter": self.rate_jitter,
            "pitch": self.pitch, "pitch_jitter": self.pitch_jitter, "identity_scale": self.identity_scale,
            "blinks_per_minute": self.blinks_per_minute, "head_motion": self.head_motion,
        })
    }
}

/// How the factory's expression names map onto a rig's expressions.
pub struct Driver {
    /// For each of [`MOUTH_SHAPES`] then [`UPPER_SHAPES`], the rig expressions it drives with a factor.
    targets: Vec<Vec<(usize, f32)>>,
    /// The `mouthSmile_L`/`_R` targets, for the resting smile.
    smile: Vec<(usize, f32)>,
}

impl Driver {
    /// Resolves the driven names on `rig`: ICT-FaceKit's (`mouthSmile_L`),
    /// ARKit's (`mouthSmileLeft`), or an unsided shape shared by both sides
    /// (`browInnerUp`, each side driving it by half). A name with none of these
    /// is an error listing every missing one.
    pub fn new(rig: &FaceRig) -> Result<Driver, String> {
        let resolve = |name: &str| -> Option<Vec<(usize, f32)>> {
            if let Some(i) = rig.expression_index(name) {
                return Some(vec![(i, 1.0)]);
            }
            let (base, side) = name
                .strip_suffix("_L")
                .map(|b| (b, "Left"))
                .or_else(|| name.strip_suffix("_R").map(|b| (b, "Right")))?;
            if let Some(i) = rig.expression_index(&format!("{base}{side}")) {
                return Some(vec![(i, 1.0)]);
            }
            rig.expression_index(base).map(|i| vec![(i, 0.5)])
        };
        let names = MOUTH_SHAPES.iter().chain(UPPER_SHAPES.iter());
        let mut targets = Vec::new();
        let mut missing = Vec::new();
        for name in names {
            match resolve(name) {
                Some(t) => targets.push(t),
                None => missing.push(*name),
            }
        }
        if !missing.is_empty() {
            return Err(format!(
                "the face model lacks ARKit expressions the capture factory drives: {} (ICT-FaceKit and other \
                 ARKit-named rigs have them; FLAME does not)",
                missing.join(", ")
            ));
        }
        let smile = ["mouthSmile_L", "mouthSmile_R"]
            .iter()
            .filter_map(|n| resolve(n))
            .flatten()
            .collect();
        Ok(Driver { targets, smile })
    }
}

/// What one sequence is made of.
pub struct Sequence {
    /// The audio at the dataset's sample rate.
    pub audio: Vec<f32>,
    /// Blendshape weights, `[T * K]` for the rig's K expressions.
    pub weights: Vec<f32>,
    /// Head rotation per frame (axis-angle, radians).
    pub head: Vec<[f32; 3]>,
    /// Stored vertices per frame, `[T * Vs * 3]`.
    pub vertices: Vec<f32>,
    /// Number of frames.
    pub frames: usize,
    /// The voice as spoken (after jitter).
    pub voice: Voice,
    /// The phonemes, with their visemes.
    pub phones: Vec<(Phone, &'static str)>,
    /// When each blink starts.
    pub blinks: Vec<f64>,
    /// Phoneme symbols the viseme table does not know (treated as pauses).
    pub unknown: Vec<String>,
}

/// A speaker's face on the stored vertices: its rest shape and its neck.
pub struct Body {
    /// Rest positions of the stored vertices, `[Vs * 3]`.
    pub rest: Vec<f32>,
    /// How the head turns them.
    pub neck: NeckRig,
}

/// The parts of the rig a dataset stores, and each speaker's rest shape on them.
pub struct Stage<'a> {
    /// The rig.
    pub rig: &'a FaceRig,
    /// Stored vertex indices into the rig.
    pub stored: Vec<u32>,
    /// Expressions restricted to the stored vertices, `[K * Vs * 3]`.
    expressions: Vec<f32>,
}

impl<'a> Stage<'a> {
    /// A stage storing the `stored` vertices of `rig`.
    pub fn new(rig: &'a FaceRig, stored: Vec<u32>) -> Stage<'a> {
        let v = rig.vertex_count();
        let expressions = rig
            .expressions
            .chunks_exact(v * 3)
            .flat_map(|shape| {
                stored
                    .iter()
                    .flat_map(move |&i| &shape[i as usize * 3..i as usize * 3 + 3])
            })
            .copied()
            .collect();
        Stage {
            rig,
            stored,
            expressions,
        }
    }

    /// A speaker's rest shape on the stored vertices, and their neck.
    pub fn body(&self, speaker: &Speaker) -> Body {
        let full = self.rig.identity_shape(&speaker.identity);
        let neck = NeckRig::new(self.rig, &full);
        let pick = |values: &[f32], width: usize| -> Vec<f32> {
            self.stored
                .iter()
                .flat_map(|&i| &values[i as usize * width..(i as usize + 1) * width])
                .copied()
                .collect()
        };
        Body {
            rest: pick(&full, 3),
            neck: NeckRig {
                weights: pick(&neck.weights, 1),
                pivot: neck.pivot,
            },
        }
    }

    /// Makes one sequence: `text` spoken by `speaker` (whose body is from
    /// [`Stage::body`]), with this sequence's own random stream.
    pub fn sequence(
        &self,
        driver: &Driver,
        speaker: &Speaker,
        body: &Body,
        text: &str,
        settings: &Settings,
        rng: &mut Rng,
    ) -> Result<Sequence, NodeError> {
        let jitter = 1.0 + settings.rate_jitter * rng.range(-1.0, 1.0);
        let pitch_shift = settings.pitch_jitter as f64 * rng.range(-1.0, 1.0);
        let voice = Voice {
            name: speaker.voice.clone(),
            rate: ((speaker.rate as f64 * jitter).round() as u32).clamp(80, 450),
            pitch: (speaker.pitch as f64 + pitch_shift).round().clamp(0.0, 99.0) as u32,
            range: speaker.range,
        };
        let speech = speak(text, &voice).map_err(|e| NodeError::param("voices", e.to_string()))?;
        let audio = resample(
            std::slice::from_ref(&speech.samples),
            speech.sample_rate,
            settings.sample_rate,
        )
        .map_err(NodeError::other)?
        .remove(0);
        let frames = frame_count(audio.len(), settings.sample_rate as f64, settings.fps);
        if frames == 0 {
            return Err(NodeError::other(format!("`{text}` is shorter than one frame")));
        }
        let times: Vec<f64> = (0..frames).map(|i| i as f64 / settings.fps).collect();
        let (segments, visemes, unknown) = segments(&speech.phones);
        let articulation = trajectory(&segments, &times);
        let prosody = analyse(&audio, settings.sample_rate, &times);
        let live = Liveliness {
            expressivity: speaker.expressivity,
            blinks_per_minute: settings.blinks_per_minute,
            head_motion: settings.head_motion,
        };
        let duration = audio.len() as f64 / settings.sample_rate as f64;
        let upper = upper_face(&prosody, &times, duration, &live, rng);

        let k = self.rig.expression_names.len();
        let mut weights = vec![0f32; frames * k];
        for (f, row) in weights.chunks_exact_mut(k).enumerate() {
            let mouth = mouth_weights(&articulation[f], speaker.articulation);
            let driven = mouth.iter().chain(upper.weights[f].iter());
            for (value, targets) in driven.zip(&driver.targets) {
                for &(i, factor) in targets {
                    row[i] += value * factor;
                }
            }
            for &(i, factor) in &driver.smile {
                row[i] += speaker.smile * factor;
            }
            row.iter_mut().for_each(|w| *w = w.clamp(0.0, 1.0));
        }

        let mut vertices = Vec::with_capacity(frames * body.rest.len());
        for (f, row) in weights.chunks_exact(k).enumerate() {
            let mut posed = body.rest.clone();
            add_shapes(&mut posed, &self.expressions, row);
            body.neck.apply(&mut posed, upper.head[f]);
            vertices.extend_from_slice(&posed);
        }
        Ok(Sequence {
            audio,
            weights,
            head: upper.head,
            vertices,
            frames,
            voice,
            phones: speech.phones.into_iter().zip(visemes).collect(),
            blinks: upper.blinks,
            unknown,
        })
    }
}
