//! `dataset.synthesize`: the synthetic speech-capture factory.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use gspeech_sdk::{
    Caching, CancelToken, FileFilter, Inputs, LogLevel, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params,
    PathRole, PortSpec, PortType, Record, RunContext, Value,
};
use serde_json::{Value as Json, json};

use super::align::{AlignError, align};
use super::corpus::{Sentence, assign_splits, read_corpus};
use super::recordings::{Recording, read_recordings};
use super::speech::Speech;
use super::random::Rng;
use super::sequence::{Body, Driver, SHORTEST_PAUSE, Settings, Speaker, Stage};
use super::speech::{Voice, speak};
use super::writer::{
    FORMAT, INDEX, SequenceFiles, VERSION, existing_key, motion_record, read_meta, remove_stale, write_index,
    write_sequence,
};
use crate::audio::{decode, resample};
use crate::face::{FaceRig, to_ranges};

/// Bumped whenever the same settings would produce different sequences.
const GENERATOR: u32 = 2;

/// The default training voices: eSpeak NG's American, British, Received
/// Pronunciation and Caribbean English with male and female variants.
pub const DEFAULT_VOICES: &str = "en-us+m3,en-us+f2,en+m1,en-gb-x-rp+f4,en-029+m5";
/// The default held-out voice: Scottish English, female.
pub const DEFAULT_HELD_OUT: &str = "en-gb-scotland+f3";

/// Makes paired speech and face motion from text.
pub struct Synthesize;

impl Node for Synthesize {
    fn spec(&self) -> NodeSpec {
        let defaults = Settings::default();
        NodeSpec::new("dataset.synthesize", 1, "Synthesize Speech Dataset")
            .doc(
                "The synthetic capture factory: speaks each corpus sentence with eSpeak NG or Flite voices \
                 (exact phoneme timings) with silence before and after, pauses at punctuation and phrase breaks, \
                 and room tone under it all, turns phonemes into visemes and ARKit mouth weights with Cohen–Massaro coarticulation, \
                 drives brows, blinks, gaze and head from the speech's prosody, and writes per sequence a WAV, \
                 blendshape weights, head rotation and vertices on the face model, with train/val/test splits by \
                 sentence and a held-out voice. Deterministic: the same seed gives the same files byte for byte; \
                 an interrupted run resumes. Needs eSpeak NG's library (libespeak-ng.so.1), and Flite's \
                 for `flite:` voices.",
            )
            .input(PortSpec::new(
                "face",
                PortType::FaceModel,
                "An ARKit-named face rig (ICT-FaceKit's).",
            ))
            .output(PortSpec::new(
                "dataset",
                PortType::Dataset,
                "The dataset folder and its splits.",
            ))
            .param(ParamSpec::path(
                "corpus",
                PathRole::InputFile,
                vec![FileFilter::new("Text", &["txt"])],
                "",
                "Sentences, one per line (projects/assets/corpus/harvard.txt).",
            ))
            .param(ParamSpec::path(
                "out",
                PathRole::OutputDir,
                vec![],
                "",
                "The dataset folder.",
            ))
            .param(ParamSpec::int(
                "seed",
                1,
                (Some(0), None),
                "Seed of every random choice.",
            ))
            .param(ParamSpec::int(
                "sentences",
                0,
                (Some(0), None),
                "Use the first N sentences (0: all).",
            ))
            .param(
                ParamSpec::path(
                    "recordings",
                    PathRole::InputDir,
                    vec![],
                    "",
                    "Recorded lines of one speaker with their transcripts (a .txt beside each audio file, or a \
                     transcripts.txt or LJSpeech metadata.csv list), animated from PocketSphinx's forced alignment \
                     (empty: none). Lines that cannot be aligned are named and left out.",
                )
                .optional(),
            )
            .param(ParamSpec::text(
                "voices",
                DEFAULT_VOICES,
                "Training voices, comma-separated: eSpeak NG names with variants (en-us, en+f2), or Flite \
                 voices (flite:slt, flite:rms, flite:awb, flite:kal16, flite:kal).",
            ))
            .param(ParamSpec::text(
                "held_out_voice",
                DEFAULT_HELD_OUT,
                "A voice that speaks only the test sentences (empty: none).",
            ))
            .param(ParamSpec::int(
                "voices_per_sentence",
                2,
                (Some(1), Some(64)),
                "How many training voices speak each sentence.",
            ))
            .param(ParamSpec::float(
                "fps",
                defaults.fps,
                (Some(1.0), Some(240.0)),
                "Motion frames per second.",
            ))
            .param(ParamSpec::int(
                "sample_rate",
                defaults.sample_rate as i64,
                (Some(8000), Some(48000)),
                "Audio sample rate of the WAV files.",
            ))
            .param(ParamSpec::int(
                "rate",
                defaults.rate as i64,
                (Some(80), Some(450)),
                "Base speaking rate, words per minute.",
            ))
            .param(ParamSpec::float(
                "rate_jitter",
                defaults.rate_jitter,
                (Some(0.0), Some(0.5)),
                "Each sequence's rate varies by up to this fraction.",
            ))
            .param(ParamSpec::int(
                "pitch",
                defaults.pitch as i64,
                (Some(0), Some(99)),
                "Base pitch (eSpeak's 0-99 scale).",
            ))
            .param(ParamSpec::int(
                "pitch_jitter",
                defaults.pitch_jitter as i64,
                (Some(0), Some(40)),
                "Each sequence's pitch varies by up to this much.",
            ))
            .param(ParamSpec::float(
                "val_fraction",
                0.1,
                (Some(0.0), Some(0.5)),
                "Share of sentences for validation.",
            ))
            .param(ParamSpec::float(
                "test_fraction",
                0.1,
                (Some(0.0), Some(0.5)),
                "Share of sentences for testing.",
            ))
            .param(ParamSpec::float(
                "identity_scale",
                defaults.identity_scale,
                (Some(0.0), Some(2.0)),
                "Spread of each speaker's identity coefficients (0: the neutral face for all).",
            ))
            .param(ParamSpec::float(
                "blinks_per_minute",
                defaults.blinks_per_minute as f64,
                (Some(0.0), Some(60.0)),
                "Average blink rate.",
            ))
            .param(ParamSpec::float(
                "head_motion",
                defaults.head_motion as f64,
                (Some(0.0), Some(3.0)),
                "Scales head and neck motion (1: about ±2°, 0: none).",
            ))
            .param(ParamSpec::float(
                "silence",
                defaults.silence,
                (Some(0.0), Some(10.0)),
                "Longest silence before and after the speech, seconds (each end drawn from 0 to this), \
                 so a model learns to rest.",
            ))
            .param(ParamSpec::float(
                "pause",
                defaults.pause,
                (Some(SHORTEST_PAUSE), Some(5.0)),
                "Longest pause inside a sentence, seconds (each drawn from 0.1 s to this): after clause \
                 punctuation, and at phrase breaks.",
            ))
            .param(ParamSpec::float(
                "phrase_pauses",
                defaults.phrase_pauses,
                (Some(0.0), Some(1.0)),
                "Chance of a pause after a word without punctuation.",
            ))
            .param(ParamSpec::float(
                "room_tone",
                defaults.room_tone,
                (Some(-120.0), Some(-20.0)),
                "Loudest room tone (a microphone's noise floor) under the speech, dBFS RMS; each sequence \
                 draws its level from 12 dB below this up to it.",
            ))
            .param(ParamSpec::text(
                "regions",
                "all",
                "Face model regions whose vertices are stored, comma-separated (all: every vertex).",
            ))
            .param(ParamSpec::int(
                "threads",
                0,
                (Some(0), Some(256)),
                "Sequences made at once (0: one per core).",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let face = FaceRig::from_record(inputs.record("face", PortType::FaceModel)?)
            .map_err(|e| NodeError::input("face", e))?;
        let driver = Driver::new(&face).map_err(|e| NodeError::input("face", e))?;
        let root = params.path("out")?.to_path_buf();
        let seed = params.int("seed")? as u64;
        let mut sentences = read_corpus(params.path("corpus")?)?;
        let wanted = params.int("sentences")? as usize;
        if wanted > 0 {
            sentences.truncate(wanted);
        }
        let settings = Settings {
            fps: params.float("fps")?,
            sample_rate: params.int("sample_rate")? as u32,
            rate: params.int("rate")? as u32,
            rate_jitter: params.float("rate_jitter")?,
            pitch: params.int("pitch")? as u32,
            pitch_jitter: params.int("pitch_jitter")? as u32,
            identity_scale: params.float("identity_scale")?,
            blinks_per_minute: params.float("blinks_per_minute")? as f32,
            head_motion: params.float("head_motion")? as f32,
            silence: params.float("silence")?,
            pause: params.float("pause")?,
            phrase_pauses: params.float("phrase_pauses")?,
            room_tone: params.float("room_tone")?,
        };
        let speakers = speakers(params, &settings, face.identity_names.len(), seed)?;
        for speaker in speakers.iter().filter(|s| !s.recorded) {
            let probe = Voice {
                name: speaker.voice.clone(),
                rate: 175,
                pitch: 50,
                range: 50,
            };
            let param = if speaker.held_out { "held_out_voice" } else { "voices" };
            speak("a", &probe).map_err(|e| NodeError::param(param, e.to_string()))?;
        }
        let stored = stored_vertices(&face, params.text("regions")?)?;
        let training_voices = speakers.iter().filter(|s| !s.held_out && !s.recorded).count();
        let asked = params.int("voices_per_sentence")? as usize;
        if asked > training_voices && training_voices > 0 {
            ctx.info(&format!(
                "each sentence is spoken by all {training_voices} training voices (`voices_per_sentence` asks for {asked})"
            ));
        }
        let fractions = [params.float("val_fraction")?, params.float("test_fraction")?];
        let mut plan = plan(&sentences, &speakers, asked.min(training_voices), fractions, seed)?;
        if let Some(dir) = params.optional_path("recordings")? {
            let recordings = read_recordings(dir)?;
            for problem in &recordings.problems {
                ctx.log(LogLevel::Warn, &format!("left out: {problem}"));
            }
            let speaker = speakers.iter().position(|s| s.recorded).expect("a recorded speaker");
            plan.extend(plan_recorded(&recordings.lines, speaker, &speakers, fractions, seed)?);
        }

        let stage = Stage::new(&face, stored);
        let factory = Factory {
            bodies: speakers.iter().map(|s| stage.body(s)).collect(),
            common: json!({
                "generator": GENERATOR, "seed": seed, "face": face.digest(), "settings": settings.to_json(),
                "stored": stage.stored.len(),
            }),
            stage,
            driver,
            speakers,
            settings,
            seed,
            root: root.clone(),
        };
        std::fs::create_dir_all(&root).map_err(|e| NodeError::file(&root, e))?;
        remove_stale(&root)?;

        let threads = match params.int("threads")? {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n as usize,
        }
        .min(plan.len());
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let reused = AtomicUsize::new(0);
        let left_out = AtomicUsize::new(0);
        let failure: Mutex<Option<NodeError>> = Mutex::new(None);
        let unknown: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let summaries: Mutex<Vec<Option<Json>>> = Mutex::new(vec![None; plan.len()]);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= plan.len() || ctx.is_cancelled() || failure.lock().expect("lock").is_some() {
                            break;
                        }
                        let item = &plan[i];
                        let key = factory.key(item);
                        let result = if existing_key(&root, &item.id).as_deref() == Some(key.as_str()) {
                            reused.fetch_add(1, Ordering::SeqCst);
                            read_meta(&root, &item.id)
                        } else {
                            factory.make(item, &key, ctx.cancel_token()).map(|(meta, missing)| {
                                unknown.lock().expect("lock").extend(missing);
                                meta
                            })
                        };
                        match result {
                            Ok(meta) => summaries.lock().expect("lock")[i] = Some(summary(&meta)),
                            Err(NodeError::File { path, message }) if item.recording.as_ref() == Some(&path) => {
                                ctx.log(LogLevel::Warn, &format!("left out: {}: {message}", path.display()));
                                left_out.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                failure.lock().expect("lock").get_or_insert(e);
                                break;
                            }
                        }
                        let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                        ctx.progress(
                            n as f32 / plan.len() as f32,
                            &format!("{} ({n}/{})", item.id, plan.len()),
                        );
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().expect("lock") {
            return Err(e);
        }
        ctx.check_cancelled()?;

        let summaries = summaries.into_inner().expect("lock");
        let made: Vec<&Planned> = plan.iter().zip(&summaries).filter(|(_, s)| s.is_some()).map(|(p, _)| p).collect();
        if made.is_empty() {
            return Err(NodeError::param("recordings", "no sequence could be made; see the lines left out above"));
        }
        let sequences: Vec<Json> = summaries.into_iter().flatten().collect();
        let splits = splits_json(&made);
        let index = json!({
            "format": FORMAT,
            "version": VERSION,
            "seed": seed,
            "generator": GENERATOR,
            "settings": factory.settings.to_json(),
            "face_model": {
                "name": face.name, "units": face.units, "digest": factory.common["face"],
                "vertices": face.vertex_count(), "stored_vertices": ranges_json(&factory.stage.stored),
                "lip_vertices": face.lip_vertices.len(), "upper_face_vertices": face.upper_face_vertices.len(),
            },
            "weight_names": face.expression_names,
            "speakers": factory.speakers.iter().map(Speaker::to_json).collect::<Vec<_>>(),
            "splits": splits,
            "sequences": sequences,
        });
        write_index(&root, &index, ctx.cancel_token())?;

        let mut unknown = unknown.into_inner().expect("lock");
        unknown.sort();
        unknown.dedup();
        if !unknown.is_empty() {
            ctx.log(
                LogLevel::Warn,
                &format!("phonemes without a viseme, treated as pauses: {}", unknown.join(" ")),
            );
        }
        let seconds: f64 = index["sequences"]
            .as_array()
            .map_or(0.0, |a| a.iter().filter_map(|s| s["seconds"].as_f64()).sum());
        let left_out = match left_out.into_inner() {
            0 => String::new(),
            n => format!("; {n} recorded line(s) left out"),
        };
        ctx.info(&format!(
            "{}: {} sequences ({} kept from an earlier run{left_out}), {:.1} minutes of speech",
            root.display(),
            made.len(),
            reused.load(Ordering::SeqCst),
            seconds / 60.0
        ));
        let record = Record::new(PortType::Dataset)
            .with_attr("root", root.to_string_lossy().into_owned())
            .with_attr("splits", splits)
            .with_attr("index", INDEX);
        Ok(Outputs::new().with("dataset", Value::data(record)))
    }
}

/// One sequence to make.
struct Planned {
    id: String,
    split: &'static str,
    sentence: Sentence,
    speaker: usize,
    /// The recorded line, when it is not spoken by an engine.
    recording: Option<PathBuf>,
}

/// The training voices, the held-out one, then the speaker of the recorded
/// lines.
fn speakers(params: &Params, settings: &Settings, identities: usize, seed: u64) -> Result<Vec<Speaker>, NodeError> {
    let recordings = params.optional_path("recordings")?;
    let names: Vec<&str> = params
        .text("voices")?
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    if names.is_empty() && recordings.is_none() {
        return Err(NodeError::param(
            "voices",
            "name at least one voice (eSpeak NG, or Flite as flite:slt), or give `recordings`",
        ));
    }
    let held_out = params.text("held_out_voice")?.trim();
    if names.contains(&held_out) {
        return Err(NodeError::param(
            "held_out_voice",
            format!("`{held_out}` is also a training voice"),
        ));
    }
    let mut out: Vec<Speaker> = names
        .iter()
        .enumerate()
        .map(|(i, v)| Speaker::draw(&format!("v{i}"), v, false, settings, identities, seed))
        .collect();
    if !held_out.is_empty() && !names.is_empty() {
        out.push(Speaker::draw("vh", held_out, true, settings, identities, seed));
    }
    if let Some(dir) = recordings {
        let name = dir.file_name().unwrap_or_default().to_string_lossy();
        let voice = format!("recorded:{name}");
        out.push(Speaker {
            recorded: true,
            ..Speaker::draw("r0", &voice, false, settings, identities, seed)
        });
    }
    Ok(out)
}

/// Splits sentences into train, validation and test (each split asked for
/// gets at least one), and assigns voices: each sentence to `per_sentence`
/// training voices, and the test sentences also to the held-out voice
/// (`test_voice`).
fn plan(
    sentences: &[Sentence],
    speakers: &[Speaker],
    per_sentence: usize,
    fractions: [f64; 2],
    seed: u64,
) -> Result<Vec<Planned>, NodeError> {
    let training: Vec<usize> = (0..speakers.len())
        .filter(|&i| !speakers[i].held_out && !speakers[i].recorded)
        .collect();
    if training.is_empty() {
        return Ok(Vec::new());
    }
    let split = assign_splits(sentences.len(), fractions, seed, "splits", ["sentences", "sentence(s)"])?;
    let mut planned = Vec::new();
    for (i, sentence) in sentences.iter().enumerate() {
        let mut voices = training.clone();
        Rng::stream(seed, &format!("voices/{}", sentence.id)).shuffle(&mut voices);
        voices.truncate(per_sentence);
        voices.sort_unstable();
        for s in voices {
            planned.push(Planned {
                id: format!("{}-{}", sentence.id, speakers[s].id),
                split: split[i],
                sentence: sentence.clone(),
                speaker: s,
                recording: None,
            });
        }
        if let (Some(h), "test") = (speakers.iter().position(|s| s.held_out), split[i]) {
            planned.push(Planned {
                id: format!("{}-{}", sentence.id, speakers[h].id),
                split: "test_voice",
                sentence: sentence.clone(),
                speaker: h,
                recording: None,
            });
        }
    }
    Ok(planned)
}

/// The recorded lines as sequences of their speaker: split like sentences,
/// the held-out lines into `test_recorded`.
fn plan_recorded(
    lines: &[Recording],
    speaker: usize,
    speakers: &[Speaker],
    fractions: [f64; 2],
    seed: u64,
) -> Result<Vec<Planned>, NodeError> {
    let split = assign_splits(lines.len(), fractions, seed, "splits/recordings", ["recordings", "recorded line(s)"])?;
    Ok(lines
        .iter()
        .zip(split)
        .map(|(line, split)| Planned {
            id: format!("{}-{}", line.id, speakers[speaker].id),
            split: if split == "test" { "test_recorded" } else { split },
            sentence: Sentence {
                id: line.id.clone(),
                text: line.transcript.clone(),
                line: 0,
            },
            speaker,
            recording: Some(line.audio.clone()),
        })
        .collect())
}

/// Everything the sequences of one run share.
struct Factory<'a> {
    stage: Stage<'a>,
    driver: Driver,
    speakers: Vec<Speaker>,
    bodies: Vec<Body>,
    settings: Settings,
    seed: u64,
    root: PathBuf,
    /// What every sequence depends on besides its own sentence and speaker.
    common: Json,
}

impl Factory<'_> {
    /// A digest of everything a sequence depends on: the same key, the same files.
    fn key(&self, item: &Planned) -> String {
        let recording = item.recording.as_ref().map(|path| {
            std::fs::read(path).map_or_else(|e| e.to_string(), |bytes| blake3::hash(&bytes).to_hex().to_string())
        });
        let inputs = json!({
            "common": self.common, "id": item.id, "text": item.sentence.text,
            "speaker": self.speakers[item.speaker].to_json(), "recording": recording,
        });
        blake3::hash(inputs.to_string().as_bytes()).to_hex().to_string()
    }

    /// Makes and writes one sequence; returns its metadata and unknown phonemes.
    fn make(&self, item: &Planned, key: &str, cancel: &CancelToken) -> Result<(Json, Vec<String>), NodeError> {
        let (speaker, body, settings) = (&self.speakers[item.speaker], &self.bodies[item.speaker], &self.settings);
        let mut rng = Rng::stream(self.seed, &item.id);
        let sequence = match &item.recording {
            None => self
                .stage
                .sequence(&self.driver, speaker, body, &item.sentence.text, settings, &mut rng)?,
            Some(path) => {
                let speech = aligned_recording(path, &item.sentence.text, settings.sample_rate)?;
                self.stage
                    .animate(&self.driver, speaker, body, speech, settings, &mut rng)
                    .map_err(|e| NodeError::file(path, e))?
            }
        };
        let seconds = sequence.audio.len() as f64 / settings.sample_rate as f64;
        let meta = json!({
            "id": item.id,
            "split": item.split,
            "sentence": {"id": item.sentence.id, "text": item.sentence.text, "line": item.sentence.line},
            "speaker": speaker.id,
            "recording": item.recording.as_ref().map(|p| p.to_string_lossy().into_owned()),
            "voice": sequence.voice.as_ref().map(|v| json!({
                "name": v.name, "rate": v.rate, "pitch": v.pitch, "range": v.range,
            })),
            "frames": sequence.frames,
            "seconds": seconds,
            "fps": settings.fps,
            "sample_rate": settings.sample_rate,
            "phonemes": sequence.phones.iter().map(|(p, viseme)| json!({
                "symbol": p.symbol, "viseme": viseme, "start": p.start, "end": p.end,
            })).collect::<Vec<_>>(),
            "blinks": sequence.blinks,
            "key": key,
        });
        let motion = motion_record(
            sequence.weights,
            &self.stage.rig.expression_names,
            sequence.vertices,
            &sequence.head,
            self.stage.rest_face(&self.driver, speaker, body),
            &self.stage.stored,
            settings.fps,
        );
        let files = SequenceFiles {
            audio: sequence.audio,
            sample_rate: settings.sample_rate,
            motion,
            meta: meta.clone(),
        };
        write_sequence(&self.root, &item.id, &files, cancel)?;
        Ok((meta, sequence.unknown))
    }
}

/// A recorded line as timed speech at `sample_rate`: decoded, mixed to mono,
/// resampled and aligned to its transcript. Errors name the file.
fn aligned_recording(path: &Path, transcript: &str, sample_rate: u32) -> Result<Speech, NodeError> {
    let decoded = decode(path, 1 << 30, &|_| {}, &|| false)?;
    let channels = decoded.channels.len().max(1) as f32;
    let frames = decoded.channels.first().map_or(0, Vec::len);
    let mono: Vec<f32> = (0..frames)
        .map(|i| decoded.channels.iter().map(|c| c[i]).sum::<f32>() / channels)
        .collect();
    let samples = resample(&[mono], decoded.sample_rate, sample_rate)
        .map_err(|e| NodeError::file(path, e))?
        .remove(0);
    let alignment = align(&samples, sample_rate, transcript).map_err(|e| match e {
        AlignError::Missing(what) => NodeError::param("recordings", what),
        e => NodeError::file(path, format!("cannot be aligned to its transcript: {e}")),
    })?;
    Ok(Speech {
        samples,
        sample_rate,
        phones: alignment.phones,
    })
}

/// The index entry of a sequence, from its metadata.
fn summary(meta: &Json) -> Json {
    json!({
        "id": meta["id"], "split": meta["split"], "sentence": meta["sentence"]["id"], "speaker": meta["speaker"],
        "frames": meta["frames"], "seconds": meta["seconds"],
    })
}

fn splits_json(plan: &[&Planned]) -> Json {
    let mut splits = serde_json::Map::new();
    for name in ["train", "val", "test", "test_voice", "test_recorded"] {
        let ids: Vec<&str> = plan.iter().filter(|p| p.split == name).map(|p| p.id.as_str()).collect();
        splits.insert(name.into(), json!(ids));
    }
    Json::Object(splits)
}

/// The vertices of the named regions (`all`: every vertex), ascending.
fn stored_vertices(face: &FaceRig, regions: &str) -> Result<Vec<u32>, NodeError> {
    if regions.trim() == "all" {
        return Ok((0..face.vertex_count() as u32).collect());
    }
    let mut out = Vec::new();
    for name in regions.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let region = face.region(name).ok_or_else(|| {
            let known: Vec<&str> = face.regions.iter().map(|r| r.name.as_str()).collect();
            NodeError::param(
                "regions",
                format!("the face model has no region `{name}`; it has {}", known.join(", ")),
            )
        })?;
        out.extend(region.vertex_indices());
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err(NodeError::param("regions", "name at least one region, or `all`"));
    }
    Ok(out)
}

fn ranges_json(indices: &[u32]) -> Json {
    to_ranges(indices.iter().copied())
        .iter()
        .map(|r| json!([r.start, r.end]))
        .collect()
}
