//! Meshes for the 3D preview from face models and motion: the neutral face,
//! or the face at one frame of motion.

use gspeech_sdk::Record;

/// One vertex as the viewport draws it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Vertex {
    /// Position.
    pub position: [f32; 3],
    /// Unit normal.
    pub normal: [f32; 3],
    /// Linear RGB colour.
    pub color: [f32; 3],
}

/// A triangle mesh as the viewport draws it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Geometry {
    /// Vertices.
    pub vertices: Vec<Vertex>,
    /// Triangle indices, three per triangle.
    pub triangles: Vec<u32>,
}

/// Skin-like base colour of preview meshes.
const SKIN: [f32; 3] = [0.80, 0.62, 0.52];

impl Geometry {
    /// A shaded triangle mesh.
    pub fn mesh(positions: &[[f32; 3]], triangles: &[u32]) -> Geometry {
        let normals = normals(positions, triangles);
        Geometry {
            vertices: positions
                .iter()
                .zip(normals)
                .map(|(&position, normal)| Vertex {
                    position,
                    normal,
                    color: SKIN,
                })
                .collect(),
            triangles: triangles.to_vec(),
        }
    }

    /// Centre and radius of the bounding sphere (around the box centre).
    pub fn bounds(&self) -> ([f32; 3], f32) {
        if self.vertices.is_empty() {
            return ([0.0; 3], 1.0);
        }
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for v in &self.vertices {
            for k in 0..3 {
                lo[k] = lo[k].min(v.position[k]);
                hi[k] = hi[k].max(v.position[k]);
            }
        }
        let center = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, (lo[2] + hi[2]) / 2.0];
        let radius = self
            .vertices
            .iter()
            .map(|v| (0..3).map(|k| (v.position[k] - center[k]).powi(2)).sum::<f32>())
            .fold(0.0f32, f32::max)
            .sqrt();
        (center, radius.max(1e-6))
    }
}

/// Area-weighted vertex normals.
pub fn normals(positions: &[[f32; 3]], triangles: &[u32]) -> Vec<[f32; 3]> {
    let mut n = vec![[0.0f32; 3]; positions.len()];
    for t in triangles.chunks_exact(3) {
        let [a, b, c] = [t[0] as usize, t[1] as usize, t[2] as usize];
        if a >= positions.len() || b >= positions.len() || c >= positions.len() {
            continue;
        }
        let (p, q, r) = (positions[a], positions[b], positions[c]);
        let u = [q[0] - p[0], q[1] - p[1], q[2] - p[2]];
        let v = [r[0] - p[0], r[1] - p[1], r[2] - p[2]];
        let cross = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        for i in [a, b, c] {
            for k in 0..3 {
                n[i][k] += cross[k];
            }
        }
    }
    for v in &mut n {
        let len = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if len > 0.0 {
            v.iter_mut().for_each(|x| *x /= len);
        }
    }
    n
}

/// A face model's mesh: neutral vertices, triangles, and its expression shapes.
pub struct FaceMesh {
    /// Neutral vertex positions.
    pub neutral: Vec<[f32; 3]>,
    /// Triangle indices.
    pub triangles: Vec<u32>,
    /// Expression shapes `[K, V, 3]`, flattened.
    pub expressions: Vec<f32>,
    /// K.
    pub expression_count: usize,
}

impl FaceMesh {
    /// Reads a face model record.
    pub fn from_record(record: &Record) -> Option<FaceMesh> {
        let neutral = record.tensor("neutral")?.as_f32()?;
        let triangles = record.tensor("triangles")?.as_u32()?.to_vec();
        let expressions = record.tensor("expressions")?;
        let expression_count = expressions.shape()[0];
        Some(FaceMesh {
            neutral: neutral.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
            triangles,
            expressions: expressions.as_f32()?.to_vec(),
            expression_count,
        })
    }

    /// The face at frame `frame` of a motion: vertex offsets added to the
    /// neutral face when their vertex count matches, else blendshape weights
    /// applied to the expression shapes when their count matches. `None`
    /// when the motion does not fit this face.
    pub fn posed(&self, motion: &Record, frame: usize) -> Option<Vec<[f32; 3]>> {
        let v = self.neutral.len();
        if let Ok(Some(offsets)) = gspeech_nodes::face::Offsets::of(motion, v) {
            let f = frame.min(offsets.frames.checked_sub(1)?);
            let mut flat: Vec<f32> = self.neutral.iter().flatten().copied().collect();
            offsets.add_to(f, &mut flat);
            return Some(flat.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect());
        }
        let t = motion.tensor("weights")?;
        let k = t.shape()[1];
        if k != self.expression_count {
            return None;
        }
        let f = frame.min(t.shape()[0].checked_sub(1)?);
        let w = &t.as_f32()?[f * k..(f + 1) * k];
        let mut out = self.neutral.clone();
        for (i, &wi) in w.iter().enumerate().filter(|(_, w)| **w != 0.0) {
            let shape = &self.expressions[i * v * 3..(i + 1) * v * 3];
            for (p, d) in out.iter_mut().zip(shape.chunks_exact(3)) {
                p[0] += wi * d[0];
                p[1] += wi * d[1];
                p[2] += wi * d[2];
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::{PortType, Tensor};

    fn face() -> Record {
        Record::new(PortType::FaceModel)
            .with_tensor(
                "neutral",
                Tensor::from_f32(&[3, 3], vec![0., 0., 0., 1., 0., 0., 0., 1., 0.]).unwrap(),
            )
            .with_tensor("triangles", Tensor::from_u32(&[1, 3], vec![0, 1, 2]).unwrap())
            .with_tensor(
                "expressions",
                Tensor::from_f32(&[1, 3, 3], vec![0., 0., 1., 0., 0., 1., 0., 0., 1.]).unwrap(),
            )
            .with_attr("expression_names", serde_json::json!(["jawOpen"]))
    }

    #[test]
    fn weights_pose_the_face_and_normals_face_the_winding() {
        let mesh = FaceMesh::from_record(&face()).unwrap();
        let motion = Record::new(PortType::Motion)
            .with_tensor("weights", Tensor::from_f32(&[2, 1], vec![0.0, 0.5]).unwrap())
            .with_attr("fps", 25);
        let posed = mesh.posed(&motion, 1).unwrap();
        assert_eq!(posed[2], [0.0, 1.0, 0.5]);
        let g = Geometry::mesh(&posed, &mesh.triangles);
        assert_eq!(g.vertices[0].normal, [0.0, 0.0, 1.0]);
        let offsets = Record::new(PortType::Motion)
            .with_tensor("vertex_offsets", Tensor::from_f32(&[1, 3, 3], vec![1.0; 9]).unwrap())
            .with_attr("fps", 25);
        assert_eq!(
            mesh.posed(&offsets, 7).unwrap()[0],
            [1.0, 1.0, 1.0],
            "clamped to the last frame"
        );
        let (center, radius) = g.bounds();
        assert_eq!(center, [0.5, 0.5, 0.5], "the whole triangle moved forward by 0.5");
        assert!((radius - 0.5f32.sqrt()).abs() < 1e-6);
    }
}
