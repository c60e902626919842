//! Ambient occlusion of a rest-pose mesh, per vertex, by ray casting against
//! a bounding volume hierarchy.
//!
//! Our choice over screen-space occlusion: the mouth socket, the eye sockets
//! and the teeth are deep, narrow cavities that a screen-space method cannot
//! see into from outside views, and a per-vertex value computed once per
//! identity costs nothing per frame and does not flicker between cameras or
//! frames (the same vertex has the same occlusion in every view, as it would
//! in a texture the avatar can learn). The price: occlusion does not follow
//! the expression (an open jaw keeps the closed mouth's darkness inside,
//! which is the look we want for the mouth interior anyway).

use rayon::prelude::*;

use crate::math::{Vec3, cross, dot, normalize, sub};

use super::noise::mix;

/// A binary BVH over triangles, split at the median centroid of the longest axis.
struct Bvh {
    nodes: Vec<BvhNode>,
    triangles: Vec<[Vec3; 3]>,
}

#[derive(Clone, Copy)]
struct BvhNode {
    lo: Vec3,
    hi: Vec3,
    /// Leaf: first triangle; inner: first child (the second is next to it).
    first: u32,
    /// Leaf: triangle count; inner: 0.
    count: u32,
}

const LEAF: usize = 4;

impl Bvh {
    fn new(positions: &[f32], triangles: &[u32]) -> Bvh {
        let at = |v: u32| {
            let i = v as usize * 3;
            [positions[i], positions[i + 1], positions[i + 2]]
        };
        let mut tris: Vec<[Vec3; 3]> = triangles
            .chunks_exact(3)
            .map(|t| [at(t[0]), at(t[1]), at(t[2])])
            .collect();
        let mut nodes = vec![BvhNode {
            lo: [0.0; 3],
            hi: [0.0; 3],
            first: 0,
            count: 0,
        }];
        let mut stack = vec![(0usize, 0usize, tris.len())];
        while let Some((node, start, end)) = stack.pop() {
            let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
            let (mut clo, mut chi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
            for t in &tris[start..end] {
                for p in t {
                    for k in 0..3 {
                        lo[k] = lo[k].min(p[k]);
                        hi[k] = hi[k].max(p[k]);
                    }
                }
                let c = centroid(t);
                for k in 0..3 {
                    clo[k] = clo[k].min(c[k]);
                    chi[k] = chi[k].max(c[k]);
                }
            }
            nodes[node].lo = lo;
            nodes[node].hi = hi;
            if end - start <= LEAF {
                nodes[node].first = start as u32;
                nodes[node].count = (end - start) as u32;
                continue;
            }
            let axis = (0..3)
                .max_by(|&a, &b| (chi[a] - clo[a]).total_cmp(&(chi[b] - clo[b])))
                .expect("three axes");
            let mid = (start + end) / 2;
            tris[start..end]
                .select_nth_unstable_by(mid - start, |a, b| centroid(a)[axis].total_cmp(&centroid(b)[axis]));
            let child = nodes.len();
            nodes[node].first = child as u32;
            nodes.extend([nodes[node]; 2]);
            stack.push((child, start, mid));
            stack.push((child + 1, mid, end));
        }
        Bvh { nodes, triangles: tris }
    }

    /// Whether a ray from `origin` along `dir` (unit) hits a triangle closer than `reach`.
    fn hits(&self, origin: Vec3, dir: Vec3, reach: f32) -> bool {
        let inv = dir.map(|d| 1.0 / d);
        let mut stack = [0u32; 64];
        let mut top = 1;
        while top > 0 {
            top -= 1;
            let node = &self.nodes[stack[top] as usize];
            let (mut t0, mut t1) = (0f32, reach);
            for k in 0..3 {
                let (a, b) = ((node.lo[k] - origin[k]) * inv[k], (node.hi[k] - origin[k]) * inv[k]);
                t0 = t0.max(a.min(b));
                t1 = t1.min(a.max(b));
            }
            if t0 > t1 {
                continue;
            }
            if node.count > 0 {
                let range = node.first as usize..(node.first + node.count) as usize;
                if self.triangles[range].iter().any(|t| hit(t, origin, dir, reach)) {
                    return true;
                }
            } else if top + 2 <= stack.len() {
                stack[top] = node.first;
                stack[top + 1] = node.first + 1;
                top += 2;
            }
        }
        false
    }
}

fn centroid(t: &[Vec3; 3]) -> Vec3 {
    std::array::from_fn(|k| (t[0][k] + t[1][k] + t[2][k]) / 3.0)
}

/// Möller–Trumbore: whether the ray hits the triangle at a distance in (0, reach).
fn hit(t: &[Vec3; 3], origin: Vec3, dir: Vec3, reach: f32) -> bool {
    let (e1, e2) = (sub(t[1], t[0]), sub(t[2], t[0]));
    let p = cross(dir, e2);
    let det = dot(e1, p);
    if det.abs() < 1e-12 {
        return false;
    }
    let inv = 1.0 / det;
    let s = sub(origin, t[0]);
    let u = dot(s, p) * inv;
    if !(0.0..=1.0).contains(&u) {
        return false;
    }
    let q = cross(s, e1);
    let v = dot(dir, q) * inv;
    if v < 0.0 || u + v > 1.0 {
        return false;
    }
    let d = dot(e2, q) * inv;
    d > 0.0 && d < reach
}

/// Per vertex, the share of `rays` cosine-weighted directions around its
/// normal that leave the mesh without hitting it within `reach` (mesh units):
/// 1 in the open, towards 0 in cavities. `positions` `[V * 3]`, `normals` one
/// per vertex. The directions are a fixed spiral turned by a hash of the
/// vertex index, so the result is the same on every run.
pub fn vertex_occlusion(
    positions: &[f32],
    triangles: &[u32],
    normals: &[[f32; 3]],
    rays: usize,
    reach: f32,
) -> Vec<f32> {
    let bvh = Bvh::new(positions, triangles);
    let golden = std::f32::consts::PI * (3.0 - 5f32.sqrt());
    // Cosine-weighted directions around +z: a Fibonacci spiral on the disc, lifted.
    let spiral: Vec<Vec3> = (0..rays)
        .map(|i| {
            let r2 = (i as f32 + 0.5) / rays as f32;
            let (r, a) = (r2.sqrt(), i as f32 * golden);
            [r * a.cos(), r * a.sin(), (1.0 - r2).max(0.0).sqrt()]
        })
        .collect();
    (0..positions.len() / 3)
        .into_par_iter()
        .map(|v| {
            let n = normals[v];
            let p = [positions[v * 3], positions[v * 3 + 1], positions[v * 3 + 2]];
            let helper = if n[0].abs() < 0.9 {
                [1.0, 0.0, 0.0]
            } else {
                [0.0, 1.0, 0.0]
            };
            let tx = normalize(cross(helper, n)).unwrap_or([1.0, 0.0, 0.0]);
            let ty = cross(n, tx);
            let turn = (mix(v as u64) >> 40) as f32 / (1u64 << 24) as f32 * std::f32::consts::TAU;
            let (s, c) = turn.sin_cos();
            let origin: Vec3 = std::array::from_fn(|k| p[k] + n[k] * 1e-3 * reach);
            let open = spiral
                .iter()
                .filter(|d| {
                    let (x, y) = (d[0] * c - d[1] * s, d[0] * s + d[1] * c);
                    let dir: Vec3 = std::array::from_fn(|k| tx[k] * x + ty[k] * y + n[k] * d[2]);
                    !bvh.hits(origin, dir, reach)
                })
                .count();
            open as f32 / rays.max(1) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn studio_occlusion_is_open_on_a_plane_and_closed_under_a_lid() {
        // A floor square with a lid 1 unit above its centre part.
        let positions = [
            -5.0, -5.0, 0.0, 5.0, -5.0, 0.0, 5.0, 5.0, 0.0, -5.0, 5.0, 0.0, // floor
            -0.1, -0.1, 0.0, // a vertex under the lid (unconnected, its own normal)
            -4.0, -4.0, 1.0, 4.0, -4.0, 1.0, 4.0, 4.0, 1.0, -4.0, 4.0, 1.0, // lid
        ];
        let triangles = [0, 1, 2, 0, 2, 3, 5, 6, 7, 5, 7, 8];
        let up = [0.0, 0.0, 1.0];
        let normals = vec![up; 9];
        let ao = vertex_occlusion(&positions, &triangles, &normals, 32, 3.0);
        assert!(ao[4] < 0.3, "under the lid: {}", ao[4]);
        assert_eq!(ao[6], 1.0, "on top of the lid");
    }
}
