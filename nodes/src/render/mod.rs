//! Gaussian splat rendering: a wgpu compute renderer ([`SplatRenderer`],
//! WGSL in the repository's `shaders/` folder), a CPU reference with the same
//! maths ([`cpu`]) and its backward pass for fitting ([`backward`]), and
//! the `render.splats` node.
//!
//! The pipeline, on both: project every Gaussian (EWA covariance with a
//! 0.3 px² low-pass dilation, culling, spherical-harmonic colour), sort the
//! visible ones by depth, bin them into 16×16 tiles as (tile, splat) pairs,
//! sort the pairs by tile (stably, so each tile's splats stay front to back),
//! find each tile's range, and blend front to back per pixel with early
//! termination. Which choices are ours: a splat's footprint is the exact box
//! of its 1/255 alpha contour (3D Gaussian Splatting uses a 3σ circle), its
//! depth is the camera-space z of its centre, and the GPU keeps colour
//! coefficients above degree 0 in half precision (colours within about 10⁻³
//! of the CPU reference's).

pub mod backward;
pub mod cpu;
pub mod gpu;
pub mod project;
mod splats;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use gspeech_sdk::Node;

pub use gpu::SplatRenderer;
pub use splats::RenderSplats;

/// The render nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(RenderSplats::default())]
}

/// A rendered frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major RGBA, colour premultiplied by alpha, composited over the background.
    pub rgba: Vec<[f32; 4]>,
    /// The expected camera-space depth of what each pixel shows, 0 where it shows nothing.
    pub depth: Vec<f32>,
}

impl Image {
    /// A transparent black image.
    pub fn new(width: u32, height: u32) -> Image {
        let pixels = width as usize * height as usize;
        Image {
            width,
            height,
            rgba: vec![[0.0; 4]; pixels],
            depth: vec![0.0; pixels],
        }
    }

    /// One pixel's premultiplied RGBA.
    pub fn pixel(&self, x: u32, y: u32) -> [f32; 4] {
        self.rgba[(y * self.width + x) as usize]
    }

    /// Row-major straight-alpha RGBA (colour divided by alpha where alpha > 0), flattened.
    pub fn straight_rgba(&self) -> Vec<f32> {
        self.rgba
            .iter()
            .flat_map(|&[r, g, b, a]| {
                let scale = if a > 0.0 { 1.0 / a } else { 0.0 };
                [r * scale, g * scale, b * scale, a]
            })
            .collect()
    }

    /// Peak signal-to-noise ratio in dB between two images' RGBA, each value
    /// clamped to [0, 1] (infinite when they are equal).
    pub fn psnr(&self, other: &Image) -> f64 {
        assert_eq!(
            (self.width, self.height),
            (other.width, other.height),
            "images of one size"
        );
        let squared: f64 = self
            .rgba
            .iter()
            .flatten()
            .zip(other.rgba.iter().flatten())
            .map(|(a, b)| (a.clamp(0.0, 1.0) as f64 - b.clamp(0.0, 1.0) as f64).powi(2))
            .sum();
        let mse = squared / (self.rgba.len() * 4).max(1) as f64;
        -10.0 * mse.log10()
    }
}

/// How long each stage of a frame took, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Stage names and durations.
    pub stages: Vec<(&'static str, Duration)>,
}

impl StageTimes {
    /// Records a stage (a stage recorded twice accumulates).
    pub fn push(&mut self, name: &'static str, duration: Duration) {
        match self.stages.iter_mut().find(|(n, _)| *n == name) {
            Some((_, d)) => *d += duration,
            None => self.stages.push((name, duration)),
        }
    }

    /// The sum of all stages.
    pub fn total(&self) -> Duration {
        self.stages.iter().map(|(_, d)| *d).sum()
    }

    /// One stage's duration (zero if it was not recorded).
    pub fn get(&self, name: &str) -> Duration {
        self.stages
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(Duration::ZERO, |(_, d)| *d)
    }
}
