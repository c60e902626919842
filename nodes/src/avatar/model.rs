//! The avatar: Gaussians bound to a face model's triangles (plus the extra
//! mouth triangles), a latent per Gaussian and the colour MLP that turns
//! latents, expression and view into colour.
//!
//! Its `avatar` record is the SDK's canonical Gaussian set (triangle-local
//! `means`, activated `scales`, `rotations`, `opacities`, a `binding`) with
//! the optional entries an MLP avatar adds: `latents` `[N, latent]`,
//! `mouth_triangles` `[M, 3]` (bound to as triangles `F…F+M−1` after the face
//! model's `F`), the MLP's weights as `mlp.<layer>.<weight|bias>` and its
//! [`AvatarConfig`] as the `config` attribute. Its `colors` are a fallback
//! for consumers that do not run the MLP: the MLP's colour for the rest
//! expression (all weights zero), seen along each triangle's normal, as
//! degree-0 spherical harmonics (ours).

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use gspeech_sdk::Record;
use serde::{Deserialize, Serialize};

use super::binding::{TriangleFrame, check_binding, pose, triangle_frames};
use super::color::{ColorConfig, ColorMlp};
use crate::face::FaceRig;
use crate::math::{Vec3, mul_vec, normalize, sub, transpose};
use crate::splats::{Gaussians, SH_C0, binding_of};

/// Which face model an avatar is bound to: its vertex count and a digest of
/// its triangles (the topology the binding indexes), plus its name for messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceIdentity {
    /// Its name (informational: a renamed model still fits).
    pub name: String,
    /// Its vertex count.
    pub vertices: usize,
    /// Its triangle count.
    pub triangles: usize,
    /// BLAKE3 of its triangles' vertex indices as little-endian u32.
    pub triangle_digest: String,
}

impl FaceIdentity {
    /// The identity of a mesh of `vertices` vertices and `triangles` (`[F * 3]`).
    pub fn new(name: &str, vertices: usize, triangles: &[u32]) -> FaceIdentity {
        let bytes: Vec<u8> = triangles.iter().flat_map(|v| v.to_le_bytes()).collect();
        FaceIdentity {
            name: name.to_string(),
            vertices,
            triangles: triangles.len() / 3,
            triangle_digest: blake3::hash(&bytes).to_hex().to_string(),
        }
    }

    /// The identity of a face rig.
    pub fn of(rig: &FaceRig) -> FaceIdentity {
        FaceIdentity::new(&rig.name, rig.vertex_count(), &rig.triangles)
    }

    fn describe(&self) -> String {
        format!(
            "`{}` ({} vertices, {} triangles, digest {})",
            self.name,
            self.vertices,
            self.triangles,
            &self.triangle_digest[..self.triangle_digest.len().min(12)]
        )
    }

    /// Checks that `other` is the same mesh; the message names both.
    pub fn check(&self, other: &FaceIdentity) -> Result<(), String> {
        if (self.vertices, &self.triangle_digest) == (other.vertices, &other.triangle_digest) {
            return Ok(());
        }
        Err(format!(
            "the avatar was made for the face model {}, not for {}",
            self.describe(),
            other.describe()
        ))
    }
}

/// What an avatar is bound to, how it colours, and what made it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AvatarConfig {
    /// The face model.
    pub face: FaceIdentity,
    /// The colour MLP's sizes.
    pub color: ColorConfig,
    /// The command that made it.
    pub command: String,
}

/// A fitted (or initial) avatar.
#[derive(Clone, Debug)]
pub struct Avatar {
    /// Face model, colour MLP and provenance.
    pub config: AvatarConfig,
    /// The Gaussians in their triangles' local frames, activated; `sh` holds
    /// the fallback colours (degree 0, see the module's docs).
    pub gaussians: Gaussians,
    /// The triangle of each Gaussian: a face triangle, or `F + m` for mouth triangle `m`.
    pub binding: Vec<u32>,
    /// The extra mouth triangles ([`super::mouth::mouth_triangles`]).
    pub mouth_triangles: Vec<[u32; 3]>,
    /// One latent per Gaussian, `[N, latent]` (a `Var` while fitting).
    pub latents: Tensor,
    /// The colour MLP.
    pub color: ColorMlp,
}

impl Avatar {
    /// An avatar of these parts, checked, with its fallback colours computed.
    pub fn new(
        config: AvatarConfig,
        gaussians: Gaussians,
        binding: Vec<u32>,
        mouth_triangles: Vec<[u32; 3]>,
        latents: Tensor,
        color: ColorMlp,
    ) -> Result<Avatar, String> {
        let mut avatar = Avatar {
            config,
            gaussians,
            binding,
            mouth_triangles,
            latents,
            color,
        };
        avatar.bake_fallback_colors()?;
        avatar.check()?;
        Ok(avatar)
    }

    /// A new avatar on a face model, initialised as GaussianAvatars does: one
    /// Gaussian at the centre of every triangle (the face's and the extra
    /// mouth triangles), unrotated, with local scales 1 (the triangle's scale
    /// `k` in the world) and opacity 0.1; latents drawn from `N(0, 0.1²)` by
    /// `seed` (ours). The colour MLP comes in already made, so a fitter keeps
    /// its variables.
    pub fn initial(face: &FaceRig, color: ColorMlp, command: &str, seed: u64) -> Result<Avatar, String> {
        let mouth_triangles = super::mouth::mouth_triangles(face);
        let n = face.triangle_count() + mouth_triangles.len();
        let mut rng = crate::dataset::random::Rng::stream(seed, "avatar/latents");
        let latent = color.config.latent;
        let latents: Vec<f32> = (0..n * latent).map(|_| (0.1 * rng.normal()) as f32).collect();
        let latents = Tensor::from_vec(latents, (n, latent), &Device::Cpu).map_err(|e| e.to_string())?;
        let gaussians = Gaussians {
            means: vec![[0.0; 3]; n],
            scales: vec![[1.0; 3]; n],
            rotations: vec![[1.0, 0.0, 0.0, 0.0]; n],
            opacities: vec![0.1; n],
            sh: Arc::from(vec![0.0; 3 * n]),
            sh_degree: 0,
        };
        let config = AvatarConfig {
            face: FaceIdentity::of(face),
            color: color.config,
            command: command.to_string(),
        };
        Avatar::new(
            config,
            gaussians,
            (0..n as u32).collect(),
            mouth_triangles,
            latents,
            color,
        )
    }

    /// Number of Gaussians.
    pub fn len(&self) -> usize {
        self.gaussians.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.gaussians.is_empty()
    }

    /// Checks that the parts agree; the message names the part.
    pub fn check(&self) -> Result<(), String> {
        self.gaussians.check()?;
        let (n, face) = (self.len(), &self.config.face);
        check_binding(&self.binding, n, face.triangles + self.mouth_triangles.len())?;
        if let Some(v) = self
            .mouth_triangles
            .iter()
            .flatten()
            .find(|&&v| v as usize >= face.vertices)
        {
            return Err(format!(
                "a mouth triangle uses vertex {v}, but the face model has {}",
                face.vertices
            ));
        }
        if self.config.color != self.color.config {
            return Err("the colour MLP's sizes differ from the configuration's".into());
        }
        let expected = [n, self.config.color.latent];
        if self.latents.dims() != expected {
            return Err(format!(
                "latents have shape {:?}, expected {expected:?}",
                self.latents.dims()
            ));
        }
        Ok(())
    }

    /// Checks that `face` is the face model this avatar was made for.
    pub fn check_face(&self, face: &FaceIdentity) -> Result<(), String> {
        self.config.face.check(face)
    }

    /// The triangles the binding indexes: the face model's, then the mouth's.
    pub fn triangles(&self, face_triangles: &[[u32; 3]]) -> Vec<[u32; 3]> {
        [face_triangles, &self.mouth_triangles[..]].concat()
    }

    /// The frames of every bound-to triangle on one frame's mesh.
    pub fn frames(&self, vertices: &[Vec3], face_triangles: &[[u32; 3]]) -> Vec<TriangleFrame> {
        triangle_frames(vertices, &self.triangles(face_triangles))
    }

    /// The MLP's colours `[N, 3]` for an expression code and local view
    /// directions `[N, 3]`.
    pub fn colors(&self, expression: &[f32], views: &[Vec3]) -> candle_core::Result<Tensor> {
        let device = self.latents.device();
        let expression = if self.config.color.is_dynamic() {
            let width = self.config.color.expressions;
            if expression.len() != width {
                candle_core::bail!(
                    "an expression code of {} values for a colour MLP of {width}",
                    expression.len()
                );
            }
            Tensor::from_slice(expression, width, device)?
        } else {
            Tensor::zeros(self.config.color.expressions, DType::F32, device)?
        };
        let views = Tensor::from_slice(bytemuck::cast_slice::<Vec3, f32>(views), (views.len(), 3), device)?;
        self.color.forward(&self.latents, &expression, &views)
    }

    /// The Gaussians posed on one frame's mesh (`vertices`, and the face
    /// model's triangles), coloured by the MLP for the frame's expression code
    /// and a camera at `camera` (world), as degree-0 spherical harmonics: what
    /// a renderer or a 3DGS `.ply` needs. A renderer's gradient with respect
    /// to these coefficients `c₀` is the colours' as `∂L/∂rgb = ∂L/∂c₀ / Y₀`,
    /// which [`super::color::backward_colors`] takes on into the MLP. The view
    /// directions are held constant there (ours: no gradient reaches the means
    /// through the colour, unlike 3D Gaussian Splatting's spherical harmonics).
    pub fn posed_gaussians(
        &self,
        vertices: &[Vec3],
        face_triangles: &[[u32; 3]],
        expression: &[f32],
        camera: Vec3,
    ) -> Result<Gaussians, String> {
        if let Some(v) = face_triangles.iter().flatten().find(|&&v| v as usize >= vertices.len()) {
            return Err(format!(
                "a triangle uses vertex {v}, but the mesh has {}",
                vertices.len()
            ));
        }
        let frames = self.frames(vertices, face_triangles);
        check_binding(&self.binding, self.len(), frames.len())?;
        let mut posed = pose(&self.gaussians, &self.binding, &frames);
        let views = local_views(&posed.means, &self.binding, &frames, camera);
        let rgb = self.colors(expression, &views).map_err(|e| e.to_string())?;
        posed.sh = sh0(&rgb).map_err(|e| e.to_string())?;
        posed.sh_degree = 0;
        Ok(posed)
    }

    /// Sets the fallback colours: the rest expression seen along each triangle's normal.
    pub fn bake_fallback_colors(&mut self) -> Result<(), String> {
        let rest = vec![0.0; self.config.color.expressions];
        let views = vec![[0.0, 0.0, 1.0]; self.len()];
        let rgb = self.colors(&rest, &views).map_err(|e| e.to_string())?;
        self.gaussians.sh = sh0(&rgb).map_err(|e| e.to_string())?;
        self.gaussians.sh_degree = 0;
        Ok(())
    }

    /// The `avatar` record (see the module's docs).
    pub fn to_record(&self) -> Result<Record, String> {
        let mut record = self
            .gaussians
            .to_record(Some(&self.binding))
            .with_tensor("latents", sdk_tensor(&self.latents)?)
            .with_attr("config", serde_json::to_value(&self.config).map_err(|e| e.to_string())?);
        if !self.mouth_triangles.is_empty() {
            let flat = self.mouth_triangles.iter().flatten().copied().collect();
            record = record.with_tensor(
                "mouth_triangles",
                gspeech_sdk::Tensor::from_u32(&[self.mouth_triangles.len(), 3], flat).expect("M × 3"),
            );
        }
        for (name, weight) in self.color.weights() {
            record = record.with_tensor(format!("mlp.{name}"), sdk_tensor(&weight)?);
        }
        Ok(record)
    }

    /// Reads an avatar record made by [`Avatar::to_record`], on `device`;
    /// problems name the tensor or attribute.
    pub fn from_record(record: &Record, device: &Device) -> Result<Avatar, String> {
        let config = record.attr("config").ok_or(
            "has no `config`: it is a plain set of Gaussians (from a .ply?), not an avatar with a colour model",
        )?;
        let config: AvatarConfig =
            serde_json::from_value(config.clone()).map_err(|e| format!("its `config` is not an avatar's: {e}"))?;
        config.color.check()?;
        let gaussians = Gaussians::from_record(record)?;
        let n = gaussians.len();
        let binding = binding_of(record)
            .ok_or("has no tensor `binding`: its Gaussians are not bound to the face model")?
            .to_vec();
        let tensor = |name: &str, shape: &[usize]| -> Result<Tensor, String> {
            let t = record.tensor(name).ok_or_else(|| format!("has no tensor `{name}`"))?;
            if t.shape() != shape {
                return Err(format!("tensor `{name}` has shape {:?}, expected {shape:?}", t.shape()));
            }
            let values = t.as_f32().ok_or_else(|| format!("tensor `{name}` must be f32"))?;
            Tensor::from_slice(values, shape, device).map_err(|e| e.to_string())
        };
        let latents = tensor("latents", &[n, config.color.latent])?;
        let mut weights = HashMap::new();
        for (name, shape) in config.color.weight_shapes() {
            weights.insert(name.clone(), tensor(&format!("mlp.{name}"), &shape)?);
        }
        let color = ColorMlp::new(VarBuilder::from_tensors(weights, DType::F32, device), &config.color)
            .map_err(|e| e.to_string())?;
        let mouth_triangles = record
            .tensor("mouth_triangles")
            .and_then(|t| t.as_u32())
            .unwrap_or_default()
            .chunks_exact(3)
            .map(|t| [t[0], t[1], t[2]])
            .collect();
        let avatar = Avatar {
            config,
            gaussians,
            binding,
            mouth_triangles,
            latents,
            color,
        };
        avatar.check()?;
        Ok(avatar)
    }
}

/// Unit directions from each posed Gaussian to the camera, in the local frame
/// of its triangle; `[0, 0, 1]` (along the normal) for a Gaussian at the camera.
pub fn local_views(means: &[Vec3], binding: &[u32], frames: &[TriangleFrame], camera: Vec3) -> Vec<Vec3> {
    means
        .iter()
        .zip(binding)
        .map(|(&mean, &t)| {
            let to_camera = mul_vec(&transpose(&frames[t as usize].rotation), sub(camera, mean));
            normalize(to_camera).unwrap_or([0.0, 0.0, 1.0])
        })
        .collect()
}

/// Degree-0 spherical-harmonic coefficients of colours `[N, 3]`: `(c − 0.5) / Y₀`.
fn sh0(rgb: &Tensor) -> candle_core::Result<Arc<[f32]>> {
    let values: Vec<f32> = rgb.flatten_all()?.to_vec1()?;
    Ok(values.iter().map(|c| (c - 0.5) / SH_C0).collect())
}

/// A candle tensor as an SDK tensor (f32).
fn sdk_tensor(t: &Tensor) -> Result<gspeech_sdk::Tensor, String> {
    let values: Vec<f32> = t
        .flatten_all()
        .and_then(|t| t.to_dtype(DType::F32))
        .and_then(|t| t.to_vec1())
        .map_err(|e| e.to_string())?;
    gspeech_sdk::Tensor::from_f32(t.dims(), values).map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::avatar::color::ColorInputs;
    use crate::motion::init::SeededVars;
    use crate::splats::synthetic::random;

    /// A tetrahedron-like mesh of four triangles on five vertices.
    pub fn mesh() -> (Vec<Vec3>, Vec<[u32; 3]>) {
        let vertices = vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.1],
            [0.0, 1.0, 0.2],
            [1.0, 1.0, 0.9],
            [0.5, 0.5, -0.7],
        ];
        (vertices, vec![[0, 1, 2], [1, 3, 2], [0, 4, 1], [2, 4, 0]])
    }

    /// [`mesh`] as a `face_model` record with three expressions, `a`, `b`
    /// and `c`, that do not move it (only an avatar's colour can follow them).
    pub fn face_record() -> gspeech_sdk::Record {
        use gspeech_sdk::{PortType, Tensor};
        let (vertices, triangles) = mesh();
        let v = vertices.len();
        gspeech_sdk::Record::new(PortType::FaceModel)
            .with_tensor("neutral", Tensor::from_f32(&[v, 3], vertices.iter().flatten().copied().collect()).unwrap())
            .with_tensor(
                "triangles",
                Tensor::from_u32(&[triangles.len(), 3], triangles.iter().flatten().copied().collect()).unwrap(),
            )
            .with_tensor("expressions", Tensor::from_f32(&[3, v, 3], vec![0.0; 3 * v * 3]).unwrap())
            .with_attr("expression_names", serde_json::json!(["a", "b", "c"]))
    }

    /// A tiny avatar on [`mesh`]: seven Gaussians, one extra mouth triangle.
    pub fn tiny(inputs: ColorInputs) -> Avatar {
        let (vertices, triangles) = mesh();
        let flat: Vec<u32> = triangles.iter().flatten().copied().collect();
        let color = ColorConfig {
            latent: 4,
            expressions: 3,
            embedding: 2,
            hidden: 6,
            layers: 2,
            frequencies: 1,
            inputs,
        };
        let config = AvatarConfig {
            face: FaceIdentity::new("tiny", vertices.len(), &flat),
            color,
            command: "test".into(),
        };
        let vars = SeededVars::new(5);
        let mlp = ColorMlp::new(vars.builder(&Device::Cpu), &color).unwrap();
        let latents = Tensor::from_vec(
            (0..7 * 4).map(|i| (i as f32 * 0.71).sin()).collect(),
            (7, 4),
            &Device::Cpu,
        )
        .unwrap();
        Avatar::new(
            config,
            random(7, 0, 0.4, 8),
            vec![0, 1, 2, 3, 4, 0, 4],
            vec![[1, 3, 4]],
            latents,
            mlp,
        )
        .unwrap()
    }

    #[test]
    fn posed_colours_follow_expression_and_view_and_the_ablation_ignores_them() {
        let (vertices, triangles) = mesh();
        for (inputs, dynamic) in [(ColorInputs::ExpressionAndView, true), (ColorInputs::Constant, false)] {
            let avatar = tiny(inputs);
            let posed = avatar
                .posed_gaussians(&vertices, &triangles, &[0.2, 0.0, 0.5], [0.0, 0.0, 5.0])
                .unwrap();
            posed.check().unwrap();
            assert_eq!(
                posed.means,
                pose(
                    &avatar.gaussians,
                    &avatar.binding,
                    &avatar.frames(&vertices, &triangles)
                )
                .means
            );
            let other_expression = avatar
                .posed_gaussians(&vertices, &triangles, &[1.0, 0.0, 0.0], [0.0, 0.0, 5.0])
                .unwrap();
            let other_view = avatar
                .posed_gaussians(&vertices, &triangles, &[0.2, 0.0, 0.5], [5.0, 0.0, 0.0])
                .unwrap();
            assert_eq!(posed.sh != other_expression.sh, dynamic);
            assert_eq!(posed.sh != other_view.sh, dynamic);
            assert_eq!(posed.means, other_view.means);
        }
        let avatar = tiny(ColorInputs::ExpressionAndView);
        let err = avatar
            .posed_gaussians(&vertices, &triangles, &[0.0], [0.0; 3])
            .unwrap_err();
        assert!(
            err.contains("an expression code of 1 values for a colour MLP of 3"),
            "{err}"
        );
        // The mouth triangle counts: without it the binding is out of range.
        let mut short = avatar.clone();
        short.config.face.triangles = 3;
        assert!(
            short
                .check()
                .unwrap_err()
                .contains("bound to triangle 4, but the mesh has 4")
        );
        assert!(avatar.frames(&vertices, &triangles).len() == 5);
    }

    #[test]
    fn local_views_point_to_the_camera_in_the_triangle_frame() {
        let (vertices, triangles) = mesh();
        let frames = triangle_frames(&vertices, &triangles);
        // Triangle 0 lies near the x–y plane; a camera far along its normal is seen along local +z.
        let normal = frames[0].rotation.map(|row| row[2]);
        let views = local_views(&[frames[0].origin], &[0], &frames, crate::math::scale(normal, 100.0));
        assert!((views[0][2] - 1.0).abs() < 1e-3, "{:?}", views[0]);
        let views = local_views(&[[0.0; 3]], &[0], &frames, [0.0; 3]);
        assert_eq!(views[0], [0.0, 0.0, 1.0]);
    }

    #[test]
    fn records_round_trip_and_plain_gaussians_are_told_apart() {
        let avatar = tiny(ColorInputs::ExpressionAndView);
        let record = avatar.to_record().unwrap();
        record.validate().unwrap();
        let back = Avatar::from_record(&record, &Device::Cpu).unwrap();
        assert_eq!(back.to_record().unwrap(), record);
        let plain = avatar.gaussians.to_record(Some(&avatar.binding));
        let err = Avatar::from_record(&plain, &Device::Cpu).unwrap_err();
        assert!(err.contains("has no `config`"), "{err}");
        // Its fallback colours are the MLP's at rest, seen along the normals.
        let rest = avatar.colors(&[0.0; 3], &vec![[0.0, 0.0, 1.0]; 7]).unwrap();
        assert_eq!(sh0(&rest).unwrap(), avatar.gaussians.sh);
    }

    #[test]
    fn a_new_avatar_has_a_gaussian_at_every_triangle_centre() {
        let (vertices, triangles) = mesh();
        let rig = FaceRig {
            name: "tiny".into(),
            units: "cm".into(),
            neutral: vertices.iter().flatten().copied().collect(),
            triangles: triangles.iter().flatten().copied().collect(),
            expression_names: vec!["a".into(), "b".into(), "c".into()],
            expressions: vec![0.0; 3 * 15],
            identity_names: Vec::new(),
            identities: Vec::new(),
            uvs: None,
            regions: Vec::new(),
            lip_vertices: Vec::new(),
            upper_face_vertices: Vec::new(),
            landmarks: Vec::new(),
        };
        let color = tiny(ColorInputs::ExpressionAndView).color;
        let avatar = Avatar::initial(&rig, color, "fit", 3).unwrap();
        assert_eq!((avatar.len(), avatar.mouth_triangles.len()), (4, 0));
        assert_eq!(avatar.config.face, tiny(ColorInputs::Constant).config.face);
        let frames = triangle_frames(&vertices, &triangles);
        let posed = avatar
            .posed_gaussians(&vertices, &triangles, &[0.0; 3], [0.0, 0.0, 9.0])
            .unwrap();
        for (i, frame) in frames.iter().enumerate() {
            assert_eq!(posed.means[i], frame.origin);
            assert_eq!(posed.scales[i], [frame.scale; 3]);
        }
        let again = Avatar::initial(&rig, tiny(ColorInputs::ExpressionAndView).color, "fit", 3).unwrap();
        assert_eq!(again.to_record().unwrap(), avatar.to_record().unwrap(), "deterministic");
    }

    #[test]
    fn another_face_model_is_named() {
        let avatar = tiny(ColorInputs::Constant);
        let (vertices, mut triangles) = mesh();
        triangles.swap(0, 1);
        let flat: Vec<u32> = triangles.iter().flatten().copied().collect();
        let err = avatar
            .check_face(&FaceIdentity::new("other", vertices.len(), &flat))
            .unwrap_err();
        assert!(
            err.contains("made for the face model `tiny` (5 vertices, 4 triangles"),
            "{err}"
        );
        assert!(err.contains("not for `other` (5 vertices, 4 triangles"), "{err}");
        let same = FaceIdentity::new("renamed", 5, &mesh().1.iter().flatten().copied().collect::<Vec<_>>());
        avatar.check_face(&same).unwrap();
    }
}
