//! eSpeak NG through its library: phoneme events carry the sample where each
//! phoneme starts.
//!
//! The library is loaded at run time (`libespeak-ng.so.1`, or the file named
//! by `GSPEECH_ESPEAK_LIB`), so the project builds and runs without it and
//! only speech synthesis asks for it. Synthesis is synchronous: eSpeak calls
//! back with audio and with phoneme events.
//!
//! eSpeak keeps state between utterances in static variables (glottal phase,
//! noise and pitch-flutter positions), so the same text would sound slightly
//! different depending on what was said before. To make each utterance depend
//! only on its own text and voice, every call loads a fresh copy of the
//! library and unloads it afterwards (about 15 ms), and its breath noise is
//! seeded the same way every time ([`seed_noise`]).
//! Calls are serialised by [`super::speak`].

use std::cell::RefCell;
use std::ffi::{CString, c_char, c_int, c_uint, c_void};

use libloading::{Library, Symbol};

use super::{NOTHING_SPOKEN, Speaking, Speech, SpeechError, Voice, seed_noise};

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
/// `espeak_TextToPhonemes` mode: eSpeak's symbols, a space between phonemes.
const PHONEMES_SPACED: c_int = (b' ' as c_int) << 8;
/// `espeak_ERROR::EE_NOT_FOUND`.
const NOT_FOUND: c_int = 2;

/// `espeak_VOICE` from `speak_lib.h`: a voice, or a filter for listing them.
#[repr(C)]
struct VoiceSpec {
    name: *const c_char,
    languages: *const c_char,
    identifier: *const c_char,
    gender: u8,
    age: u8,
    variant: u8,
    internal: u8,
    score: c_int,
    spare: *mut c_void,
}

/// `espeak_ListVoices`.
type ListVoices = unsafe extern "C" fn(*const VoiceSpec) -> *const *const VoiceSpec;

/// The voice eSpeak NG ranks first for a language such as `en-gb`, keeping a
/// variant (`en-gb+m3` → `gmw/en+m3`); `None` when no voice speaks it.
///
/// `espeak-ng -v` falls back the same way for a name that is no voice's, but
/// drops the variant.
///
/// # Safety
/// `list` is eSpeak NG's `espeak_ListVoices`, after `espeak_Initialize`.
unsafe fn voice_for_language(list: ListVoices, name: &str) -> Option<CString> {
    let (language, variant) = match name.split_once('+') {
        Some((language, variant)) => (language, Some(variant)),
        None => (name, None),
    };
    let language = CString::new(language).ok()?;
    let filter = VoiceSpec {
        name: std::ptr::null(),
        languages: language.as_ptr(),
        identifier: std::ptr::null(),
        gender: 0,
        age: 0,
        variant: 0,
        internal: 0,
        score: 0,
        spare: std::ptr::null_mut(),
    };
    // SAFETY: the list is null-terminated and lives in the library until the
    // next listing; its identifier is copied out at once.
    let identifier = unsafe {
        let voices = list(&filter);
        let first = voices.as_ref().copied().filter(|v| !v.is_null())?;
        std::ffi::CStr::from_ptr((*first).identifier.as_ref()?)
            .to_str()
            .ok()?
            .to_owned()
    };
    CString::new(match variant {
        Some(variant) => format!("{identifier}+{variant}"),
        None => identifier,
    })
    .ok()
}

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

/// Loads a fresh copy of the library.
fn open() -> Result<Library, SpeechError> {
    let names: Vec<String> = match std::env::var("GSPEECH_ESPEAK_LIB") {
        Ok(path) if !path.is_empty() => vec![path],
        _ => LIBRARY_NAMES.iter().map(|n| n.to_string()).collect(),
    };
    let mut last = String::new();
    for name in names {
        // SAFETY: eSpeak NG's initialisers only set up its own state.
        match unsafe { Library::new(&name) } {
            Ok(lib) => return Ok(lib),
            Err(e) => last = e.to_string(),
        }
    }
    Err(SpeechError::Missing(format!(
        "eSpeak NG's library is not available ({last}); install it (Debian and Ubuntu: `apt install espeak-ng`) \
         or set GSPEECH_ESPEAK_LIB to the library's path"
    )))
}

/// Starts eSpeak NG with `options` (initialisation flags), selects `voice`
/// (a voice name, or as `espeak-ng -v` also accepts, a language, keeping a
/// `+variant`), runs `body`, and stops it again; returns `body`'s result and
/// the sample rate eSpeak NG speaks at.
///
/// # Safety
/// `body` may call only eSpeak NG functions of `lib`, which stays loaded.
unsafe fn session<T>(
    lib: &libloading::Library,
    options: c_int,
    voice: &str,
    body: impl FnOnce() -> Result<T, SpeechError>,
) -> Result<(T, u32), SpeechError> {
    let name = CString::new(voice).map_err(|_| SpeechError::UnknownVoice(voice.into()))?;
    let missing = |e: libloading::Error| SpeechError::Missing(e.to_string());
    // SAFETY: the signatures are those of speak_lib.h.
    unsafe {
        let initialize: Symbol<unsafe extern "C" fn(c_int, c_int, *const c_char, c_int) -> c_int> =
            lib.get(b"espeak_Initialize\0").map_err(missing)?;
        let set_voice: Symbol<unsafe extern "C" fn(*const c_char) -> c_int> =
            lib.get(b"espeak_SetVoiceByName\0").map_err(missing)?;
        let list_voices: Symbol<ListVoices> = lib.get(b"espeak_ListVoices\0").map_err(missing)?;
        let terminate: Symbol<unsafe extern "C" fn() -> c_int> = lib.get(b"espeak_Terminate\0").map_err(missing)?;
        let rate = initialize(SYNCHRONOUS, 0, std::ptr::null(), options);
        if rate <= 0 {
            return Err(failed("it could not start; is its data (espeak-ng-data) installed?"));
        }
        let result = (|| {
            let unknown = || SpeechError::UnknownVoice(voice.into());
            match set_voice(name.as_ptr()) {
                0 => {}
                NOT_FOUND => {
                    let by_language = voice_for_language(*list_voices, voice).ok_or_else(unknown)?;
                    if set_voice(by_language.as_ptr()) != 0 {
                        return Err(unknown());
                    }
                }
                code => return Err(failed(format!("selecting voice `{voice}` gave error {code}"))),
            }
            body()
        })();
        terminate();
        Ok((result?, rate as u32))
    }
}

/// Speaks `text` with the eSpeak NG `voice`, returning the audio and its phonemes.
pub fn speak(text: &str, voice: &Voice, _speaking: &Speaking) -> Result<Speech, SpeechError> {
    let text = CString::new(text).map_err(|_| failed("the text contains a NUL character"))?;
    let lib = open()?;
    let missing = |e: libloading::Error| SpeechError::Missing(e.to_string());
    // SAFETY: the signatures are those of speak_lib.h; the library stays loaded
    // until every call below has returned.
    let ((), sample_rate) = unsafe {
        let set_callback: Symbol<unsafe extern "C" fn(Callback)> =
            lib.get(b"espeak_SetSynthCallback\0").map_err(missing)?;
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
        session(&lib, PHONEME_EVENTS | DONT_EXIT, &voice.name, || {
            set_callback(collect);
            for (parameter, value) in [(RATE, voice.rate), (PITCH, voice.pitch), (RANGE, voice.range)] {
                set_parameter(parameter, value as c_int, 0);
            }
            COLLECTED.with_borrow_mut(|c| *c = Collected::default());
            seed_noise();
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
                return Err(failed(format!("synthesis gave error {code}")));
            }
            synchronize();
            Ok(())
        })?
    };
    drop(lib);
    let collected = COLLECTED.take();
    Speech::from_starts(&collected.samples, sample_rate, collected.phones).ok_or_else(|| failed(NOTHING_SPOKEN))
}

/// eSpeak NG's phonemes for `text` in the voice `voice` (its letter-to-sound
/// rules and dictionary, without speaking), as its symbols with stress marks
/// removed, in order.
pub fn phonemes(text: &str, voice: &str, _speaking: &Speaking) -> Result<Vec<String>, SpeechError> {
    let text = CString::new(text).map_err(|_| failed("the text contains a NUL character"))?;
    let lib = open()?;
    let missing = |e: libloading::Error| SpeechError::Missing(e.to_string());
    // SAFETY: the signatures are those of speak_lib.h; the library stays loaded
    // until every call below has returned, and each returned string is copied
    // before the next call.
    let (transcription, _) = unsafe {
        let to_phonemes: Symbol<unsafe extern "C" fn(*mut *const c_void, c_int, c_int) -> *const c_char> =
            lib.get(b"espeak_TextToPhonemes\0").map_err(missing)?;
        session(&lib, DONT_EXIT, voice, || {
            // One clause per call; the pointer moves on, and is null after the last.
            let mut next: *const c_void = text.as_ptr().cast();
            let mut clauses = Vec::new();
            while !next.is_null() {
                let clause = to_phonemes(&mut next, CHARS_UTF8 as c_int, PHONEMES_SPACED);
                if !clause.is_null() {
                    clauses.push(std::ffi::CStr::from_ptr(clause).to_string_lossy().into_owned());
                }
            }
            Ok(clauses.join(" "))
        })?
    };
    Ok(transcription
        .split_whitespace()
        .map(|p| p.replace(['\'', ',', '%', '='], ""))
        .filter(|p| !p.is_empty())
        .collect())
}

/// An eSpeak NG failure.
fn failed(why: impl std::fmt::Display) -> SpeechError {
    SpeechError::Failed(format!("eSpeak NG failed: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::speech::tests::{assert_phones_tile, rms};
    use crate::dataset::speech::{Phone, speak};

    fn voice(name: &str) -> Voice {
        Voice {
            name: name.into(),
            rate: 160,
            pitch: 50,
            range: 50,
        }
    }

    #[test]
    fn phonemes_tile_the_audio_and_match_its_loudness() {
        let speech = speak("Papa bought a map.", &voice("en-us")).unwrap();
        assert_eq!(speech.sample_rate, 22_050);
        assert_phones_tile(&speech);
        // A pause fills the silence before the first phoneme.
        assert_eq!(speech.phones[0].symbol, "_");
        let spoken: Vec<&Phone> = speech.phones.iter().filter(|p| !p.symbol.starts_with('_')).collect();
        let symbols: Vec<&str> = spoken.iter().map(|p| p.symbol.as_str()).collect();
        assert!(symbols.starts_with(&["p", "A:", "p", "@"]), "{symbols:?}");
        // Independently of eSpeak's events, the audio itself says where sound is:
        // vowels are loud, and the closure of a stop (its first half) is near silence.
        let span = |p: &Phone, from: f64, to: f64| {
            let length = p.end - p.start;
            rms(&speech, p.start + length * from, p.start + length * to)
        };
        let vowel = span(spoken[1], 0.2, 0.8);
        let closure = span(spoken[2], 0.0, 0.5);
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
    fn a_language_selects_its_voice_with_its_variant() {
        // `en-gb` names no voice file; as with `espeak-ng -v en-gb`, it is
        // the language of `en` (British English), and the variant is kept.
        let british = speak("Hello.", &voice("en-gb")).unwrap();
        assert_eq!(british, speak("Hello.", &voice("en")).unwrap());
        let varied = speak("Hello.", &voice("en-gb+m3")).unwrap();
        assert_eq!(varied, speak("Hello.", &voice("en+m3")).unwrap());
        assert_ne!(varied.samples, british.samples);
    }

    #[test]
    fn an_unknown_voice_is_named() {
        let err = speak("Hello.", &voice("xx-nowhere")).unwrap_err();
        assert_eq!(err, SpeechError::UnknownVoice("xx-nowhere".into()));
        assert!(err.to_string().contains("eSpeak NG has no voice `xx-nowhere`"));
    }
}
