//! One captured sequence: a sentence spoken by a speaker, turned into audio,
//! blendshape weights, head motion and vertices.

use gspeech_sdk::NodeError;
use serde_json::{Value as Json, json};

use super::coarticulation::{Param, Segment, trajectory};
use super::head::NeckRig;
use super::prosody::{Liveliness, UPPER_SHAPES, analyse, upper_face};
use super::random::Rng;
use super::speech::{Phone, Speech, SpeechError, Voice, speak};
use super::visemes::{MOUTH_SHAPES, lookup, mouth_weights, segments};
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
    /// Whether they speak recorded lines, not an engine's voice.
    pub recorded: bool,
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
            recorded: false,
        }
    }

    /// The speaker as JSON metadata.
    pub fn to_json(&self) -> Json {
        json!({
            "id": self.id, "voice": self.voice, "rate": self.rate, "pitch": self.pitch, "range": self.range,
            "articulation": self.articulation, "expressivity": self.expressivity, "smile": self.smile,
            "identity": self.identity, "held_out": self.held_out, "recorded": self.recorded,
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
    /// Longest silence before and after the speech, seconds; each sequence
    /// draws both ends from 0 to this.
    pub silence: f64,
    /// Longest pause inside a sentence, seconds; each draws from
    /// [`SHORTEST_PAUSE`] to this.
    pub pause: f64,
    /// The chance of a pause at a word boundary without punctuation (after
    /// punctuation there is always one).
    pub phrase_pauses: f64,
    /// Loudest level of the room tone under the whole sequence, dBFS RMS;
    /// each sequence draws its level from 12 dB below this up to it.
    pub room_tone: f64,
}

impl Default for Settings {
    /// The factory's defaults (`dataset.synthesize`'s parameters): 25 fps,
    /// 16 kHz, 165 words a minute, up to 1.5 s of silence at each end.
    fn default() -> Settings {
        Settings {
            fps: 25.0,
            sample_rate: 16_000,
            rate: 165,
            rate_jitter: 0.1,
            pitch: 50,
            pitch_jitter: 8,
            identity_scale: 0.5,
            blinks_per_minute: 17.0,
            head_motion: 1.0,
            silence: 1.5,
            pause: 0.6,
            phrase_pauses: 0.05,
            room_tone: -55.0,
        }
    }
}

impl Settings {
    /// The settings as JSON metadata.
    pub fn to_json(&self) -> Json {
        json!({
            "fps": self.fps, "sample_rate": self.sample_rate, "rate": self.rate, "rate_jitter": self.rate_jitter,
            "pitch": self.pitch, "pitch_jitter": self.pitch_jitter, "identity_scale": self.identity_scale,
            "blinks_per_minute": self.blinks_per_minute, "head_motion": self.head_motion,
            "silence": self.silence, "pause": self.pause, "phrase_pauses": self.phrase_pauses,
            "room_tone": self.room_tone,
        })
    }
}

/// The rig expressions an ICT-FaceKit expression name (`mouthSmile_L`) drives,
/// each with its factor: the name itself, its ARKit spelling
/// (`mouthSmileLeft`), or an unsided shape shared by both sides (`browInnerUp`,
/// each side driving it by half); `None` when the rig has none of these.
pub fn resolve_expression(rig: &FaceRig, name: &str) -> Option<Vec<(usize, f32)>> {
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
        let resolve = |name: &str| resolve_expression(rig, name);
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

    /// Sets `row`, the rig's expression weights, from the mouth weights (in
    /// [`MOUTH_SHAPES`] order), the upper face's (in [`UPPER_SHAPES`] order)
    /// and a resting smile, each clamped to [0, 1].
    pub fn drive(&self, row: &mut [f32], mouth: &[f32], upper: &[f32], smile: f32) {
        row.fill(0.0);
        for (value, targets) in mouth.iter().chain(upper).zip(&self.targets) {
            for &(i, factor) in targets {
                row[i] += value * factor;
            }
        }
        for &(i, factor) in &self.smile {
            row[i] += smile * factor;
        }
        row.iter_mut().for_each(|w| *w = w.clamp(0.0, 1.0));
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
    /// The voice as spoken (after jitter), when an engine spoke.
    pub voice: Option<Voice>,
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

    /// A speaker's face at rest on the stored vertices, head unturned: their
    /// identity with the mouth as in a pause (lightly closed lips) and their
    /// resting smile. The stored `template`: in silence with closed lips the
    /// face is this, so its offsets from it are zero.
    pub fn rest_face(&self, driver: &Driver, speaker: &Speaker, body: &Body) -> Vec<f32> {
        let pause = lookup("_").expect("pauses have a shape").first.targets;
        let articulation = pause.map(|t| t.map_or(0.0, |t| t.value));
        let mouth = mouth_weights(&articulation, speaker.articulation);
        let mut weights = vec![0f32; self.rig.expression_names.len()];
        driver.drive(&mut weights, &mouth, &[0.0; UPPER_SHAPES.len()], speaker.smile);
        let mut face = body.rest.clone();
        add_shapes(&mut face, &self.expressions, &weights);
        face
    }

    /// A speaker's stored vertices with the rig's expression `weights` and
    /// the head turned by `head` (axis-angle, radians).
    pub fn pose(&self, body: &Body, weights: &[f32], head: [f32; 3]) -> Vec<f32> {
        let mut posed = body.rest.clone();
        add_shapes(&mut posed, &self.expressions, weights);
        body.neck.apply(&mut posed, head);
        posed
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
        let lead = rng.range(0.0, settings.silence);
        let trail = rng.range(0.0, settings.silence);
        let phrases = phrases(text, settings.phrase_pauses, rng);
        let gaps: Vec<f64> = (1..phrases.len())
            .map(|_| rng.range(SHORTEST_PAUSE, settings.pause.max(SHORTEST_PAUSE)))
            .collect();
        let speech = speak_phrases(&phrases, &voice, lead, &gaps, trail)
            .map_err(|e| NodeError::param("voices", e.to_string()))?;
        let mut samples = resample(
            std::slice::from_ref(&speech.samples),
            speech.sample_rate,
            settings.sample_rate,
        )
        .map_err(NodeError::other)?
        .remove(0);
        add_room_tone(&mut samples, settings.room_tone - rng.range(0.0, 12.0), rng);
        let speech = Speech {
            samples,
            sample_rate: settings.sample_rate,
            phones: speech.phones,
        };
        let mut sequence = self.animate(driver, speaker, body, speech, settings, rng)?;
        sequence.voice = Some(voice);
        Ok(sequence)
    }

    /// Animates speech whose phonemes are known (spoken by an engine, or a
    /// recording aligned to its transcript): the mouth from the phonemes, the
    /// upper face and head from the audio's prosody, as `speaker` (whose body
    /// is from [`Stage::body`]) would move. The speech must be at the
    /// dataset's sample rate.
    pub fn animate(
        &self,
        driver: &Driver,
        speaker: &Speaker,
        body: &Body,
        speech: Speech,
        settings: &Settings,
        rng: &mut Rng,
    ) -> Result<Sequence, NodeError> {
        debug_assert_eq!(speech.sample_rate, settings.sample_rate);
        let audio = speech.samples;
        let frames = frame_count(audio.len(), settings.sample_rate as f64, settings.fps);
        if frames == 0 {
            return Err(NodeError::other("the speech is shorter than one frame"));
        }
        let times: Vec<f64> = (0..frames).map(|i| i as f64 / settings.fps).collect();
        let (mut segments, visemes, unknown) = segments(&speech.phones);
        rest_in_pauses(&mut segments, &speech.phones, rng);
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
            driver.drive(row, &mouth, &upper.weights[f], speaker.smile);
        }

        let mut vertices = Vec::with_capacity(frames * body.rest.len());
        for (row, &head) in weights.chunks_exact(k).zip(&upper.head) {
            vertices.extend_from_slice(&self.pose(body, row, head));
        }
        Ok(Sequence {
            audio,
            weights,
            head: upper.head,
            vertices,
            frames,
            voice: None,
            phones: speech.phones.into_iter().zip(visemes).collect(),
            blinks: upper.blinks,
            unknown,
        })
    }
}

/// The shortest pause inside a sentence, seconds.
pub const SHORTEST_PAUSE: f64 = 0.1;
/// Pauses at least this long (seconds) let the mouth settle into a rest pose.
const RESTING_PAUSE: f64 = 0.25;
/// The chance that a resting mouth is slightly parted rather than closed.
const PARTED_REST: f64 = 0.4;

/// `text` cut where the speaker pauses: after words ending in clause
/// punctuation (`, ; : . ! ?`) or dashes, and after any other word with chance
/// `phrase_pauses`; never after the last word, nor into a phrase without a
/// letter.
pub fn phrases(text: &str, phrase_pauses: f64, rng: &mut Rng) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    let mut phrase: Vec<&str> = Vec::new();
    for (i, &word) in words.iter().enumerate() {
        phrase.push(word);
        let punctuated = word.ends_with([',', ';', ':', '.', '!', '?', '-', '–', '—']);
        let pause = punctuated || rng.uniform() < phrase_pauses;
        let spoken = phrase.iter().any(|w| w.chars().any(char::is_alphabetic));
        if pause && spoken && i + 1 < words.len() {
            out.push(phrase.join(" "));
            phrase.clear();
        }
    }
    if !phrase.is_empty() {
        out.push(phrase.join(" "));
    }
    out
}

/// Speaks each phrase with `voice` and joins them into one utterance: `lead`
/// seconds of silence, the phrases with `gaps[i]` seconds between phrase `i`
/// and the next, and `trail` seconds after. The phones tile it, each stretch
/// of silence (the engines' own included) one `_` pause.
pub fn speak_phrases(
    phrases: &[String],
    voice: &Voice,
    lead: f64,
    gaps: &[f64],
    trail: f64,
) -> Result<Speech, SpeechError> {
    if phrases.is_empty() {
        return Err(SpeechError::Failed("there are no words to speak".into()));
    }
    let spoken = phrases
        .iter()
        .map(|p| speak(p, voice))
        .collect::<Result<Vec<_>, _>>()?;
    let rate = spoken[0].sample_rate;
    let mut samples: Vec<f32> = Vec::new();
    let mut phones: Vec<Phone> = Vec::new();
    let silence = |samples: &mut Vec<f32>, phones: &mut Vec<Phone>, seconds: f64| {
        let start = samples.len();
        samples.resize(start + (seconds * rate as f64).round() as usize, 0.0);
        phones.push(Phone {
            symbol: "_".into(),
            start: start as f64 / rate as f64,
            end: samples.len() as f64 / rate as f64,
        });
    };
    silence(&mut samples, &mut phones, lead);
    for (i, speech) in spoken.into_iter().enumerate() {
        if i > 0 {
            silence(&mut samples, &mut phones, gaps[i - 1]);
        }
        let offset = samples.len() as f64 / rate as f64;
        phones.extend(speech.phones.into_iter().map(|p| Phone {
            start: p.start + offset,
            end: p.end + offset,
            ..p
        }));
        samples.extend(speech.samples);
    }
    silence(&mut samples, &mut phones, trail);
    Ok(Speech {
        samples,
        sample_rate: rate,
        phones: tile(phones),
    })
}

/// Phones that follow each other without gaps or overlaps (each starts where
/// the one before ended), empty ones dropped and neighbouring pauses merged
/// into one `_`.
fn tile(phones: Vec<Phone>) -> Vec<Phone> {
    let mut out: Vec<Phone> = Vec::with_capacity(phones.len());
    for phone in phones.into_iter().filter(|p| p.end > p.start) {
        match out.last_mut() {
            Some(last) if last.symbol.starts_with('_') && phone.symbol.starts_with('_') => {
                last.symbol = "_".into();
                last.end = phone.end;
            }
            Some(last) => {
                let start = last.end;
                out.push(Phone { start, ..phone });
            }
            None => out.push(phone),
        }
    }
    out
}

/// Adds a microphone's room tone to `audio`: white noise with a low rumble
/// (a one-pole low-pass of the same noise), at `level` dBFS RMS.
fn add_room_tone(audio: &mut [f32], level: f64, rng: &mut Rng) {
    let mut rumble = 0.0;
    let noise: Vec<f64> = audio
        .iter()
        .map(|_| {
            let white = rng.normal();
            rumble = 0.98 * rumble + 0.2 * white;
            0.5 * white + rumble
        })
        .collect();
    let rms = (noise.iter().map(|n| n * n).sum::<f64>() / noise.len().max(1) as f64).sqrt();
    if rms > 0.0 {
        let scale = 10f64.powf(level / 20.0) / rms;
        for (a, n) in audio.iter_mut().zip(noise) {
            *a += (n * scale) as f32;
        }
    }
}

/// Lets the mouth settle in each pause of at least [`RESTING_PAUSE`]: the
/// pause's own lightly closed lips, or with chance [`PARTED_REST`] slightly
/// parted lips and jaw, drawn for each pause.
fn rest_in_pauses(segments: &mut [Segment], phones: &[Phone], rng: &mut Rng) {
    let resting = phones
        .iter()
        .filter(|p| p.symbol.starts_with('_') && p.end - p.start >= RESTING_PAUSE);
    for pause in resting {
        if rng.uniform() >= PARTED_REST {
            continue;
        }
        let (jaw, open) = (rng.range(0.08, 0.22) as f32, rng.range(0.3, 0.7) as f32);
        for segment in segments.iter_mut().filter(|s| s.start == pause.start && s.end == pause.end) {
            for (param, value) in [(Param::Jaw, jaw), (Param::Open, open)] {
                if let Some(target) = &mut segment.targets[param as usize] {
                    target.value = value;
                }
            }
        }
    }
}
