//! Gradients through the binding, and the parameterisation a fitter steps.
//!
//! [`pose_backward`] takes a loss's gradient with respect to posed (world)
//! Gaussians back to their triangle-local parameters, with the triangle frames
//! held fixed (no gradient flows to the mesh's vertices, as in GaussianAvatars
//! where the tracked mesh is given). [`pose`](super::binding::pose) maps a
//! local mean `μ`, scales `s` and rotation `q` of a Gaussian on a triangle with
//! origin `o`, rotation `R` (quaternion `Q`) and scale `k` to
//! `o + k·R·μ`, `k·s` and `Q ⊗ q`, so
//!
//! - `∂L/∂μ = k·Rᵀ·∂L/∂mean`,
//! - `∂L/∂s = k·∂L/∂scale`,
//! - `∂L/∂q = Q* ⊗ ∂L/∂rotation` (the Hamilton product is linear in `q`, and
//!   the matrix of `Q ⊗ ·` is orthogonal with transpose `Q* ⊗ ·`),
//! - opacities pass through unchanged.
//!
//! [`RawGaussians`] is the unconstrained form an optimiser steps, as 3D
//! Gaussian Splatting and GaussianAvatars store it: scales as their natural
//! logarithms, opacities as logits, rotations as quaternions of any non-zero
//! length (normalised when activated). [`RawGaussians::backward`] chains
//! gradients with respect to the activated values to these. Avatar values and
//! files hold the activated values (the canonical form of the SDK).

use std::sync::Arc;

use crate::math::{Quat, Vec3, mat_to_quat, mul_vec, quat_mul, scale, transpose};
use crate::splats::Gaussians;

use super::binding::TriangleFrame;

/// Gradients of a loss with respect to the geometry of a set of Gaussians
/// (one entry per Gaussian; colours have their own path, through the colour MLP).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GeometryGrads {
    /// With respect to the means.
    pub means: Vec<Vec3>,
    /// With respect to the scales (or log-scales, after [`RawGaussians::backward`]).
    pub scales: Vec<Vec3>,
    /// With respect to the quaternions' four components `w, x, y, z`.
    pub rotations: Vec<Quat>,
    /// With respect to the opacities (or their logits).
    pub opacities: Vec<f32>,
}

impl GeometryGrads {
    /// Zero gradients for `n` Gaussians.
    pub fn zeros(n: usize) -> GeometryGrads {
        GeometryGrads {
            means: vec![[0.0; 3]; n],
            scales: vec![[0.0; 3]; n],
            rotations: vec![[0.0; 4]; n],
            opacities: vec![0.0; n],
        }
    }

    /// Number of Gaussians.
    pub fn len(&self) -> usize {
        self.means.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }
}

/// The conjugate `q*` of a quaternion.
fn conjugate([w, x, y, z]: Quat) -> Quat {
    [w, -x, -y, -z]
}

/// Gradients with respect to the local (bound) Gaussians, from those with
/// respect to the posed ones, for the frames `pose` used.
pub fn pose_backward(binding: &[u32], frames: &[TriangleFrame], world: &GeometryGrads) -> GeometryGrads {
    assert_eq!(binding.len(), world.len(), "one binding entry per gradient");
    let conjugates: Vec<Quat> = frames.iter().map(|f| conjugate(mat_to_quat(&f.rotation))).collect();
    let mut local = world.clone();
    for (i, &t) in binding.iter().enumerate() {
        let frame = &frames[t as usize];
        local.means[i] = scale(mul_vec(&transpose(&frame.rotation), world.means[i]), frame.scale);
        local.scales[i] = scale(world.scales[i], frame.scale);
        local.rotations[i] = quat_mul(conjugates[t as usize], world.rotations[i]);
    }
    local
}

/// The smallest and largest opacity [`RawGaussians::from_gaussians`] takes
/// the logit of, so a fully transparent or opaque Gaussian has a finite logit.
const OPACITY_CLAMP: f32 = 1e-6;

/// Gaussians in the unconstrained form an optimiser steps: log-scales,
/// opacity logits, unnormalised quaternions.
#[derive(Clone, Debug, PartialEq)]
pub struct RawGaussians {
    /// Means, as they are.
    pub means: Vec<Vec3>,
    /// `ln` of the scales.
    pub log_scales: Vec<Vec3>,
    /// Quaternions `w, x, y, z` of any non-zero length.
    pub rotations: Vec<Quat>,
    /// `logit(opacity) = ln(o / (1 − o))`.
    pub opacity_logits: Vec<f32>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn norm(q: Quat) -> f32 {
    q.iter().map(|v| v * v).sum::<f32>().sqrt()
}

impl RawGaussians {
    /// The raw form of activated Gaussians (opacities clamped to
    /// `[1e-6, 1 − 1e-6]` first, scales to at least `1e-30`).
    pub fn from_gaussians(g: &Gaussians) -> RawGaussians {
        RawGaussians {
            means: g.means.clone(),
            log_scales: g.scales.iter().map(|s| s.map(|v| v.max(1e-30).ln())).collect(),
            rotations: g.rotations.clone(),
            opacity_logits: g
                .opacities
                .iter()
                .map(|&o| {
                    let o = o.clamp(OPACITY_CLAMP, 1.0 - OPACITY_CLAMP);
                    (o / (1.0 - o)).ln()
                })
                .collect(),
        }
    }

    /// Number of Gaussians.
    pub fn len(&self) -> usize {
        self.means.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    /// The activated Gaussians, with the given colour coefficients.
    pub fn activate(&self, sh: Arc<[f32]>, sh_degree: u32) -> Gaussians {
        Gaussians {
            means: self.means.clone(),
            scales: self.log_scales.iter().map(|s| s.map(f32::exp)).collect(),
            rotations: self
                .rotations
                .iter()
                .map(|&q| {
                    let n = norm(q);
                    if n > 0.0 {
                        q.map(|v| v / n)
                    } else {
                        [1.0, 0.0, 0.0, 0.0]
                    }
                })
                .collect(),
            opacities: self.opacity_logits.iter().map(|&l| sigmoid(l)).collect(),
            sh,
            sh_degree,
        }
    }

    /// Gradients with respect to these raw parameters, from those with
    /// respect to the activated values: `∂L/∂ŝ = ∂L/∂s · eˢ̂`,
    /// `∂L/∂l = ∂L/∂o · σ(l)(1 − σ(l))`, and for `q = q̃/|q̃|`,
    /// `∂L/∂q̃ = (g − q·(q·g)) / |q̃|`.
    pub fn backward(&self, activated: &GeometryGrads) -> GeometryGrads {
        assert_eq!(self.len(), activated.len(), "one gradient per Gaussian");
        GeometryGrads {
            means: activated.means.clone(),
            scales: self
                .log_scales
                .iter()
                .zip(&activated.scales)
                .map(|(s, g)| [0, 1, 2].map(|k| g[k] * s[k].exp()))
                .collect(),
            rotations: self
                .rotations
                .iter()
                .zip(&activated.rotations)
                .map(|(&raw, g)| {
                    let n = norm(raw);
                    if n == 0.0 {
                        return [0.0; 4];
                    }
                    let q = raw.map(|v| v / n);
                    let along: f32 = (0..4).map(|k| q[k] * g[k]).sum();
                    [0, 1, 2, 3].map(|k| (g[k] - q[k] * along) / n)
                })
                .collect(),
            opacities: self
                .opacity_logits
                .iter()
                .zip(&activated.opacities)
                .map(|(&l, g)| {
                    let o = sigmoid(l);
                    g * o * (1.0 - o)
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avatar::binding::{pose, triangle_frames};
    use crate::splats::synthetic::{Rng, random};

    /// A linear loss `Σ w·x` over every posed quantity, and its weights as gradients.
    fn loss_weights(n: usize, seed: u64) -> GeometryGrads {
        let mut rng = Rng::new(seed);
        let mut r = || rng.range(-1.0, 1.0);
        GeometryGrads {
            means: (0..n).map(|_| [r(), r(), r()]).collect(),
            scales: (0..n).map(|_| [r(), r(), r()]).collect(),
            rotations: (0..n).map(|_| [r(), r(), r(), r()]).collect(),
            opacities: (0..n).map(|_| r()).collect(),
        }
    }

    fn loss(g: &Gaussians, w: &GeometryGrads) -> f64 {
        let mut sum = 0f64;
        for i in 0..g.len() {
            for k in 0..3 {
                sum += (g.means[i][k] * w.means[i][k]) as f64 + (g.scales[i][k] * w.scales[i][k]) as f64;
            }
            for k in 0..4 {
                sum += (g.rotations[i][k] * w.rotations[i][k]) as f64;
            }
            sum += (g.opacities[i] * w.opacities[i]) as f64;
        }
        sum
    }

    /// A bent strip of three triangles of different sizes.
    fn mesh() -> (Vec<Vec3>, Vec<[u32; 3]>) {
        let vertices = vec![
            [0.0, 0.0, 0.0],
            [1.2, 0.1, 0.0],
            [0.1, 0.9, 0.3],
            [1.0, 1.1, 0.8],
            [2.0, 0.2, -0.5],
        ];
        (vertices, vec![[0, 1, 2], [1, 3, 2], [1, 4, 3]])
    }

    /// Central differences of `f` with respect to every parameter `get`/`set` reach.
    fn check(analytic: f32, numeric: f64, what: &str) {
        let tolerance = 2e-3 * (1.0 + numeric.abs());
        assert!(
            (analytic as f64 - numeric).abs() < tolerance,
            "{what}: analytic {analytic}, finite difference {numeric}"
        );
    }

    #[test]
    fn pose_gradients_match_finite_differences() {
        let (vertices, triangles) = mesh();
        let frames = triangle_frames(&vertices, &triangles);
        let local = random(5, 0, 0.7, 3);
        let binding = [0, 1, 2, 1, 0];
        let w = loss_weights(local.len(), 9);
        let grads = pose_backward(&binding, &frames, &w);
        let h = 1e-2f32;
        let at = |g: &Gaussians| loss(&pose(g, &binding, &frames), &w);
        for i in 0..local.len() {
            let nudged = |f: &dyn Fn(&mut Gaussians, f32)| {
                let (mut up, mut down) = (local.clone(), local.clone());
                f(&mut up, h);
                f(&mut down, -h);
                (at(&up) - at(&down)) / (2.0 * h as f64)
            };
            for k in 0..3 {
                check(grads.means[i][k], nudged(&|g, d| g.means[i][k] += d), "mean");
                check(grads.scales[i][k], nudged(&|g, d| g.scales[i][k] += d), "scale");
            }
            for k in 0..4 {
                check(
                    grads.rotations[i][k],
                    nudged(&|g, d| g.rotations[i][k] += d),
                    "rotation",
                );
            }
            check(grads.opacities[i], nudged(&|g, d| g.opacities[i] += d), "opacity");
        }
        // Not a pass-through: the frames' scale and rotation are in it.
        assert!(grads.means[0] != w.means[0]);
    }

    #[test]
    fn raw_parameter_gradients_match_finite_differences() {
        let (vertices, triangles) = mesh();
        let frames = triangle_frames(&vertices, &triangles);
        let mut raw = RawGaussians::from_gaussians(&random(4, 0, 0.5, 5));
        // Unnormalised quaternions, as an optimiser leaves them.
        for (i, q) in raw.rotations.iter_mut().enumerate() {
            *q = q.map(|v| v * (0.5 + i as f32));
        }
        let binding = [2, 0, 1, 2];
        let w = loss_weights(raw.len(), 4);
        let sh: Arc<[f32]> = Arc::from(vec![0.0; 3 * raw.len()]);
        let at = |r: &RawGaussians| loss(&pose(&r.activate(sh.clone(), 0), &binding, &frames), &w);
        let grads = raw.backward(&pose_backward(&binding, &frames, &w));
        let h = 1e-2f32;
        for i in 0..raw.len() {
            let nudged = |f: &dyn Fn(&mut RawGaussians, f32)| {
                let (mut up, mut down) = (raw.clone(), raw.clone());
                f(&mut up, h);
                f(&mut down, -h);
                (at(&up) - at(&down)) / (2.0 * h as f64)
            };
            for k in 0..3 {
                check(grads.means[i][k], nudged(&|g, d| g.means[i][k] += d), "mean");
                check(grads.scales[i][k], nudged(&|g, d| g.log_scales[i][k] += d), "log-scale");
            }
            for k in 0..4 {
                check(
                    grads.rotations[i][k],
                    nudged(&|g, d| g.rotations[i][k] += d),
                    "raw rotation",
                );
            }
            check(
                grads.opacities[i],
                nudged(&|g, d| g.opacity_logits[i] += d),
                "opacity logit",
            );
        }
        // The activation round-trips.
        let g = raw.activate(sh.clone(), 0);
        let back = RawGaussians::from_gaussians(&g).activate(sh, 0);
        for i in 0..g.len() {
            assert!((g.opacities[i] - back.opacities[i]).abs() < 1e-6);
            assert!((0..3).all(|k| (g.scales[i][k] - back.scales[i][k]).abs() < 1e-6 * g.scales[i][k]));
        }
    }
}
