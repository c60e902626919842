//! GaussianAvatars' NeRSemble layout (Qian et al., "GaussianAvatars:
//! Photorealistic Head Avatars with Rigged 3D Gaussians", CVPR 2024), as
//! VHAP's `export_as_nerf_dataset` writes it:
//!
//! ```text
//! transforms_{train,val,test}.json     frames: camera, timestep, image, mask, FLAME parameter file
//! images/TTTTT_CC.png                  one image per timestep and camera
//! fg_masks/TTTTT_CC.png                foreground masks
//! flame_param/TTTTT.npz                one timestep's FLAME parameters
//! ```
//!
//! Cameras, timesteps and splits are read by [`super::nerf`]; VHAP measures
//! `cy` from the bottom of the image, having flipped it with the camera axes
//! to OpenGL's ([`CyOrigin::Bottom`](super::nerf::CyOrigin::Bottom), the
//! default here). Each timestep's mesh is FLAME posed as GaussianAvatars'
//! `FlameHead` poses it: `shape` (`[S]`) and `expr` (`[1, E]`) blended,
//! `static_offset` (`[1, V, 3]`) added, the joints regressed, the pose
//! `rotation`, `neck_pose`, `jaw_pose` and `eyes_pose` (`[1, 3]` each, `[1, 6]`
//! for both eyes) skinned, and `translation` (`[1, 3]`) added. `shape` must
//! have the model's identity count (`--flame-shape-params`); `expr` may have
//! fewer than its expression directions (the first are used, as
//! GaussianAvatars' `n_expr` does). GaussianAvatars adds 120 teeth vertices of
//! its own after FLAME's; their rows of `static_offset` are skipped and the
//! imported meshes are FLAME's. `dynamic_offset`, which GaussianAvatars does
//! not apply either, is ignored. The expression codes become the frames'
//! weights, named as the model's expressions (`expression000`, …).

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use gspeech_sdk::{CancelToken, NodeError, Reporter};

use super::nerf::Layout;
use super::{MAX_MESH_BYTES, Tracked, npz};
use crate::capture::format::FaceModelRef;
use crate::face::flame::{Flame, FlameConfig};

/// The vertices GaussianAvatars and VHAP add after FLAME's for the teeth.
pub const TEETH_VERTICES: usize = 120;

/// The arrays of a timestep's parameter file that posing reads.
const KEYS: [&str; 8] = [
    "shape",
    "expr",
    "rotation",
    "neck_pose",
    "jaw_pose",
    "eyes_pose",
    "translation",
    "static_offset",
];

/// FLAME posed by every timestep's `flame_param_path` file.
pub(super) fn track(
    src: &Path,
    layout: &Layout,
    flame_path: &Path,
    config: FlameConfig,
    report: &dyn Reporter,
    cancel: &CancelToken,
) -> Result<Tracked, NodeError> {
    let flame = Flame::from_file(flame_path, config)?;
    if flame.joint_count() != 5 {
        return Err(NodeError::file(
            flame_path,
            format!(
                "has {} joints, not FLAME's 5 (global, neck, jaw, eyes)",
                flame.joint_count()
            ),
        ));
    }
    let rig = flame.to_rig().map_err(|e| NodeError::file(flame_path, e))?;
    let count = layout.timesteps.len();
    let mut meshes = Vec::with_capacity(count * flame.vertex_count() * 3);
    let mut weights = Vec::with_capacity(count);
    let mut expressions: Option<(usize, PathBuf)> = None;
    for (i, timestep) in layout.timesteps.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(NodeError::Cancelled);
        }
        report.progress(0.05 + 0.25 * i as f32 / count as f32, "posing FLAME");
        let path = timestep.file(src, "flame_param_path")?.ok_or_else(|| {
            timestep.views[0]
                .entry
                .error("has no `flame_param_path` (the layout's per-timestep FLAME parameters)")
        })?;
        let params = Params::read(&path, &flame, flame_path)?;
        match &expressions {
            Some((e, first)) if *e != params.expression.len() => {
                return Err(NodeError::file(
                    &path,
                    format!(
                        "holds {} expression codes, but {} holds {e}",
                        params.expression.len(),
                        first.display()
                    ),
                ));
            }
            Some(_) => {}
            None => expressions = Some((params.expression.len(), path.clone())),
        }
        meshes.extend(params.pose(&flame).map_err(|e| NodeError::file(&path, e))?);
        weights.push(Some(params.expression));
    }
    let used = expressions.map_or(0, |(e, _)| e);
    Ok(Tracked {
        meshes,
        face_model: FaceModelRef::of(&rig, None),
        bundled: None,
        weight_names: rig.expression_names[..used].to_vec(),
        weights,
    })
}

/// One timestep's FLAME parameters, checked against the model.
struct Params {
    shape: Vec<f32>,
    expression: Vec<f32>,
    /// Axis-angle rotations of the 5 joints, `[5 * 3]`.
    pose: Vec<f32>,
    translation: Vec<f32>,
    /// Offsets of FLAME's vertices, `[V * 3]`.
    static_offset: Option<Vec<f32>>,
}

impl Params {
    fn read(path: &Path, flame: &Flame, flame_path: &Path) -> Result<Params, NodeError> {
        let arrays = npz::read(path, MAX_MESH_BYTES, &KEYS)?;
        let bad = |message: String| NodeError::file(path, message);
        // A vector, stored with any number of leading 1-long axes, of `length` values.
        let vector = |key: &str, length: Option<usize>| -> Result<Vec<f32>, NodeError> {
            let array = arrays.get(key).ok_or_else(|| {
                bad(format!(
                    "has no `{key}` array (GaussianAvatars' FLAME parameters are {})",
                    KEYS.join(", ")
                ))
            })?;
            let leading = &array.shape[..array.shape.len().saturating_sub(1)];
            if leading.iter().any(|&d| d != 1) || length.is_some_and(|n| array.values.len() != n) {
                let expected = length.map_or("N".to_string(), |n| n.to_string());
                return Err(bad(format!("`{key}` is {:?}, expected [1, {expected}]", array.shape)));
            }
            Ok(array.values.clone())
        };
        let shape = vector("shape", None)?;
        if shape.len() != flame.shape_count() {
            return Err(bad(format!(
                "holds {} identity (`shape`) coefficients, but the FLAME model {} has {}: the parameters \
                 were tracked on a model of another size (FLAME 2020 and 2023 have 300; set \
                 --flame-shape-params to the model's)",
                shape.len(),
                flame_path.display(),
                flame.shape_count()
            )));
        }
        let expression = vector("expr", None)?;
        if expression.len() > flame.expression_count() {
            return Err(bad(format!(
                "holds {} expression (`expr`) coefficients, but the FLAME model {} has {} expression directions",
                expression.len(),
                flame_path.display(),
                flame.expression_count()
            )));
        }
        let mut pose = Vec::with_capacity(15);
        for (key, length) in [("rotation", 3), ("neck_pose", 3), ("jaw_pose", 3), ("eyes_pose", 6)] {
            pose.extend(vector(key, Some(length))?);
        }
        let v = flame.vertex_count();
        let static_offset = match arrays.get("static_offset") {
            None => None,
            Some(array) => {
                let rows = array.values.len() / 3;
                let leading = &array.shape[..array.shape.len().saturating_sub(2)];
                let shaped = array.shape.last() == Some(&3) && leading.iter().all(|&d| d == 1);
                if !shaped || (rows != v && rows != v + TEETH_VERTICES) {
                    return Err(bad(format!(
                        "`static_offset` is {:?}, but the FLAME model {} has {v} vertices: expected [1, {v}, 3] \
                         (or [1, {}, 3] with GaussianAvatars' teeth)",
                        array.shape,
                        flame_path.display(),
                        v + TEETH_VERTICES
                    )));
                }
                Some(array.values[..v * 3].to_vec())
            }
        };
        let params = Params {
            shape,
            expression,
            pose,
            translation: vector("translation", Some(3))?,
            static_offset,
        };
        let finite = |values: &[f32]| values.iter().all(|v| v.is_finite());
        if ![&params.shape, &params.expression, &params.pose, &params.translation]
            .into_iter()
            .chain(params.static_offset.as_ref())
            .all(|values| finite(values))
        {
            return Err(bad("holds values that are not finite".into()));
        }
        Ok(params)
    }

    /// The posed mesh, flattened `[V * 3]`.
    fn pose(&self, flame: &Flame) -> candle_core::Result<Vec<f32>> {
        let cpu = &Device::Cpu;
        let row = |values: &[f32]| Tensor::from_slice(values, (1, values.len()), cpu);
        let offsets = match &self.static_offset {
            Some(offsets) => Some(Tensor::from_slice(offsets, (flame.vertex_count(), 3), cpu)?),
            None => None,
        };
        let posed = flame.forward_with_offsets(
            &row(&self.shape)?,
            &row(&self.expression)?,
            &Tensor::from_slice(&self.pose, (1, 5, 3), cpu)?,
            offsets.as_ref(),
        )?;
        let translation = Tensor::from_slice(&self.translation, (1, 1, 3), cpu)?;
        posed.broadcast_add(&translation)?.flatten_all()?.to_vec1()
    }
}
