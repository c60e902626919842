//! PocketSphinx (0.8 / 5prealpha, Debian's `libpocketsphinx3`) through its
//! library, loaded at run time like eSpeak NG, with the US English model of
//! `pocketsphinx-en-us`.
//!
//! The decoder searches finite-state grammars written in JSGF. Its
//! dictionary holds one "word" per model phone (`p_aa`, `p_b`, …) and `pau`
//! (silence), so a grammar is a phone sequence and the search's word
//! segmentation is the phone segmentation; see the parent module for why.

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::PathBuf;

use libloading::{Library, Symbol};

use super::AlignError;
use super::arpabet::PHONES;

/// The library file names tried.
const LIBRARY_NAMES: [&str; 2] = ["libpocketsphinx.so.3", "libpocketsphinx.so"];

/// Where Debian's `pocketsphinx-en-us` installs the model.
const MODEL: &str = "/usr/share/pocketsphinx/model/en-us";

/// How to install the model.
pub const INSTALL_MODEL: &str = "install PocketSphinx's US English model (Debian and Ubuntu: `apt install \
                                 pocketsphinx-en-us`) or set GSPEECH_POCKETSPHINX_MODEL to its folder";

/// The model's sample rate.
pub const SAMPLE_RATE: u32 = 16_000;

/// Analysis frames per second (the decoder's default `-frate`).
pub const FRAME_RATE: f64 = 100.0;

/// The length of an analysis frame in seconds (the default `-wlen`).
pub const FRAME_LENGTH: f64 = 0.025625;

/// The silence "word" of every grammar.
pub const PAUSE: &str = "pau";

/// The model folder: `GSPEECH_POCKETSPHINX_MODEL` or Debian's.
fn model_folder() -> PathBuf {
    std::env::var_os("GSPEECH_POCKETSPHINX_MODEL")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(MODEL), PathBuf::from)
}

/// The model's pronouncing dictionary.
pub fn dictionary_path() -> PathBuf {
    model_folder().join("cmudict-en-us.dict")
}

/// The grammar word for an ARPAbet phone (`AA` → `p_aa`).
pub fn phone_word(arpabet: &str) -> String {
    format!("p_{}", arpabet.to_lowercase())
}

/// A segment of the best path: a grammar word over frames `start..end`.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub word: String,
    pub start: usize,
    pub end: usize,
}

/// The best path through a grammar.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    pub segments: Vec<Segment>,
    /// Analysis frames in the audio.
    pub frames: usize,
}

/// A decoder with the phone words.
pub struct Decoder {
    lib: Library,
    ps: *mut c_void,
}

// SAFETY: the decoder is only used by one thread at a time (it lives behind a
// mutex), and PocketSphinx keeps no thread-local state.
unsafe impl Send for Decoder {}

/// The search holding the grammar being aligned.
const FORCED: &CStr = c"forced";

fn missing(e: libloading::Error) -> AlignError {
    AlignError::Missing(format!("PocketSphinx's library lacks a function: {e}"))
}

fn failed(why: impl std::fmt::Display) -> AlignError {
    AlignError::Failed(format!("PocketSphinx failed: {why}"))
}

impl Decoder {
    /// Loads the library and the model, and adds the phone words.
    pub fn open() -> Result<Decoder, AlignError> {
        let names: Vec<String> = match std::env::var("GSPEECH_POCKETSPHINX_LIB") {
            Ok(path) if !path.is_empty() => vec![path],
            _ => LIBRARY_NAMES.iter().map(|n| n.to_string()).collect(),
        };
        let mut last = String::new();
        let mut lib = None;
        for name in names {
            // SAFETY: PocketSphinx's and SphinxBase's initialisers only set up their own state.
            match unsafe { Library::new(&name) } {
                Ok(l) => {
                    lib = Some(l);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let lib = lib.ok_or_else(|| {
            AlignError::Missing(format!(
                "PocketSphinx's library is not available ({last}); install it (Debian and Ubuntu: `apt install \
                 libpocketsphinx3`) or set GSPEECH_POCKETSPHINX_LIB to the library's path"
            ))
        })?;
        let acoustic = model_folder().join("en-us");
        if !acoustic.join("mdef").is_file() {
            return Err(AlignError::Missing(format!(
                "PocketSphinx's acoustic model is not in {}; {INSTALL_MODEL}",
                acoustic.display()
            )));
        }
        let arguments = [
            "-hmm",
            acoustic
                .to_str()
                .ok_or_else(|| failed("the model's path is not UTF-8"))?,
            // Silence only where the grammar allows it (between words), never inside one.
            "-fsgusefiller",
            "no",
            // Keep every frame: timings are counted in frames from the start.
            "-remove_silence",
            "no",
            "-bestpath",
            "no",
            // Wide beams: the grammar leaves few paths, and pruning the right
            // one would fail the alignment.
            "-beam",
            "1e-100",
            "-pbeam",
            "1e-100",
            "-wbeam",
            "1e-80",
            "-logfn",
            "/dev/null",
        ];
        let arguments: Vec<CString> = arguments.iter().map(|a| CString::new(*a).unwrap()).collect();
        let mut argv: Vec<*const c_char> = arguments.iter().map(|a| a.as_ptr()).collect();
        // SAFETY: the signatures are those of pocketsphinx.h and SphinxBase's
        // cmd_ln.h (found through the library's dependencies); `argv` outlives
        // the parse, which copies what it keeps, and the decoder keeps its own
        // reference to the configuration.
        let ps = unsafe {
            let args: Symbol<unsafe extern "C" fn() -> *const c_void> = lib.get(b"ps_args\0").map_err(missing)?;
            let parse: Symbol<
                unsafe extern "C" fn(*mut c_void, *const c_void, c_int, *mut *const c_char, c_int) -> *mut c_void,
            > = lib.get(b"cmd_ln_parse_r\0").map_err(missing)?;
            let free_config: Symbol<unsafe extern "C" fn(*mut c_void) -> c_int> =
                lib.get(b"cmd_ln_free_r\0").map_err(missing)?;
            let init: Symbol<unsafe extern "C" fn(*mut c_void) -> *mut c_void> =
                lib.get(b"ps_init\0").map_err(missing)?;
            let config = parse(std::ptr::null_mut(), args(), argv.len() as c_int, argv.as_mut_ptr(), 1);
            if config.is_null() {
                return Err(failed("the configuration was refused"));
            }
            let ps = init(config);
            free_config(config);
            ps
        };
        if ps.is_null() {
            return Err(failed(format!(
                "the model in {} could not be loaded",
                acoustic.display()
            )));
        }
        let decoder = Decoder { lib, ps };
        let words: Vec<(String, &str)> = PHONES
            .iter()
            .map(|(phone, _)| (phone_word(phone), *phone))
            .chain([(PAUSE.to_string(), "SIL")])
            .collect();
        for (i, (word, phones)) in words.iter().enumerate() {
            decoder.add_word(word, phones, i + 1 == words.len())?;
        }
        Ok(decoder)
    }

    fn add_word(&self, word: &str, phones: &str, update: bool) -> Result<(), AlignError> {
        let (w, p) = (CString::new(word).unwrap(), CString::new(phones).unwrap());
        // SAFETY: ps_add_word copies both strings.
        let id = unsafe {
            let add: Symbol<unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, c_int) -> c_int> =
                self.lib.get(b"ps_add_word\0").map_err(missing)?;
            add(self.ps, w.as_ptr(), p.as_ptr(), update as c_int)
        };
        if id < 0 {
            return Err(failed(format!("the model has no phone {phones}")));
        }
        Ok(())
    }

    /// Compiles the JSGF `rules` (a public rule and any others) into the search `name`.
    fn set_grammar(&self, name: &CStr, rules: &str) -> Result<(), AlignError> {
        let text = CString::new(format!("#JSGF V1.0;\ngrammar g;\n{rules}\n"))
            .map_err(|_| failed("the grammar contains a NUL character"))?;
        // SAFETY: ps_set_jsgf_string parses the string and keeps nothing of it.
        let code = unsafe {
            let set: Symbol<unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> c_int> =
                self.lib.get(b"ps_set_jsgf_string\0").map_err(missing)?;
            set(self.ps, name.as_ptr(), text.as_ptr())
        };
        if code != 0 {
            return Err(failed(format!("the grammar was refused: {rules}")));
        }
        Ok(())
    }

    /// The best path through the JSGF `rule` (one public rule) for 16 kHz
    /// `audio`; `None` when no path through the whole grammar fits it.
    pub fn force(&mut self, rule: &str, audio: &[i16]) -> Result<Option<Path>, AlignError> {
        self.set_grammar(FORCED, rule)?;
        self.decode(FORCED, audio)
    }

    fn decode(&mut self, search: &CStr, audio: &[i16]) -> Result<Option<Path>, AlignError> {
        // SAFETY: the signatures are those of pocketsphinx.h and ps_search.h;
        // segment words are copied before the iterator moves on, and an
        // iterator left before its end is freed.
        unsafe {
            let set_search: Symbol<unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int> =
                self.lib.get(b"ps_set_search\0").map_err(missing)?;
            let start: Symbol<unsafe extern "C" fn(*mut c_void) -> c_int> =
                self.lib.get(b"ps_start_utt\0").map_err(missing)?;
            let process: Symbol<unsafe extern "C" fn(*mut c_void, *const i16, usize, c_int, c_int) -> c_int> =
                self.lib.get(b"ps_process_raw\0").map_err(missing)?;
            let end: Symbol<unsafe extern "C" fn(*mut c_void) -> c_int> =
                self.lib.get(b"ps_end_utt\0").map_err(missing)?;
            let hyp: Symbol<unsafe extern "C" fn(*mut c_void, *mut i32) -> *const c_char> =
                self.lib.get(b"ps_get_hyp\0").map_err(missing)?;
            let frames: Symbol<unsafe extern "C" fn(*mut c_void) -> c_int> =
                self.lib.get(b"ps_get_n_frames\0").map_err(missing)?;
            let seg_iter: Symbol<unsafe extern "C" fn(*mut c_void) -> *mut c_void> =
                self.lib.get(b"ps_seg_iter\0").map_err(missing)?;
            let seg_next: Symbol<unsafe extern "C" fn(*mut c_void) -> *mut c_void> =
                self.lib.get(b"ps_seg_next\0").map_err(missing)?;
            let seg_word: Symbol<unsafe extern "C" fn(*mut c_void) -> *const c_char> =
                self.lib.get(b"ps_seg_word\0").map_err(missing)?;
            let seg_frames: Symbol<unsafe extern "C" fn(*mut c_void, *mut c_int, *mut c_int)> =
                self.lib.get(b"ps_seg_frames\0").map_err(missing)?;

            if set_search(self.ps, search.as_ptr()) != 0 {
                return Err(failed(format!("no search {search:?}")));
            }
            if start(self.ps) < 0 {
                return Err(failed("an utterance could not start"));
            }
            let processed = process(self.ps, audio.as_ptr(), audio.len(), 0, 1);
            end(self.ps);
            if processed < 0 {
                return Err(failed("the audio could not be processed"));
            }
            let mut best = 0;
            // No hypothesis: the search never reached the grammar's end.
            if hyp(self.ps, &mut best).is_null() {
                return Ok(None);
            }
            let mut path = Path {
                segments: Vec::new(),
                frames: frames(self.ps).max(0) as usize,
            };
            let mut seg = seg_iter(self.ps);
            while !seg.is_null() {
                let word = seg_word(seg);
                let (mut first, mut last) = (0, 0);
                seg_frames(seg, &mut first, &mut last);
                let word = if word.is_null() {
                    String::new()
                } else {
                    CStr::from_ptr(word).to_string_lossy().into_owned()
                };
                // Null transitions of the grammar show as segments named `(NULL)`.
                if !word.is_empty() && word != "(NULL)" && last >= first {
                    path.segments.push(Segment {
                        word,
                        start: first as usize,
                        end: last as usize + 1,
                    });
                }
                seg = seg_next(seg);
            }
            Ok(Some(path))
        }
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: the decoder was made by ps_init and is freed once.
        unsafe {
            if let Ok(free) = self.lib.get::<unsafe extern "C" fn(*mut c_void) -> c_int>(b"ps_free\0") {
                free(self.ps);
            }
        }
    }
}
