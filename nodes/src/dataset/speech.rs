//! Speech with exact phoneme timings from eSpeak NG's library.
//!
//! The library is loaded at run time (`libespeak-ng.so.1`, or the file named
//! by `GSPEECH_ESPEAK_LIB`), so the project builds and runs without it and
//! only speech synthesis asks for it. Synthesis is synchronous: eSpeak calls
//! back with audio and with phoneme events that carry the sample where each
//! phoneme starts.
//!
//! eSpeak keeps state between utterances in static variables (glottal phase,
//! noise and pitch-flutter positions), so the same text would sound slightly
//! different depending on what was said before. To make each utterance depend
//! only on its own text and voice, every call loads a fresh copy of the
//! library and unloads it afterwards (about 15 ms), and seeds the C library's
//! `rand`, which eSpeak NG 1.51 uses for breath noise, with the same value.
//! Calls are serialised because eSpeak is not thread-safe.

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int, c_uint, c_void};
use std::fmt;
use std::sync::Mutex;

use libloading::{Library, Symbol};

/// A voice and how it speaks.
#[derive(Clone, Debug, PartialEq)]
pub struct Voice {
    /// An eSpeak NG voice name with an optional variant: `en-us`, `en+f2`, `en-gb-scotland+m3`.
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
    /// eSpeak's name for it (`p`, `aI`, `_:` for a pause).
    pub symbol: String,
    /// Start, in seconds from the start of the audio.
    pub start: f64,
    /// End, in seconds (the next phoneme's start).
    pub end: f64,
}

/// Synthesised speech.
#[derive(Clone, Debug, PartialEq)]
pub struct Speech {
    /// Mono samples in [-1, 1] at eSpeak's own rate.
    pub samples: Vec<f32>,
    /// eSpeak's sample rate (22,050 Hz for its voices).
    pub sample_rate: u32,
    /// The phonemes, back to back from 0 to the end of the audio.
    pub phones: Vec<Phone>,
}

/// Why speech could not be made.
#[derive(Clone, Debug, PartialEq)]
pub enum SpeechError {
    /// The library could not be loaded.
    Missing(String),
    /// eSpeak NG has no such voice.
    UnknownVoice(String),
    /// Anything else eSpeak reported.
    Failed(String),
}

impl fmt::Display for SpeechError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpeechError::Missing(why) => write!(
                f,
                "eSpeak NG's library is not available ({why}); install it (Debian and Ubuntu: \
                 `apt install espeak-ng`) or set GSPEECH_ESPEAK_LIB to the library's path"
            ),
            SpeechError::UnknownVoice(name) => write!(
                f,
                "eSpeak NG has no voice `{name}`; use a name from `espeak-ng --voices=en` (en, en-us, \
                 en-gb-scotland, en-gb-x-rp, en-029, …), optionally with a variant such as +m3 or +f2"
            ),
            SpeechError::Failed(why) => write!(f, "eSpeak NG failed: {why}"),
        }
    }
}

impl std::error::Error for SpeechError {}

/// The library file names tried, most specific first.
const LIBRARY_NAMES: [&str; 5] = [
    "libespeak-ng.so.1",
    "libespeak-ng.so",
    "libespeak-ng.1.dylib",
    "libespeak-ng.dylib",
    "libespeak-ng.dll",
];

/// `espeak_AUDIO_OUTPUT::AUDIO_OUTPUT_SYNCHRONOUS`.
const SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_PHONEME_EVENTS`.
const PHONEME_EVENTS: c_int = 0x0001;
/// `espeakINITIALIZE_DONT_EXIT`: report missing data instead of exiting the process.
const DONT_EXIT: c_int = 0x8000;
/// `espeakEVENT_PHONEME`.
const EVENT_PHONEME: c_int = 7;
/// `espeak_POSITION_TYPE::POS_CHARACTER`.
const POS_CHARACTER: c_int = 1;
/// `espeakCHARS_UTF8`.
const CHARS_UTF8: c_uint = 1;
/// `espeak_PARAMETER` values.
const RATE: c_int = 1;
const PITCH: c_int = 3;
const RANGE: c_int = 4;
/// `espeak_ERROR::EE_NOT_FOUND`.
const NOT_FOUND: c_int = 2;

/// `espeak_EVENT` from `speak_lib.h`.
#[repr(C)]
struct Event {
    kind: c_int,
    unique_identifier: c_uint,
    text_position: c_int,
    length: c_int,
    audio_position: c_int,
    sample: c_int,
    user_data: *mut c_void,
    /// A union; for phoneme events, the name as up to 8 UTF-8 bytes.
    id: [u8; 8],
}

type Callback = unsafe extern "C" fn(*mut i16, c_int, *mut Event) -> c_int;

/// What the callback collects during one synthesis (on the calling thread).
#[derive(Default)]
struct Collected {
    samples: Vec<i16>,
    phones: Vec<(String, usize)>,
}

thread_local! {
    static COLLECTED: RefCell<Collected> = RefCell::default();
}

static ESPEAK: Mutex<()> = Mutex::new(());

/// The seed given to the C library's `rand` before every utterance.
const NOISE_SEED: c_uint = 1;

unsafe extern "C" {
    /// The C library's seed for `rand`, which eSpeak NG's breath noise draws from.
    fn srand(seed: c_uint);
}

unsafe extern "C" fn collect(wav: *mut i16, count: c_int, events: *mut Event) -> c_int {
    COLLECTED.with_borrow_mut(|c| {
        if !wav.is_null() && count > 0 {
            // SAFETY: eSpeak passes `count` valid samples at `wav`.
            c.samples
                .extend_from_slice(unsafe { std::slice::from_raw_parts(wav, count as usize) });
        }
        let mut event = events;
        // SAFETY: eSpeak passes an event list terminated by an event of kind 0.
        while !event.is_null() && unsafe { (*event).kind } != 0 {
            let e = unsafe { &*event };
            if e.kind == EVENT_PHONEME {
                let len = e.id.iter().position(|&b| b == 0).unwrap_or(8);
                let name = String::from_utf8_lossy(&e.id[..len]).into_owned();
                c.phones.push((name, e.sample.max(0) as usize));
            }
            event = unsafe { event.add(1) };
        }
    });
    0
}

/// Whether eSpeak NG's library can be loaded, and which file it is.
pub fn library() -> Result<String, SpeechError> {
    open().map(|(_, name)| name)
}

fn open() -> Result<(Library, String), SpeechError> {
    let names: Vec<String> = match std::env::var("GSPEECH_ESPEAK_LIB") {
        Ok(path) if !path.is_empty() => vec![path],
        _ => LIBRARY_NAMES.iter().map(|n| n.to_string()).collect(),
    };
    let mut last = String::new();
    for name in names {
        // SAFETY: eSpeak NG's initialisers only set up its own state.
        match unsafe { Library::new(&name) } {
            Ok(lib) => return Ok((lib, name)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(SpeechError::Missing(last))
}

/// Speaks `text` with `voice`, returning the audio and its phonemes.
pub fn speak(text: &str, voice: &Voice) -> Result<Speech, SpeechError> {
    let text = CString::new(text).map_err(|_| SpeechError::Failed("the text contains a NUL character".into()))?;
    let name = CString::new(voice.name.as_str()).map_err(|_| SpeechError::UnknownVoice(voice.name.clone()))?;
    let _serial = ESPEAK.lock().unwrap_or_else(|e| e.into_inner());
    let (lib, _) = open()?;
    let missing = |e: libloading::Error| SpeechError::Missing(e.to_string());
    // SAFETY: the signatures are those of speak_lib.h; the library stays loaded
    // until every call below has returned.
    let sample_rate = unsafe {
        let initialize: Symbol<unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int> =
            lib.get(b"espeak_Initialize\0").map_err(missing)?;
        let set_callback: Symbol<unsafe extern "C" fn(Callback)> =
            lib.get(b"espeak_SetSynthCallback\0").map_err(missing)?;
        let set_voice: Symbol<unsafe extern "C" fn(*const c_char) -> c_int> =
            lib.get(b"espeak_SetVoiceByName\0").map_err(missing)?;
        let set_parameter: Symbol<unsafe extern "C" fn(c_int, c_int, c_int) -> c_int> =
            lib.get(b"espeak_SetParameter\0").map_err(missing)?;
        type Synth = unsafe extern "C" fn(
            *const c_void,
            usize,
            c_uint,
            c_int,
            c_uint,
            c_uint,
            *mut c_uint,
            *mut c_void,
        ) -> c_int;
        let synth: Symbol<Synth> = lib.get(b"espeak_Synth\0").map_err(missing)?;
        let synchronize: Symbol<unsafe extern "C" fn() -> c_int> = lib.get(b"espeak_Synchronize\0").map_err(missing)?;
        let terminate: Symbol<unsafe extern "C" fn() -> c_int> = lib.get(b"espeak_Terminate\0").map_err(missing)?;

        let rate = initialize(SYNCHRONOUS, 0, std::ptr::null(), PHONEME_EVENTS | DONT_EXIT);
        if rate <= 0 {
            return Err(SpeechError::Failed(
                "it could not start; is its data (espeak-ng-data) installed?".into(),
            ));
        }
        set_callback(collect);
        let result = (|| {
            match set_voice(name.as_ptr()) {
                0 => {}
                NOT_FOUND => return Err(SpeechError::UnknownVoice(voice.name.clone())),
                code => {
                    return Err(SpeechError::Failed(format!(
                        "selecting voice `{}` gave error {code}",
                        voice.name
                    )));
                }
            }
            for (parameter, value) in [(RATE, voice.rate), (PITCH, voice.pitch), (RANGE, voice.range)] {
                set_parameter(parameter, value as c_int, 0);
            }
            COLLECTED.with_borrow_mut(|c| *c = Collected::default());
            srand(NOISE_SEED);
            let bytes = text.as_bytes_with_nul();
            let code = synth(
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                POS_CHARACTER,
                0,
                CHARS_UTF8,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            if code != 0 {
                return Err(SpeechError::Failed(format!("synthesis gave error {code}")));
            }
            synchronize();
            Ok(())
        })();
        terminate();
        result?;
        rate as u32
    };
    drop(lib);
    timed_phones(COLLECTED.take(), sample_rate)
}

/// Turns collected samples and phoneme starts into back-to-back phones.
fn timed_phones(collected: Collected, sample_rate: u32) -> Result<Speech, SpeechError> {
    let total = collected.samples.len();
    if total == 0 || collected.phones.is_empty() {
        return Err(SpeechError::Failed("no speech came out (is the text empty?)".into()));
    }
    let mut starts = collected.phones;
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
    Ok(Speech {
        samples: collected.samples.iter().map(|&s| s as f32 / 32768.0).collect(),
        sample_rate,
        phones,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voice(name: &str) -> Voice {
        Voice {
            name: name.into(),
            rate: 160,
            pitch: 50,
            range: 50,
        }
    }

    fn rms(samples: &[f32]) -> f32 {
        (samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32).sqrt()
    }

    #[test]
    fn phonemes_tile_the_audio_and_match_its_loudness() {
        let speech = speak("Papa bought a map.", &voice("en-us")).unwrap();
        assert_eq!(speech.sample_rate, 22_050);
        let duration = speech.samples.len() as f64 / 22_050.0;
        assert_eq!(speech.phones.first().unwrap().start, 0.0);
        assert!((speech.phones.last().unwrap().end - duration).abs() < 1e-9);
        assert!(
            speech
                .phones
                .windows(2)
                .all(|w| w[0].end == w[1].start && w[0].start < w[0].end)
        );
        // A pause fills the silence before the first phoneme.
        assert_eq!(speech.phones[0].symbol, "_");
        let spoken: Vec<&Phone> = speech.phones.iter().filter(|p| !p.symbol.starts_with('_')).collect();
        let symbols: Vec<&str> = spoken.iter().map(|p| p.symbol.as_str()).collect();
        assert!(symbols.starts_with(&["p", "A:", "p", "@"]), "{symbols:?}");
        // Independently of eSpeak's events, the audio itself says where sound is:
        // vowels are loud, and the closure of a stop (its first half) is near silence.
        let span = |p: &Phone, from: f64, to: f64| {
            let (a, b) = (p.start + (p.end - p.start) * from, p.start + (p.end - p.start) * to);
            &speech.samples[(a * 22_050.0) as usize..(b * 22_050.0) as usize]
        };
        let vowel = rms(span(spoken[1], 0.2, 0.8));
        let closure = rms(span(spoken[2], 0.0, 0.5));
        assert!(vowel > 0.05, "the vowel is loud: {vowel}");
        assert!(closure < vowel / 5.0, "the p closure is quiet: {closure} vs {vowel}");
    }

    #[test]
    fn the_same_utterance_is_identical_whatever_came_before() {
        let first = speak("The birch canoe slid on the smooth planks.", &voice("en+f2")).unwrap();
        speak(
            "Glue the sheet to the dark blue background.",
            &voice("en-gb-scotland+m3"),
        )
        .unwrap();
        let again = speak("The birch canoe slid on the smooth planks.", &voice("en+f2")).unwrap();
        assert_eq!(first, again);
    }

    #[test]
    fn an_unknown_voice_is_named() {
        let err = speak("Hello.", &voice("xx-nowhere")).unwrap_err();
        assert_eq!(err, SpeechError::UnknownVoice("xx-nowhere".into()));
        assert!(err.to_string().contains("eSpeak NG has no voice `xx-nowhere`"));
    }
}
