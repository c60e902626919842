//! Flite (CMU's small synthesiser) through its library: after synthesis the
//! utterance's `Segment` relation holds every phoneme with its end time, as
//! `flite -psdur` prints them.
//!
//! Each voice is a library of its own (`libflite_cmu_us_slt.so.1`, …; Debian
//! and Ubuntu: `apt install flite`), loaded at run time like eSpeak NG, so
//! the project builds and runs without them. A voice is registered afresh
//! for every utterance and unregistered afterwards, so the rate and pitch set
//! on it never leak into the next one, and its noise is seeded the same way
//! every time ([`seed_noise`]). Calls are serialised by [`super::speak`].
//!
//! Flite names phonemes in the CMU (ARPAbet) set; they are renamed to eSpeak
//! NG's English symbols so that visemes are chosen from one table.

use std::ffi::{CStr, CString, c_char, c_float, c_int, c_short, c_void};

use libloading::{Library, Symbol};

use super::{NOTHING_SPOKEN, Speaking, Speech, SpeechError, Voice, seed_noise};
use crate::dataset::align::arpabet;

/// The prefix that selects Flite in a voice name (`flite:slt`).
pub const PREFIX: &str = "flite:";

/// The voices Flite's Debian packages ship (US English).
pub const VOICES: [&str; 5] = ["slt", "rms", "awb", "kal16", "kal"];

/// eSpeak NG's rate that Flite's unstretched durations correspond to, in
/// words per minute.
const NATURAL_RATE: f32 = 175.0;

/// `cst_voice` from `cst_voice.h` (its leading fields).
#[repr(C)]
struct CstVoice {
    name: *const c_char,
    features: *mut c_void,
}

/// `cst_wave` from `cst_wave.h`.
#[repr(C)]
struct CstWave {
    kind: *const c_char,
    sample_rate: c_int,
    num_samples: c_int,
    num_channels: c_int,
    samples: *const c_short,
}

/// Speaks `text` with the Flite voice `name` (without the prefix), at the
/// voice's rate, pitch and pitch range.
pub fn speak(text: &str, name: &str, voice: &Voice, _speaking: &Speaking) -> Result<Speech, SpeechError> {
    if !VOICES.contains(&name) {
        return Err(SpeechError::UnknownVoice(voice.name.clone()));
    }
    let text = CString::new(text).map_err(|_| failed("the text contains a NUL character"))?;
    let flite = open(&["libflite.so.1", "libflite.so"])?;
    let library = format!("libflite_cmu_us_{name}");
    let lib = open(&[&format!("{library}.so.1"), &format!("{library}.so")])?;
    let missing = |e: libloading::Error| SpeechError::Missing(format!("Flite's library lacks a function: {e}"));
    let register_name = format!("register_cmu_us_{name}\0");
    let unregister_name = format!("unregister_cmu_us_{name}\0");
    // SAFETY: the signatures are those of Flite 2's headers (flite.h,
    // cst_utterance.h, cst_item.h, cst_features.h); both libraries stay loaded
    // until every call below has returned, and the voice is registered and
    // unregistered while `_speaking` is held.
    unsafe {
        let init: Symbol<unsafe extern "C" fn() -> c_int> = flite.get(b"flite_init\0").map_err(missing)?;
        let register: Symbol<unsafe extern "C" fn(*const c_char) -> *mut CstVoice> =
            lib.get(register_name.as_bytes()).map_err(missing)?;
        let unregister: Symbol<unsafe extern "C" fn(*mut CstVoice)> =
            lib.get(unregister_name.as_bytes()).map_err(missing)?;
        let synth: Symbol<unsafe extern "C" fn(*const c_char, *mut CstVoice) -> *mut c_void> =
            flite.get(b"flite_synth_text\0").map_err(missing)?;
        let wave_of: Symbol<unsafe extern "C" fn(*const c_void) -> *const CstWave> =
            flite.get(b"utt_wave\0").map_err(missing)?;
        let relation: Symbol<unsafe extern "C" fn(*const c_void, *const c_char) -> *mut c_void> =
            flite.get(b"utt_relation\0").map_err(missing)?;
        let head: Symbol<unsafe extern "C" fn(*mut c_void) -> *const c_void> =
            flite.get(b"relation_head\0").map_err(missing)?;
        let next: Symbol<unsafe extern "C" fn(*const c_void) -> *const c_void> =
            flite.get(b"item_next\0").map_err(missing)?;
        let feat_string: Symbol<unsafe extern "C" fn(*const c_void, *const c_char) -> *const c_char> =
            flite.get(b"item_feat_string\0").map_err(missing)?;
        let feat_float: Symbol<unsafe extern "C" fn(*const c_void, *const c_char) -> c_float> =
            flite.get(b"item_feat_float\0").map_err(missing)?;
        let delete: Symbol<unsafe extern "C" fn(*mut c_void)> = flite.get(b"delete_utterance\0").map_err(missing)?;
        let set_float: Symbol<unsafe extern "C" fn(*mut c_void, *const c_char, c_float)> =
            flite.get(b"feat_set_float\0").map_err(missing)?;
        let get_float: Symbol<unsafe extern "C" fn(*const c_void, *const c_char, c_float) -> c_float> =
            flite.get(b"get_param_float\0").map_err(missing)?;

        init();
        let cst_voice = register(std::ptr::null());
        if cst_voice.is_null() {
            return Err(failed(format!("the voice `{name}` could not be registered")));
        }
        let features = (*cst_voice).features;
        // Scales a feature the voice sets (the diphone voices' intonation
        // targets; the clustergen voices predict their own pitch).
        let scale = |feature: &CStr, by: f32| {
            let value = get_float(features, feature.as_ptr(), -1.0);
            if value > 0.0 {
                set_float(features, feature.as_ptr(), value * by);
            }
        };
        set_float(
            features,
            c"duration_stretch".as_ptr(),
            NATURAL_RATE / voice.rate.max(1) as f32,
        );
        // Pitch 0–100 spans half an octave either side of the voice's own.
        scale(c"int_f0_target_mean", 2f32.powf((voice.pitch as f32 - 50.0) / 100.0));
        scale(c"int_f0_target_stddev", voice.range as f32 / 50.0);

        seed_noise();
        let utterance = synth(text.as_ptr(), cst_voice);
        let result = if utterance.is_null() {
            Err(failed("synthesis returned nothing"))
        } else {
            let wave = wave_of(utterance);
            let samples: Vec<i16> = if wave.is_null() || (*wave).num_samples <= 0 || (*wave).samples.is_null() {
                Vec::new()
            } else {
                let w = &*wave;
                let all = std::slice::from_raw_parts(w.samples, (w.num_samples * w.num_channels.max(1)) as usize);
                // Mono: the first channel.
                all.iter().step_by(w.num_channels.max(1) as usize).copied().collect()
            };
            let rate = if wave.is_null() { 0 } else { (*wave).sample_rate };
            let mut starts = Vec::new();
            let mut start = 0.0f32;
            let mut segment = head(relation(utterance, c"Segment".as_ptr()));
            while !segment.is_null() {
                let symbol = CStr::from_ptr(feat_string(segment, c"name".as_ptr())).to_string_lossy();
                let end = feat_float(segment, c"end".as_ptr());
                starts.push((
                    espeak_symbol(&symbol).to_string(),
                    (start * rate as f32).round() as usize,
                ));
                start = end;
                segment = next(segment);
            }
            delete(utterance);
            if rate <= 0 {
                Err(failed(NOTHING_SPOKEN))
            } else {
                Speech::from_starts(&samples, rate as u32, starts).ok_or_else(|| failed(NOTHING_SPOKEN))
            }
        };
        unregister(cst_voice);
        result
    }
}

/// Loads the first of `names` that exists.
fn open(names: &[&str]) -> Result<Library, SpeechError> {
    let mut last = String::new();
    for name in names {
        // SAFETY: Flite's libraries only set up their own tables when loaded.
        match unsafe { Library::new(*name) } {
            Ok(lib) => return Ok(lib),
            Err(e) => last = e.to_string(),
        }
    }
    Err(SpeechError::Missing(format!(
        "Flite's library is not available ({last}); install it (Debian and Ubuntu: `apt install flite`)"
    )))
}

/// A Flite failure.
fn failed(why: impl std::fmt::Display) -> SpeechError {
    SpeechError::Failed(format!("Flite failed: {why}"))
}

/// eSpeak NG's English symbol for one of Flite's CMU (ARPAbet) phonemes;
/// unknown names are kept (and later treated as pauses). Flite writes the
/// schwa as `ax`, so its `ah` is always the stressed vowel.
fn espeak_symbol(cmu: &str) -> &str {
    match cmu {
        "pau" | "h#" | "brth" => "_",
        "ax" => "@",
        "ah" => "V",
        other => arpabet::espeak_symbol(&other.to_ascii_uppercase()).unwrap_or(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::speech::Phone;
    use crate::dataset::speech::tests::{assert_phones_tile, rms};
    use crate::dataset::visemes::lookup;

    fn voice(name: &str, rate: u32, pitch: u32) -> Voice {
        Voice {
            name: format!("{PREFIX}{name}"),
            rate,
            pitch,
            range: 50,
        }
    }

    fn say(text: &str, voice: &Voice) -> Speech {
        crate::dataset::speech::speak(text, voice).unwrap()
    }

    #[test]
    fn phonemes_tile_the_audio_in_espeak_symbols() {
        let speech = say("Papa bought a map.", &voice("slt", 175, 50));
        assert_eq!(speech.sample_rate, 16_000);
        assert_phones_tile(&speech);
        let spoken: Vec<&str> = speech
            .phones
            .iter()
            .map(|p| p.symbol.as_str())
            .filter(|s| *s != "_")
            .collect();
        assert!(spoken.starts_with(&["p", "A:", "p", "@", "b"]), "{spoken:?}");
        assert!(
            spoken.iter().all(|s| lookup(s).is_some()),
            "every phoneme has a viseme: {spoken:?}"
        );
        // The closure of the first /p/ is quiet next to the vowel after it.
        let level = |p: &Phone| rms(&speech, p.start, p.end);
        let first_p = speech.phones.iter().position(|p| p.symbol == "p").unwrap();
        let (closure, vowel) = (level(&speech.phones[first_p]), level(&speech.phones[first_p + 1]));
        assert!(
            closure < vowel / 3.0,
            "the p is quieter than its vowel: {closure} vs {vowel}"
        );
    }

    #[test]
    fn rate_and_pitch_change_the_speech_and_never_leak_into_the_next() {
        let text = "The birch canoe slid on the smooth planks.";
        for name in ["rms", "kal16"] {
            let normal = say(text, &voice(name, 175, 50));
            let slow = say(text, &voice(name, 120, 50));
            let ratio = slow.samples.len() as f64 / normal.samples.len() as f64;
            assert!(
                ratio > 1.3 && ratio < 1.6,
                "{name}: 175/120 wpm stretches by about 1.46: {ratio}"
            );
            let high = say(text, &voice(name, 175, 90));
            let again = say(text, &voice(name, 175, 50));
            assert!(again == normal, "{name}: the same utterance again is identical");
            if name == "kal16" {
                assert!(high.samples != normal.samples, "{name}: pitch changes the voice");
            }
        }
    }

    #[test]
    fn unknown_voices_are_refused_before_loading_anything() {
        let err = crate::dataset::speech::speak("Hello.", &voice("nobody", 175, 50)).unwrap_err();
        assert_eq!(err, SpeechError::UnknownVoice("flite:nobody".into()));
    }
}
