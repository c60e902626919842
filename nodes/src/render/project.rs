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

pub(crate) const SH_C1: f32 = 0.488_602_5;
pub(crate) const SH_C2: [f32; 5] = [1.092_548_4, -1.092_548_4, 0.315_391_57, -1.092_548_4, 0.546_274_2];
pub(crate) const SH_C3: [f32; 7] = [
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

/// The real spherical-harmonic basis up to `degree` at unit direction `d`, in
/// 3D Gaussian Splatting's sign convention (entries above the degree are 0).
pub fn sh_basis(degree: u32, d: Vec3) -> [f32; 16] {
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
    basis
}

/// The colour seen along unit direction `d`: `max(0, 0.5 + Σ cₖ Yₖ(d))` with
/// the real spherical harmonics in 3D Gaussian Splatting's sign convention.
pub fn sh_color(coefficients: &[f32], degree: u32, d: Vec3) -> [f32; 3] {
    sh_color_unclamped(coefficients, degree, d).map(|v| v.max(0.0))
}

/// [`sh_color`] before the clamp at 0.
pub(crate) fn sh_color_unclamped(coefficients: &[f32], degree: u32, d: Vec3) -> [f32; 3] {
    let basis = sh_basis(degree, d);
    let count = ((degree + 1) * (degree + 1)) as usize;
    let mut color = [0f32; 3];
    for (k, b) in basis.iter().enumerate().take(count) {
        for channel in 0..3 {
            color[channel] += b * coefficients[3 * k + channel];
        }
    }
    color.map(|v| v + 0.5)
}

/// Where the splats' colours come from.
#[derive(Clone, Copy, Debug)]
pub enum Colors<'a> {
    /// The Gaussians' spherical harmonics, seen from the camera centre.
    Sh,
    /// One linear RGB per Gaussian, used as given (not clamped): what an
    /// avatar's colour network computes for a frame and a view.
    Rgb(&'a [[f32; 3]]),
}

impl Colors<'_> {
    /// Gaussian `i`'s colour seen from `camera_position`.
    pub fn of(&self, gaussians: &Gaussians, i: usize, camera_position: Vec3) -> [f32; 3] {
        match self {
            Colors::Sh => sh_color(
                gaussians.sh_of(i),
                gaussians.sh_degree,
                view_direction(gaussians.means[i], camera_position),
            ),
            Colors::Rgb(rgb) => rgb[i],
        }
    }
}

/// The unit direction from the camera centre to a Gaussian's centre (+z when they coincide).
pub fn view_direction(mean: Vec3, camera_position: Vec3) -> Vec3 {
    normalize(sub(mean, camera_position)).unwrap_or([0.0, 0.0, 1.0])
}

/// The rotation matrix of a unit quaternion `[w, x, y, z]`, as its three columns:
/// the Gaussian's own axes in world space.
pub(crate) fn rotation_columns([w, x, y, z]: [f32; 4]) -> [Vec3; 3] {
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y + w * z),
            2.0 * (x * z - w * y),
        ],
        [
            2.0 * (x * y - w * z),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z + w * x),
        ],
        [
            2.0 * (x * z + w * y),
            2.0 * (y * z - w * x),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

/// The intermediate values of one Gaussian's EWA projection: what
/// [`project`] computes on the way to the 2D covariance, and what the
/// backward pass replays.
pub(crate) struct Ewa {
    /// The Gaussian's axes in world space (unit length).
    pub columns: [Vec3; 3],
    /// The axes scaled by the standard deviations, in camera space.
    pub axes: [Vec3; 3],
    /// The centre's direction `p.xy / p.z`, clamped to the view plus a margin.
    pub t: [f32; 2],
    /// Per component of `t`, whether the clamp left it as it was.
    pub unclamped: [bool; 2],
    /// The Jacobian's non-zero entries `[fx/z, fy/z, −fx·tx/z, −fy·ty/z]`.
    pub jacobian: [f32; 4],
    /// The rows of `J · W · R · S`.
    pub rows: [Vec3; 2],
    /// The dilated 2D covariance `[[a, b], [b, c]]` as `[a, b, c]`.
    pub covariance: [f32; 3],
}

/// Gaussian `i`'s EWA projection with its camera-space centre `p`.
pub(crate) fn ewa(gaussians: &Gaussians, i: usize, camera: &Camera, p: Vec3) -> Ewa {
    // The Gaussian's axes scaled by its standard deviations, in camera space.
    let columns = rotation_columns(unit_quaternion(gaussians.rotations[i]));
    let s = gaussians.scales[i];
    let axis = |r: Vec3, s: f32| crate::math::mul_vec(&camera.rotation, r.map(|v| v * s));
    let axes = [axis(columns[0], s[0]), axis(columns[1], s[1]), axis(columns[2], s[2])];

    // The projection's Jacobian at the clamped centre direction.
    let size = [camera.width as f32, camera.height as f32];
    let focal = [camera.fx, camera.fy];
    let principal = [camera.cx, camera.cy];
    let direction = [0, 1].map(|k| p[k] / p[2]);
    let t = [0, 1].map(|k| {
        let margin = 0.15 * size[k] / focal[k];
        let lo = -principal[k] / focal[k] - margin;
        let hi = (size[k] - principal[k]) / focal[k] + margin;
        direction[k].clamp(lo, hi)
    });
    let (jx, jy) = (camera.fx / p[2], camera.fy / p[2]);
    let (jxz, jyz) = (-camera.fx * t[0] / p[2], -camera.fy * t[1] / p[2]);
    let [a0, a1, a2] = axes;
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
    Ewa {
        columns,
        axes,
        t,
        unclamped: [0, 1].map(|k| t[k] == direction[k]),
        jacobian: [jx, jy, jxz, jyz],
        rows: [t0, t1],
        covariance: [dot(t0, t0) + DILATION, dot(t0, t1), dot(t1, t1) + DILATION],
    }
}

/// Projects Gaussian `i`, or `None` when it is not drawn: outside the clipping
/// range, fainter than 1/255, degenerate, or off-screen.
pub fn project(
    gaussians: &Gaussians,
    i: usize,
    colors: Colors,
    camera: &Camera,
    camera_position: Vec3,
) -> Option<Projected> {
    let mean = gaussians.means[i];
    let opacity = gaussians.opacities[i];
    let p = camera.to_camera(mean);
    // Written so that NaN fails every test.
    let drawn = p[2] > camera.near && p[2] < camera.far && opacity >= ALPHA_MIN;
    if !drawn {
        return None;
    }
    let [ca, cb, cc] = ewa(gaussians, i, camera, p).covariance;
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
    Some(Projected {
        mean: mean2d,
        depth: p[2],
        opacity,
        conic: [cc / det, -cb / det, ca / det],
        min_power: -0.5 * contour,
        color: colors.of(gaussians, i, camera_position),
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
    /// How many of the splats given were looked at up to and including the
    /// last one that contributed (0 where none did): the backward pass
    /// replays that many.
    pub end: u32,
}

/// One splat at one pixel centre, where it contributes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    /// The pixel centre less the splat's centre.
    pub offset: [f32; 2],
    /// `exp(power)`, the Gaussian's falloff.
    pub falloff: f32,
    /// `min(ALPHA_MAX, opacity · falloff)`.
    pub alpha: f32,
    /// Whether alpha was clamped at [`ALPHA_MAX`].
    pub clamped: bool,
}

/// Splat `s` at a pixel centre, or `None` where it is skipped: outside its
/// 1/255 contour or under [`ALPHA_MIN`].
#[inline]
pub(crate) fn hit(s: &Projected, centre: [f32; 2]) -> Option<Hit> {
    let d = [centre[0] - s.mean[0], centre[1] - s.mean[1]];
    let power = -0.5 * (s.conic[0] * d[0] * d[0] + s.conic[2] * d[1] * d[1]) - s.conic[1] * d[0] * d[1];
    // Outside the 1/255 contour: skip without evaluating the exponential.
    if power > 0.0 || power < s.min_power {
        return None;
    }
    let falloff = power.exp();
    let unclamped = s.opacity * falloff;
    let alpha = ALPHA_MAX.min(unclamped);
    (alpha >= ALPHA_MIN).then_some(Hit {
        offset: d,
        falloff,
        alpha,
        clamped: unclamped > ALPHA_MAX,
    })
}

/// Blends splats, nearest first, at a pixel centre.
pub fn blend<'a>(centre: [f32; 2], splats: impl Iterator<Item = &'a Projected>) -> Blend {
    let mut out = Blend {
        color: [0.0; 3],
        depth: 0.0,
        transmittance: 1.0,
        end: 0,
    };
    for (n, s) in splats.enumerate() {
        let Some(Hit { alpha, .. }) = hit(s, centre) else {
            continue;
        };
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
        out.end = n as u32 + 1;
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
