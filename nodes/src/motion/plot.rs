//! The training curves as a PNG: the training loss (a moving average, blue)
//! and the validation loss (red, with a dot per validation) against the step,
//! on a log scale with a grey line at every power of ten. Hand-drawn with
//! `image` (already a dependency) rather than a plotting crate, whose text
//! rendering would need system fonts on a headless machine.

use std::path::Path;

use image::{Rgb, RgbImage};

const WIDTH: u32 = 800;
const HEIGHT: u32 = 400;
const MARGIN: f64 = 20.0;

/// Reads a metrics file and draws its curves into `out` (atomically).
pub fn curves(metrics: &Path, out: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(metrics).map_err(|e| e.to_string())?;
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let (Some(step), Some(loss)) = (v["step"].as_f64(), v["loss"].as_f64()) else {
            continue;
        };
        if loss > 0.0 && loss.is_finite() {
            if v["split"] == "val" { &mut val } else { &mut train }.push((step, loss));
        }
    }
    let image = draw(&smooth(&train, 25), &val);
    let mut bytes = Vec::new();
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| e.to_string())?;
    gspeech_sdk::fs::write_atomic(out, &bytes, &gspeech_sdk::CancelToken::new()).map_err(|e| e.to_string())
}

/// A trailing moving average over `window` points.
fn smooth(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    (0..points.len())
        .map(|i| {
            let from = i.saturating_sub(window - 1);
            let slice = &points[from..=i];
            (points[i].0, slice.iter().map(|p| p.1).sum::<f64>() / slice.len() as f64)
        })
        .collect()
}

fn draw(train: &[(f64, f64)], val: &[(f64, f64)]) -> RgbImage {
    let mut image = RgbImage::from_pixel(WIDTH, HEIGHT, Rgb([255, 255, 255]));
    let all = train.iter().chain(val);
    let max_step = all.clone().map(|p| p.0).fold(1.0, f64::max);
    let (lo, hi) = all.fold((f64::MAX, f64::MIN), |(lo, hi), p| (lo.min(p.1.log10()), hi.max(p.1.log10())));
    if lo > hi {
        return image;
    }
    let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
    let x = |step: f64| MARGIN + step / max_step * (WIDTH as f64 - 2.0 * MARGIN);
    let y = |loss: f64| HEIGHT as f64 - MARGIN - (loss.log10() - lo) / (hi - lo) * (HEIGHT as f64 - 2.0 * MARGIN);
    for decade in lo as i32..=hi as i32 {
        let yy = y(10f64.powi(decade));
        line(&mut image, (MARGIN, yy), (WIDTH as f64 - MARGIN, yy), Rgb([210, 210, 210]));
    }
    line(&mut image, (MARGIN, MARGIN), (MARGIN, HEIGHT as f64 - MARGIN), Rgb([0, 0, 0]));
    for (points, colour) in [(train, Rgb([40, 90, 200])), (val, Rgb([210, 40, 40]))] {
        for pair in points.windows(2) {
            line(&mut image, (x(pair[0].0), y(pair[0].1)), (x(pair[1].0), y(pair[1].1)), colour);
        }
    }
    for &(step, loss) in val {
        let (cx, cy) = (x(step), y(loss));
        for dy in -2..=2 {
            for dx in -2..=2 {
                put(&mut image, cx + dx as f64, cy + dy as f64, Rgb([210, 40, 40]));
            }
        }
    }
    image
}

fn put(image: &mut RgbImage, x: f64, y: f64, colour: Rgb<u8>) {
    if x >= 0.0 && y >= 0.0 && (x as u32) < image.width() && (y as u32) < image.height() {
        image.put_pixel(x as u32, y as u32, colour);
    }
}

fn line(image: &mut RgbImage, a: (f64, f64), b: (f64, f64), colour: Rgb<u8>) {
    let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=n {
        let t = i as f64 / n as f64;
        put(image, a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t, colour);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_both_curves() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = dir.path().join("m.jsonl");
        let lines: Vec<String> = (1..=50)
            .map(|s| format!("{{\"step\": {s}, \"loss\": {}}}", 10.0 / s as f64))
            .chain(["{\"step\": 50, \"split\": \"val\", \"loss\": 0.5}".to_string()])
            .collect();
        std::fs::write(&metrics, lines.join("\n")).unwrap();
        let out = dir.path().join("m.png");
        curves(&metrics, &out).unwrap();
        let image = image::open(&out).unwrap().to_rgb8();
        let count = |c: [u8; 3]| image.pixels().filter(|p| p.0 == c).count();
        assert!(count([40, 90, 200]) > 100, "the training curve is drawn");
        assert!(count([210, 40, 40]) >= 25, "the validation point is drawn");
    }
}
