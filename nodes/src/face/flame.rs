//! FLAME (Li, Bolkart, Black, Li and Romero, "Learning a model of facial shape
//! and expression from 4D scans", SIGGRAPH Asia 2017) as a user-supplied model.
//! FLAME's licence forbids redistribution, so nothing of it ships with the
//! project: a licensed user converts their `generic_model.pkl` to safetensors
//! or npz with `scripts/convert_flame.py` (the README says how) and points the
//! `face.model` node at the result.
//!
//! The file holds FLAME's standard arrays under their usual names:
//!
//! | name | shape | what |
//! |---|---|---|
//! | `v_template` | `[V, 3]` | the mean head |
//! | `f` | `[F, 3]` | triangles |
//! | `shapedirs` | `[V, 3, S + E]` | identity then expression directions |
//! | `posedirs` | `[V, 3, 9 (J − 1)]` | pose-corrective directions |
//! | `J_regressor` | `[J, V]` | joints from vertices (dense) |
//! | `weights` | `[V, J]` | skinning weights |
//! | `kintree_table` | `[2, J]` | parent of each joint (root: −1 or 2³²−1) |
//! | `mask_lips`, `mask_forehead`, `mask_eye_region` | `[N]` | optional vertex masks from `FLAME_masks.pkl` |
//!
//! FLAME's joints are the global (root), neck, jaw and the two eyes; poses are
//! axis-angle rotations per joint, applied by linear blend skinning after the
//! pose correctives, exactly as in the reference implementation.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use candle_nn::VarBuilder;
use gspeech_sdk::{NodeError, Record, Tensor as SdkTensor};

use super::rig::{FaceRig, Region, to_ranges};

/// The part of FLAME's layout that the arrays do not fix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlameConfig {
    /// How many of `shapedirs`' directions are identity; the rest are expression (300 in FLAME 2020 and 2023).
    pub shape_params: usize,
}

impl Default for FlameConfig {
    fn default() -> FlameConfig {
        FlameConfig { shape_params: 300 }
    }
}

/// A loaded FLAME model.
pub struct Flame {
    config: FlameConfig,
    /// Mean head, `[V * 3]`.
    template: Tensor,
    /// Identity directions, `[V * 3, S]`.
    shape_dirs: Tensor,
    /// Expression directions, `[V * 3, E]`.
    expression_dirs: Tensor,
    /// Pose correctives, `[9 (J − 1), V * 3]`.
    pose_dirs: Tensor,
    /// `[J, V]`.
    joint_regressor: Tensor,
    /// `[V, J]`.
    skinning: Tensor,
    parents: Vec<Option<usize>>,
    faces: Vec<u32>,
    masks: BTreeMap<String, Vec<u32>>,
}

/// Masks a converted file may carry, from `FLAME_masks.pkl`.
const MASKS: [&str; 3] = ["lips", "forehead", "eye_region"];

impl Flame {
    /// Loads FLAME's arrays from a var builder (any dtype; computed in f32).
    pub fn load(vb: &VarBuilder, config: FlameConfig) -> candle_core::Result<Flame> {
        let fail = |message: String| candle_core::Error::Msg(message);
        let template = vb.get_unchecked_dtype("v_template", DType::F32)?;
        let (v, three) = template.dims2()?;
        if three != 3 {
            return Err(fail(format!("`v_template` is {:?}, expected [V, 3]", template.dims())));
        }
        let shapedirs = vb.get_unchecked_dtype("shapedirs", DType::F32)?;
        let total = shapedirs.dim(2)?;
        if shapedirs.dims()[..2] != [v, 3] || total <= config.shape_params {
            return Err(fail(format!(
                "`shapedirs` is {:?}, expected [{v}, 3, N] with N above the {} identity directions",
                shapedirs.dims(),
                config.shape_params
            )));
        }
        let dirs = shapedirs.reshape((v * 3, total))?;
        let joint_regressor = vb.get_unchecked_dtype("J_regressor", DType::F32)?;
        let joints = joint_regressor.dim(0)?;
        if joint_regressor.dims() != [joints, v] {
            return Err(fail(format!(
                "`J_regressor` is {:?}, expected [J, {v}]",
                joint_regressor.dims()
            )));
        }
        let posedirs = vb.get_unchecked_dtype("posedirs", DType::F32)?;
        if posedirs.dims() != [v, 3, 9 * (joints - 1)] {
            return Err(fail(format!(
                "`posedirs` is {:?}, expected [{v}, 3, {}]",
                posedirs.dims(),
                9 * (joints - 1)
            )));
        }
        let skinning = vb.get_unchecked_dtype("weights", DType::F32)?;
        if skinning.dims() != [v, joints] {
            return Err(fail(format!(
                "`weights` is {:?}, expected [{v}, {joints}]",
                skinning.dims()
            )));
        }
        let tree = vb.get_unchecked_dtype("kintree_table", DType::I64)?.to_vec2::<i64>()?;
        if tree.len() != 2 || tree[0].len() != joints {
            return Err(fail(format!("`kintree_table` must be [2, {joints}]")));
        }
        let parents: Vec<Option<usize>> = tree[0]
            .iter()
            .map(|&p| usize::try_from(p).ok().filter(|&p| p < joints))
            .collect();
        if parents[0].is_some()
            || parents
                .iter()
                .enumerate()
                .skip(1)
                .any(|(j, p)| p.is_none_or(|p| p >= j))
        {
            return Err(fail(
                "`kintree_table` must list joint 0 as the root and every other joint after its parent".into(),
            ));
        }
        let faces = vb.get_unchecked_dtype("f", DType::U32)?;
        if faces.dim(D::Minus1)? != 3 {
            return Err(fail(format!("`f` is {:?}, expected [F, 3]", faces.dims())));
        }
        let mut masks = BTreeMap::new();
        for name in MASKS {
            let key = format!("mask_{name}");
            if vb.contains_tensor(&key) {
                let mut set: Vec<u32> = vb.get_unchecked_dtype(&key, DType::U32)?.flatten_all()?.to_vec1()?;
                set.sort_unstable();
                masks.insert(name.to_string(), set);
            }
        }
        Ok(Flame {
            config,
            template: template.flatten_all()?,
            shape_dirs: dirs.narrow(1, 0, config.shape_params)?.contiguous()?,
            expression_dirs: dirs
                .narrow(1, config.shape_params, total - config.shape_params)?
                .contiguous()?,
            pose_dirs: posedirs.reshape((v * 3, 9 * (joints - 1)))?.t()?.contiguous()?,
            joint_regressor,
            skinning,
            parents,
            faces: faces.flatten_all()?.to_vec1()?,
            masks,
        })
    }

    /// Loads a converted FLAME file (`.safetensors` or `.npz`).
    pub fn from_file(path: &Path, config: FlameConfig) -> Result<Flame, NodeError> {
        let device = Device::Cpu;
        let is_npz = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("npz"));
        let vb = if is_npz {
            VarBuilder::from_npz(path, DType::F32, &device)
        } else {
            let bytes = std::fs::read(path).map_err(|e| NodeError::file(path, e))?;
            VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
        }
        .map_err(|e| NodeError::file(path, format!("cannot be read as FLAME: {e}")))?;
        Flame::load(&vb, config).map_err(|e| NodeError::file(path, format!("is not in FLAME's layout: {e}")))
    }

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.template.dim(0).unwrap_or(0) / 3
    }

    /// Number of joints (5 in FLAME: global, neck, jaw, left and right eye).
    pub fn joint_count(&self) -> usize {
        self.parents.len()
    }

    /// Identity directions.
    pub fn shape_count(&self) -> usize {
        self.config.shape_params
    }

    /// Expression directions.
    pub fn expression_count(&self) -> usize {
        self.expression_dirs.dim(1).unwrap_or(0)
    }

    /// Posed vertices `[B, V, 3]` from identity coefficients `[B, S′]`,
    /// expression coefficients `[B, E′]` (S′ ≤ S and E′ ≤ E: the first
    /// directions) and axis-angle joint rotations `[B, J, 3]`.
    pub fn forward(&self, shape: &Tensor, expression: &Tensor, pose: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with_offsets(shape, expression, pose, None)
    }

    /// [`Flame::forward`] with per-vertex `offsets` (`[V, 3]`, or `[B, V, 3]`)
    /// added to the shaped rest mesh before the joints are regressed from it
    /// and it is posed: the personal `static_offset` GaussianAvatars and VHAP
    /// fit on top of FLAME.
    pub fn forward_with_offsets(
        &self,
        shape: &Tensor,
        expression: &Tensor,
        pose: &Tensor,
        offsets: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let (batch, joints) = (pose.dim(0)?, self.joint_count());
        let v = self.vertex_count();
        if pose.dims() != [batch, joints, 3] {
            candle_core::bail!("pose is {:?}, expected [B, {joints}, 3]", pose.dims());
        }
        let directions = |coefficients: &Tensor, dirs: &Tensor| -> candle_core::Result<Tensor> {
            let used = coefficients.dim(1)?;
            if used > dirs.dim(1)? {
                candle_core::bail!("{used} coefficients for {} directions", dirs.dim(1)?);
            }
            coefficients.matmul(&dirs.narrow(1, 0, used)?.t()?)
        };
        let mut shaped = (directions(shape, &self.shape_dirs)? + directions(expression, &self.expression_dirs)?)?
            .broadcast_add(&self.template)?;
        if let Some(offsets) = offsets {
            if ![v * 3, batch * v * 3].contains(&offsets.elem_count()) {
                candle_core::bail!(
                    "offsets are {:?}, expected [{v}, 3] or [{batch}, {v}, 3]",
                    offsets.dims()
                );
            }
            shaped = shaped.broadcast_add(&offsets.reshape(((), v * 3))?)?;
        }
        let joint_positions = self
            .joint_regressor
            .broadcast_matmul(&shaped.reshape((batch, v, 3))?)?
            .to_vec3::<f32>()?;
        let rotations: Vec<Vec<[[f32; 3]; 3]>> = pose
            .to_vec3::<f32>()?
            .iter()
            .map(|frame| frame.iter().map(|r| rodrigues([r[0], r[1], r[2]])).collect())
            .collect();
        let features: Vec<f32> = rotations
            .iter()
            .flat_map(|frame| {
                frame[1..]
                    .iter()
                    .flat_map(|r| (0..9).map(move |i| r[i / 3][i % 3] - (i / 3 == i % 3) as u8 as f32))
            })
            .collect();
        let features = Tensor::from_vec(features, (batch, 9 * (joints - 1)), &Device::Cpu)?;
        let posed = (shaped + features.matmul(&self.pose_dirs)?)?.reshape((batch, v, 3))?;
        let transforms: Vec<f32> = rotations
            .iter()
            .zip(&joint_positions)
            .flat_map(|(r, j)| self.chain(r, j))
            .collect();
        let transforms = Tensor::from_vec(transforms, (batch, joints, 12), &Device::Cpu)?;
        let per_vertex = self.skinning.broadcast_matmul(&transforms)?.reshape((batch, v, 3, 4))?;
        let homogeneous = Tensor::cat(&[&posed, &Tensor::ones((batch, v, 1), DType::F32, &Device::Cpu)?], 2)?;
        per_vertex.matmul(&homogeneous.unsqueeze(3)?)?.squeeze(3)
    }

    /// Each joint's skinning transform (rows of a 3 × 4 matrix): its world
    /// transform composed down the kinematic tree, moved so that it acts on
    /// rest-pose positions.
    fn chain(&self, rotations: &[[[f32; 3]; 3]], joints: &[Vec<f32>]) -> Vec<f32> {
        let mut world: Vec<([[f32; 3]; 3], [f32; 3])> = Vec::with_capacity(rotations.len());
        for (j, r) in rotations.iter().enumerate() {
            let at = [joints[j][0], joints[j][1], joints[j][2]];
            world.push(match self.parents[j] {
                None => (*r, at),
                Some(p) => {
                    let (pr, pt) = world[p];
                    let local: [f32; 3] = std::array::from_fn(|k| at[k] - joints[p][k]);
                    (mat_mul(&pr, r), add(pt, mat_vec(&pr, local)))
                }
            });
        }
        world
            .iter()
            .zip(joints)
            .flat_map(|((r, t), j)| {
                let moved = add(*t, mat_vec(r, [-j[0], -j[1], -j[2]]));
                (0..3).flat_map(move |row| [r[row][0], r[row][1], r[row][2], moved[row]])
            })
            .collect()
    }

    /// FLAME as a `face_model` value: its mesh and directions as a rig, plus
    /// what skinning needs (`joint_regressor`, `skinning_weights`,
    /// `pose_correctives`, `parents`) and `rig: "flame"`.
    pub fn to_record(&self) -> candle_core::Result<Record> {
        let v = self.vertex_count();
        let joints = self.joint_count();
        let rig = self.to_rig()?;
        let f32s = |t: &Tensor| -> candle_core::Result<Vec<f32>> { t.flatten_all()?.to_vec1() };
        let sdk = |shape: &[usize], data: Vec<f32>| SdkTensor::from_f32(shape, data).expect("shapes match");
        let parents: Vec<i32> = self.parents.iter().map(|p| p.map_or(-1, |p| p as i32)).collect();
        Ok(rig
            .to_record()
            .with_tensor("joint_regressor", sdk(&[joints, v], f32s(&self.joint_regressor)?))
            .with_tensor("skinning_weights", sdk(&[v, joints], f32s(&self.skinning)?))
            .with_tensor(
                "pose_correctives",
                sdk(&[9 * (joints - 1), v, 3], f32s(&self.pose_dirs)?),
            )
            .with_tensor("parents", SdkTensor::from_i32(&[joints], parents).expect("1-D"))
            .with_attr("rig", "flame")
            .with_attr("shape_params", self.config.shape_params))
    }

    /// Rebuilds FLAME from a value made by [`Flame::to_record`].
    pub fn from_record(record: &Record) -> Result<Flame, String> {
        if record.attr("rig").and_then(|r| r.as_str()) != Some("flame") {
            return Err("the face model is not FLAME (its `rig` attribute is not \"flame\")".into());
        }
        let rig = FaceRig::from_record(record)?;
        let (v, s, e) = (rig.vertex_count(), rig.identity_names.len(), rig.expression_names.len());
        let get = |name: &str| {
            record
                .tensor(name)
                .ok_or_else(|| format!("the FLAME value has no `{name}`"))
        };
        let cpu = &Device::Cpu;
        let candle = |t: &SdkTensor| -> candle_core::Result<Tensor> {
            Tensor::from_slice(t.as_f32().unwrap_or_default(), t.shape(), cpu)
        };
        let build = || -> candle_core::Result<HashMap<String, Tensor>> {
            let identities = Tensor::from_slice(&rig.identities, (s, v * 3), cpu)?;
            let expressions = Tensor::from_slice(&rig.expressions, (e, v * 3), cpu)?;
            let shapedirs = Tensor::cat(&[identities, expressions], 0)?
                .t()?
                .reshape((v, 3, s + e))?;
            let pose = candle(get("pose_correctives").map_err(candle_core::Error::Msg)?)?;
            let p = pose.dim(0)?;
            let parents = get("parents")
                .map_err(candle_core::Error::Msg)?
                .as_i32()
                .unwrap_or_default();
            let tree: Vec<i64> = parents
                .iter()
                .map(|&p| p as i64)
                .chain((0..parents.len() as i64).collect::<Vec<_>>())
                .collect();
            let mut arrays = HashMap::from([
                ("v_template".to_string(), Tensor::from_slice(&rig.neutral, (v, 3), cpu)?),
                (
                    "f".to_string(),
                    Tensor::from_slice(&rig.triangles, (rig.triangle_count(), 3), cpu)?,
                ),
                ("shapedirs".to_string(), shapedirs),
                (
                    "posedirs".to_string(),
                    pose.reshape((p, v * 3))?.t()?.reshape((v, 3, p))?,
                ),
                (
                    "J_regressor".to_string(),
                    candle(get("joint_regressor").map_err(candle_core::Error::Msg)?)?,
                ),
                (
                    "weights".to_string(),
                    candle(get("skinning_weights").map_err(candle_core::Error::Msg)?)?,
                ),
                (
                    "kintree_table".to_string(),
                    Tensor::from_vec(tree, (2, parents.len()), cpu)?,
                ),
            ]);
            for (name, set) in [("lips", &rig.lip_vertices)] {
                if !set.is_empty() {
                    arrays.insert(format!("mask_{name}"), Tensor::from_slice(set, set.len(), cpu)?);
                }
            }
            Ok(arrays)
        };
        let arrays = build().map_err(|e| e.to_string())?;
        let mut flame = Flame::load(
            &VarBuilder::from_tensors(arrays, DType::F32, cpu),
            FlameConfig { shape_params: s },
        )
        .map_err(|e| e.to_string())?;
        if !rig.upper_face_vertices.is_empty() {
            flame.masks.insert("upper_face".into(), rig.upper_face_vertices);
        }
        Ok(flame)
    }

    /// The mesh and its linear directions as a rig: identities are the
    /// identity directions, expressions the expression directions, the lips
    /// FLAME's lip mask and the upper face its forehead and eye-region masks.
    pub fn to_rig(&self) -> candle_core::Result<FaceRig> {
        let v = self.vertex_count();
        let t = |dirs: &Tensor| -> candle_core::Result<Vec<f32>> { dirs.t()?.flatten_all()?.to_vec1() };
        let mask = |name: &str| self.masks.get(name).cloned().unwrap_or_default();
        let mut upper: Vec<u32> = ["forehead", "eye_region", "upper_face"]
            .iter()
            .flat_map(|n| mask(n))
            .collect();
        upper.sort_unstable();
        upper.dedup();
        Ok(FaceRig {
            name: "FLAME".into(),
            units: "m".into(),
            neutral: self.template.to_vec1()?,
            triangles: self.faces.clone(),
            expression_names: (0..self.expression_count())
                .map(|i| format!("expression{i:03}"))
                .collect(),
            expressions: t(&self.expression_dirs)?,
            identity_names: (0..self.shape_count()).map(|i| format!("shape{i:03}")).collect(),
            identities: t(&self.shape_dirs)?,
            uvs: None,
            regions: vec![Region {
                name: "head".into(),
                vertices: to_ranges(0..v as u32),
                triangles: to_ranges(0..(self.faces.len() / 3) as u32),
            }],
            lip_vertices: mask("lips"),
            upper_face_vertices: upper,
            landmarks: Vec::new(),
        })
    }
}

/// The rotation matrix of an axis-angle vector (Rodrigues' formula).
pub fn rodrigues(r: [f32; 3]) -> [[f32; 3]; 3] {
    let angle = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
    let k = if angle > 1e-8 { r.map(|x| x / angle) } else { [0.0; 3] };
    let (s, c) = angle.sin_cos();
    let cross = [[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]];
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            let k2: f32 = (0..3).map(|m| cross[i][m] * cross[m][j]).sum();
            (i == j) as u8 as f32 + s * cross[i][j] + (1.0 - c) * k2
        })
    })
}

fn mat_mul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| a[i][k] * b[k][j]).sum()))
}

fn mat_vec(a: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    std::array::from_fn(|i| (0..3).map(|k| a[i][k] * v[k]).sum())
}

fn add(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    std::array::from_fn(|i| a[i] + b[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic file in FLAME's layout: 8 vertices, FLAME's 5 joints
    /// (global, neck, jaw, eyes), 3 identity and 2 expression directions.
    /// Vertices 0-3 follow the root, 4-5 the jaw, 6 the neck and the jaw
    /// half and half, 7 the left eye.
    fn synthetic(posedirs: bool) -> HashMap<String, Tensor> {
        let cpu = &Device::Cpu;
        let (v, j) = (8usize, 5usize);
        let template: Vec<f64> = (0..v * 3).map(|i| ((i * 7 % 11) as f64) / 5.0 - 1.0).collect();
        let shapedirs: Vec<f64> = (0..v * 3 * 5).map(|i| ((i * 13 % 17) as f64) / 40.0 - 0.2).collect();
        let posedirs: Vec<f64> = (0..v * 3 * 36)
            .map(|i| if posedirs { ((i * 5 % 9) as f64) / 90.0 } else { 0.0 })
            .collect();
        let mut regressor = vec![0f64; j * v];
        for (joint, vertices) in [
            (0, vec![0, 1, 2, 3]),
            (1, vec![6]),
            (2, vec![4, 5]),
            (3, vec![7]),
            (4, vec![7]),
        ] {
            for &vertex in &vertices {
                regressor[joint * v + vertex] = 1.0 / vertices.len() as f64;
            }
        }
        let mut weights = vec![0f64; v * j];
        for (vertex, joint, w) in [
            (0, 0, 1.0),
            (1, 0, 1.0),
            (2, 0, 1.0),
            (3, 0, 1.0),
            (4, 2, 1.0),
            (5, 2, 1.0),
            (6, 1, 0.5),
            (6, 2, 0.5),
            (7, 3, 1.0),
        ] {
            weights[vertex * j + joint] = w;
        }
        let kintree: Vec<i64> = vec![-1, 0, 1, 1, 1, 0, 1, 2, 3, 4];
        let faces: Vec<u32> = vec![0, 1, 2, 0, 2, 3, 4, 5, 6, 5, 6, 7];
        HashMap::from([
            ("v_template".into(), Tensor::from_vec(template, (v, 3), cpu).unwrap()),
            ("shapedirs".into(), Tensor::from_vec(shapedirs, (v, 3, 5), cpu).unwrap()),
            ("posedirs".into(), Tensor::from_vec(posedirs, (v, 3, 36), cpu).unwrap()),
            ("J_regressor".into(), Tensor::from_vec(regressor, (j, v), cpu).unwrap()),
            ("weights".into(), Tensor::from_vec(weights, (v, j), cpu).unwrap()),
            ("kintree_table".into(), Tensor::from_vec(kintree, (2, j), cpu).unwrap()),
            ("f".into(), Tensor::from_vec(faces, (4, 3), cpu).unwrap()),
            ("mask_lips".into(), Tensor::from_vec(vec![4u32, 5], 2, cpu).unwrap()),
        ])
    }

    fn load(arrays: HashMap<String, Tensor>) -> Flame {
        let vb = VarBuilder::from_tensors(arrays, DType::F32, &Device::Cpu);
        Flame::load(&vb, FlameConfig { shape_params: 3 }).unwrap()
    }

    fn run(flame: &Flame, shape: &[f32], expression: &[f32], pose: &[[f32; 3]; 5]) -> Vec<[f32; 3]> {
        let cpu = &Device::Cpu;
        let shape = Tensor::from_slice(shape, (1, shape.len()), cpu).unwrap();
        let expression = Tensor::from_slice(expression, (1, expression.len()), cpu).unwrap();
        let pose = Tensor::from_slice(pose.as_flattened(), (1, 5, 3), cpu).unwrap();
        let out = flame
            .forward(&shape, &expression, &pose)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        out[0].iter().map(|p| [p[0], p[1], p[2]]).collect()
    }

    fn close(a: [f32; 3], b: [f32; 3]) -> bool {
        (0..3).all(|k| (a[k] - b[k]).abs() < 1e-5)
    }

    /// The shaped rest mesh, computed independently of the model: template + dirs · coefficients.
    fn shaped(arrays: &HashMap<String, Tensor>, coefficients: &[f32; 5]) -> Vec<[f32; 3]> {
        let t = arrays["v_template"]
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let d = arrays["shapedirs"]
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        (0..8)
            .map(|v| std::array::from_fn(|c| t[v][c] + (0..5).map(|k| d[v][c][k] * coefficients[k]).sum::<f32>()))
            .collect()
    }

    fn rotate_about(point: [f32; 3], centre: [f32; 3], r: &[[f32; 3]; 3]) -> [f32; 3] {
        add(centre, mat_vec(r, std::array::from_fn(|k| point[k] - centre[k])))
    }

    #[test]
    fn rest_pose_is_the_linear_model() {
        let arrays = synthetic(true);
        let flame = load(arrays.clone());
        assert_eq!(
            (flame.vertex_count(), flame.joint_count(), flame.expression_count()),
            (8, 5, 2)
        );
        let got = run(&flame, &[0.5, -1.0, 0.25], &[2.0, -0.5], &[[0.0; 3]; 5]);
        let expected = shaped(&arrays, &[0.5, -1.0, 0.25, 2.0, -0.5]);
        for (g, e) in got.iter().zip(&expected) {
            assert!(close(*g, *e), "{g:?} vs {e:?}");
        }
    }

    #[test]
    fn offsets_move_the_rest_mesh_and_its_joints() {
        let arrays = synthetic(true);
        let offsets: Vec<f32> = (0..24).map(|i| ((i * 5 % 7) as f32 - 3.0) / 20.0).collect();
        // The same model with the offsets in its template is the reference.
        let mut moved = arrays.clone();
        let template = (&arrays["v_template"].to_dtype(DType::F32).unwrap()
            + Tensor::from_slice(&offsets, (8, 3), &Device::Cpu).unwrap())
        .unwrap();
        moved.insert("v_template".into(), template);
        let (flame, reference) = (load(arrays), load(moved));
        let cpu = &Device::Cpu;
        let shape = Tensor::from_slice(&[0.3f32, -0.2, 0.1], (1, 3), cpu).unwrap();
        let expression = Tensor::from_slice(&[0.5f32, 1.0], (1, 2), cpu).unwrap();
        let mut pose = [[0.0f32; 3]; 5];
        pose[0] = [0.1, -0.2, 0.05];
        pose[2] = [0.35, 0.0, 0.1];
        let pose = Tensor::from_slice(pose.as_flattened(), (1, 5, 3), cpu).unwrap();
        let expected = reference
            .forward(&shape, &expression, &pose)
            .unwrap()
            .flatten_all()
            .unwrap();
        for dims in [&[8usize, 3][..], &[1, 8, 3]] {
            let offsets = Tensor::from_slice(&offsets, dims, cpu).unwrap();
            let got = flame
                .forward_with_offsets(&shape, &expression, &pose, Some(&offsets))
                .unwrap()
                .flatten_all()
                .unwrap();
            let error: f32 = (got - &expected)
                .unwrap()
                .abs()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(error < 1e-5, "{error}");
        }
        let wrong = Tensor::zeros((9, 3), DType::F32, cpu).unwrap();
        let err = flame
            .forward_with_offsets(&shape, &expression, &pose, Some(&wrong))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("offsets are [9, 3], expected [8, 3] or [1, 8, 3]"),
            "{err}"
        );
    }

    #[test]
    fn jaw_and_global_rotations_skin_the_mesh() {
        let arrays = synthetic(false);
        let flame = load(arrays.clone());
        let rest = shaped(&arrays, &[0.0; 5]);
        let mean = |vs: &[usize]| -> [f32; 3] {
            std::array::from_fn(|k| vs.iter().map(|&v| rest[v][k]).sum::<f32>() / vs.len() as f32)
        };
        let (root, jaw) = (mean(&[0, 1, 2, 3]), mean(&[4, 5]));
        let jaw_rotation = [0.3, 0.0, 0.0];
        let global_rotation = [0.0, 0.2, 0.1];
        let mut pose = [[0.0; 3]; 5];
        pose[2] = jaw_rotation;
        let got = run(&flame, &[0.0; 3], &[0.0; 2], &pose);
        let rj = rodrigues(jaw_rotation);
        assert!(close(got[0], rest[0]), "root vertices stay");
        assert!(
            close(got[4], rotate_about(rest[4], jaw, &rj)),
            "jaw vertices turn about the jaw"
        );
        let half: [f32; 3] = std::array::from_fn(|k| 0.5 * rest[6][k] + 0.5 * rotate_about(rest[6], jaw, &rj)[k]);
        assert!(
            close(got[6], half),
            "a vertex half on the jaw moves half way (linear blend)"
        );
        pose[0] = global_rotation;
        let got = run(&flame, &[0.0; 3], &[0.0; 2], &pose);
        let rg = rodrigues(global_rotation);
        assert!(close(got[0], rotate_about(rest[0], root, &rg)));
        let chained = rotate_about(rotate_about(rest[5], jaw, &rj), root, &rg);
        assert!(
            close(got[5], chained),
            "the jaw follows the head: {:?} vs {chained:?}",
            got[5]
        );
    }

    #[test]
    fn pose_correctives_follow_the_rotation_matrices() {
        let arrays = synthetic(true);
        let flame = load(arrays.clone());
        let mut pose = [[0.0; 3]; 5];
        pose[2] = [0.4, 0.0, 0.0];
        let got = run(&flame, &[0.0; 3], &[0.0; 2], &pose);
        let rest = shaped(&arrays, &[0.0; 5]);
        // Vertex 0 follows the root (not rotated), so it moves by its correctives only:
        // Σ posedirs[0, c, 9 + i] · (R_jaw − I)ᵢ, the jaw being joint 2 (features 9..18).
        let r = rodrigues(pose[2]);
        let p = arrays["posedirs"]
            .to_dtype(DType::F32)
            .unwrap()
            .to_vec3::<f32>()
            .unwrap();
        let expected: [f32; 3] = std::array::from_fn(|c| {
            rest[0][c]
                + (0..9)
                    .map(|i| p[0][c][9 + i] * (r[i / 3][i % 3] - (i / 3 == i % 3) as u8 as f32))
                    .sum::<f32>()
        });
        assert!(close(got[0], expected), "{:?} vs {expected:?}", got[0]);
    }

    #[test]
    fn npz_safetensors_and_records_load_the_same_model() {
        let dir = tempfile::tempdir().unwrap();
        let arrays = synthetic(true);
        let named: Vec<(&String, &Tensor)> = arrays.iter().collect();
        let npz = dir.path().join("flame.npz");
        Tensor::write_npz(&named, &npz).unwrap();
        let st = dir.path().join("flame.safetensors");
        candle_core::safetensors::save(&arrays, &st).unwrap();
        let config = FlameConfig { shape_params: 3 };
        let mut pose = [[0.0; 3]; 5];
        pose[1] = [0.1, 0.2, 0.0];
        pose[2] = [0.3, 0.0, 0.05];
        let reference = run(&load(arrays), &[0.3, 0.1, -0.2], &[1.0, 0.5], &pose);
        let from_record = Flame::from_record(&Flame::from_file(&st, config).unwrap().to_record().unwrap()).unwrap();
        for flame in [
            Flame::from_file(&npz, config).unwrap(),
            Flame::from_file(&st, config).unwrap(),
            from_record,
        ] {
            let got = run(&flame, &[0.3, 0.1, -0.2], &[1.0, 0.5], &pose);
            assert!(got.iter().zip(&reference).all(|(a, b)| close(*a, *b)));
            let rig = flame.to_rig().unwrap();
            assert_eq!(rig.lip_vertices, vec![4, 5]);
            assert_eq!((rig.identity_names.len(), rig.expression_names.len()), (3, 2));
        }
    }

    #[test]
    fn files_in_another_layout_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut arrays = synthetic(false);
        arrays.remove("posedirs");
        let path = dir.path().join("broken.safetensors");
        candle_core::safetensors::save(&arrays, &path).unwrap();
        let err = Flame::from_file(&path, FlameConfig { shape_params: 3 })
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("broken.safetensors: is not in FLAME's layout"), "{err}");
        assert!(err.contains("posedirs"), "{err}");
        let err = Flame::from_file(&path, FlameConfig::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("above the 300 identity directions"), "{err}");
    }
}
