//! The vertex sets the lip-sync metrics use: the lips (lip vertex error, LVE)
//! and the upper face (upper-face dynamics deviation, FDD).
//!
//! For rigs with the 68 Multi-PIE landmarks (ICT-FaceKit) they are found from
//! the neutral face, a choice of ours since no published set exists for it:
//! - **lips**: face-region vertices that, seen from the front (the x–y
//!   plane), lie inside the outer lip contour (landmarks 48–59) and are no
//!   further back than 1 cm behind the mouth corners;
//! - **upper face**: face-region vertices at or above the lowest eye landmark
//!   (36–47): eyelids, brows and forehead.
//!
//! FLAME ships its own masks (`FLAME_masks.pkl`); converted files carry them
//! (see `flame`), the lips as FLAME's `lips` and the upper face as its
//! `forehead` and `eye_region` together.

use super::rig::Region;

/// Lip and upper-face vertex indices, ascending.
#[derive(Clone, Debug, PartialEq)]
pub struct VertexSets {
    /// The lips.
    pub lips: Vec<u32>,
    /// Eyelids, brows and forehead.
    pub upper_face: Vec<u32>,
}

/// The outer lip contour in the 68-point order.
const OUTER_LIP: std::ops::RangeInclusive<usize> = 48..=59;
/// The eyes in the 68-point order.
const EYES: std::ops::RangeInclusive<usize> = 36..=47;
/// The mouth corners.
const MOUTH_CORNERS: [usize; 2] = [48, 54];

/// The sets of a rig from its neutral positions (`[V * 3]`), its 68 landmark
/// vertices and its face region.
pub fn from_landmarks(neutral: &[f32], landmarks: &[u32], face: &Region) -> VertexSets {
    let at = |v: u32| -> [f32; 3] {
        let i = v as usize * 3;
        [neutral[i], neutral[i + 1], neutral[i + 2]]
    };
    let contour: Vec<[f32; 2]> = landmarks[OUTER_LIP]
        .iter()
        .map(|&v| at(v))
        .map(|p| [p[0], p[1]])
        .collect();
    let corner_depth = MOUTH_CORNERS
        .iter()
        .map(|&i| at(landmarks[i])[2])
        .fold(f32::INFINITY, f32::min);
    let eye_floor = landmarks[EYES].iter().map(|&v| at(v)[1]).fold(f32::INFINITY, f32::min);
    let lips = face
        .vertex_indices()
        .filter(|&v| {
            let p = at(v);
            p[2] >= corner_depth - 1.0 && inside(&contour, [p[0], p[1]])
        })
        .collect();
    let upper_face = face.vertex_indices().filter(|&v| at(v)[1] >= eye_floor).collect();
    VertexSets { lips, upper_face }
}

/// Whether a point is inside a polygon (even–odd rule).
fn inside(polygon: &[[f32; 2]], p: [f32; 2]) -> bool {
    let mut result = false;
    for (i, a) in polygon.iter().enumerate() {
        let b = polygon[(i + 1) % polygon.len()];
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                result = !result;
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::to_ranges;

    #[test]
    fn points_in_polygons() {
        let square = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]];
        assert!(inside(&square, [1.0, 1.0]));
        assert!(!inside(&square, [3.0, 1.0]));
        assert!(!inside(&square, [1.0, -0.5]));
    }

    #[test]
    fn lips_lie_in_the_contour_and_the_upper_face_above_the_eyes() {
        // The face: a 21 × 21 grid over [-5, 5]² at z = 0, plus one vertex 3 cm behind the mouth.
        let mut neutral: Vec<f32> = (0..441)
            .flat_map(|i| [(i % 21) as f32 * 0.5 - 5.0, (i / 21) as f32 * 0.5 - 5.0, 0.0])
            .collect();
        neutral.extend([0.0, -3.0, -3.0]);
        let grid = |x: f32, y: f32| (((y + 5.0) / 0.5).round() * 21.0 + ((x + 5.0) / 0.5).round()) as u32;
        let mut landmarks = vec![grid(0.0, 4.0); 68];
        // The outer lip contour: 12 extra vertices on an ellipse around (0, -3), 1.3 wide and
        // 0.3 high, from one mouth corner (48) round to the other (54) and back.
        for i in 0..12 {
            let a = std::f32::consts::PI * (1.0 - i as f32 / 6.0);
            landmarks[48 + i] = (neutral.len() / 3) as u32;
            neutral.extend([1.3 * a.cos(), -3.0 + 0.3 * a.sin(), 0.0]);
        }
        // Eyes at y = 1 and 1.5.
        for (i, slot) in landmarks[36..=47].iter_mut().enumerate() {
            *slot = grid(if i < 6 { -2.0 } else { 2.0 }, if i % 2 == 0 { 1.0 } else { 1.5 });
        }
        let face = Region {
            name: "face".into(),
            vertices: to_ranges(0..442),
            triangles: vec![],
        };
        let sets = from_landmarks(&neutral, &landmarks, &face);
        let expected: Vec<u32> = [-1.0, -0.5, 0.0, 0.5, 1.0].iter().map(|&x| grid(x, -3.0)).collect();
        assert_eq!(
            sets.lips, expected,
            "the grid row inside the contour; not the vertex behind the mouth"
        );
        // Rows y = 1 .. 5: nine rows of 21.
        assert_eq!(sets.upper_face.len(), 9 * 21);
        assert!(sets.upper_face.iter().all(|&v| neutral[v as usize * 3 + 1] >= 1.0));
    }
}
