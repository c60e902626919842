//! Phoneme timings for recorded speech with a transcript, by forced
//! alignment with PocketSphinx's US English acoustic model.
//!
//! # How
//! Each word of the transcript gets its pronunciations from the model's CMU
//! dictionary, or, for a word the dictionary lacks, from eSpeak NG's
//! letter-to-sound rules ([`crate::dataset::speech::phonemes`]) turned into
//! ARPAbet. The line becomes a JSGF grammar over phones: the words in order,
//! each as a choice of its pronunciations, with an optional pause between
//! words and at either end. The decoder's dictionary has one word per model
//! phone (`p_aa`, `p_b`, …, added with `ps_add_word`) and `pau` for silence,
//! so the Viterbi path through the grammar segments the audio phone by
//! phone, at the model's 10 ms frames, with triphone models across phone
//! boundaries.
//!
//! Why this and not the alternatives: this library (Debian's 0.8 /
//! 5prealpha) has no public alignment call. `ps_set_align` only arrived with
//! PocketSphinx 5.0; the state-alignment search it wraps
//! (`state_align_search_init`, `ps_alignment_*`) is exported here but needs
//! the decoder's private acoustic model and dictionary-to-phone tables,
//! reachable only through the layout of its private structs, and it cannot
//! place optional pauses. A grammar of real words would force the words
//! but report only word times. The phone grammar forces the exact phone
//! sequence through public calls and still finds pauses where the speaker
//! made them.
//!
//! Two quirks of this version shape the grammar: an optional word at the
//! very start is never taken (the search does not follow null transitions
//! out of its start state), so the first word is written both with and
//! without a leading pause; and fillers are turned off, so silence can only
//! fall between words, never inside one (a stop's closure stays part of the
//! stop).
//!
//! # When it refuses
//! A transcript that says something else than the audio mostly leaves the
//! search no path to the grammar's end ([`AlignError::NoFit`]). A transcript
//! that leaves words out does fit: the pauses swallow the speech it does
//! not name. So every aligned pause of [`PAUSE_MEASURED`] or more is
//! measured against the loudest 10 ms of the line, and one louder than
//! [`PAUSE_LIMITS`] allows for its length is refused as a mismatch. (A free phone loop's score was tried as the yardstick instead;
//! with this model its per-frame gap to the forced path overlapped between
//! right and wrong transcripts.) A word swapped for one that sounds alike
//! can still pass.

pub mod arpabet;
mod pocketsphinx;

use std::fmt;
use std::sync::Mutex;

use self::pocketsphinx::{Decoder, FRAME_LENGTH, FRAME_RATE, PAUSE, Path, SAMPLE_RATE, phone_word};
use super::speech::{Phone, Speech};

/// A word of the transcript and when it is spoken.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    /// The word as aligned (lower case).
    pub text: String,
    /// Start and end, in seconds from the start of the audio.
    pub start: f64,
    pub end: f64,
    /// Whether its pronunciation came from eSpeak NG's rules, not the dictionary.
    pub guessed: bool,
}

/// Phoneme and word timings of a recorded line.
#[derive(Clone, Debug, PartialEq)]
pub struct Alignment {
    /// The phonemes in eSpeak NG's English symbols, back to back from 0 to
    /// the end of the audio, with `_` for silence.
    pub phones: Vec<Phone>,
    /// The transcript's words, in order.
    pub words: Vec<Word>,
    /// The level of the loudest pause of at least [`PAUSE_MEASURED`]
    /// seconds, in dB below the loudest 10 ms of the line (at most
    /// its [`pause_limit`]); `None` without such a pause.
    pub loudest_pause: Option<f64>,
}

/// Why a line could not be aligned.
#[derive(Clone, Debug, PartialEq)]
pub enum AlignError {
    /// A library or the model is missing: what, and how to install it.
    Missing(String),
    /// The transcript has no words.
    NoWords,
    /// The transcript has a character that is neither a letter, an
    /// apostrophe, white space nor punctuation (digits included).
    UnknownCharacter(char),
    /// A word that neither the dictionary nor eSpeak NG could pronounce, and why.
    NoPronunciation(String, String),
    /// The audio has no samples.
    EmptyAudio,
    /// The audio is silent.
    Silent,
    /// No path through the transcript's grammar reaches its end: the
    /// transcript does not match the audio, or the audio is too short for it.
    NoFit,
    /// The transcript does not match the audio: a pause from `start` to
    /// `end` seconds is as loud as speech (`level` dB relative to the loudest
    /// 10 ms, above the `limit` for its length).
    Mismatch { start: f64, end: f64, level: f64, limit: f64 },
    /// Anything else, from the resampler or the decoder.
    Failed(String),
}

impl fmt::Display for AlignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlignError::Missing(what) | AlignError::Failed(what) => f.write_str(what),
            AlignError::NoWords => f.write_str("the transcript has no words"),
            AlignError::UnknownCharacter(c) if c.is_ascii_digit() => write!(
                f,
                "the transcript has the digit `{c}`; write numbers out as words, as they are spoken"
            ),
            AlignError::UnknownCharacter(c) => write!(
                f,
                "the transcript has the character `{c}` (U+{:04X}), which is not spoken",
                *c as u32
            ),
            AlignError::NoPronunciation(word, why) => write!(f, "no pronunciation for `{word}`: {why}"),
            AlignError::EmptyAudio => f.write_str("the audio is empty"),
            AlignError::Silent => write!(
                f,
                "the audio is silent (no 10 ms stretch louder than {SILENCE_DB} dBFS)"
            ),
            AlignError::NoFit => f.write_str(
                "no alignment of the transcript fits the audio: the transcript does not match it, or the audio is \
                 too short for it",
            ),
            AlignError::Mismatch { start, end, level, limit } => write!(
                f,
                "the transcript does not match the audio: it leaves sound from {start:.2} s to {end:.2} s unsaid \
                 (a pause there would be {level:.0} dB, louder than {limit} dB)"
            ),
        }
    }
}

impl std::error::Error for AlignError {}

/// How loud a pause may be, by its length: `(shortest, loudest)`, a pause
/// of at least `shortest` seconds may be at most `loudest` dB relative to
/// the loudest 10 ms of the line (the first row that applies). Measured on
/// the 544 Asterisk prompts with their right transcripts and on 30 with one
/// word left out: pauses of 0.5 s or more that swallow unsaid words lay at
/// −9.5 to −10 dB, right ones below −19 dB; shorter ones that swallow a
/// word lay at −5 to −8 dB, while right ones reached −9.1 dB in recordings
/// and −10.7 dB in eSpeak NG's speech (weak consonants taken as pause). With
/// these limits one right prompt of 544 is refused (its transcript has a
/// typo) and 10 of the 30 omissions (the rest hide in pauses shorter than
/// 0.1 s or as quiet as speech's weak sounds, and go unnoticed).
pub const PAUSE_LIMITS: [(f64, f64); 2] = [(0.5, -15.0), (0.1, -9.0)];

/// The shortest pause whose level is judged, in seconds.
pub const PAUSE_MEASURED: f64 = 0.1;

/// The loudest a pause `length` seconds long may be, from [`PAUSE_LIMITS`];
/// `None` for one too short to judge. A pause at either end of the line
/// (not `inner`) is judged by the first row only: a line's first or last
/// weak sound often merges into the silence around it.
pub fn pause_limit(length: f64, inner: bool) -> Option<f64> {
    let rows = if inner { &PAUSE_LIMITS[..] } else { &PAUSE_LIMITS[..1] };
    rows.iter().find(|(shortest, _)| length >= *shortest).map(|&(_, loudest)| loudest)
}

/// The level under which a 10 ms stretch of audio counts as silent, in dBFS.
const SILENCE_DB: f64 = -50.0;

/// The voice whose letter-to-sound rules pronounce words the dictionary lacks.
const GUESSING_VOICE: &str = "en-us";

/// The decoder, made on first use and kept: it is not thread-safe, so
/// alignments take turns.
static DECODER: Mutex<Option<Decoder>> = Mutex::new(None);

/// Aligns `transcript` to mono `samples` at `sample_rate`: the phonemes and
/// words with their times, or what went wrong.
pub fn align(samples: &[f32], sample_rate: u32, transcript: &str) -> Result<Alignment, AlignError> {
    let words = transcript_words(transcript)?;
    let pronunciations = words.iter().map(|w| pronounce(w)).collect::<Result<Vec<_>, _>>()?;
    let audio = model_audio(samples, sample_rate)?;
    let rule = grammar(&pronunciations.iter().map(|(p, _)| p.as_slice()).collect::<Vec<_>>());

    let mut decoder = DECODER.lock().unwrap_or_else(|e| e.into_inner());
    if decoder.is_none() {
        *decoder = Some(Decoder::open()?);
    }
    let decoder = decoder.as_mut().unwrap();
    let forced = decoder.force(&rule, &audio)?.ok_or(AlignError::NoFit)?;
    let (phones, words) = timings(&forced, &words, &pronunciations, &audio)?;
    let loudest_pause = loudest_pause(&phones, &audio)?;
    Ok(Alignment {
        phones,
        words,
        loudest_pause,
    })
}

/// The words of a transcript, in lower case. Letters and apostrophes make
/// words; white space and punctuation separate them; anything else is refused.
fn transcript_words(transcript: &str) -> Result<Vec<String>, AlignError> {
    let mut words = Vec::new();
    let mut word = String::new();
    for c in transcript.chars() {
        if c.is_alphabetic() || c == '\'' || c == '’' {
            word.extend(if c == '’' {
                '\''.to_lowercase()
            } else {
                c.to_lowercase()
            });
        } else if c.is_whitespace()
            || (c.is_ascii_punctuation() && !"#$%&*+<=>@\\^_`|~/".contains(c))
            || "–—…“”‘«»".contains(c)
        {
            words.push(std::mem::take(&mut word));
        } else {
            return Err(AlignError::UnknownCharacter(c));
        }
    }
    words.push(word);
    // Apostrophes that quote rather than elide.
    let words: Vec<String> = words
        .iter()
        .map(|w| w.trim_matches('\'').to_string())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(AlignError::NoWords);
    }
    Ok(words)
}

/// A word's pronunciations as ARPAbet phones, and whether they were guessed
/// by eSpeak NG's rules because the dictionary lacks the word.
fn pronounce(word: &str) -> Result<(Vec<Vec<String>>, bool), AlignError> {
    let dictionary =
        arpabet::dictionary().map_err(|e| AlignError::Missing(format!("PocketSphinx's dictionary is missing: {e}")))?;
    if let Some(pronunciations) = dictionary.get(word) {
        return Ok((pronunciations.clone(), false));
    }
    let no = |why: String| AlignError::NoPronunciation(word.into(), why);
    let symbols = super::speech::phonemes(word, GUESSING_VOICE).map_err(|e| no(e.to_string()))?;
    let mut phones = Vec::new();
    for symbol in symbols.iter().filter(|s| !s.starts_with('_')) {
        let arpabet = arpabet::from_espeak(symbol)
            .ok_or_else(|| no(format!("eSpeak NG's /{symbol}/ has no ARPAbet equivalent")))?;
        phones.extend(arpabet.iter().map(|p| p.to_string()));
    }
    if phones.is_empty() {
        return Err(no("eSpeak NG gave no phonemes".into()));
    }
    Ok((vec![phones], true))
}

/// The audio at the model's rate as 16-bit samples; refuses empty and silent audio.
fn model_audio(samples: &[f32], sample_rate: u32) -> Result<Vec<i16>, AlignError> {
    if samples.is_empty() {
        return Err(AlignError::EmptyAudio);
    }
    let at_rate = crate::audio::resample(&[samples.to_vec()], sample_rate, SAMPLE_RATE)
        .map_err(AlignError::Failed)?
        .remove(0);
    let audio: Vec<i16> = at_rate
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
        .collect();
    if db(loudest(&audio)) < SILENCE_DB {
        return Err(AlignError::Silent);
    }
    Ok(audio)
}

/// The root-mean-square level of 16-bit samples, relative to full scale.
fn rms(samples: &[i16]) -> f64 {
    let sum: f64 = samples.iter().map(|&s| (s as f64 / 32768.0).powi(2)).sum();
    (sum / samples.len().max(1) as f64).sqrt()
}

/// The level of the loudest 10 ms of 16 kHz audio.
fn loudest(audio: &[i16]) -> f64 {
    audio.chunks((SAMPLE_RATE / 100) as usize).map(rms).fold(0.0, f64::max)
}

/// A level in decibels.
fn db(level: f64) -> f64 {
    20.0 * level.max(1e-10).log10()
}

/// The level of the loudest pause of at least [`PAUSE_MEASURED`] seconds,
/// relative to the loudest 10 ms; a mismatch when above its [`pause_limit`].
fn loudest_pause(phones: &[Phone], audio: &[i16]) -> Result<Option<f64>, AlignError> {
    let reference = db(loudest(audio));
    let sample = |t: f64| ((t * SAMPLE_RATE as f64) as usize).min(audio.len());
    let mut loudest_pause: Option<f64> = None;
    let last = phones.len().saturating_sub(1);
    for (i, pause) in phones.iter().enumerate() {
        if pause.symbol != "_" || pause.end - pause.start < PAUSE_MEASURED {
            continue;
        }
        let level = db(rms(&audio[sample(pause.start)..sample(pause.end)])) - reference;
        let limit = pause_limit(pause.end - pause.start, i != 0 && i != last);
        if let Some(limit) = limit.filter(|&limit| level > limit) {
            return Err(AlignError::Mismatch {
                limit,
                start: pause.start,
                end: pause.end,
                level,
            });
        }
        loudest_pause = Some(loudest_pause.map_or(level, |l| l.max(level)));
    }
    Ok(loudest_pause)
}

/// The JSGF rule forcing the words in order, each as one of its
/// pronunciations, with optional pauses between them and at either end.
fn grammar(words: &[&[Vec<String>]]) -> String {
    let word = |pronunciations: &[Vec<String>]| {
        let choices: Vec<String> = pronunciations
            .iter()
            .map(|p| p.iter().map(|phone| phone_word(phone)).collect::<Vec<_>>().join(" "))
            .collect();
        format!("({})", choices.join(" | "))
    };
    let (first, rest) = words.split_first().expect("a transcript has words");
    let first = word(first);
    let mut rule = format!("public <line> = ({PAUSE} {first} | {first})");
    for w in rest {
        rule += &format!(" [{PAUSE}] {}", word(w));
    }
    rule + &format!(" [{PAUSE}];")
}

/// Phones and words from the forced path: which pronunciation each word
/// took is read back from the phone sequence.
fn timings(
    path: &Path,
    words: &[String],
    pronunciations: &[(Vec<Vec<String>>, bool)],
    audio: &[i16],
) -> Result<(Vec<Phone>, Vec<Word>), AlignError> {
    let spoken: Vec<&pocketsphinx::Segment> = path.segments.iter().filter(|s| s.word != PAUSE).collect();
    let arpabet: Vec<String> = spoken
        .iter()
        .map(|s| s.word.trim_start_matches("p_").to_uppercase())
        .collect();
    let unexpected = || {
        AlignError::Failed(format!(
            "PocketSphinx failed: its path {arpabet:?} is not the transcript's"
        ))
    };
    let lengths = split(&arpabet, pronunciations).ok_or_else(unexpected)?;
    let second = |frame: usize| boundary(frame);
    let duration = audio.len() as f64 / SAMPLE_RATE as f64;
    let mut aligned = Vec::with_capacity(words.len());
    let mut at = 0;
    for ((text, (_, guessed)), length) in words.iter().zip(pronunciations).zip(lengths) {
        aligned.push(Word {
            text: text.clone(),
            start: second(spoken[at].start),
            end: second(spoken[at + length - 1].end).min(duration),
            guessed: *guessed,
        });
        at += length;
    }
    let starts = path
        .segments
        .iter()
        .map(|s| {
            let symbol = match s.word.as_str() {
                PAUSE => "_",
                word => arpabet::espeak_symbol(&word.trim_start_matches("p_").to_uppercase()).ok_or_else(unexpected)?,
            };
            Ok((
                symbol.to_string(),
                (boundary(s.start) * SAMPLE_RATE as f64).round() as usize,
            ))
        })
        .collect::<Result<Vec<_>, AlignError>>()?;
    let phones = Speech::from_starts(audio, SAMPLE_RATE, starts)
        .ok_or(AlignError::NoFit)?
        .phones;
    Ok((phones, aligned))
}

/// The time, in seconds, of the boundary before analysis frame `frame`:
/// frame `f` looks at the audio from `f` × 10 ms for [`FRAME_LENGTH`], so
/// the boundary between two frames lies midway between their centres (the
/// first frame starts the audio).
fn boundary(frame: usize) -> f64 {
    if frame == 0 {
        return 0.0;
    }
    (frame as f64 - 0.5) / FRAME_RATE + FRAME_LENGTH / 2.0
}

/// How many phones of `phones` each word took: one pronunciation per word
/// that together spell `phones` exactly; `None` when none do.
fn split(phones: &[String], words: &[(Vec<Vec<String>>, bool)]) -> Option<Vec<usize>> {
    let Some(((pronunciations, _), rest)) = words.split_first() else {
        return phones.is_empty().then(Vec::new);
    };
    pronunciations.iter().find_map(|p| {
        let tail = phones.strip_prefix(p.as_slice())?;
        let mut lengths = split(tail, rest)?;
        lengths.insert(0, p.len());
        Some(lengths)
    })
}

#[cfg(test)]
mod tests;
