//! `audio.load`: an audio file as mono (or multichannel) f32 at a chosen rate.

use gspeech_sdk::{
    FileFilter, Inputs, LogLevel, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext,
};

use super::{audio_value, decode, loudness, resample};

/// Loads an audio file: decode, cut, mix down, resample, gain and normalise.
pub struct Load;

impl Node for Load {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("audio.load", 1, "Load Audio")
            .doc(
                "Reads WAV, FLAC, MP3, Ogg Vorbis or AAC/M4A audio at any rate and channel count, cuts it to \
                 `start` + `duration`, mixes it to mono (unless `mono` is off), resamples it to `sample_rate` with \
                 a windowed-sinc resampler, applies `gain_db`, and optionally normalises its peak (dBFS) or its \
                 integrated loudness (LUFS, ITU-R BS.1770) to `target_db`.",
            )
            .output(PortSpec::new("audio", PortType::Audio, "The audio."))
            .param(ParamSpec::path(
                "path",
                PathRole::InputFile,
                vec![FileFilter::new(
                    "Audio",
                    &["wav", "flac", "mp3", "ogg", "oga", "m4a", "mp4", "aac"],
                )],
                "",
                "The audio file, relative to the graph file.",
            ))
            .param(ParamSpec::int(
                "sample_rate",
                16000,
                (Some(8000), Some(192000)),
                "Output sample rate in Hz.",
            ))
            .param(ParamSpec::bool("mono", true, "Average the channels into one."))
            .param(ParamSpec::float(
                "start",
                0.0,
                (Some(0.0), None),
                "Where to start, in seconds.",
            ))
            .param(ParamSpec::float(
                "duration",
                0.0,
                (Some(0.0), None),
                "How much to keep, in seconds (0: to the end).",
            ))
            .param(ParamSpec::float(
                "gain_db",
                0.0,
                (Some(-60.0), Some(60.0)),
                "Gain in dB, before normalisation.",
            ))
            .param(ParamSpec::choice(
                "normalize",
                "none",
                &["none", "peak", "loudness"],
                "Scale to a peak level (dBFS) or an integrated loudness (LUFS).",
            ))
            .param(ParamSpec::float(
                "target_db",
                -23.0,
                (Some(-70.0), Some(0.0)),
                "The peak level or loudness to normalise to.",
            ))
    }

    fn run(&self, ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let path = params.path("path")?;
        let budget = super::decode::memory_budget();
        let decoded = decode(path, budget, &|f| ctx.progress(f * 0.8, "decoding"), &|| {
            ctx.is_cancelled()
        })?;
        let (rate, total, file_channels) = (decoded.sample_rate, decoded.channels[0].len(), decoded.channels.len());
        let seconds = total as f64 / rate as f64;

        let start = params.float("start")?;
        let first = (start * rate as f64).round() as usize;
        if first >= total {
            return Err(NodeError::param(
                "start",
                format!("{start} s is past the end of the audio ({seconds:.2} s)"),
            ));
        }
        let duration = params.float("duration")?;
        let last = if duration > 0.0 {
            (first + (duration * rate as f64).round() as usize).min(total)
        } else {
            total
        };
        let mut channels: Vec<Vec<f32>> = decoded.channels.into_iter().map(|c| c[first..last].to_vec()).collect();
        if params.bool("mono")? && channels.len() > 1 {
            let scale = 1.0 / channels.len() as f32;
            let mono = (0..last - first)
                .map(|i| channels.iter().map(|c| c[i]).sum::<f32>() * scale)
                .collect();
            channels = vec![mono];
        }
        ctx.check_cancelled()?;

        let target_rate = params.int("sample_rate")? as u32;
        ctx.progress(0.85, "resampling");
        let mut channels = resample(&channels, rate, target_rate).map_err(|e| NodeError::file(path, e))?;
        let peak = channels.iter().flatten().fold(0f32, |m, s| m.max(s.abs()));
        if peak == 0.0 {
            return Err(NodeError::file(
                path,
                "is silent: every sample in the chosen span is zero",
            ));
        }

        let mut gain_db = params.float("gain_db")?;
        let target = params.float("target_db")?;
        match params.text("normalize")? {
            "peak" => gain_db = target - 20.0 * (peak as f64).log10(),
            "loudness" => {
                let views: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
                let measured = loudness::integrated(&views, target_rate)
                    .ok_or_else(|| NodeError::file(path, "is too quiet to measure its loudness (below -70 LUFS)"))?;
                gain_db = target - measured;
                let headroom = -20.0 * (peak as f64).log10();
                if gain_db > headroom {
                    ctx.log(
                        LogLevel::Warn,
                        &format!("reaching {target} LUFS needs {gain_db:+.1} dB and clips samples above full scale"),
                    );
                }
                ctx.info(&format!("measured {measured:.2} LUFS"));
            }
            _ => {}
        }
        if gain_db != 0.0 {
            let gain = 10f32.powf(gain_db as f32 / 20.0);
            channels.iter_mut().flatten().for_each(|s| *s *= gain);
        }
        ctx.info(&format!(
            "{}: {seconds:.2} s, {file_channels} channel(s) at {rate} Hz; kept {:.2} s, {} channel(s) at {target_rate} Hz, gain {gain_db:+.2} dB",
            path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            (last - first) as f64 / rate as f64,
            channels.len(),
        ));
        ctx.progress(1.0, "done");
        Ok(Outputs::new().with("audio", audio_value(target_rate, &channels)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::AudioView;
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{Inputs, Value};
    use serde_json::json;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
        std::fs::write(path, crate::audio::wav::pcm16(rate, channels, samples)).unwrap();
    }

    /// Two seconds of stereo at 44.1 kHz: 440 Hz left, 660 Hz right, both at half scale.
    fn stereo_tone(dir: &Path) -> (PathBuf, Vec<i16>) {
        let samples: Vec<i16> = (0..88200)
            .flat_map(|i| {
                let t = i as f64 / 44100.0;
                [440.0, 660.0].map(|hz| ((2.0 * std::f64::consts::PI * hz * t).sin() * 16384.0) as i16)
            })
            .collect();
        let path = dir.join("tone.wav");
        write_wav(&path, 44100, 2, &samples);
        (path, samples)
    }

    fn load(run: &TestRun, params: serde_json::Value) -> Result<Vec<Vec<f32>>, NodeError> {
        let out = run.run(&Load, Inputs::default(), params)?;
        let Some(Value::Data(record)) = out.get("audio") else {
            panic!("audio output")
        };
        let view = AudioView::of(record).unwrap();
        Ok((0..view.channels).map(|c| view.channel(c).to_vec()).collect())
    }

    /// ffmpeg's own decode to mono f32 at `rate`: the independent reference.
    fn ffmpeg_decode(path: &Path, rate: u32) -> Vec<f32> {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-ac", "1", "-ar", &rate.to_string(), "-f", "f32le", "-"])
            .output()
            .expect("ffmpeg (scripts/setup.sh installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out.stdout
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn encode(source: &Path, target: &Path, codec_args: &[&str]) {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(source)
            .args(codec_args)
            .arg(target)
            .status()
            .expect("ffmpeg (scripts/setup.sh installs it)");
        assert!(status.success());
    }

    #[test]
    fn wav_keeps_every_sample_at_its_own_rate() {
        let run = TestRun::new();
        let (path, samples) = stereo_tone(&run.dir());
        let channels = load(&run, json!({"path": path, "sample_rate": 44100, "mono": false})).unwrap();
        assert_eq!(channels.len(), 2);
        for (i, pair) in samples.chunks(2).enumerate() {
            assert_eq!(channels[0][i], pair[0] as f32 / 32768.0);
            assert_eq!(channels[1][i], pair[1] as f32 / 32768.0);
        }
    }

    /// Two seconds of a 150 Hz → 5 kHz sweep at 44.1 kHz, the same on both
    /// channels: aperiodic, so decoders' outputs can be aligned unambiguously.
    fn sweep(dir: &Path) -> PathBuf {
        let samples: Vec<i16> = (0..88200)
            .flat_map(|i| {
                let t = i as f64 / 44100.0;
                let phase = 2.0 * std::f64::consts::PI * (150.0 * t + (5000.0 - 150.0) / 4.0 * t * t);
                let v = (phase.sin() * 12000.0) as i16;
                [v, v]
            })
            .collect();
        let path = dir.join("sweep.wav");
        write_wav(&path, 44100, 2, &samples);
        path
    }

    #[test]
    fn every_format_matches_ffmpegs_decode() {
        let run = TestRun::new();
        let wav = sweep(&run.dir());
        let formats: [(&str, &[&str], f64); 5] = [
            ("sweep.wav", &[], 50.0),
            ("sweep.flac", &[], 50.0),
            ("sweep.mp3", &["-b:a", "192k"], 20.0),
            ("sweep.ogg", &["-c:a", "libvorbis", "-q:a", "6"], 20.0),
            ("sweep.m4a", &["-c:a", "aac", "-b:a", "192k"], 20.0),
        ];
        for (name, args, min_snr) in formats {
            let path = run.dir().join(name);
            if path != wav {
                encode(&wav, &path, args);
            }
            // At the file's own rate, so decoding is compared, not resamplers (tested on their own).
            let ours = &load(&run, json!({"path": path, "sample_rate": 44100})).unwrap()[0];
            let reference = ffmpeg_decode(&path, 44100);
            // Decoders differ in priming samples by up to a frame: align by cross-correlation,
            // and fit a gain (ffmpeg's downmix convention differs from an average).
            let span = 8000..80000;
            let dot = |lag: isize| -> f64 {
                span.clone()
                    .map(|i| ours[i] as f64 * reference[(i as isize + lag) as usize] as f64)
                    .sum()
            };
            let lag = (-3000..=3000).max_by(|&a, &b| dot(a).total_cmp(&dot(b))).unwrap();
            let energy: f64 = span.clone().map(|i| (ours[i] as f64).powi(2)).sum();
            let gain = dot(lag) / energy;
            let (signal, error) = span.clone().fold((0.0, 0.0), |(s, e), i| {
                let r = reference[(i as isize + lag) as usize] as f64;
                (s + r * r, e + (gain * ours[i] as f64 - r).powi(2))
            });
            let snr = 10.0 * (signal / error).log10();
            assert!(
                snr > min_snr,
                "{name}: SNR {snr:.1} dB against ffmpeg (lag {lag}, gain {gain:.3})"
            );
            assert!((0.7..1.5).contains(&gain), "{name}: gain {gain}");
            let frames = (ours.len() as isize - reference.len() as isize).abs();
            assert!(
                frames < 3000,
                "{name}: {} frames vs ffmpeg's {}",
                ours.len(),
                reference.len()
            );
        }
    }

    #[test]
    fn start_duration_gain_and_normalisation() {
        let run = TestRun::new();
        let (path, _) = stereo_tone(&run.dir());
        let cut = load(&run, json!({"path": path, "start": 0.5, "duration": 1.0})).unwrap();
        assert_eq!(cut[0].len(), 16000);
        let peak = |c: &[Vec<f32>]| c[0].iter().fold(0f32, |m, s| m.max(s.abs()));
        let loud = load(&run, json!({"path": path, "normalize": "peak", "target_db": -6.0})).unwrap();
        assert!((20.0 * peak(&loud).log10() - -6.0).abs() < 0.01);
        let quiet = load(
            &run,
            json!({"path": path, "gain_db": -20.0, "mono": false, "sample_rate": 44100}),
        )
        .unwrap();
        assert!((peak(&quiet) - 0.05).abs() < 0.001);
        let normalised = load(&run, json!({"path": path, "normalize": "loudness", "target_db": -30.0})).unwrap();
        let measured = crate::audio::loudness::integrated(&[&normalised[0]], 16000).unwrap();
        assert!((measured - -30.0).abs() < 0.01, "{measured}");
    }

    #[test]
    fn bad_files_get_errors_naming_them() {
        let run = TestRun::new();
        let dir = run.dir();
        let message = |file: &str, params: serde_json::Value| {
            let mut params = params;
            params["path"] = json!(dir.join(file));
            let err = load(&run, params).unwrap_err().to_string();
            assert!(err.contains(file), "{err}");
            err
        };
        std::fs::write(dir.join("empty.wav"), b"").unwrap();
        assert!(message("empty.wav", json!({})).ends_with("is empty"));
        std::fs::write(dir.join("notes.wav"), b"these are notes, not sound").unwrap();
        assert!(message("notes.wav", json!({})).contains("is not an audio file this tool reads"));
        write_wav(&dir.join("silent.wav"), 16000, 1, &[0; 16000]);
        assert!(message("silent.wav", json!({})).contains("is silent"));
        let (tone, _) = stereo_tone(&dir);
        let bytes = std::fs::read(&tone).unwrap();
        std::fs::write(dir.join("header-only.wav"), &bytes[..44]).unwrap();
        assert!(message("header-only.wav", json!({})).contains("contains no audio samples"));
        std::fs::copy(&tone, dir.join("late.wav")).unwrap();
        let err = load(&run, json!({"path": dir.join("late.wav"), "start": 5.0}))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "parameter `start`: 5 s is past the end of the audio (2.00 s)");
        let err = decode(&tone, 1000, &|_| {}, &|| false).unwrap_err().to_string();
        assert!(
            err.contains("tone.wav: is too long to load: 0:00:02 of 2-channel audio at 44100 Hz needs 0.0 GiB"),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_file_loads_what_is_there() {
        let run = TestRun::new();
        let (tone, _) = stereo_tone(&run.dir());
        let bytes = std::fs::read(&tone).unwrap();
        let cut = run.dir().join("cut.wav");
        std::fs::write(&cut, &bytes[..44 + 44100 * 4]).unwrap();
        let channels = load(&run, json!({"path": cut, "sample_rate": 44100})).unwrap();
        assert_eq!(channels[0].len(), 44100, "the first second, which is complete");
    }
}
