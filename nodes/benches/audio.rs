//! Audio front-end speed: decoding each format, and decoding plus resampling
//! to 16 kHz mono, as multiples of real time.
//!
//! `cargo bench -p gspeech-nodes --bench audio` (needs ffmpeg to make the
//! encoded files) prints a Markdown table.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gspeech_nodes::audio::{decode, resample};

const SECONDS: usize = 60;
const RATE: u32 = 44100;
const REPEATS: usize = 5;

/// A minute of stereo 16-bit PCM: a slow sweep on the left, a chord on the right.
fn write_source(path: &Path) {
    let frames = SECONDS * RATE as usize;
    let mut data: Vec<i16> = Vec::with_capacity(frames * 2);
    for i in 0..frames {
        let t = i as f64 / RATE as f64;
        let left = (2.0 * std::f64::consts::PI * (100.0 * t + 40.0 * t * t)).sin() * 0.4;
        let right = [220.0, 277.2, 329.6]
            .iter()
            .map(|hz| (2.0 * std::f64::consts::PI * hz * t).sin() * 0.2)
            .sum::<f64>();
        data.extend([left, right].map(|v| (v * 32767.0) as i16));
    }
    std::fs::write(path, gspeech_nodes::audio::wav::pcm16(RATE, 2, &data)).unwrap();
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("gspeech-audio-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wav = dir.join("source.wav");
    write_source(&wav);
    let formats: [(&str, &[&str]); 5] = [
        ("source.wav", &[]),
        ("source.flac", &[]),
        ("source.mp3", &["-b:a", "192k"]),
        ("source.ogg", &["-c:a", "libvorbis", "-q:a", "6"]),
        ("source.m4a", &["-c:a", "aac", "-b:a", "192k"]),
    ];
    println!("Audio front end: {SECONDS} s of stereo at {RATE} Hz, median of {REPEATS}, one thread\n");
    println!("| format | decode (ms) | decode × real time | decode + resample to 16 kHz mono (ms) | × real time |");
    println!("|---|---:|---:|---:|---:|");
    for (name, args) in formats {
        let path = dir.join(name);
        if path != wav {
            let status = Command::new("ffmpeg")
                .args(["-v", "error", "-y", "-i"])
                .arg(&wav)
                .args(args)
                .arg(&path)
                .status()
                .expect("ffmpeg makes the encoded files");
            assert!(status.success());
        }
        let decode_once = || decode(&path, u64::MAX, &|_| {}, &|| false).unwrap();
        let decoding = median(
            (0..REPEATS)
                .map(|_| {
                    let t = Instant::now();
                    decode_once();
                    t.elapsed()
                })
                .collect(),
        );
        let full = median(
            (0..REPEATS)
                .map(|_| {
                    let t = Instant::now();
                    let decoded = decode_once();
                    let n = decoded.channels[0].len();
                    let mono: Vec<f32> = (0..n)
                        .map(|i| (decoded.channels[0][i] + decoded.channels[1][i]) * 0.5)
                        .collect();
                    let out = resample(&[mono], decoded.sample_rate, 16000).unwrap();
                    assert!(out[0].len() >= SECONDS * 16000 - 16000);
                    t.elapsed()
                })
                .collect(),
        );
        let speed = |d: Duration| SECONDS as f64 / d.as_secs_f64();
        println!(
            "| {} | {:.1} | {:.0}× | {:.1} | {:.0}× |",
            name.trim_start_matches("source."),
            decoding.as_secs_f64() * 1e3,
            speed(decoding),
            full.as_secs_f64() * 1e3,
            speed(full)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
