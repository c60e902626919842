//! Gaussian splats: the Gaussian set carried by `avatar` values, and the 3D
//! Gaussian Splatting `.ply` files other tools read and write.
//!
//! An `avatar` record holds, for `N` Gaussians:
//!
//! | tensor | shape | meaning |
//! |---|---|---|
//! | `means` | `[N, 3]` | centres (world space, or triangle-local with `binding`) |
//! | `scales` | `[N, 3]` | standard deviations along the local axes (not logarithms) |
//! | `rotations` | `[N, 4]` | unit quaternions `w, x, y, z` |
//! | `opacities` | `[N]` | opacities in [0, 1] (not logits) |
//! | `colors` | `[N, 3·(d+1)²]` | spherical-harmonic coefficients of degree `d` ≤ 3, coefficient-major: `[k·3 + channel]` |
//! | `binding` (optional) | `[N]` u32 | the mesh triangle each Gaussian is attached to |
//!
//! Colours follow 3D Gaussian Splatting: the colour seen from direction `v` is
//! `max(0, 0.5 + Σₖ cₖ Yₖ(v))`, so the degree-0 coefficient of a colour `c` is
//! `(c − 0.5) / Y₀`.

mod load_ply;
pub mod ply;
mod save_ply;

use std::sync::Arc;

use gspeech_sdk::{Node, PortType, Record, Tensor, Value};

pub use load_ply::LoadPly;
pub use save_ply::SavePly;

/// The splat nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(LoadPly), Arc::new(SavePly)]
}

/// The value of the degree-0 spherical harmonic, `1 / (2√π)`.
pub const SH_C0: f32 = 0.282_094_8;

/// Spherical-harmonic coefficients per colour channel for a degree: `(d + 1)²`.
pub fn sh_coefficients(degree: u32) -> usize {
    ((degree + 1) * (degree + 1)) as usize
}

/// A set of 3D Gaussians with activated parameters, ready to render.
///
/// The colour coefficients are shared (`Arc`) so that a posed copy (new
/// geometry, same appearance) costs no copy of them.
#[derive(Clone, Debug, PartialEq)]
pub struct Gaussians {
    /// Centres.
    pub means: Vec<[f32; 3]>,
    /// Standard deviations along the Gaussian's own axes.
    pub scales: Vec<[f32; 3]>,
    /// Unit quaternions `w, x, y, z` rotating the Gaussian's axes into place.
    pub rotations: Vec<[f32; 4]>,
    /// Opacities in [0, 1].
    pub opacities: Vec<f32>,
    /// Spherical-harmonic coefficients, `[n][k][channel]`, `sh_coefficients(sh_degree)` per channel.
    pub sh: Arc<[f32]>,
    /// Spherical-harmonic degree, 0 to 3.
    pub sh_degree: u32,
}

impl Gaussians {
    /// An empty set of the given degree.
    pub fn empty(sh_degree: u32) -> Gaussians {
        Gaussians {
            means: Vec::new(),
            scales: Vec::new(),
            rotations: Vec::new(),
            opacities: Vec::new(),
            sh: Arc::from([]),
            sh_degree,
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

    /// Colour coefficients per Gaussian (all three channels).
    pub fn sh_stride(&self) -> usize {
        3 * sh_coefficients(self.sh_degree)
    }

    /// One Gaussian's colour coefficients, `[k][channel]`.
    pub fn sh_of(&self, index: usize) -> &[f32] {
        let stride = self.sh_stride();
        &self.sh[index * stride..(index + 1) * stride]
    }

    /// Checks that every array has one entry per Gaussian and the degree is 0–3.
    pub fn check(&self) -> Result<(), String> {
        let n = self.len();
        if self.sh_degree > 3 {
            return Err(format!("spherical-harmonic degree {} is above 3", self.sh_degree));
        }
        let lengths = [
            ("scales", self.scales.len()),
            ("rotations", self.rotations.len()),
            ("opacities", self.opacities.len()),
            ("colors", self.sh.len() / self.sh_stride()),
        ];
        if let Some((name, len)) = lengths.iter().find(|(_, len)| *len != n) {
            return Err(format!("{n} means but {len} {name}"));
        }
        if self.sh.len() != n * self.sh_stride() {
            return Err(format!(
                "colors hold {} values, not {n} × {}",
                self.sh.len(),
                self.sh_stride()
            ));
        }
        Ok(())
    }

    /// Reads the Gaussians of an `avatar` record (its `binding`, if any, is not read here).
    pub fn from_record(record: &Record) -> Result<Gaussians, String> {
        record.validate()?;
        let f32s = |name: &str| record.tensor(name).and_then(|t| t.as_f32()).expect("validated");
        let n = record.tensor("means").expect("validated").shape()[0];
        let colors = record.tensor("colors").expect("validated");
        let width = colors.shape()[1];
        let sh_degree = (0..=3u32).find(|&d| 3 * sh_coefficients(d) == width).ok_or_else(|| {
            format!(
                "avatar tensor `colors` has {width} values per Gaussian; spherical harmonics of degree 0 to 3 \
                     need 3, 12, 27 or 48"
            )
        })?;
        let gaussians = Gaussians {
            means: bytemuck::cast_slice(f32s("means")).to_vec(),
            scales: bytemuck::cast_slice(f32s("scales")).to_vec(),
            rotations: bytemuck::cast_slice(f32s("rotations")).to_vec(),
            opacities: f32s("opacities").to_vec(),
            sh: Arc::from(f32s("colors")),
            sh_degree,
        };
        gaussians.check()?;
        debug_assert_eq!(gaussians.len(), n);
        Ok(gaussians)
    }

    /// The `avatar` record of these Gaussians, with an optional triangle binding.
    pub fn to_record(&self, binding: Option<&[u32]>) -> Record {
        let n = self.len();
        let flat3 = |v: &[[f32; 3]]| Tensor::from_f32(&[n, 3], bytemuck::cast_slice(v).to_vec()).expect("n × 3");
        let mut record = Record::new(PortType::Avatar)
            .with_tensor("means", flat3(&self.means))
            .with_tensor("scales", flat3(&self.scales))
            .with_tensor(
                "rotations",
                Tensor::from_f32(&[n, 4], bytemuck::cast_slice(&self.rotations).to_vec()).expect("n × 4"),
            )
            .with_tensor("opacities", Tensor::from_f32(&[n], self.opacities.clone()).expect("n"))
            .with_tensor(
                "colors",
                Tensor::from_f32(&[n, self.sh_stride()], self.sh.to_vec()).expect("n × stride"),
            );
        if let Some(binding) = binding {
            record = record.with_tensor("binding", Tensor::from_u32(&[n], binding.to_vec()).expect("n"));
        }
        record
    }

    /// The `avatar` value of these Gaussians.
    pub fn to_value(&self) -> Value {
        Value::data(self.to_record(None))
    }
}

/// The triangle binding of an `avatar` record, if it has one.
pub fn binding_of(record: &Record) -> Option<&[u32]> {
    record.tensor("binding").and_then(|t| t.as_u32())
}

pub mod synthetic {
    //! Deterministic random Gaussian sets, for tests and benchmarks.

    use super::*;
    use crate::math::quat_mul;

    /// A small deterministic generator (SplitMix64), so tests need no dependency.
    pub struct Rng(u64);

    impl Rng {
        /// A generator from a seed.
        pub fn new(seed: u64) -> Rng {
            Rng(seed)
        }

        /// A uniform number in [0, 1).
        pub fn uniform(&mut self) -> f32 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32
        }

        /// A uniform number in [lo, hi).
        pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
            lo + (hi - lo) * self.uniform()
        }
    }

    /// `n` random Gaussians in a cube of half-size `extent` around the origin.
    pub fn random(n: usize, sh_degree: u32, extent: f32, seed: u64) -> Gaussians {
        let mut rng = Rng::new(seed);
        let mut g = Gaussians::empty(sh_degree);
        let stride = 3 * sh_coefficients(sh_degree);
        let mut sh = Vec::with_capacity(n * stride);
        for _ in 0..n {
            g.means.push([0; 3].map(|_| rng.range(-extent, extent)));
            g.scales
                .push([0; 3].map(|_| extent * 0.02 * (1.0 + 4.0 * rng.uniform())));
            let q = [0; 4].map(|_| rng.range(-1.0, 1.0));
            let norm = q.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-3);
            g.rotations.push(q.map(|v| v / norm));
            g.opacities.push(rng.range(0.05, 1.0));
            for k in 0..stride {
                let spread = if k < 3 { 1.5 } else { 0.4 };
                sh.push(rng.range(-spread, spread));
            }
        }
        g.sh = sh.into();
        g
    }

    /// A head-sized scene in centimetres: `n` flat Gaussians lying on an
    /// ellipsoidal shell (radii 8, 11 and 9.5 around the origin, y up), sized
    /// so that they cover it, with skin-like view-dependent colours. It stands
    /// in for a fitted avatar in benchmarks: similar extent, density and
    /// overdraw, no training needed.
    pub fn head(n: usize, sh_degree: u32, seed: u64) -> Gaussians {
        const RADII: [f32; 3] = [8.0, 11.0, 9.5];
        let mut rng = Rng::new(seed);
        let mut g = Gaussians::empty(sh_degree);
        let stride = 3 * sh_coefficients(sh_degree);
        let mut sh = Vec::with_capacity(n * stride);
        let area = 4.0 * std::f32::consts::PI * 9.4f32.powi(2);
        let size = 0.5 * (area / n.max(1) as f32).sqrt();
        for _ in 0..n {
            let z = rng.range(-1.0, 1.0);
            let phi = rng.range(0.0, std::f32::consts::TAU);
            let r = (1.0 - z * z).sqrt();
            let unit = [r * phi.cos(), r * phi.sin(), z];
            let depth = rng.range(0.97, 1.03);
            g.means.push([0, 1, 2].map(|k| unit[k] * RADII[k] * depth));
            // The shell's normal at that point, and a rotation taking z to it, with a random spin.
            let normal = crate::math::normalize([0, 1, 2].map(|k| unit[k] / RADII[k])).unwrap_or([0.0, 0.0, 1.0]);
            let align = if normal[2] > -0.999 {
                let q = [1.0 + normal[2], -normal[1], normal[0], 0.0];
                let norm = q.iter().map(|v| v * v).sum::<f32>().sqrt();
                q.map(|v| v / norm)
            } else {
                [0.0, 1.0, 0.0, 0.0]
            };
            let spin = rng.range(0.0, std::f32::consts::PI);
            g.rotations.push(quat_mul(align, [spin.cos(), 0.0, 0.0, spin.sin()]));
            let tangent = size * rng.range(0.5, 1.5);
            g.scales.push([tangent, tangent * rng.range(0.5, 1.0), tangent * 0.2]);
            g.opacities.push(rng.range(0.5, 1.0));
            let tone = [0.85, 0.62, 0.52].map(|c: f32| c * rng.range(0.85, 1.1));
            sh.extend(tone.map(|c| (c - 0.5) / SH_C0));
            for _ in 3..stride {
                sh.push(rng.range(-0.05, 0.05));
            }
        }
        g.sh = sh.into();
        g
    }
}
