//! Extra triangles in the mouth, for Gaussians of the mouth interior.
//!
//! GaussianAvatars adds teeth to FLAME, and GaussianSpeech extra triangles in
//! the mouth region, because FLAME's mouth is a hole: the inner lip contour is
//! a boundary of the mesh, and nothing behind it can carry Gaussians.
//! [`mouth_triangles`] closes that hole: it finds the mesh's boundary loop
//! that runs along the lips and fills it with a strip of triangles zipped
//! between its upper and lower halves (split at the two loop vertices furthest
//! apart, the mouth corners), over the existing vertices only, so the fill
//! follows the lips in every frame and motions need no new vertices. The
//! triangles are wound like the mesh around them. Ours: GaussianAvatars adds
//! 120 teeth vertices on two rings behind the lips instead; we add no vertices
//! so that motion models and captures keep the face model's topology.
//!
//! ICT-FaceKit needs none: its inner lips are joined to a mouth socket (the
//! `mouth_socket` region), and it has `teeth` and `gums_tongue` meshes that
//! its expressions move with the jaw, so its lips are no boundary and
//! [`mouth_triangles`] returns nothing.
//!
//! The lips are the model's `lip_vertices` plus its inner-lip landmarks
//! (60–67 of the 68-point order) when it has them; a model with neither gets
//! no extra triangles.

use std::collections::{BTreeMap, BTreeSet};

use crate::face::FaceRig;
use crate::math::{Vec3, length, sub};

/// The inner lip contour in the 68-point order.
const INNER_LIP: std::ops::Range<usize> = 60..68;

/// Triangles (vertex index triples of `rig`) that close the mouth's hole, if
/// the mesh has one along the lips; empty otherwise. Deterministic.
pub fn mouth_triangles(rig: &FaceRig) -> Vec<[u32; 3]> {
    let mut lips: BTreeSet<u32> = rig.lip_vertices.iter().copied().collect();
    if rig.landmarks.len() >= INNER_LIP.end {
        lips.extend(&rig.landmarks[INNER_LIP]);
    }
    let on_lips = |chain: &[u32]| chain.iter().filter(|&&v| lips.contains(&v)).count();
    let mouth = boundary_loops(&rig.triangles)
        .into_iter()
        // The loop with the most lip vertices, if lips make at least half of it.
        .filter(|l| l.len() >= 3 && 2 * on_lips(&l[..]) >= l.len())
        .max_by_key(|l| (on_lips(&l[..]), std::cmp::Reverse(l[0])));
    let Some(mouth) = mouth else {
        return Vec::new();
    };
    let at = |v: u32| -> Vec3 {
        let i = v as usize * 3;
        [rig.neutral[i], rig.neutral[i + 1], rig.neutral[i + 2]]
    };
    zip(&mouth.iter().map(|&v| (v, at(v))).collect::<Vec<_>>())
}

/// The boundary loops of a triangle mesh (`[F * 3]` vertex indices), each in
/// the order that winds a filling polygon like the triangles beside it (the
/// reverse of their boundary edges), starting at its smallest vertex.
fn boundary_loops(triangles: &[u32]) -> Vec<Vec<u32>> {
    let mut edges: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    for t in triangles.chunks_exact(3) {
        for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
            *edges.entry((a.min(b), a.max(b))).or_default() += 1;
        }
    }
    // A boundary edge a → b of a triangle is walked b → a by the fill.
    let mut next: BTreeMap<u32, u32> = BTreeMap::new();
    for t in triangles.chunks_exact(3) {
        for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
            if edges[&(a.min(b), a.max(b))] == 1 {
                next.entry(b).or_insert(a);
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut loops = Vec::new();
    for &start in next.keys() {
        if seen.contains(&start) {
            continue;
        }
        let mut chain = vec![start];
        seen.insert(start);
        let mut v = start;
        let closed = loop {
            match next.get(&v) {
                Some(&n) if n == start => break true,
                Some(&n) if seen.insert(n) => {
                    chain.push(n);
                    v = n;
                }
                // A non-manifold or open boundary: not a loop we fill.
                _ => break false,
            }
        };
        if closed {
            loops.push(chain);
        }
    }
    loops
}

/// Fills a closed polygon of (vertex, position): splits it at the two
/// vertices furthest apart into two chains running between them and walks
/// both, always advancing the one whose next vertex is less far along (by
/// arc-length fraction), one triangle per step: `n − 2` triangles wound in
/// the polygon's order.
fn zip(polygon: &[(u32, Vec3)]) -> Vec<[u32; 3]> {
    let n = polygon.len();
    if n < 3 {
        return Vec::new();
    }
    let mut corners = (0, 1);
    let mut widest = -1.0;
    for i in 0..n {
        for j in i + 1..n {
            let d = length(sub(polygon[i].1, polygon[j].1));
            if d > widest {
                (widest, corners) = (d, (i, j));
            }
        }
    }
    let (i, j) = corners;
    // Forward from one corner to the other, both included; backward between them, neither included.
    let upper: Vec<usize> = (i..=j).collect();
    let lower: Vec<usize> = (1..n - (j - i)).map(|s| (i + n - s) % n).collect();
    let id = |k: usize| polygon[k].0;
    if lower.is_empty() {
        // The corners are neighbours (0 and n − 1): a fan from one of them.
        return (1..n - 1).map(|k| [id(0), id(k), id(k + 1)]).collect();
    }
    // Arc-length fractions along each chain, both measured from corner i to corner j.
    let fractions = |chain: &[usize]| -> Vec<f32> {
        let mut points: Vec<Vec3> = vec![polygon[i].1];
        points.extend(chain.iter().map(|&k| polygon[k].1));
        points.push(polygon[j].1);
        let mut along = vec![0.0];
        for w in points.windows(2) {
            along.push(along.last().unwrap() + length(sub(w[1], w[0])));
        }
        let total = along.last().copied().unwrap_or(0.0).max(1e-12);
        along.iter().map(|a| a / total).collect()
    };
    // The upper chain includes its ends, so its fractions are those of its inner points.
    let upper_at = fractions(&upper[1..upper.len() - 1]);
    let lower_at = fractions(&lower);
    let (mut u, mut d) = (0, 0);
    let mut triangles = Vec::with_capacity(n - 2);
    while u + 1 < upper.len() || d + 1 < lower.len() {
        let advance_upper = d + 1 == lower.len() || (u + 1 < upper.len() && upper_at[u + 1] <= lower_at[d + 2]);
        if advance_upper {
            triangles.push([id(upper[u]), id(upper[u + 1]), id(lower[d])]);
            u += 1;
        } else {
            triangles.push([id(upper[u]), id(lower[d + 1]), id(lower[d])]);
            d += 1;
        }
    }
    triangles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::{cross, dot, normalize};

    /// A face-like disc facing +z around a lens-shaped mouth hole: an inner
    /// ring of `lips` vertices (the lips, a flat ellipse 4 wide and 0.6 tall)
    /// and an outer ring of radius 5, joined by quads.
    fn mouth_disc(lips: usize) -> FaceRig {
        let mut neutral = Vec::new();
        for ring in 0..2 {
            for k in 0..lips {
                let a = std::f32::consts::TAU * k as f32 / lips as f32;
                let (rx, ry) = if ring == 0 { (2.0, 0.3) } else { (5.0, 5.0) };
                neutral.extend([rx * a.cos(), ry * a.sin(), 0.0]);
            }
        }
        let n = lips as u32;
        let mut triangles = Vec::new();
        for k in 0..n {
            let (a, b) = (k, (k + 1) % n);
            // Counter-clockwise seen from +z: normals face +z.
            triangles.extend([a, n + a, n + b, a, n + b, b]);
        }
        FaceRig {
            lip_vertices: (0..n).collect(),
            ..FaceRig::mesh("disc", "cm", neutral, triangles, "face")
        }
    }

    fn at(rig: &FaceRig, v: u32) -> Vec3 {
        let i = v as usize * 3;
        [rig.neutral[i], rig.neutral[i + 1], rig.neutral[i + 2]]
    }

    #[test]
    fn the_mouth_hole_is_closed_by_non_degenerate_triangles_on_the_lips() {
        for lips in [3, 8, 13] {
            let rig = mouth_disc(lips);
            let added = mouth_triangles(&rig);
            assert_eq!(
                added.len(),
                lips - 2,
                "a polygon of {lips} needs {} triangles",
                lips - 2
            );
            let mut area = 0.0;
            for t in &added {
                assert!(t.iter().all(|v| rig.lip_vertices.contains(v)), "{t:?} is on the lips");
                let [a, b, c] = t.map(|v| at(&rig, v));
                let normal = cross(sub(b, a), sub(c, a));
                let edges = length(sub(b, a)).max(length(sub(c, a))).max(length(sub(c, b)));
                assert!(length(normal) > 1e-3 * edges * edges, "{t:?} is degenerate");
                // Wound like the face around it, and inside the lips' ellipse.
                assert!(
                    dot(normalize(normal).unwrap(), [0.0, 0.0, 1.0]) > 0.99,
                    "{t:?} faces +z"
                );
                let centre = [0, 1].map(|k| (a[k] + b[k] + c[k]) / 3.0);
                assert!((centre[0] / 2.0).powi(2) + (centre[1] / 0.3).powi(2) < 1.0);
                area += length(normal) / 2.0;
            }
            // Together they cover the polygon: its area is ½·Σ|cross| of a fan from the centre.
            let polygon: f32 = (0..lips as u32)
                .map(|k| length(cross(at(&rig, k), at(&rig, (k + 1) % lips as u32))) / 2.0)
                .sum();
            assert!((area - polygon).abs() < 1e-4 * polygon, "{area} vs {polygon}");
        }
    }

    #[test]
    fn a_closed_mouth_or_a_model_without_lips_gets_none() {
        let mut rig = mouth_disc(8);
        rig.lip_vertices.clear();
        assert!(mouth_triangles(&rig).is_empty(), "no lips, no mouth");
        // The outer rim is a boundary too, but not on the lips.
        let mut rig = mouth_disc(8);
        rig.lip_vertices = vec![8, 9];
        assert!(mouth_triangles(&rig).is_empty());
        let mut rig = mouth_disc(8);
        let fill = mouth_triangles(&rig);
        rig.triangles.extend(fill.iter().flatten());
        assert!(mouth_triangles(&rig).is_empty(), "a closed mouth has no hole");
    }

    #[test]
    fn ict_facekit_has_its_own_mouth_interior() {
        let rig = crate::face::asset::read_asset(&crate::testing::repo_path("projects/assets/face/ict-facekit.json"))
            .unwrap();
        assert!(mouth_triangles(&rig).is_empty());
        for region in ["mouth_socket", "teeth", "gums_tongue"] {
            assert!(rig.region(region).is_some(), "ICT-FaceKit has {region}");
        }
        // Its inner lips are no boundary: the mesh's only boundaries are elsewhere.
        let loops = boundary_loops(&rig.triangles);
        let inner_lip: Vec<u32> = rig.landmarks[INNER_LIP].to_vec();
        assert!(!loops.is_empty());
        assert!(loops.iter().flatten().all(|v| !inner_lip.contains(v)));
    }
}
