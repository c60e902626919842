//! The backward pass of the CPU reference renderer: the gradient of a loss
//! on a rendered frame with respect to every Gaussian's parameters, as
//! avatar fitting needs it.
//!
//! It replays a [`Forward`] in the shape a WGSL port will mirror:
//! 1. **Rasterize backward**, one rayon task per tile: each pixel replays its
//!    tile's list back to front, from the last splat that contributed down to
//!    the first, recovering each splat's transmittance by dividing the final
//!    one by `1 − α` (as 3D Gaussian Splatting and gsplat do), and adds its
//!    share to a gradient slot per (tile, splat) pair: 2D centre, conic,
//!    opacity and colour.
//! 2. **Reduce**: each splat's pair slots are summed in tile order, so the
//!    result does not depend on how many threads ran step 1.
//! 3. **Project backward**, one rayon task per Gaussian: the 2D gradients
//!    through the EWA projection ([`super::project::project`]'s maths,
//!    replayed) to the world centre, the standard deviations, the stored
//!    quaternion (through its normalisation) and the colour source.
//!
//! The forward's thresholds are kept as they are: a splat skipped at a pixel
//! (outside its 1/255 contour or under `ALPHA_MIN`) gets nothing there, alpha
//! clamped at `ALPHA_MAX` passes no gradient to opacity or shape, a clamped
//! Jacobian direction passes none through the clamp, and the thresholds
//! themselves (the contour's size, culling) are treated as constants. Depth
//! is not differentiated. Which choices are ours: back-to-front replay, and
//! per-pair slots reduced in tile order rather than atomics.

#[cfg(test)]
mod tests;

use std::time::Instant;

use rayon::prelude::*;

use super::StageTimes;
use super::cpu::Forward;
use super::project::{
    Colors, Hit, TILE_SIZE, ewa, hit, sh_basis, sh_color_unclamped, tile_grid, unit_quaternion, view_direction,
};
use crate::camera::Camera;
use crate::math::{Vec3, dot, mul_vec, sub, transpose};
use crate::splats::Gaussians;

/// The gradient of a loss with respect to each Gaussian's parameters, one
/// entry per Gaussian (zero for those not drawn).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gradients {
    /// World-space centres.
    pub means: Vec<[f32; 3]>,
    /// Standard deviations, as stored.
    pub scales: Vec<[f32; 3]>,
    /// Quaternions `w, x, y, z` as stored, through their normalisation.
    pub rotations: Vec<[f32; 4]>,
    /// Opacities.
    pub opacities: Vec<f32>,
    /// The colours blended (with spherical harmonics: after the clamp at 0).
    pub colors: Vec<[f32; 3]>,
    /// Spherical-harmonic coefficients, laid out as [`Gaussians::sh`]; empty
    /// when the colours were given as RGB.
    pub sh: Vec<f32>,
    /// The projected centres, in pixels: what 3D Gaussian Splatting's
    /// densification thresholds.
    pub means2d: Vec<[f32; 2]>,
}

/// The gradient of one splat's 2D parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Splat2d {
    mean: [f32; 2],
    conic: [f32; 3],
    opacity: f32,
    color: [f32; 3],
}

impl Splat2d {
    fn add(&mut self, other: &Splat2d) {
        let pairs = self
            .mean
            .iter_mut()
            .zip(other.mean)
            .chain(self.conic.iter_mut().zip(other.conic));
        let pairs = pairs.chain(self.color.iter_mut().zip(other.color));
        for (a, b) in pairs.chain([(&mut self.opacity, other.opacity)]) {
            *a += b;
        }
    }
}

/// The gradient of a loss on the frame `forward` rendered (with these
/// Gaussians, colours, camera and background) with respect to the
/// Gaussians, given the loss's gradient with respect to each pixel's RGB and,
/// optionally, its alpha (row-major, as [`super::Image::rgba`]).
pub fn backward(
    gaussians: &Gaussians,
    colors: Colors,
    camera: &Camera,
    background: [f32; 4],
    forward: &Forward,
    d_rgb: &[[f32; 3]],
    d_alpha: Option<&[f32]>,
) -> Gradients {
    backward_timed(gaussians, colors, camera, background, forward, d_rgb, d_alpha).0
}

/// [`backward`], with the time each stage took.
pub fn backward_timed(
    gaussians: &Gaussians,
    colors: Colors,
    camera: &Camera,
    background: [f32; 4],
    forward: &Forward,
    d_rgb: &[[f32; 3]],
    d_alpha: Option<&[f32]>,
) -> (Gradients, StageTimes) {
    let pixels = forward.image.rgba.len();
    assert_eq!(d_rgb.len(), pixels, "one RGB gradient per pixel");
    assert!(
        d_alpha.is_none_or(|a| a.len() == pixels),
        "one alpha gradient per pixel"
    );
    assert_eq!(
        forward.projected.len(),
        gaussians.len(),
        "the forward of these Gaussians"
    );
    let mut times = StageTimes::default();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, times: &mut StageTimes| {
        times.push(name, clock.elapsed());
        clock = Instant::now();
    };

    let mut pairs = vec![Splat2d::default(); forward.tile_splats.len()];
    let mut per_tile = Vec::with_capacity(forward.tile_starts.len() - 1);
    let mut rest = pairs.as_mut_slice();
    for range in forward.tile_starts.windows(2) {
        let (tile, tail) = rest.split_at_mut(range[1] - range[0]);
        per_tile.push(tile);
        rest = tail;
    }
    let pixel_gradient = PixelGradient {
        background,
        d_rgb,
        d_alpha,
    };
    per_tile
        .into_par_iter()
        .enumerate()
        .filter(|(_, slots)| !slots.is_empty())
        .for_each(|(tile, slots)| tile_backward(forward, camera, tile, &pixel_gradient, slots));
    lap("rasterize backward", &mut times);

    let mut splats = vec![Splat2d::default(); gaussians.len()];
    for (&i, slot) in forward.tile_splats.iter().zip(&pairs) {
        splats[i as usize].add(slot);
    }
    lap("reduce", &mut times);

    let position = camera.position();
    let per_gaussian: Vec<GaussianGradient> = splats
        .par_iter()
        .enumerate()
        .map(|(i, splat)| match forward.projected[i] {
            Some(_) => project_backward(gaussians, i, colors, camera, position, splat),
            None => GaussianGradient::default(),
        })
        .collect();
    let stride = match colors {
        Colors::Sh => gaussians.sh_stride(),
        Colors::Rgb(_) => 0,
    };
    let gradients = Gradients {
        means: per_gaussian.iter().map(|g| g.mean).collect(),
        scales: per_gaussian.iter().map(|g| g.scale).collect(),
        rotations: per_gaussian.iter().map(|g| g.rotation).collect(),
        opacities: per_gaussian.iter().map(|g| g.opacity).collect(),
        colors: per_gaussian.iter().map(|g| g.color).collect(),
        sh: per_gaussian.iter().flat_map(|g| &g.sh[..stride]).copied().collect(),
        means2d: splats.iter().map(|s| s.mean).collect(),
    };
    lap("project backward", &mut times);
    (gradients, times)
}

/// What the loss says about each pixel, and the background under it.
struct PixelGradient<'a> {
    background: [f32; 4],
    d_rgb: &'a [[f32; 3]],
    d_alpha: Option<&'a [f32]>,
}

/// One tile's pixels, each replaying its list back to front into `slots`
/// (one per entry of the tile's list).
fn tile_backward(forward: &Forward, camera: &Camera, tile: usize, loss: &PixelGradient, slots: &mut [Splat2d]) {
    let list = forward.tile(tile);
    let tiles_x = tile_grid(camera)[0] as usize;
    let (tile_x, tile_y) = (tile % tiles_x, tile / tiles_x);
    let (width, height) = (camera.width as usize, camera.height as usize);
    let size = TILE_SIZE as usize;
    let bg = loss.background;
    let bg_rgb = [0, 1, 2].map(|c| bg[c] * bg[3]);
    for y in tile_y * size..((tile_y + 1) * size).min(height) {
        for x in tile_x * size..((tile_x + 1) * size).min(width) {
            let pixel = y * width + x;
            let end = forward.ends[pixel] as usize;
            let d_color = loss.d_rgb[pixel];
            // Output alpha is 1 − T·(1 − background alpha); ∂/∂αᵢ of it is that times T/(1 − αᵢ) / T.
            let alpha_term = loss.d_alpha.map_or(0.0, |a| a[pixel]) * (1.0 - bg[3]) * forward.transmittance[pixel];
            let centre = [x as f32 + 0.5, y as f32 + 0.5];
            // The transmittance in front of the splat, and the colour behind it
            // (what the pixel would show if it were fully transparent, over T).
            let mut t = forward.transmittance[pixel];
            let mut behind = bg_rgb;
            for n in (0..end).rev() {
                let s = forward.projected[list[n] as usize].as_ref().expect("visible");
                let Some(Hit {
                    offset: [dx, dy],
                    falloff,
                    alpha,
                    clamped,
                }) = hit(s, centre)
                else {
                    continue;
                };
                let keep = 1.0 - alpha;
                t /= keep;
                let slot = &mut slots[n];
                let mut d_alpha = alpha_term / keep;
                for c in 0..3 {
                    slot.color[c] += alpha * t * d_color[c];
                    d_alpha += t * (s.color[c] - behind[c]) * d_color[c];
                    behind[c] = alpha * s.color[c] + keep * behind[c];
                }
                if clamped {
                    continue;
                }
                slot.opacity += d_alpha * falloff;
                // power = −½(a·dx² + c·dy²) − b·dx·dy with d = centre − mean.
                let d_power = d_alpha * alpha;
                let [a, b, c] = s.conic;
                slot.conic[0] -= 0.5 * dx * dx * d_power;
                slot.conic[1] -= dx * dy * d_power;
                slot.conic[2] -= 0.5 * dy * dy * d_power;
                slot.mean[0] += (a * dx + b * dy) * d_power;
                slot.mean[1] += (b * dx + c * dy) * d_power;
            }
        }
    }
}

/// One Gaussian's gradient; `sh` holds the first `3·(d + 1)²` coefficients.
#[derive(Clone, Copy, Debug)]
struct GaussianGradient {
    mean: Vec3,
    scale: Vec3,
    rotation: [f32; 4],
    opacity: f32,
    color: [f32; 3],
    sh: [f32; 48],
}

impl Default for GaussianGradient {
    fn default() -> Self {
        GaussianGradient {
            mean: [0.0; 3],
            scale: [0.0; 3],
            rotation: [0.0; 4],
            opacity: 0.0,
            color: [0.0; 3],
            sh: [0.0; 48],
        }
    }
}

/// Gaussian `i`'s 2D gradient through its projection and colour.
fn project_backward(
    gaussians: &Gaussians,
    i: usize,
    colors: Colors,
    camera: &Camera,
    camera_position: Vec3,
    splat: &Splat2d,
) -> GaussianGradient {
    let mean = gaussians.means[i];
    let p = camera.to_camera(mean);
    let e = ewa(gaussians, i, camera, p);
    let [ca, cb, cc] = e.covariance;
    let det = ca * cc - cb * cb;
    let [a, b, c] = [cc / det, -cb / det, ca / det];

    // The conic is the covariance's inverse: dΣ = −Q · dQ · Q, with b counted
    // once in the conic and twice (both off-diagonals) in the matrices.
    let [ga, gb, gc] = splat.conic;
    let h = 0.5 * gb;
    let (qm00, qm01) = (a * ga + b * h, a * h + b * gc);
    let (qm10, qm11) = (b * ga + c * h, b * h + c * gc);
    let d_ca = -(qm00 * a + qm01 * b);
    let d_cb = -2.0 * (qm00 * b + qm01 * c);
    let d_cc = -(qm10 * b + qm11 * c);

    // Σ = [t0·t0, t0·t1, t1·t1] + dilation, with t0, t1 the rows of J·W·R·S.
    let [t0, t1] = e.rows;
    let d_t0 = [0, 1, 2].map(|k| 2.0 * d_ca * t0[k] + d_cb * t1[k]);
    let d_t1 = [0, 1, 2].map(|k| d_cb * t0[k] + 2.0 * d_cc * t1[k]);
    let [jx, jy, jxz, jyz] = e.jacobian;
    let d_axes = [0, 1, 2].map(|k| [jx * d_t0[k], jy * d_t1[k], jxz * d_t0[k] + jyz * d_t1[k]]);
    let d_jx: f32 = (0..3).map(|k| d_t0[k] * e.axes[k][0]).sum();
    let d_jxz: f32 = (0..3).map(|k| d_t0[k] * e.axes[k][2]).sum();
    let d_jy: f32 = (0..3).map(|k| d_t1[k] * e.axes[k][1]).sum();
    let d_jyz: f32 = (0..3).map(|k| d_t1[k] * e.axes[k][2]).sum();

    // The Jacobian's entries and the 2D centre, back to the camera-space centre.
    let z = p[2];
    let mut d_p = [0.0f32; 3];
    d_p[2] -= (jx * d_jx + jy * d_jy + jxz * d_jxz + jyz * d_jyz) / z;
    let d_t = [-camera.fx / z * d_jxz, -camera.fy / z * d_jyz];
    for k in 0..2 {
        if e.unclamped[k] {
            d_p[k] += d_t[k] / z;
            d_p[2] -= d_t[k] * e.t[k] / z;
        }
    }
    let focal = [camera.fx, camera.fy];
    for k in 0..2 {
        d_p[k] += focal[k] / z * splat.mean[k];
        d_p[2] -= focal[k] * p[k] / (z * z) * splat.mean[k];
    }
    let world = transpose(&camera.rotation);
    let mut d_mean = mul_vec(&world, d_p);

    // The scaled axes, back to the standard deviations and the rotation.
    let s = gaussians.scales[i];
    let mut d_scale = [0.0; 3];
    let mut d_columns = [[0.0; 3]; 3];
    for k in 0..3 {
        let d_scaled = mul_vec(&world, d_axes[k]);
        d_scale[k] = dot(e.columns[k], d_scaled);
        d_columns[k] = d_scaled.map(|v| v * s[k]);
    }
    let rotation = quaternion_backward(gaussians.rotations[i], d_columns);

    let mut out = GaussianGradient {
        opacity: splat.opacity,
        color: splat.color,
        rotation,
        scale: d_scale,
        ..GaussianGradient::default()
    };
    if let Colors::Sh = colors {
        let direction = view_direction(mean, camera_position);
        let coefficients = gaussians.sh_of(i);
        let degree = gaussians.sh_degree;
        // max(0, ·) passes nothing where it binds.
        let unclamped = sh_color_unclamped(coefficients, degree, direction);
        let d_color = [0, 1, 2].map(|c| if unclamped[c] > 0.0 { splat.color[c] } else { 0.0 });
        let basis = sh_basis(degree, direction);
        let mut d_basis = [0.0f32; 16];
        for k in 0..coefficients.len() / 3 {
            for c in 0..3 {
                out.sh[3 * k + c] = basis[k] * d_color[c];
                d_basis[k] += coefficients[3 * k + c] * d_color[c];
            }
        }
        // The view direction, back through its normalisation to the centre.
        let offset = sub(mean, camera_position);
        let length = dot(offset, offset).sqrt();
        if degree > 0 && length > 1e-12 {
            let d_direction = sh_basis_backward(degree, direction, &d_basis);
            let along = dot(direction, d_direction);
            for k in 0..3 {
                d_mean[k] += (d_direction[k] - direction[k] * along) / length;
            }
        }
    }
    out.mean = d_mean;
    out
}

/// The gradient with respect to the stored quaternion `q` given that with
/// respect to its rotation matrix's columns, through the normalisation (zero
/// for a quaternion that renders as the identity because it cannot be normalised).
fn quaternion_backward(q: [f32; 4], d: [Vec3; 3]) -> [f32; 4] {
    let norm = q.iter().map(|v| v * v).sum::<f32>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return [0.0; 4];
    }
    let [w, x, y, z] = unit_quaternion(q);
    let [g0, g1, g2] = d;
    let d_unit = [
        2.0 * (z * (g0[1] - g1[0]) + y * (g2[0] - g0[2]) + x * (g1[2] - g2[1])),
        2.0 * (y * (g0[1] + g1[0]) + z * (g0[2] + g2[0]) + w * (g1[2] - g2[1]) - 2.0 * x * (g1[1] + g2[2])),
        2.0 * (x * (g0[1] + g1[0]) + z * (g1[2] + g2[1]) + w * (g2[0] - g0[2]) - 2.0 * y * (g0[0] + g2[2])),
        2.0 * (x * (g0[2] + g2[0]) + y * (g1[2] + g2[1]) + w * (g0[1] - g1[0]) - 2.0 * z * (g0[0] + g1[1])),
    ];
    let unit = [w, x, y, z];
    let along: f32 = (0..4).map(|k| unit[k] * d_unit[k]).sum();
    [0, 1, 2, 3].map(|k| (d_unit[k] - unit[k] * along) / norm)
}

/// `Σₖ wₖ ∇Yₖ(d)`: the gradient of a weighted sum of the basis of
/// [`sh_basis`] with respect to the direction, for degrees 1 to 3.
fn sh_basis_backward(degree: u32, [x, y, z]: Vec3, w: &[f32; 16]) -> Vec3 {
    use super::project::{SH_C1, SH_C2, SH_C3};
    let mut g = [-SH_C1 * w[3], -SH_C1 * w[1], SH_C1 * w[2]];
    let mut add = |k: usize, c: f32, v: Vec3| {
        for axis in 0..3 {
            g[axis] += w[k] * c * v[axis];
        }
    };
    if degree >= 2 {
        let (xx, yy, zz) = (x * x, y * y, z * z);
        add(4, SH_C2[0], [y, x, 0.0]);
        add(5, SH_C2[1], [0.0, z, y]);
        add(6, SH_C2[2], [-2.0 * x, -2.0 * y, 4.0 * z]);
        add(7, SH_C2[3], [z, 0.0, x]);
        add(8, SH_C2[4], [2.0 * x, -2.0 * y, 0.0]);
        if degree >= 3 {
            add(9, SH_C3[0], [6.0 * x * y, 3.0 * (xx - yy), 0.0]);
            add(10, SH_C3[1], [y * z, x * z, x * y]);
            add(11, SH_C3[2], [-2.0 * x * y, 4.0 * zz - xx - 3.0 * yy, 8.0 * y * z]);
            add(12, SH_C3[3], [-6.0 * x * z, -6.0 * y * z, 6.0 * zz - 3.0 * (xx + yy)]);
            add(13, SH_C3[4], [4.0 * zz - 3.0 * xx - yy, -2.0 * x * y, 8.0 * x * z]);
            add(14, SH_C3[5], [2.0 * x * z, -2.0 * y * z, xx - yy]);
            add(15, SH_C3[6], [3.0 * (xx - yy), -6.0 * x * y, 0.0]);
        }
    }
    g
}
