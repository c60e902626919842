//! Seeded 3D gradient noise (Perlin's improved noise with hashed gradients)
//! and its fractal sum.
//!
//! Hand-written rather than taken from a crate: the studio's images must be
//! the same bytes for the same seed on every platform and in every build, for
//! ever, and a noise crate may change its hashing or gradients between
//! versions; the permutation-table-free integer hash here also takes the seed
//! directly, so two seeds give unrelated fields without building tables.

use crate::math::Vec3;

/// A 3D gradient-noise field fixed by a seed. Values are in about [-1, 1],
/// zero on the integer lattice, with features about one unit across.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Noise {
    seed: u64,
}

/// The 12 edge directions of a cube: Perlin's gradient set.
const GRADIENTS: [[f32; 3]; 12] = [
    [1.0, 1.0, 0.0],
    [-1.0, 1.0, 0.0],
    [1.0, -1.0, 0.0],
    [-1.0, -1.0, 0.0],
    [1.0, 0.0, 1.0],
    [-1.0, 0.0, 1.0],
    [1.0, 0.0, -1.0],
    [-1.0, 0.0, -1.0],
    [0.0, 1.0, 1.0],
    [0.0, -1.0, 1.0],
    [0.0, 1.0, -1.0],
    [0.0, -1.0, -1.0],
];

/// A 64-bit mix (SplitMix64's finaliser).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from a seed and a label: for per-appearance choices.
pub fn unit(seed: u64, label: u64) -> f32 {
    (mix(seed ^ mix(label.wrapping_add(0x9E37_79B9_7F4A_7C15))) >> 40) as f32 / (1u64 << 24) as f32
}

/// How much of a noise field with `scale` lattice cells per unit a pixel
/// `footprint` units wide shows: its lobes are about half a cycle per cell,
/// and a pixel averages them as a box filter does (sin πx / πx, cut at its
/// first zero, two cells per pixel). 1 for coarse fields, 0 for fields a
/// supersampled pixel would average away, which then read as their mean.
pub fn resolved(scale: f32, footprint: f32) -> f32 {
    let x = 0.75 * scale * footprint;
    if x >= 1.0 {
        0.0
    } else if x < 1e-3 {
        1.0
    } else {
        let a = std::f32::consts::PI * x;
        a.sin() / a
    }
}

fn fade(t: f32) -> f32 {
    t * t * t * (t * (t * 6.0 - 15.0) + 10.0)
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

impl Noise {
    /// The field of a seed; `salt` picks an independent field under the same seed.
    pub fn new(seed: u64, salt: u64) -> Noise {
        Noise {
            seed: mix(seed ^ mix(salt.wrapping_mul(0xD1B5_4A32_D192_ED03))),
        }
    }

    fn gradient(&self, x: i32, y: i32, z: i32) -> [f32; 3] {
        let h = mix(self.seed
            ^ (x as u32 as u64).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7)
            ^ (y as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(21)
            ^ (z as u32 as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F).rotate_left(42));
        GRADIENTS[(h % 12) as usize]
    }

    /// The field at `p`.
    pub fn at(&self, p: Vec3) -> f32 {
        let cell = p.map(|v| v.floor());
        let f: [f32; 3] = std::array::from_fn(|k| p[k] - cell[k]);
        let [i, j, k] = cell.map(|v| v as i32);
        let corner = |dx: i32, dy: i32, dz: i32| {
            let g = self.gradient(i + dx, j + dy, k + dz);
            g[0] * (f[0] - dx as f32) + g[1] * (f[1] - dy as f32) + g[2] * (f[2] - dz as f32)
        };
        let [u, v, w] = f.map(fade);
        let x00 = lerp(corner(0, 0, 0), corner(1, 0, 0), u);
        let x10 = lerp(corner(0, 1, 0), corner(1, 1, 0), u);
        let x01 = lerp(corner(0, 0, 1), corner(1, 0, 1), u);
        let x11 = lerp(corner(0, 1, 1), corner(1, 1, 1), u);
        lerp(lerp(x00, x10, v), lerp(x01, x11, v), w)
    }

    /// The field at `p` with its gradient (the same field as [`Noise::at`],
    /// summed in another order, so the value may differ in the last bits).
    pub fn with_gradient(&self, p: Vec3) -> (f32, Vec3) {
        let cell = p.map(|v| v.floor());
        let f: [f32; 3] = std::array::from_fn(|k| p[k] - cell[k]);
        let [i, j, k] = cell.map(|v| v as i32);
        let t = f.map(fade);
        let dt = f.map(|x| 30.0 * x * x * (x - 1.0) * (x - 1.0));
        let (mut value, mut gradient) = (0.0, [0.0; 3]);
        for corner in 0..8 {
            let d = [corner & 1, corner >> 1 & 1, corner >> 2 & 1];
            let g = self.gradient(i + d[0], j + d[1], k + d[2]);
            let offset: [f32; 3] = std::array::from_fn(|a| f[a] - d[a] as f32);
            let c = g[0] * offset[0] + g[1] * offset[1] + g[2] * offset[2];
            // The corner's weight along each axis and its derivative.
            let w: [f32; 3] = std::array::from_fn(|a| if d[a] == 1 { t[a] } else { 1.0 - t[a] });
            let dw: [f32; 3] = std::array::from_fn(|a| if d[a] == 1 { dt[a] } else { -dt[a] });
            let weight = w[0] * w[1] * w[2];
            value += weight * c;
            gradient[0] += weight * g[0] + c * dw[0] * w[1] * w[2];
            gradient[1] += weight * g[1] + c * w[0] * dw[1] * w[2];
            gradient[2] += weight * g[2] + c * w[0] * w[1] * dw[2];
        }
        (value, gradient)
    }

    /// `octaves` layers of the field, each twice the frequency and half the
    /// amplitude of the last, normalised to about [-1, 1]; `p` is scaled by
    /// `frequency` first.
    pub fn fractal(&self, p: Vec3, frequency: f32, octaves: u32) -> f32 {
        let (mut sum, mut amplitude, mut total, mut f) = (0.0, 1.0, 0.0, frequency);
        for octave in 0..octaves {
            // Each octave is shifted so lattice zeros do not line up.
            let shift = octave as f32 * 17.31;
            sum += amplitude * self.at([p[0] * f + shift, p[1] * f - shift, p[2] * f + 0.5 * shift]);
            total += amplitude;
            amplitude *= 0.5;
            f *= 2.0;
        }
        sum / total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn studio_noise_is_seeded_smooth_and_bounded() {
        let (a, b) = (Noise::new(1, 0), Noise::new(2, 0));
        let p = [0.3, 1.7, -2.2];
        assert_eq!(a.at(p), Noise::new(1, 0).at(p));
        assert_ne!(a.at(p), b.at(p));
        assert_ne!(a.at(p), Noise::new(1, 1).at(p));
        assert_eq!(a.at([3.0, -4.0, 5.0]), 0.0, "zero on the lattice");
        let mut spread = 0f32;
        for i in 0..2000 {
            let q = [i as f32 * 0.173, (i % 37) as f32 * 0.29, (i % 11) as f32 * -0.41];
            let v = a.at(q);
            assert!(v.abs() <= 1.1, "{v}");
            spread = spread.max(v.abs());
            // Smooth: a tiny step changes the value a little.
            assert!((a.at([q[0] + 1e-3, q[1], q[2]]) - v).abs() < 0.01);
        }
        assert!(spread > 0.5, "the field varies ({spread})");
    }

    #[test]
    fn studio_noise_gradient_matches_finite_differences() {
        let field = Noise::new(3, 1);
        for i in 0..200 {
            let p = [i as f32 * 0.137 - 7.0, (i % 13) as f32 * 0.31, (i % 7) as f32 * -0.53];
            let (value, gradient) = field.with_gradient(p);
            assert!((value - field.at(p)).abs() < 1e-5, "{value} at {p:?}");
            let h = 1e-3;
            for k in 0..3 {
                let (mut a, mut b) = (p, p);
                a[k] -= h;
                b[k] += h;
                let numeric = (field.at(b) - field.at(a)) / (2.0 * h);
                assert!(
                    (numeric - gradient[k]).abs() < 0.02,
                    "d/d{k} {} vs {numeric} at {p:?}",
                    gradient[k]
                );
            }
        }
    }
}
