//! Export speed and size: `export.video` encoding frames per second at
//! 512×512 and 1920×1080 (and how much of it is the conversion to yuv420p),
//! the bit rate at the default quality and the quality it buys (PSNR of the
//! frames decoded by ffmpeg against the source), then the audio encoders'
//! speed.
//!
//! `cargo bench -p gspeech-nodes --bench export` (needs ffmpeg) prints
//! Markdown tables.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Instant;

use gspeech_nodes::export::frames::FramesView;
use gspeech_nodes::export::h264::Yuv420;
use gspeech_nodes::export::{Video, aac, opus};
use gspeech_sdk::testing::TestRun;
use gspeech_sdk::{CancelToken, Inputs, PortType, Record, Tensor, Value};

const FPS: f64 = 25.0;
const FRAMES: usize = 50;

/// A synthetic talking-head-like picture: a soft vignette background, a
/// shaded, textured oval that sways, and a dark mouth that opens and closes.
fn picture(t: usize, width: usize, height: usize) -> Vec<u8> {
    let (w, h) = (width as f32, height as f32);
    let phase = t as f32 / FPS as f32;
    let (cx, cy) = (w * (0.5 + 0.03 * (phase * 2.0).sin()), h * 0.5);
    let (rx, ry) = (w.min(h) * 0.28, w.min(h) * 0.38);
    let mouth_open = 0.5 + 0.5 * (phase * 9.0).sin();
    let mut rgba = Vec::with_capacity(width * height * 4);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f32, y as f32);
            let vignette = 1.0 - ((fx / w - 0.5).powi(2) + (fy / h - 0.5).powi(2)) * 1.5;
            let mut c = [40.0 * vignette, 60.0 * vignette, 90.0 * vignette];
            let (dx, dy) = ((fx - cx) / rx, (fy - cy) / ry);
            let r = dx * dx + dy * dy;
            if r < 1.0 {
                let shade = (1.0 - r).sqrt() * 0.8 + 0.2;
                // Skin texture: fine pores that move with the head.
                let pore = ((fx - cx) * 0.9).sin() * ((fy - cy) * 1.1).cos() * 6.0;
                c = [225.0 * shade + pore, 170.0 * shade + pore, 140.0 * shade + pore];
                let (mx, my) = (dx / 0.35, (dy - 0.45) / (0.05 + 0.12 * mouth_open));
                if mx * mx + my * my < 1.0 {
                    c = [90.0, 30.0, 35.0];
                }
            }
            rgba.extend(c.map(|v| v.clamp(0.0, 255.0) as u8));
            rgba.push(255);
        }
    }
    rgba
}

fn frames(width: usize, height: usize) -> Value {
    let data: Vec<u8> = (0..FRAMES).flat_map(|t| picture(t, width, height)).collect();
    let rgba = Tensor::from_u8(&[FRAMES, height, width, 4], data).unwrap();
    Value::data(
        Record::new(PortType::Frames)
            .with_tensor("rgba", rgba)
            .with_attr("fps", FPS),
    )
}

/// Mean PSNR (dB) of every decoded frame against its source, in RGB.
fn mean_psnr(path: &std::path::Path, width: usize, height: usize) -> f64 {
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf",
            "scale=in_color_matrix=bt709:in_range=tv:out_range=pc:flags=accurate_rnd+full_chroma_int",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg decodes the benchmark's videos");
    let mut stdout = child.stdout.take().unwrap();
    let mut decoded = vec![0u8; width * height * 3];
    let mut total = 0.0;
    for t in 0..FRAMES {
        stdout.read_exact(&mut decoded).unwrap();
        let source = picture(t, width, height);
        let mse = decoded
            .iter()
            .zip(source.chunks_exact(4).flat_map(|p| &p[..3]))
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum::<f64>()
            / decoded.len() as f64;
        total += 10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10();
    }
    child.wait().unwrap();
    total / FRAMES as f64
}

fn main() {
    println!("export.video: {FRAMES} frames at {FPS} fps, default settings (High profile, QP 23), one run\n");
    println!(
        "| size | encode (frames/s) | per frame (ms) | of which RGB to yuv420p (ms) | bit rate (kb/s) | mean PSNR (dB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (width, height) in [(512, 512), (1920, 1080)] {
        let value = frames(width, height);
        let view = FramesView::of(value.as_record().unwrap()).unwrap();
        let mut picture = Yuv420::new(width, height);
        let start = Instant::now();
        for t in 0..FRAMES {
            picture.fill(width, height, |y, row| view.row_over(t, y, [0.0; 3], row));
        }
        let convert_ms = start.elapsed().as_secs_f64() * 1000.0 / FRAMES as f64;
        let run = TestRun::new();
        let path = run.dir().join("bench.mp4");
        let inputs = Inputs::new([("frames".to_string(), value)].into());
        let start = Instant::now();
        run.run(&Video, inputs, serde_json::json!({"path": path.to_str().unwrap()}))
            .unwrap();
        let seconds = start.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(&path).unwrap().len();
        let kbps = bytes as f64 * 8.0 / (FRAMES as f64 / FPS) / 1000.0;
        println!(
            "| {width}×{height} | {:.1} | {:.1} | {convert_ms:.1} | {kbps:.0} | {:.1} |",
            FRAMES as f64 / seconds,
            seconds * 1000.0 / FRAMES as f64,
            mean_psnr(&path, width, height)
        );
    }

    const SECONDS: usize = 60;
    let tone: Vec<f32> = (0..SECONDS * 48000)
        .map(|i| (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / 48000.0).sin() * 0.3)
        .collect();
    let stereo = vec![tone.clone(), tone];
    println!("\nAudio encoders: {SECONDS} s of stereo at 48 kHz, 160 kb/s, one run\n");
    println!("| codec | encode (ms) | × real time |");
    println!("|---|---:|---:|");
    let cancel = CancelToken::new();
    for name in ["AAC-LC (FDK)", "Opus (libopus)"] {
        let start = Instant::now();
        if name.starts_with("AAC") {
            aac::encode(&stereo, 48000, 160_000, &cancel).unwrap();
        } else {
            opus::encode(&stereo, 48000, 160_000, &cancel).unwrap();
        }
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "| {name} | {:.0} | {:.0}× |",
            seconds * 1000.0,
            SECONDS as f64 / seconds
        );
    }
}
