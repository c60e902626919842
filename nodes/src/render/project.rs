//! The per-splat and per-pixel maths of the renderer, on the CPU. The shaders
//! (`shaders/project.wgsl`, `shaders/rasterize.wgsl`) implement the same
//! operations in the same order; the constants are shared by name with
//! `shaders/common.wgsl`.

use crate::camera::Camera;
use crate::math::{Vec3, normalize, sub};
use crate::splats::{Gaussians, SH_C0};

/// Tiles are `TILE_SIZE × TILE_SIZE` pixels.
pub const TILE_SIZE: u32 = 16;
/// A splat contributes to a pixel only where its alpha reaches 1/255.
pub const ALPHA_MIN: f32 = 1.0 / 255.0;
/// Alpha never reaches 1.
pub const ALPHA_MAX: f32 = 0.99;
/// A pixel stops blending once its transmittance would fall below this.
pub const TRANSMITTANCE_MIN: f32 = 1.0e-4;
/// Added to the 2D covariance's diagonal (pixels²): the low-pass filter of EWA splatting.
pub const DILATION: f32 = 0.3;

const SH_C1: f32 = 0.488_602_5;
const SH_C2: [f32; 5] = [1.092_548_4, -1.092_548_4, 0.315_391_57, -1.092_548_4, 0.546_274_2];
const SH_C3: [f32; 7] = [
    -0.590_043_6,
    2.890_611_4,
    -0.457_045_8,
    0.373_176_33,
    -0.457_045_8,
    1.445_305_7,
    -0.590_043_6,
];

/// A splat as the camera sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Projected {
    /// Centre in pixels.
    pub mean: [f32; 2],
    /// Camera-space depth of the centre.
    pub depth: f32,
    /// Opacity.
    pub opacity: f32,
    /// The inverse 2D covariance `[[a, b], [b, c]]` as `[a, b, c]`.
    pub conic: [f32; 3],
    /// The exponent below which alpha is under 1/255: `−ln(255 · opacity)`.
    pub min_power: f32,
    /// View-dependent colour.
    pub color: [f32; 3],
    /// The tiles touched: `[x0, y0, x1, y1)`.
    pub rect: [u32; 4],
}

/// Tiles across and down an image.
pub fn tile_grid(camera: &Camera) -> [u32; 2] {
    [camera.width.div_ceil(TILE_SIZE), camera.height.div_ceil(TILE_SIZE)]
}

/// A unit quaternion, the identity for a zero one (as uploaded to the GPU).
pub fn unit_quaternion(q: [f32; 4]) -> [f32; 4] {
    let norm = q.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        q.map(|v| v / norm)
    } else {
        [1.0, 0.0, 0.0, 0.0]
    }
}

/// The colour seen along unit direction `d`: `max(0, 0.5 + Σ cₖ Yₖ(d))` with
/// the real spherical harmonics in 3D Gaussian Splatting's sign convention.
pub fn sh_color(coefficients: &[f32], degree: u32, d: Vec3) -> [f32; 3] {
    let c = |k: usize| [coefficients[3 * k], coefficients[3 * k + 1], coefficients[3 * k + 2]];
    let mut basis = [0f32; 16];
    basis[0] = SH_C0;
    let [x, y, z] = d;
    if degree >= 1 {
        basis[1] = -SH_C1 * y;
        basis[2] = SH_C1 * z;
        basis[3] = -SH_C1 * x;
    }
    if degree >= 2 {
        let (xx, yy, zz) = (x * x, y * y, z * z);
        basis[4] = SH_C2[0] * (x * y);
        basis[5] = SH_C2[1] * (y * z);
        basis[6] = SH_C2[2] * (2.0 * zz - xx - yy);
        basis[7] = SH_C2[3] * (x * z);
        basis[8] = SH_C2[4] * (xx - yy);
        if degree >= 3 {
            basis[9] = SH_C3[0] * y * (3.0 * xx - yy);
            basis[10] = SH_C3[1] * (x * y) * z;
            basis[11] = SH_C3[2] * y * (4.0 * zz - xx - yy);
            basis[12] = SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
            basis[13] = SH_C3[4] * x * (4.0 * zz - xx - yy);
            basis[14] = SH_C3[5] * z * (xx - yy);
            basis[15] = SH_C3[6] * x * (xx - 3.0 * yy);
        }
    }
    let count = ((degree + 1) * (degree + 1)) as usize;
    let mut color = [0f32; 3];
    for (k, b) in basis.iter().enumerate().take(count) {
        let coefficient = c(k);
        for channel in 0..3 {
            color[channel] += b * coefficient[channel];
        }
    }
    color.map(|v| (v + 0.5).max(0.0))
}

/// Projects Gaussian `i`, or `None` when it is not drawn: outside the clipping
/// range, fainter than 1/255, degenerate, or off-screen.
pub fn project(gaussians: &Gaussians, i: usize, camera: &Camera, camera_position: Vec3) -> Option<Projected> {
    let mean = gaussians.means[i];
    let opacity = gaussians.opacities[i];
    let p = camera.to_camera(mean);
    // Written so that NaN fails every test.
    let drawn = p[2] > camera.near && p[2] < camera.far && opacity >= ALPHA_MIN;
    if !drawn {
        return None;
    }
    // The Gaussian's axes scaled by its standard deviations, in camera space.
    let [w, x, y, z] = unit_quaternion(gaussians.rotations[i]);
    let s = gaussians.scales[i];
    let r0 = [
        1.0 - 2.0 * (y * y + z * z),
        2.0 * (x * y + w * z),
        2.0 * (x * z - w * y),
    ];
    let r1 = [
        2.0 * (x * y - w * z),
        1.0 - 2.0 * (x * x + z * z),
        2.0 * (y * z + w * x),
    ];
    let r2 = [
        2.0 * (x * z + w * y),
        2.0 * (y * z - w * x),
        1.0 - 2.0 * (x * x + y * y),
    ];
    let axis = |r: Vec3, s: f32| crate::math::mul_vec(&camera.rotation, r.map(|v| v * s));
    let (a0, a1, a2) = (axis(r0, s[0]), axis(r1, s[1]), axis(r2, s[2]));

    // The projection's Jacobian at the clamped centre direction.
    let size = [camera.width as f32, camera.height as f32];
    let focal = [camera.fx, camera.fy];
    let principal = [camera.cx, camera.cy];
    let t = [0, 1].map(|k| {
        let margin = 0.15 * size[k] / focal[k];
        let lo = -principal[k] / focal[k] - margin;
        let hi = (size[k] - principal[k]) / focal[k] + margin;
        (p[k] / p[2]).clamp(lo, hi)
    });
    let (jx, jy) = (camera.fx / p[2], camera.fy / p[2]);
    let (jxz, jyz) = (-camera.fx * t[0] / p[2], -camera.fy * t[1] / p[2]);
    let t0 = [
        jx * a0[0] + jxz * a0[2],
        jx * a1[0] + jxz * a1[2],
        jx * a2[0] + jxz * a2[2],
    ];
    let t1 = [
        jy * a0[1] + jyz * a0[2],
        jy * a1[1] + jyz * a1[2],
        jy * a2[1] + jyz * a2[2],
    ];
    let dot = crate::math::dot;
    let (ca, cb, cc) = (dot(t0, t0) + DILATION, dot(t0, t1), dot(t1, t1) + DILATION);
    let det = ca * cc - cb * cb;
    let invertible = det > 0.0;
    if !invertible {
        return None;
    }
    let mean2d = [
        camera.fx * (p[0] / p[2]) + camera.cx,
        camera.fy * (p[1] / p[2]) + camera.cy,
    ];

    // The box of the contour where alpha falls to 1/255, in tiles.
    let contour = 2.0 * (255.0 * opacity).ln();
    let extent = [(contour * ca).sqrt(), (contour * cc).sqrt()];
    let grid = tile_grid(camera);
    let tile = TILE_SIZE as f32;
    let first = [0, 1].map(|k| ((mean2d[k] - extent[k]) / tile).floor().clamp(0.0, grid[k] as f32));
    let last = [0, 1].map(|k| (((mean2d[k] + extent[k]) / tile).floor() + 1.0).clamp(0.0, grid[k] as f32));
    if !(first[0] < last[0] && first[1] < last[1]) {
        return None;
    }
    let direction = normalize(sub(mean, camera_position)).unwrap_or([0.0, 0.0, 1.0]);
    Some(Projected {
        mean: mean2d,
        depth: p[2],
        opacity,
        conic: [cc / det, -cb / det, ca / det],
        min_power: -0.5 * contour,
        color: sh_color(gaussians.sh_of(i), gaussians.sh_degree, direction),
        rect: [first[0] as u32, first[1] as u32, last[0] as u32, last[1] as u32],
    })
}

/// What front-to-back blending leaves at one pixel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Blend {
    /// Σ cᵢ αᵢ Tᵢ.
    pub color: [f32; 3],
    /// Σ zᵢ αᵢ Tᵢ.
    pub depth: f32,
    /// The transmittance left, Π (1 − αᵢ).
    pub transmittance: f32,
}

/// Blends splats, nearest first, at a pixel centre.
pub fn blend<'a>(centre: [f32; 2], splats: impl Iterator<Item = &'a Projected>) -> Blend {
    let mut out = Blend {
        color: [0.0; 3],
        depth: 0.0,
        transmittance: 1.0,
    };
    for s in splats {
        let d = [centre[0] - s.mean[0], centre[1] - s.mean[1]];
        let power = -0.5 * (s.conic[0] * d[0] * d[0] + s.conic[2] * d[1] * d[1]) - s.conic[1] * d[0] * d[1];
        // Outside the 1/255 contour: skip without evaluating the exponential.
        if power > 0.0 || power < s.min_power {
            continue;
        }
        let alpha = ALPHA_MAX.min(s.opacity * power.exp());
        if alpha < ALPHA_MIN {
            continue;
        }
        let next = out.transmittance * (1.0 - alpha);
        if next < TRANSMITTANCE_MIN {
            break;
        }
        let weight = alpha * out.transmittance;
        for channel in 0..3 {
            out.color[channel] += s.color[channel] * weight;
        }
        out.depth += s.depth * weight;
        out.transmittance = next;
    }
    out
}

/// The final pixel: colour premultiplied and composited over a straight-alpha
/// background, alpha, and the expected depth of what was drawn (0 where nothing was).
pub fn resolve(b: &Blend, background: [f32; 4]) -> ([f32; 4], f32) {
    let coverage = 1.0 - b.transmittance;
    let bg = [0, 1, 2].map(|c| background[c] * background[3]);
    let color = [0, 1, 2].map(|c| b.color[c] + b.transmittance * bg[c]);
    let alpha = coverage + b.transmittance * background[3];
    let depth = if coverage > 0.0 { b.depth / coverage } else { 0.0 };
    ([color[0], color[1], color[2], alpha], depth)
}
