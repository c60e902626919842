//! The previews' shared time: a playhead with play, pause and scrub, and audio
//! played in sync with it through the default output device.
//!
//! While audio plays, the sound card's position is the clock, so pictures
//! follow the sound rather than drift from it. Without an output device (a
//! server, a test machine) the wall clock drives the playhead and nothing fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use egui::Ui;

/// Mono samples at a rate, shared with the audio thread.
#[derive(Clone)]
pub struct Sound {
    /// Samples in [-1, 1].
    pub samples: Arc<Vec<f32>>,
    /// Samples per second.
    pub rate: u32,
}

impl Sound {
    /// The mono mix of an audio record (`samples` `[channels, frames]`).
    pub fn from_record(record: &gspeech_sdk::Record) -> Option<Sound> {
        let t = record.tensor("samples")?;
        let data = t.as_f32()?;
        let (channels, frames) = (t.shape()[0].max(1), t.shape()[1]);
        let rate = record.attr("sample_rate")?.as_u64()? as u32;
        let mono = (0..frames)
            .map(|i| (0..channels).map(|c| data[c * frames + i]).sum::<f32>() / channels as f32)
            .collect();
        Some(Sound {
            samples: Arc::new(mono),
            rate,
        })
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / self.rate.max(1) as f64
    }
}

/// A stream playing a sound from some time on, counting what it played.
struct AudioOut {
    _stream: cpal::Stream,
    played: Arc<AtomicU64>,
    device_rate: u32,
    from: f64,
}

impl AudioOut {
    fn start(sound: &Sound, from: f64) -> Result<AudioOut, String> {
        let host = cpal::default_host();
        let device = host.default_output_device().ok_or("no audio output device")?;
        let supported = device.default_output_config().map_err(|e| e.to_string())?;
        let config = supported.config();
        let device_rate = config.sample_rate;
        let channels = config.channels as usize;
        let played = Arc::new(AtomicU64::new(0));
        let counter = played.clone();
        let samples = sound.samples.clone();
        let step = sound.rate as f64 / device_rate as f64;
        let start = from * sound.rate as f64;
        // Linear interpolation from the sound's rate to the device's.
        let next = move || {
            let frame = counter.fetch_add(1, Ordering::Relaxed) as f64;
            let pos = start + frame * step;
            let i = pos as usize;
            let a = samples.get(i).copied().unwrap_or(0.0);
            let b = samples.get(i + 1).copied().unwrap_or(0.0);
            a + (b - a) * (pos - i as f64) as f32
        };
        let error = |e| eprintln!("warning: audio playback: {e}");
        let stream = match supported.sample_format() {
            cpal::SampleFormat::F32 => device.build_output_stream(
                config,
                move |out: &mut [f32], _: &cpal::OutputCallbackInfo| {
                    for frame in out.chunks_mut(channels) {
                        frame.fill(next());
                    }
                },
                error,
                None,
            ),
            cpal::SampleFormat::I16 => device.build_output_stream(
                config,
                move |out: &mut [i16], _: &cpal::OutputCallbackInfo| {
                    for frame in out.chunks_mut(channels) {
                        frame.fill((next().clamp(-1.0, 1.0) * i16::MAX as f32) as i16);
                    }
                },
                error,
                None,
            ),
            other => return Err(format!("the output device wants {other:?} samples")),
        }
        .map_err(|e| e.to_string())?;
        stream.play().map_err(|e| e.to_string())?;
        Ok(AudioOut {
            _stream: stream,
            played,
            device_rate,
            from,
        })
    }

    fn time(&self) -> f64 {
        self.from + self.played.load(Ordering::Relaxed) as f64 / self.device_rate as f64
    }
}

/// The playhead: where previews are in time, and whether they play.
#[derive(Default)]
pub struct Transport {
    time: f64,
    duration: f64,
    clock: Option<(Instant, f64)>,
    audio: Option<AudioOut>,
    note: Option<String>,
}

impl Transport {
    /// Sets the length of what is previewed; the playhead stays inside it.
    pub fn set_duration(&mut self, seconds: f64) {
        self.duration = seconds.max(0.0);
        if self.time > self.duration {
            self.seek(0.0);
        }
    }

    /// The length of what is previewed.
    pub fn duration(&self) -> f64 {
        self.duration
    }

    /// The playhead in seconds, advanced to now when playing; stops at the end.
    pub fn time(&mut self) -> f64 {
        if let Some(audio) = &self.audio {
            self.time = audio.time();
        } else if let Some((at, from)) = self.clock {
            self.time = from + at.elapsed().as_secs_f64();
        }
        if self.is_playing() && self.time >= self.duration {
            self.audio = None;
            self.clock = None;
            self.time = self.duration;
        }
        self.time
    }

    /// Whether it plays.
    pub fn is_playing(&self) -> bool {
        self.clock.is_some() || self.audio.is_some()
    }

    /// Starts playing from the playhead (from the start when at the end),
    /// with `sound` on the output device when there is one.
    pub fn play(&mut self, sound: Option<&Sound>) {
        if self.time >= self.duration {
            self.time = 0.0;
        }
        self.note = None;
        if let Some(sound) = sound {
            match AudioOut::start(sound, self.time) {
                Ok(out) => {
                    self.audio = Some(out);
                    return;
                }
                Err(e) => self.note = Some(format!("silent: {e}")),
            }
        }
        self.clock = Some((Instant::now(), self.time));
    }

    /// Stops at the current time.
    pub fn pause(&mut self) {
        let t = self.time();
        self.audio = None;
        self.clock = None;
        self.time = t;
    }

    /// Moves the playhead; playing goes on from there.
    pub fn seek(&mut self, seconds: f64) {
        let playing = self.is_playing();
        self.audio = None;
        self.clock = None;
        self.time = seconds.clamp(0.0, self.duration);
        if playing {
            self.clock = Some((Instant::now(), self.time));
        }
    }

    /// Play/pause, a scrub bar and the time; `sound` is what plays with it.
    pub fn controls(&mut self, ui: &mut Ui, sound: Option<&Sound>) {
        let now = self.time();
        ui.horizontal(|ui| {
            let label = if self.is_playing() { "⏸ Pause" } else { "▶ Play" };
            if ui.button(label).on_hover_text("Space").clicked() {
                self.toggle(sound);
            }
            let mut t = now;
            let width = (ui.available_width() - 120.0).max(60.0);
            ui.spacing_mut().slider_width = width;
            let scrub = ui.add(egui::Slider::new(&mut t, 0.0..=self.duration.max(1e-3)).show_value(false));
            if scrub.changed() {
                self.seek(t);
            }
            ui.monospace(format!("{:6.2} / {:.2} s", now, self.duration));
            if let Some(note) = &self.note {
                ui.weak(note);
            }
        });
        if self.is_playing() {
            ui.ctx().request_repaint();
        }
    }

    /// Play if paused, pause if playing.
    pub fn toggle(&mut self, sound: Option<&Sound>) {
        if self.is_playing() {
            self.pause();
        } else {
            self.play(sound);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wall_clock_drives_a_silent_playhead_and_it_stops_at_the_end() {
        let mut t = Transport::default();
        t.set_duration(0.05);
        t.play(None);
        assert!(t.is_playing());
        std::thread::sleep(std::time::Duration::from_millis(80));
        assert_eq!(t.time(), 0.05);
        assert!(!t.is_playing());
        t.seek(0.02);
        assert_eq!(t.time(), 0.02);
    }

    #[test]
    fn audio_is_mixed_to_mono() {
        let record = gspeech_sdk::Record::new(gspeech_sdk::PortType::Audio)
            .with_tensor(
                "samples",
                gspeech_sdk::Tensor::from_f32(&[2, 2], vec![1.0, 0.0, 0.0, 0.5]).unwrap(),
            )
            .with_attr("sample_rate", 2);
        let sound = Sound::from_record(&record).unwrap();
        assert_eq!(*sound.samples, vec![0.5, 0.25]);
        assert_eq!(sound.seconds(), 1.0);
    }
}
