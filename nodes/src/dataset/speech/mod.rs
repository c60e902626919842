//! Speech with exact phoneme timings, from two engines loaded at run time:
//! eSpeak NG (voice names such as `en-us` or `en+f2`) and Flite (voice names
//! `flite:slt`, `flite:rms`, `flite:awb`, `flite:kal16`, `flite:kal`). Both
//! give each phoneme's start in the audio; phonemes are named with eSpeak
//! NG's English symbols whichever engine spoke, so the rest of the factory
//! sees one phone set.

mod espeak;
mod flite;

use std::fmt;
use std::sync::{Mutex, MutexGuard};

/// A voice and how it speaks.
#[derive(Clone, Debug, PartialEq)]
pub struct Voice {
    /// An eSpeak NG voice name with an optional variant (`en-us`, `en+f2`,
    /// `en-gb-scotland+m3`), or a Flite voice (`flite:slt`).
    pub name: String,
    /// Words per minute (80–450).
    pub rate: u32,
    /// Base pitch, 0–100 (50 is the voice's normal).
    pub pitch: u32,
    /// Pitch range (intonation), 0–100 (50 is normal).
    pub range: u32,
}

/// One phoneme and when it is spoken.
#[derive(Clone, Debug, PartialEq)]
pub struct Phone {
    /// eSpeak NG's name for it (`p`, `aI`, `_:` for a pause).
    pub symbol: String,
    /// Start, in seconds from the start of the audio.
    pub start: f64,
    /// End, in seconds (the next phoneme's start).
    pub end: f64,
}

/// Synthesised speech.
#[derive(Clone, Debug, PartialEq)]
pub struct Speech {
    /// Mono samples in [-1, 1] at the engine's own rate.
    pub samples: Vec<f32>,
    /// The engine's sample rate (22,050 Hz for eSpeak NG, 16,000 Hz for
    /// most Flite voices).
    pub sample_rate: u32,
    /// The phonemes, back to back from 0 to the end of the audio.
    pub phones: Vec<Phone>,
}

/// Why speech could not be made.
#[derive(Clone, Debug, PartialEq)]
pub enum SpeechError {
    /// An engine's library could not be loaded: what is missing and how to install it.
    Missing(String),
    /// No engine has this voice.
    UnknownVoice(String),
    /// Anything else an engine reported, with the engine's name first.
    Failed(String),
}

impl fmt::Display for SpeechError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpeechError::Missing(what) => f.write_str(what),
            SpeechError::UnknownVoice(name) if name.starts_with(flite::PREFIX) => write!(
                f,
                "Flite has no voice `{name}`; its voices are {}",
                flite::VOICES.map(|v| format!("{}{v}", flite::PREFIX)).join(", ")
            ),
            SpeechError::UnknownVoice(name) => write!(
                f,
                "eSpeak NG has no voice `{name}`; use a name from `espeak-ng --voices=en` (en, en-us, \
                 en-gb-scotland, en-gb-x-rp, en-029, …), optionally with a variant such as +m3 or +f2, \
                 or a Flite voice such as {}slt",
                flite::PREFIX
            ),
            SpeechError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for SpeechError {}

unsafe extern "C" {
    /// The C library's seed for `rand`.
    fn srand(seed: std::ffi::c_uint);
}

/// Held while either engine speaks: neither is thread-safe, and both draw
/// noise from the C library's one `rand`.
static SPEAKING: Mutex<()> = Mutex::new(());

/// Proof that [`SPEAKING`] is held, which the engines ask for.
type Speaking<'a> = MutexGuard<'a, ()>;

/// Seeds the C library's `rand`, which both engines draw noise from (eSpeak
/// NG's breath noise, Flite's mixed excitation), the same way before every
/// utterance, so that an utterance depends only on its text and voice.
fn seed_noise() {
    // SAFETY: srand only sets the C library's generator state.
    unsafe { srand(1) }
}

/// What an engine says when it made no sound (an empty text).
const NOTHING_SPOKEN: &str = "no speech came out (is the text empty?)";

/// Speaks `text` with `voice` (Flite's when the name starts with `flite:`,
/// else eSpeak NG's), returning the audio and its phonemes.
pub fn speak(text: &str, voice: &Voice) -> Result<Speech, SpeechError> {
    let _speaking = SPEAKING.lock().unwrap_or_else(|e| e.into_inner());
    match voice.name.strip_prefix(flite::PREFIX) {
        Some(name) => flite::speak(text, name, voice, &_speaking),
        None => espeak::speak(text, voice, &_speaking),
    }
}

/// eSpeak NG's phonemes for `text` as the eSpeak NG voice `voice` would say
/// it (its symbols, stress marks removed): its pronunciation of words no
/// dictionary lists.
pub fn phonemes(text: &str, voice: &str) -> Result<Vec<String>, SpeechError> {
    let _speaking = SPEAKING.lock().unwrap_or_else(|e| e.into_inner());
    espeak::phonemes(text, voice, &_speaking)
}

impl Speech {
    /// Speech from 16-bit samples and the sample at which each phoneme
    /// starts, in order: the phones tile the audio from 0 to its end (a pause
    /// `_` fills any silence before the first one). `None` when there is
    /// no sound or no phoneme.
    pub(crate) fn from_starts(samples: &[i16], sample_rate: u32, mut starts: Vec<(String, usize)>) -> Option<Speech> {
        let total = samples.len();
        if total == 0 || starts.is_empty() {
            return None;
        }
        if starts[0].1 > 0 {
            starts.insert(0, ("_".into(), 0));
        }
        let seconds = |sample: usize| sample.min(total) as f64 / sample_rate as f64;
        let phones: Vec<Phone> = starts
            .iter()
            .enumerate()
            .map(|(i, (symbol, start))| Phone {
                symbol: symbol.clone(),
                start: seconds(*start),
                end: seconds(starts.get(i + 1).map_or(total, |next| next.1)),
            })
            .filter(|p| p.end > p.start)
            .collect();
        Some(Speech {
            samples: samples.iter().map(|&s| s as f32 / 32768.0).collect(),
            sample_rate,
            phones,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that the phones of `speech` tile its audio: the first starts at
    /// 0, each ends where the next starts, none is empty, and the last ends
    /// with the audio.
    pub(super) fn assert_phones_tile(speech: &Speech) {
        let duration = speech.samples.len() as f64 / speech.sample_rate as f64;
        assert_eq!(speech.phones.first().unwrap().start, 0.0);
        assert!((speech.phones.last().unwrap().end - duration).abs() < 1e-9);
        assert!(
            speech
                .phones
                .windows(2)
                .all(|w| w[0].end == w[1].start && w[0].start < w[0].end)
        );
    }

    /// The root-mean-square level of the audio of `speech` from `from` to `to` seconds.
    pub(super) fn rms(speech: &Speech, from: f64, to: f64) -> f32 {
        let at = |t: f64| ((t * speech.sample_rate as f64) as usize).min(speech.samples.len());
        let samples = &speech.samples[at(from)..at(to)];
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
    }

    #[test]
    fn phones_tile_the_audio_from_their_starts() {
        let starts = vec![("p".to_string(), 4), ("A:".to_string(), 6), ("_".to_string(), 10)];
        let speech = Speech::from_starts(&[0; 10], 10, starts).unwrap();
        let spans: Vec<(&str, f64, f64)> = speech
            .phones
            .iter()
            .map(|p| (p.symbol.as_str(), p.start, p.end))
            .collect();
        // A pause fills the start, and a phone starting at the very end has no length.
        assert_eq!(spans, [("_", 0.0, 0.4), ("p", 0.4, 0.6), ("A:", 0.6, 1.0)]);
        assert_eq!(Speech::from_starts(&[], 10, vec![("p".into(), 0)]), None);
    }

    #[test]
    fn unknown_voices_are_named_with_their_engine_s_choices() {
        let espeak = SpeechError::UnknownVoice("xx".into()).to_string();
        assert!(espeak.starts_with("eSpeak NG has no voice `xx`"), "{espeak}");
        let flite = SpeechError::UnknownVoice("flite:zz".into()).to_string();
        assert!(
            flite.contains("Flite has no voice `flite:zz`") && flite.contains("flite:slt"),
            "{flite}"
        );
    }
}
