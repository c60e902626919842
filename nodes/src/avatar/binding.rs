//! Gaussians bound to mesh triangles, GaussianAvatars-style: each Gaussian
//! lives in the local frame of one triangle (its `binding`), so posing the
//! mesh poses the Gaussians.
//!
//! A triangle `(v0, v1, v2)` has a frame with its origin at the centroid, its
//! x axis along the edge `v1 − v0`, its z axis along the normal
//! `(v1 − v0) × (v2 − v0)` and its y axis `z × x`, and a scale `k`. A
//! Gaussian with local mean `μ`, rotation `q` and scales `s` is, in the world,
//! at `origin + k·R·μ`, rotated by `R ⊗ q`, with scales `k·s`, as in
//! GaussianAvatars. Which choices are ours: `k` is the mean of the three edge
//! lengths (GaussianAvatars derives it from one edge and the triangle's
//! height); a degenerate triangle (no normal) keeps the world axes; colours are
//! not rotated with the triangle (their spherical harmonics are evaluated in
//! world space).
//!
//! The mesh of each frame comes from a face model and a motion: the neutral
//! mesh plus the motion's per-vertex offsets, or plus `Σ wₖ · expressionₖ` when
//! the motion carries blendshape weights.

use gspeech_sdk::{PortType, Record};

use crate::face::{Offsets, add_shapes, find_name};
use crate::math::{Mat3, Vec3, add, cross, length, mat_to_quat, mul_vec, normalize, quat_mul, scale, sub, transpose};
use crate::splats::Gaussians;

/// The local frame of one triangle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TriangleFrame {
    /// The centroid.
    pub origin: Vec3,
    /// Local → world rotation; its columns are the local x, y, z axes.
    pub rotation: Mat3,
    /// The mean edge length.
    pub scale: f32,
}

/// The frames of every triangle of a mesh.
pub fn triangle_frames(vertices: &[Vec3], triangles: &[[u32; 3]]) -> Vec<TriangleFrame> {
    triangles
        .iter()
        .map(|t| {
            let [v0, v1, v2] = t.map(|i| vertices[i as usize]);
            let (e1, e2) = (sub(v1, v0), sub(v2, v0));
            let axes = normalize(e1).zip(normalize(cross(e1, e2)));
            let rotation = match axes {
                Some((x, z)) => transpose(&[x, cross(z, x), z]),
                None => [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            };
            TriangleFrame {
                origin: scale(add(add(v0, v1), v2), 1.0 / 3.0),
                rotation,
                scale: (length(e1) + length(e2) + length(sub(v2, v1))) / 3.0,
            }
        })
        .collect()
}

/// Bound Gaussians in the world, given the frames of the triangles they are bound to.
pub fn pose(local: &Gaussians, binding: &[u32], frames: &[TriangleFrame]) -> Gaussians {
    let quats: Vec<[f32; 4]> = frames.iter().map(|f| mat_to_quat(&f.rotation)).collect();
    let mut world = local.clone();
    for (i, &t) in binding.iter().enumerate() {
        let frame = &frames[t as usize];
        world.means[i] = add(
            frame.origin,
            scale(mul_vec(&frame.rotation, local.means[i]), frame.scale),
        );
        world.rotations[i] = quat_mul(quats[t as usize], local.rotations[i]);
        world.scales[i] = scale(local.scales[i], frame.scale);
    }
    world
}

/// Checks that a binding has one valid triangle index per Gaussian.
pub fn check_binding(binding: &[u32], gaussians: usize, triangles: usize) -> Result<(), String> {
    if binding.len() != gaussians {
        return Err(format!("{} binding entries for {gaussians} Gaussians", binding.len()));
    }
    if let Some((i, t)) = binding.iter().enumerate().find(|(_, t)| **t as usize >= triangles) {
        return Err(format!(
            "Gaussian {i} is bound to triangle {t}, but the mesh has {triangles}"
        ));
    }
    Ok(())
}

/// The mesh of every frame: a face model's neutral mesh moved by a motion.
pub struct MeshSequence<'a> {
    neutral: &'a [f32],
    triangles: Vec<[u32; 3]>,
    expressions: &'a [f32],
    /// Per-frame vertex offsets, when the motion has them: they move the mesh.
    offsets: Option<Offsets<'a>>,
    /// Per-frame blendshape weights, when the motion has them: they move the
    /// mesh when there are no offsets, and are each frame's expression code.
    weights: Option<Weights<'a>>,
    frames: usize,
    fps: Option<f64>,
}

/// A motion's per-frame weights `[T, W]`, and the face model's expression each weight drives.
struct Weights<'a> {
    values: &'a [f32],
    width: usize,
    expression: Vec<usize>,
}

impl<'a> Weights<'a> {
    /// The weights of `motion`, if it has any, matched to the face model's
    /// `count` expressions by name (or by position when unnamed and as many).
    fn of(motion: &'a Record, expression_names: &[&str], count: usize) -> Result<Option<Weights<'a>>, String> {
        let Some(weights) = motion.tensor("weights") else {
            return Ok(None);
        };
        let width = weights.shape()[1];
        let names: Option<Vec<&str>> = motion
            .attr("weight_names")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect());
        let expression = match names {
            Some(names) if names.len() != width => {
                return Err(format!("motion: {} weight names for {width} weights", names.len()));
            }
            Some(names) => names
                .iter()
                .map(|name| {
                    find_name(expression_names, name)
                        .ok_or_else(|| format!("motion: the weight `{name}` names no expression of the face model"))
                })
                .collect::<Result<_, _>>()?,
            None if width == count => (0..count).collect(),
            None => {
                return Err(format!(
                    "motion: {width} unnamed weights, but the face model has {count} expressions"
                ));
            }
        };
        Ok(Some(Weights {
            values: weights.as_f32().ok_or("motion: `weights` are not f32")?,
            width,
            expression,
        }))
    }

    fn frames(&self) -> usize {
        self.values.len() / self.width.max(1)
    }

    /// One frame's weights in the face model's order of its `count` expressions.
    fn per_expression(&self, frame: usize, count: usize) -> Vec<f32> {
        let mut out = vec![0.0; count];
        for (k, &w) in self.values[frame * self.width..(frame + 1) * self.width]
            .iter()
            .enumerate()
        {
            out[self.expression[k]] += w;
        }
        out
    }
}

impl<'a> MeshSequence<'a> {
    /// The meshes of a face model (`face_model` record) driven by a motion (a
    /// `motion` record), or just its neutral mesh without one. Errors name the
    /// record at fault.
    pub fn new(face: &'a Record, motion: Option<&'a Record>) -> Result<MeshSequence<'a>, String> {
        debug_assert_eq!(face.kind(), PortType::FaceModel);
        face.validate()?;
        let f32s = |r: &'a Record, name: &str| r.tensor(name).and_then(|t| t.as_f32());
        let neutral = f32s(face, "neutral").expect("validated");
        let vertices = neutral.len() / 3;
        let triangles: Vec<[u32; 3]> = face
            .tensor("triangles")
            .and_then(|t| t.as_u32())
            .expect("validated")
            .chunks_exact(3)
            .map(|t| [t[0], t[1], t[2]])
            .collect();
        if let Some(bad) = triangles.iter().flatten().find(|&&v| v as usize >= vertices) {
            return Err(format!(
                "face model: a triangle uses vertex {bad}, but there are {vertices}"
            ));
        }
        let expressions_tensor = face.tensor("expressions").expect("validated");
        if expressions_tensor.shape()[1] != vertices {
            return Err(format!(
                "face model: expressions have {} vertices, the neutral mesh {vertices}",
                expressions_tensor.shape()[1]
            ));
        }
        let expression_names: Vec<&str> = face
            .attr("expression_names")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let count = expressions_tensor.shape()[0];
        let mut sequence = MeshSequence {
            neutral,
            triangles,
            expressions: expressions_tensor.as_f32().expect("validated"),
            offsets: None,
            weights: None,
            frames: 1,
            fps: None,
        };
        let Some(motion) = motion else {
            return Ok(sequence);
        };
        motion.validate()?;
        sequence.fps = motion.attr("fps").and_then(|v| v.as_f64());
        sequence.offsets = Offsets::of(motion, vertices)?;
        sequence.weights = Weights::of(motion, &expression_names, count)?;
        sequence.frames = match (&sequence.offsets, &sequence.weights) {
            (Some(offsets), _) => offsets.frames,
            (None, Some(weights)) => weights.frames(),
            (None, None) => unreachable!("validated: a motion has offsets or weights"),
        };
        if sequence.frames == 0 {
            return Err("motion: it has no frames".into());
        }
        Ok(sequence)
    }

    /// Number of frames (1 without a motion).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// The motion's frame rate, if there is a motion.
    pub fn fps(&self) -> Option<f64> {
        self.fps
    }

    /// The same meshes with extra triangles after the face model's (an
    /// avatar's `mouth_triangles`, see `super::mouth`), so a binding can index them.
    pub fn with_triangles(mut self, extra: &[[u32; 3]]) -> Result<MeshSequence<'a>, String> {
        let vertices = self.neutral.len() / 3;
        if let Some(bad) = extra.iter().flatten().find(|&&v| v as usize >= vertices) {
            return Err(format!(
                "avatar: a mouth triangle uses vertex {bad}, but the face model has {vertices}"
            ));
        }
        self.triangles.extend_from_slice(extra);
        Ok(self)
    }

    /// The triangles.
    pub fn triangles(&self) -> &[[u32; 3]] {
        &self.triangles
    }

    /// The vertices of one frame.
    pub fn vertices(&self, frame: usize) -> Vec<Vec3> {
        let mut v = self.neutral.to_vec();
        if let Some(offsets) = &self.offsets {
            offsets.add_to(frame, &mut v);
        } else if let Some(code) = self.expression(frame) {
            add_shapes(&mut v, self.expressions, &code);
        }
        v.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect()
    }

    /// One frame's expression code: the motion's weights in the face model's
    /// order of expressions, when the motion has weights (it may also have
    /// offsets, which then move the mesh).
    pub fn expression(&self, frame: usize) -> Option<Vec<f32>> {
        let count = self.expressions.len() / self.neutral.len().max(1);
        let weights = self.weights.as_ref()?;
        Some(weights.per_expression(frame.min(weights.frames() - 1), count))
    }

    /// The bound Gaussians posed on one frame's mesh.
    pub fn pose(&self, local: &Gaussians, binding: &[u32], frame: usize) -> Gaussians {
        pose(local, binding, &triangle_frames(&self.vertices(frame), &self.triangles))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::{dot, quat_to_mat};
    use crate::splats::synthetic::random;
    use gspeech_sdk::Tensor;

    fn close(a: Vec3, b: Vec3) -> bool {
        length(sub(a, b)) < 1e-4
    }

    /// A rigid motion with uniform scaling: rotation about z by 90°, ×2, then a shift.
    fn moved(p: Vec3) -> Vec3 {
        [-2.0 * p[1] + 1.0, 2.0 * p[0] - 3.0, 2.0 * p[2] + 0.5]
    }

    #[test]
    fn gaussians_follow_their_triangle_rigidly() {
        let rest = vec![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let triangles = [[0, 1, 2], [0, 1, 3]];
        let local = random(6, 1, 0.5, 11);
        let binding = [0, 1, 0, 1, 1, 0];
        let at_rest = pose(&local, &binding, &triangle_frames(&rest, &triangles));
        let posed_vertices: Vec<Vec3> = rest.iter().map(|&p| moved(p)).collect();
        let frames = triangle_frames(&posed_vertices, &triangles);
        assert!(
            (frames[0].scale - 2.0 * (2.0 + 2f32.sqrt()) / 3.0).abs() < 1e-5,
            "mean edge length"
        );
        let posed = pose(&local, &binding, &frames);
        let turn = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        for i in 0..local.len() {
            assert!(
                close(posed.means[i], moved(at_rest.means[i])),
                "Gaussian {i} moves with the mesh"
            );
            assert!(
                close(posed.scales[i], scale(at_rest.scales[i], 2.0)),
                "and scales with it"
            );
            let expected = crate::math::mul(&turn, &quat_to_mat(at_rest.rotations[i]));
            let got = quat_to_mat(posed.rotations[i]);
            assert!((0..3).all(|r| close(got[r], expected[r])), "and turns with it");
        }
        // The frame itself: x along the first edge, z along the normal.
        let f = &triangle_frames(&rest, &triangles)[0];
        assert!(close(mul_vec(&f.rotation, [1.0, 0.0, 0.0]), [1.0, 0.0, 0.0]));
        assert!(close(mul_vec(&f.rotation, [0.0, 0.0, 1.0]), [0.0, 0.0, 1.0]));
        assert!(close(f.origin, [1.0 / 3.0, 1.0 / 3.0, 0.0]));
        assert!(dot(f.rotation[0], f.rotation[1]).abs() < 1e-6);
    }

    fn face() -> Record {
        Record::new(PortType::FaceModel)
            .with_tensor(
                "neutral",
                Tensor::from_f32(&[3, 3], vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap(),
            )
            .with_tensor("triangles", Tensor::from_u32(&[1, 3], vec![0, 1, 2]).unwrap())
            .with_tensor(
                "expressions",
                Tensor::from_f32(
                    &[2, 3, 3],
                    vec![
                        0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
                    ],
                )
                .unwrap(),
            )
            .with_attr("expression_names", serde_json::json!(["lift", "shift_first"]))
    }

    #[test]
    fn meshes_from_offsets_and_from_named_weights() {
        let face = face();
        let offsets = Record::new(PortType::Motion).with_attr("fps", 30).with_tensor(
            "vertex_offsets",
            Tensor::from_f32(&[2, 3, 3], (0..18).map(|i| i as f32).collect()).unwrap(),
        );
        let sequence = MeshSequence::new(&face, Some(&offsets)).unwrap();
        assert_eq!((sequence.frames(), sequence.fps()), (2, Some(30.0)));
        assert_eq!(sequence.vertices(1)[1], [13.0, 13.0, 14.0]);

        let weights = Record::new(PortType::Motion)
            .with_attr("fps", 25)
            .with_attr("weight_names", serde_json::json!(["shift_first", "lift"]))
            .with_tensor("weights", Tensor::from_f32(&[1, 2], vec![0.5, 2.0]).unwrap());
        let sequence = MeshSequence::new(&face, Some(&weights)).unwrap();
        assert_eq!(
            sequence.vertices(0),
            vec![[0.5, 0.0, 2.0], [1.0, 0.0, 2.0], [0.0, 1.0, 2.0]]
        );
        assert_eq!(MeshSequence::new(&face, None).unwrap().vertices(0)[2], [0.0, 1.0, 0.0]);
        let extended = MeshSequence::new(&face, None)
            .unwrap()
            .with_triangles(&[[2, 1, 0]])
            .unwrap();
        assert_eq!(extended.triangles(), [[0, 1, 2], [2, 1, 0]]);
        let err = MeshSequence::new(&face, None)
            .unwrap()
            .with_triangles(&[[3, 1, 0]])
            .err()
            .unwrap();
        assert!(err.contains("uses vertex 3, but the face model has 3"), "{err}");
        // Another tool's spelling of a name drives the same expression.
        let respelled = weights
            .clone()
            .with_attr("weight_names", serde_json::json!(["ShiftFirst", "Lift"]));
        assert_eq!(
            MeshSequence::new(&face, Some(&respelled)).unwrap().vertices(0),
            sequence.vertices(0)
        );

        let unknown = weights
            .clone()
            .with_attr("weight_names", serde_json::json!(["jawOpen", "lift"]));
        let err = MeshSequence::new(&face, Some(&unknown)).err().unwrap();
        assert_eq!(
            err,
            "motion: the weight `jawOpen` names no expression of the face model"
        );
        let short = Record::new(PortType::Motion)
            .with_attr("fps", 25)
            .with_tensor("vertex_offsets", Tensor::from_f32(&[1, 2, 3], vec![0.0; 6]).unwrap());
        let err = MeshSequence::new(&face, Some(&short)).err().unwrap();
        assert!(err.contains("for 2 vertices, the face model has 3"), "{err}");
        assert!(
            check_binding(&[0, 1], 2, 1)
                .unwrap_err()
                .contains("bound to triangle 1")
        );
    }
}
