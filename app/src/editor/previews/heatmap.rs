//! Features (`values` `[frames, dims]`) as a heatmap: time across, dimensions up.

use egui::{Color32, ColorImage};

/// The heatmap image: one column per frame, one row per dimension (the first
/// at the bottom), values scaled between the 1st and 99th percentiles so that
/// a few outliers do not wash the picture out.
pub fn image(values: &[f32], frames: usize, dims: usize) -> ColorImage {
    let (lo, hi) = robust_range(values);
    let scale = if hi > lo { 1.0 / (hi - lo) } else { 0.0 };
    let mut pixels = vec![Color32::BLACK; frames * dims];
    for f in 0..frames {
        for d in 0..dims {
            let v = ((values[f * dims + d] - lo) * scale).clamp(0.0, 1.0);
            pixels[(dims - 1 - d) * frames + f] = colormap(v);
        }
    }
    ColorImage::new([frames.max(1), dims.max(1)], pixels)
}

/// The 1st and 99th percentiles of finite values.
pub fn robust_range(values: &[f32]) -> (f32, f32) {
    let mut v: Vec<f32> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f32::total_cmp);
    let at = |q: f32| v[((v.len() - 1) as f32 * q).round() as usize];
    (at(0.01), at(0.99))
}

/// A perceptually ordered dark-blue → yellow ramp.
pub fn colormap(v: f32) -> Color32 {
    const STOPS: [[f32; 3]; 5] = [
        [0.05, 0.03, 0.25],
        [0.35, 0.10, 0.50],
        [0.75, 0.25, 0.40],
        [0.98, 0.55, 0.15],
        [0.99, 0.95, 0.40],
    ];
    let x = v.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (x as usize).min(STOPS.len() - 2);
    let t = x - i as f32;
    let c = |k: usize| ((STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * t) * 255.0) as u8;
    Color32::from_rgb(c(0), c(1), c(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_runs_across_and_the_first_dimension_is_at_the_bottom() {
        // 2 frames × 3 dims; only frame 1, dim 0 is high.
        let img = image(&[0.0, 0.0, 0.0, 1.0, 0.0, 0.0], 2, 3);
        assert_eq!(img.size, [2, 3]);
        assert_eq!(img.pixels[2 * 2 + 1], colormap(1.0), "bottom row, second column");
        assert_eq!(img.pixels[0], colormap(0.0));
        assert_eq!(robust_range(&[f32::NAN, 2.0, 4.0]), (2.0, 4.0));
    }
}
