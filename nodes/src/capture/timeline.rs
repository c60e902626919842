//! The take a synthetic capture films: one timeline of frames at a fixed
//! rate, first the speech (each sentence spoken by the capture factory's
//! voice, with its visemes, prosody-driven brows and blinks, and head motion),
//! then the silent expression moves ([`super::expressions`]) with the head
//! still.
//!
//! The audio track spans the whole timeline and starts with frame 0: frame
//! `i` covers samples `[round(i·r/fps), round((i+1)·r/fps))` at sample rate
//! `r`. Each sentence keeps its whole frames (the factory's motion has no
//! more); the sound past its last whole frame, less than a frame of its
//! closing silence, is dropped so the next sentence starts on its frame. The
//! expression part is digital silence.

use gspeech_sdk::{CancelToken, NodeError};
use serde_json::{Value as Json, json};

use super::expressions::{Move, ramp, weights};
use super::format::CaptureFrame;
use crate::dataset::corpus::Sentence;
use crate::dataset::random::Rng;
use crate::dataset::sequence::{Body, Driver, Settings, Speaker, Stage};
use crate::face::FaceRig;

/// Who performs the take: the capture factory's rig, driver and speaker
/// (a voice with a manner of speaking, on the chosen identity), and its settings.
pub struct Performer<'a> {
    stage: Stage<'a>,
    driver: Driver,
    speaker: Speaker,
    body: Body,
    settings: Settings,
}

/// A stretch of the timeline: one sentence or one expression move.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// `speech` or `expression`.
    pub kind: &'static str,
    /// The sentence's id (`s0001`) or the move's name (`jawOpen`, `smile + squint`).
    pub name: String,
    /// What was said, for speech.
    pub text: Option<String>,
    /// Its first frame.
    pub first: usize,
    /// How many frames it has.
    pub frames: usize,
    /// `train`, `val` or `test`.
    pub split: &'static str,
}

impl Segment {
    /// The segment as JSON metadata.
    pub fn to_json(&self) -> Json {
        json!({
            "kind": self.kind, "name": self.name, "text": self.text, "first_frame": self.first,
            "frames": self.frames, "split": self.split,
        })
    }
}

/// The whole take: segments, and per frame the rig's expression weights
/// and the posed mesh; the audio under it.
pub struct Timeline {
    /// Frames per second.
    pub fps: f64,
    /// The segments in order; they tile the frames.
    pub segments: Vec<Segment>,
    /// Expression weights, `[T * K]` for the rig's K expressions.
    pub weights: Vec<f32>,
    /// Posed meshes in world space, `[T * V * 3]`.
    pub vertices: Vec<f32>,
    /// The sound of the whole take, mono; empty when nothing is said.
    pub audio: Vec<f32>,
    /// The audio's sample rate.
    pub sample_rate: u32,
}

impl Timeline {
    /// How many frames.
    pub fn frames(&self) -> usize {
        self.segments.last().map_or(0, |s| s.first + s.frames)
    }

    /// Keeps the first `frames` frames (the segments and audio cut to match).
    pub fn truncate(&mut self, frames: usize) {
        if frames >= self.frames() {
            return;
        }
        let (k, v3) = (self.weights.len() / self.frames(), self.vertices.len() / self.frames());
        self.segments.retain(|s| s.first < frames);
        if let Some(last) = self.segments.last_mut() {
            last.frames = last.frames.min(frames - last.first);
        }
        self.weights.truncate(frames * k);
        self.vertices.truncate(frames * v3);
        if !self.audio.is_empty() {
            self.audio.truncate(sample_at(frames, self.sample_rate, self.fps));
        }
    }

    /// The capture's frames: time from the start of the take, split and weights.
    pub fn capture_frames(&self) -> Vec<CaptureFrame> {
        let k = self.weights.len() / self.frames().max(1);
        let splits = self
            .segments
            .iter()
            .flat_map(|s| std::iter::repeat_n(s.split, s.frames));
        splits
            .zip(self.weights.chunks_exact(k.max(1)))
            .enumerate()
            .map(|(index, (split, weights))| CaptureFrame {
                index,
                time: index as f64 / self.fps,
                split: split.into(),
                weights: Some(weights.to_vec()),
            })
            .collect()
    }

    /// One line about the take: its sentences and moves, frames and length.
    pub fn describe(&self) -> String {
        let of = |kind: &str| {
            let segments = self.segments.iter().filter(|s| s.kind == kind);
            segments.fold((0, 0), |(n, frames), s| (n + 1, frames + s.frames))
        };
        let (spoken, expressed) = (of("speech"), of("expression"));
        format!(
            "{} sentence(s) in {} frames, then {} expression move(s) in {} frames: {} frames, {:.1} s",
            spoken.0,
            spoken.1,
            expressed.0,
            expressed.1,
            self.frames(),
            self.frames() as f64 / self.fps
        )
    }
}

/// The first audio sample of frame `frame`.
fn sample_at(frame: usize, sample_rate: u32, fps: f64) -> usize {
    (frame as f64 * sample_rate as f64 / fps).round() as usize
}

impl<'a> Performer<'a> {
    /// The factory's `voice` (eSpeak NG or Flite) speaking with `rig`'s face
    /// of identity coefficients `identity`; its manner (rate, pitch,
    /// liveliness, resting smile) is drawn from `seed` as the factory draws
    /// its speakers.
    pub fn new(
        rig: &'a FaceRig,
        voice: &str,
        identity: Vec<f32>,
        settings: Settings,
        seed: u64,
    ) -> Result<Self, String> {
        let driver = Driver::new(rig)?;
        let speaker = Speaker {
            identity,
            ..Speaker::draw("v0", voice, false, &settings, rig.identity_names.len(), seed)
        };
        let stage = Stage::new(rig, (0..rig.vertex_count() as u32).collect());
        let body = stage.body(&speaker);
        Ok(Performer {
            stage,
            driver,
            speaker,
            body,
            settings,
        })
    }

    /// The speaker as JSON metadata.
    pub fn speaker(&self) -> Json {
        self.speaker.to_json()
    }

    /// The take: `sentences` spoken in order (each sentence's own random
    /// stream under `seed`), then each move ramped over `ramp_frames`
    /// frames. Each sentence and move comes with its split.
    pub fn timeline(
        &self,
        sentences: &[(Sentence, &'static str)],
        moves: &[(Move, &'static str)],
        ramp_frames: usize,
        seed: u64,
        cancel: &CancelToken,
    ) -> Result<Timeline, NodeError> {
        let settings = &self.settings;
        let (rate, fps) = (settings.sample_rate, settings.fps);
        let k = self.stage.rig.expression_names.len();
        let mut timeline = Timeline {
            fps,
            segments: Vec::new(),
            weights: Vec::new(),
            vertices: Vec::new(),
            audio: Vec::new(),
            sample_rate: rate,
        };
        let mut first = 0;
        for (sentence, split) in sentences {
            if cancel.is_cancelled() {
                return Err(NodeError::Cancelled);
            }
            let mut rng = Rng::stream(seed, &format!("capture/{}", sentence.id));
            let sequence = self.stage.sequence(
                &self.driver,
                &self.speaker,
                &self.body,
                &sentence.text,
                settings,
                &mut rng,
            )?;
            let (start, end) = (
                sample_at(first, rate, fps),
                sample_at(first + sequence.frames, rate, fps),
            );
            timeline.audio.extend(sequence.audio.iter().take(end - start));
            timeline.audio.resize(end, 0.0);
            timeline.weights.extend(sequence.weights);
            timeline.vertices.extend(sequence.vertices);
            timeline.segments.push(Segment {
                kind: "speech",
                name: sentence.id.clone(),
                text: Some(sentence.text.clone()),
                first,
                frames: sequence.frames,
                split,
            });
            first += sequence.frames;
        }
        let bump = ramp(ramp_frames);
        for (a_move, split) in moves.iter().filter(|_| ramp_frames > 0) {
            for &strength in &bump {
                let row = weights(a_move, strength, k);
                timeline.vertices.extend(self.stage.pose(&self.body, &row, [0.0; 3]));
                timeline.weights.extend(row);
            }
            timeline.segments.push(Segment {
                kind: "expression",
                name: a_move.name.clone(),
                text: None,
                first,
                frames: ramp_frames,
                split,
            });
            first += ramp_frames;
        }
        if !timeline.audio.is_empty() {
            timeline.audio.resize(sample_at(first, rate, fps), 0.0);
        }
        Ok(timeline)
    }
}
