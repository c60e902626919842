//! Helpers for the export tests: synthetic values, the independent readers
//! (ffprobe and ffmpeg), and a run cancelled half-way.

use std::path::Path;
use std::process::Command;

use gspeech_sdk::gpu::GpuSlot;
use gspeech_sdk::{
    CancelToken, Inputs, LogLevel, Node, NodeError, Params, PortType, Record, Reporter, RunContext, Tensor, Value,
};

/// Frames of `width`×`height` whose pixel (x, y) of frame `t` is `pixel(t, x, y)`.
pub fn frames_u8(
    count: usize,
    width: usize,
    height: usize,
    fps: f64,
    pixel: impl Fn(usize, usize, usize) -> [u8; 4],
) -> Value {
    let mut data = Vec::with_capacity(count * width * height * 4);
    for t in 0..count {
        for y in 0..height {
            for x in 0..width {
                data.extend(pixel(t, x, y));
            }
        }
    }
    let rgba = Tensor::from_u8(&[count, height, width, 4], data).unwrap();
    Value::data(
        Record::new(PortType::Frames)
            .with_tensor("rgba", rgba)
            .with_attr("fps", fps),
    )
}

/// A smooth test picture that moves: gradients plus a bright, soft-edged disc
/// travelling right (rendered pictures are anti-aliased, not hard-edged).
pub fn moving_disc(t: usize, x: usize, y: usize) -> [u8; 4] {
    let (cx, cy) = (12.0 + 2.0 * t as f32, 20.0);
    let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
    let disc = (1.0 - ((d - 6.0) / 4.0).clamp(0.0, 1.0)) * 180.0;
    [
        (40.0 + 3.0 * x as f32 + disc * 0.3).min(255.0) as u8,
        (30.0 + 4.0 * y as f32 + disc).min(255.0) as u8,
        (200.0 - 2.0 * x as f32).max(0.0) as u8,
        255,
    ]
}

/// Audio silent until `onset` seconds, then a 1 kHz tone at half scale.
pub fn tone_after(onset: f64, seconds: f64, sample_rate: u32, channels: usize) -> Value {
    let n = (seconds * sample_rate as f64).round() as usize;
    let start = (onset * sample_rate as f64).round() as usize;
    let tone: Vec<f32> = (0..n)
        .map(|i| {
            if i < start {
                0.0
            } else {
                0.5 * (2.0 * std::f64::consts::PI * 1000.0 * (i - start) as f64 / sample_rate as f64).sin() as f32
            }
        })
        .collect();
    crate::audio::audio_value(sample_rate, &vec![tone; channels])
}

/// Inputs from socket name → value pairs.
pub fn inputs<const N: usize>(pairs: [(&str, Value); N]) -> Inputs {
    Inputs::new(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Runs a command that must succeed; returns its standard output.
fn run(program: &str, args: &[&str]) -> (Vec<u8>, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/setup.sh): {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{program} {args:?} failed: {stderr}");
    (out.stdout, stderr)
}

/// ffprobe's view of a file: its streams (frames counted by decoding) and format.
pub fn ffprobe(path: &Path) -> serde_json::Value {
    let path = path.to_str().unwrap();
    let (json, _) = run(
        "ffprobe",
        &[
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            path,
        ],
    );
    serde_json::from_slice(&json).unwrap()
}

/// A stream's field as a number (ffprobe writes many numbers as text).
pub fn number(stream: &serde_json::Value, field: &str) -> f64 {
    match &stream[field] {
        serde_json::Value::String(s) => s.parse().unwrap_or_else(|_| panic!("{field} = {s}")),
        v => v.as_f64().unwrap_or_else(|| panic!("{field} missing in {stream}")),
    }
}

/// Decodes the whole file with ffmpeg, which must report no error at all.
pub fn decodes_cleanly(path: &Path) {
    let (_, stderr) = run(
        "ffmpeg",
        &["-v", "error", "-i", path.to_str().unwrap(), "-f", "null", "-"],
    );
    assert!(stderr.trim().is_empty(), "ffmpeg reported: {stderr}");
}

/// One decoded video frame as RGB bytes, converted by ffmpeg from BT.709
/// limited-range Y'CbCr.
pub fn decoded_frame_rgb(path: &Path, frame: usize) -> Vec<u8> {
    let select = format!(
        "select=eq(n\\,{frame}),scale=in_color_matrix=bt709:in_range=tv:out_range=pc:flags=accurate_rnd+full_chroma_int"
    );
    let (rgb, _) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-vf",
            &select,
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
    );
    rgb
}

/// The first audio stream decoded by ffmpeg to 32-bit float, channel 0 only.
pub fn decoded_audio(path: &Path) -> Vec<f32> {
    let (raw, _) = run(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-i",
            path.to_str().unwrap(),
            "-map",
            "0:a:0",
            "-ac",
            "1",
            "-f",
            "f32le",
            "-",
        ],
    );
    raw.chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// Peak signal-to-noise ratio of two 8-bit images, in dB.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

/// Cancels its token when progress passes a fraction.
struct CancelPartWay {
    token: CancelToken,
    at: f32,
}

impl Reporter for CancelPartWay {
    fn progress(&self, fraction: f32, _message: &str) {
        if fraction >= self.at {
            self.token.cancel();
        }
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
}

/// Runs a node that is cancelled once it reports `at` of its progress.
pub fn run_cancelled_at(node: &dyn Node, inputs: Inputs, params: serde_json::Value, at: f32) -> Result<(), NodeError> {
    let spec = node.spec();
    let dir = std::env::temp_dir();
    let params = Params::from_json(&spec, params.as_object().unwrap(), &dir).unwrap();
    let reporter = CancelPartWay {
        token: CancelToken::new(),
        at,
    };
    let gpu = GpuSlot::new();
    let ctx = RunContext::new("test", &spec.type_id, &reporter, &reporter.token, &dir, None, &gpu);
    node.run(&ctx, &inputs, &params).map(|_| ())
}

/// The names of the files in a folder.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
