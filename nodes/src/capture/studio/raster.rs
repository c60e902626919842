//! A CPU triangle rasteriser for the calibrated pinhole camera: a supersampled
//! visibility buffer (triangle, perspective-correct barycentrics and depth per
//! sample) that the studio shades afterwards, one sample at a time.
//! (`face::raster` is a flat-shaded preview with a look-at camera of its own;
//! this one follows the calibrated [`Camera`] exactly, as a capture's images
//! must.)
//!
//! Sample `(a, b)` of pixel `(i, j)` sits at `(i + (a + ½)/s, j + (b + ½)/s)`
//! for a supersampling factor `s`, so pixel `(i, j)` covers `[i, i + 1) ×
//! [j, j + 1)` as in [`crate::camera`]. Nothing is culled: the depth test
//! alone decides what is seen, so the mouth socket and eye sockets, whose
//! visible side faces inwards, are drawn whichever way they wind; the shader
//! turns normals towards the camera (two-sided shading). Triangles with a
//! corner outside the camera's clipping range are skipped rather than
//! clipped (ours: studio cameras are far from the head). Bands of pixel rows
//! are rasterised independently (the studio shades each band while its
//! samples are in cache), each visiting its triangles in index order, so the
//! result does not depend on the thread count (equal depths keep the first
//! triangle).

use rayon::prelude::*;

use crate::camera::Camera;

/// A sample that no triangle covers.
pub const EMPTY: u32 = u32::MAX;

/// Pixel rows per band: bands are rasterised (and shaded) independently.
pub const BAND_PIXELS: usize = 4;

/// What one sample sees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The triangle, or [`EMPTY`].
    pub triangle: u32,
    /// Perspective-correct barycentric weights of the triangle's 2nd and 3rd
    /// corners (the 1st has `1 − b₁ − b₂`).
    pub bary: [f32; 2],
    /// Depth along the optical axis (camera-space z).
    pub depth: f32,
}

impl Sample {
    /// The three corners' weights.
    pub fn weights(&self) -> [f32; 3] {
        [1.0 - self.bary[0] - self.bary[1], self.bary[0], self.bary[1]]
    }

    /// A sample that no triangle covers.
    pub const fn empty() -> Sample {
        Sample {
            triangle: EMPTY,
            bary: [0.0; 2],
            depth: f32::INFINITY,
        }
    }
}

/// A supersampled visibility buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Samples per pixel along each axis.
    pub factor: usize,
    /// `(width · factor) × (height · factor)` samples, row by row.
    pub samples: Vec<Sample>,
}

impl Samples {
    /// The `factor²` samples of pixel `(x, y)`.
    pub fn pixel(&self, x: usize, y: usize) -> impl Iterator<Item = &Sample> + '_ {
        let (s, row) = (self.factor, self.width * self.factor);
        (0..s * s).map(move |k| &self.samples[(y * s + k / s) * row + x * s + k % s])
    }
}

/// A mesh seen by a camera, ready to rasterise band by band: screen
/// positions and, per band of [`BAND_PIXELS`] pixel rows, the triangles
/// that may cover it.
pub struct Raster<'a> {
    triangles: &'a [u32],
    /// Per vertex, x and y in sample units (sample centres at integer + ½) and camera depth.
    screen: Vec<[f32; 3]>,
    /// Per band, its triangles in index order.
    bins: Vec<Vec<u32>>,
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Samples per pixel along each axis.
    pub factor: usize,
}

impl<'a> Raster<'a> {
    /// Projects `positions` (`[V * 3]`, world space) and bins `triangles`
    /// (`[F * 3]`) for `camera` with `factor × factor` samples per pixel.
    pub fn new(camera: &Camera, positions: &[f32], triangles: &'a [u32], factor: usize) -> Raster<'a> {
        let factor = factor.max(1);
        let (w, h) = (camera.width as usize * factor, camera.height as usize * factor);
        let s = factor as f32;
        let screen: Vec<[f32; 3]> = positions
            .chunks_exact(3)
            .map(|p| {
                let c = camera.to_camera([p[0], p[1], p[2]]);
                [
                    (camera.fx * c[0] / c[2] + camera.cx) * s,
                    (camera.fy * c[1] / c[2] + camera.cy) * s,
                    c[2],
                ]
            })
            .collect();
        let band = BAND_PIXELS * factor;
        let mut bins: Vec<Vec<u32>> = vec![Vec::new(); h.div_ceil(band)];
        for (t, corners) in triangles.chunks_exact(3).enumerate() {
            let [a, b, c] = [0, 1, 2].map(|i| screen[corners[i] as usize]);
            if [a, b, c].iter().any(|p| !(p[2] >= camera.near && p[2] <= camera.far)) {
                continue;
            }
            let y0 = (a[1].min(b[1]).min(c[1]) - 0.5).ceil().max(0.0);
            let y1 = (a[1].max(b[1]).max(c[1]) - 0.5).floor().min(h as f32 - 1.0);
            let x0 = (a[0].min(b[0]).min(c[0]) - 0.5).ceil().max(0.0);
            let x1 = (a[0].max(b[0]).max(c[0]) - 0.5).floor().min(w as f32 - 1.0);
            if y0 > y1 || x0 > x1 {
                continue;
            }
            for bin in bins.iter_mut().take(y1 as usize / band + 1).skip(y0 as usize / band) {
                bin.push(t as u32);
            }
        }
        Raster {
            triangles,
            screen,
            bins,
            width: camera.width as usize,
            height: camera.height as usize,
            factor,
        }
    }

    /// How many bands.
    pub fn bands(&self) -> usize {
        self.bins.len()
    }

    /// Rasterises band `band` into `rows` (its sample rows, row by row, as
    /// many as the band has: fewer in the last), which are reset first.
    pub fn band(&self, band: usize, rows: &mut Vec<Sample>) {
        let w = self.width * self.factor;
        let top = band * BAND_PIXELS * self.factor;
        let bottom = ((band + 1) * BAND_PIXELS * self.factor).min(self.height * self.factor);
        rows.clear();
        rows.resize((bottom - top) * w, Sample::empty());
        for &t in &self.bins[band] {
            let corners = &self.triangles[t as usize * 3..t as usize * 3 + 3];
            let [a, b, c] = [0, 1, 2].map(|i| self.screen[corners[i] as usize]);
            let area = edge(a, b, c);
            if area.abs() < 1e-12 {
                continue;
            }
            let inv = 1.0 / area;
            // Each corner's barycentric weight is affine on screen: l = gx·x + gy·y + g0.
            let affine = |p: [f32; 3], q: [f32; 3]| {
                let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
                [-dy * inv, dx * inv, (dy * p[0] - dx * p[1]) * inv]
            };
            let weights = [affine(b, c), affine(c, a), affine(a, b)];
            let inv_depth = [1.0 / a[2], 1.0 / b[2], 1.0 / c[2]];
            let y0 = ((a[1].min(b[1]).min(c[1]) - 0.5).ceil().max(top as f32)) as usize;
            let y1 = ((a[1].max(b[1]).max(c[1]) - 0.5).floor() + 1.0).clamp(0.0, bottom as f32) as usize;
            let x0 = (a[0].min(b[0]).min(c[0]) - 0.5).ceil().max(0.0) as usize;
            let x1 = ((a[0].max(b[0]).max(c[0]) - 0.5).floor() + 1.0).clamp(0.0, w as f32) as usize;
            for y in y0..y1 {
                let py = y as f32 + 0.5;
                let row = weights.map(|g| g[1] * py + g[2]);
                // The span of the row inside all three edges (widened by a
                // sample for rounding; the test below decides).
                let (mut from, mut to) = (x0 as f32, x1 as f32);
                for (g, r) in weights.iter().zip(row) {
                    if g[0] > 0.0 {
                        from = from.max(-r / g[0] - 1.0);
                    } else if g[0] < 0.0 {
                        to = to.min(-r / g[0] + 1.0);
                    } else if r < 0.0 {
                        to = from;
                    }
                }
                if from >= to {
                    continue;
                }
                let (from, to) = ((from - 0.5).max(x0 as f32) as usize, ((to + 0.5) as usize).min(x1));
                let out = &mut rows[(y - top) * w..(y - top + 1) * w];
                for (x, sample) in out.iter_mut().enumerate().take(to).skip(from) {
                    let px = x as f32 + 0.5;
                    let l = [0, 1, 2].map(|i| weights[i][0] * px + row[i]);
                    if l[0] < 0.0 || l[1] < 0.0 || l[2] < 0.0 {
                        continue;
                    }
                    // 1/z is linear on screen; attributes divided by z are too.
                    let q = [l[0] * inv_depth[0], l[1] * inv_depth[1], l[2] * inv_depth[2]];
                    let inv_z = q[0] + q[1] + q[2];
                    // Nearer than what the sample holds (which may be infinitely far).
                    if inv_z * sample.depth > 1.0 {
                        let depth = 1.0 / inv_z;
                        *sample = Sample {
                            triangle: t,
                            bary: [q[1] * depth, q[2] * depth],
                            depth,
                        };
                    }
                }
            }
        }
    }
}

/// Rasterises `triangles` (`[F * 3]`) of `positions` (`[V * 3]`, world space)
/// seen by `camera` with `factor × factor` samples per pixel: every band at once.
pub fn rasterize(camera: &Camera, positions: &[f32], triangles: &[u32], factor: usize) -> Samples {
    let raster = Raster::new(camera, positions, triangles, factor);
    let band_samples = BAND_PIXELS * raster.factor * raster.width * raster.factor;
    let mut samples = vec![Sample::empty(); raster.width * raster.factor * raster.height * raster.factor];
    samples
        .par_chunks_mut(band_samples)
        .enumerate()
        .for_each(|(band, out)| {
            let mut rows = Vec::new();
            raster.band(band, &mut rows);
            out.copy_from_slice(&rows);
        });
    Samples {
        width: raster.width,
        height: raster.height,
        factor: raster.factor,
        samples,
    }
}

/// Twice the signed area of `a, b, c` on screen.
fn edge(a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> f32 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn studio_raster_covers_the_projected_triangle_and_keeps_the_nearer() {
        let camera = Camera::new(32, 32, 40.0)
            .looking_at([0.0, 0.0, 10.0], [0.0; 3], [0.0, 1.0, 0.0])
            .unwrap();
        // A big far triangle and a small near one over the centre, wound either way.
        let positions = [
            -3.0, -3.0, 0.0, 3.0, -3.0, 0.0, 0.0, 3.0, 0.0, //
            -0.5, -0.5, 1.0, 0.0, 0.5, 1.0, 0.5, -0.5, 1.0,
        ];
        let samples = rasterize(&camera, &positions, &[0, 1, 2, 3, 4, 5], 2);
        let centre = samples.pixel(16, 16).next().unwrap();
        assert_eq!(centre.triangle, 1);
        assert!((centre.depth - 9.0).abs() < 1e-4, "{centre:?}");
        // Perspective-correct weights give back the world point seen.
        let corner = |i: usize| [positions[i * 3], positions[i * 3 + 1], positions[i * 3 + 2]];
        let w = centre.weights();
        let p: [f32; 3] = std::array::from_fn(|k| (0..3).map(|i| w[i] * corner(3 + i)[k]).sum());
        let seen = camera.project(p).unwrap();
        assert!(
            (seen[0] - 16.25).abs() < 1e-3 && (seen[1] - 16.25).abs() < 1e-3,
            "{seen:?}"
        );
        // The far triangle's corners project where its samples are.
        for i in 0..3 {
            let [u, v] = camera.project(corner(i)).unwrap();
            let (x, y) = ((u.floor() as usize).min(31), (v.floor() as usize).min(31));
            let near = (x.saturating_sub(1)..=(x + 1).min(31))
                .flat_map(|x| (y.saturating_sub(1)..=(y + 1).min(31)).map(move |y| (x, y)))
                .any(|(x, y)| samples.pixel(x, y).any(|s| s.triangle == 0));
            assert!(near, "corner {i} at ({u}, {v})");
        }
        assert_eq!(samples.pixel(0, 0).next().unwrap().triangle, EMPTY);
    }
}
