//! `face.model`: a face rig from a file.

use std::path::Path;

use gspeech_sdk::{
    FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext, Value,
};

use super::asset::read_asset;
use super::flame::{Flame, FlameConfig};
use super::rig::FaceRig;

/// A face model file, loaded.
pub enum FaceModelFile {
    /// A blendshape rig from its manifest.
    Rig(Box<FaceRig>),
    /// A user-supplied FLAME model.
    Flame(Flame),
}

impl FaceModelFile {
    /// Reads a face model manifest (`.json`) or a FLAME file (`.safetensors`,
    /// `.npz`, split by `flame`), chosen by the file's extension.
    pub fn open(path: &Path, flame: FlameConfig) -> Result<FaceModelFile, NodeError> {
        let extension = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        match extension.as_str() {
            "json" => Ok(FaceModelFile::Rig(Box::new(read_asset(path)?))),
            "safetensors" | "npz" => Ok(FaceModelFile::Flame(Flame::from_file(path, flame)?)),
            _ => Err(NodeError::file(
                path,
                "is neither a face model manifest (.json) nor a FLAME file (.safetensors, .npz)",
            )),
        }
    }

    /// The mesh and its linear shapes as a rig (FLAME's without its skinning);
    /// `path` is the file's, for errors.
    pub fn into_rig(self, path: &Path) -> Result<FaceRig, NodeError> {
        match self {
            FaceModelFile::Rig(rig) => Ok(*rig),
            FaceModelFile::Flame(flame) => flame.to_rig().map_err(|e| NodeError::file(path, e)),
        }
    }
}

/// Loads a face model: a converted blendshape rig (`.json` manifest) or a
/// user-supplied FLAME file (`.safetensors` or `.npz`).
pub struct FaceModel;

impl Node for FaceModel {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("face.model", 1, "Face Model")
            .doc(
                "Loads a face rig: a blendshape model converted by `gspeech face import` (its `.json` manifest; the \
                 project ships ICT-FaceKit's in projects/assets/face) or a FLAME model you hold a licence for, \
                 converted to `.safetensors` or `.npz` (see the README). Outputs the neutral mesh, triangles, \
                 expression and identity shapes, UVs, regions and the lip and upper-face vertex sets; FLAME adds \
                 its joints and skinning.",
            )
            .output(PortSpec::new("face", PortType::FaceModel, "The face model."))
            .param(ParamSpec::path(
                "path",
                PathRole::InputFile,
                vec![
                    FileFilter::new("Face model", &["json"]),
                    FileFilter::new("FLAME", &["safetensors", "npz"]),
                ],
                "",
                "The model file, relative to the graph file.",
            ))
            .param(ParamSpec::int(
                "flame_shape_params",
                300,
                (Some(1), None),
                "FLAME only: how many of `shapedirs` are identity directions (the rest are expressions).",
            ))
    }

    fn run(&self, ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let path = params.path("path")?;
        let config = FlameConfig {
            shape_params: params.int("flame_shape_params")? as usize,
        };
        let record = match FaceModelFile::open(path, config)? {
            FaceModelFile::Rig(rig) => rig.to_record(),
            FaceModelFile::Flame(flame) => flame.to_record().map_err(|e| NodeError::file(path, e))?,
        };
        let count = |name: &str| record.tensor(name).map_or(0, |t| t.shape()[0]);
        ctx.info(&format!(
            "{}: {} vertices, {} triangles, {} expressions, {} identities, {} lip and {} upper-face vertices",
            path.file_name().unwrap_or_default().to_string_lossy(),
            count("neutral"),
            count("triangles"),
            count("expressions"),
            count("identities"),
            count("lip_vertices"),
            count("upper_face_vertices"),
        ));
        Ok(Outputs::new().with("face", Value::data(record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::FaceRig;
    use gspeech_sdk::testing::TestRun;
    use serde_json::json;

    fn load(run: &TestRun, path: &std::path::Path) -> Result<FaceRig, NodeError> {
        let out = run.run(&FaceModel, Inputs::default(), json!({ "path": path }))?;
        Ok(FaceRig::from_record(out.get("face").unwrap().as_record().unwrap()).unwrap())
    }

    #[test]
    fn the_committed_ict_facekit_asset_has_its_known_counts() {
        let run = TestRun::new();
        let rig = load(
            &run,
            &crate::testing::repo_path("projects/assets/face/ict-facekit.json"),
        )
        .unwrap();
        // ICT-FaceKit light's vertex ranges 0..24591 (face, head and neck, mouth, teeth, eyes);
        // its 24,691 polygons there, mostly quads, make 48,836 triangles.
        assert_eq!((rig.vertex_count(), rig.triangle_count()), (24_591, 48_836));
        assert_eq!((rig.expression_names.len(), rig.identity_names.len()), (53, 10));
        assert_eq!(&rig.expression_names[26..29], ["jawOpen", "jawRight", "mouthClose"]);
        let regions: Vec<(&str, usize, usize)> = rig
            .regions
            .iter()
            .map(|r| {
                let triangles = r.triangles.iter().map(|t| t.len()).sum();
                (r.name.as_str(), r.vertex_indices().count(), triangles)
            })
            .collect();
        assert_eq!(
            regions,
            [
                ("face", 9409, 18878),
                ("head_neck", 1839, 3610),
                ("mouth_socket", 2046, 4104),
                ("eye_socket_left", 384, 738),
                ("eye_socket_right", 384, 738),
                ("gums_tongue", 2977, 5808),
                ("teeth", 4412, 8696),
                ("eyeball_left", 1570, 3132),
                ("eyeball_right", 1570, 3132),
            ]
        );
        assert_eq!(rig.uvs.as_ref().unwrap().triangles.len(), 48_836 * 3);
        assert_eq!(rig.landmarks.len(), 68);
        assert_eq!((rig.lip_vertices.len(), rig.upper_face_vertices.len()), (980, 2914));
        // The lips lie between the mouth corners (landmarks 48 and 54) and the upper face above the nose tip (30).
        let at = |v: u32, k: usize| rig.neutral[v as usize * 3 + k];
        let (left, right) = (at(rig.landmarks[48], 0), at(rig.landmarks[54], 0));
        assert!(rig.lip_vertices.iter().all(|&v| (left..=right).contains(&at(v, 0))));
        assert!(
            rig.upper_face_vertices
                .iter()
                .all(|&v| at(v, 1) > at(rig.landmarks[30], 1))
        );
        // jawOpen moves the chin (landmark 8) down by centimetres; the brows do not move.
        let jaw = 26;
        let delta = |k: usize, v: u32| rig.expressions[(k * rig.vertex_count() + v as usize) * 3 + 1];
        assert!(delta(jaw, rig.landmarks[8]) < -2.0);
        assert_eq!(delta(jaw, rig.landmarks[19]), 0.0);
    }

    #[test]
    fn other_files_are_refused_with_the_reason() {
        let run = TestRun::new();
        let path = run.dir().join("face.obj");
        std::fs::write(&path, "v 0 0 0\n").unwrap();
        let err = load(&run, &path).unwrap_err().to_string();
        assert!(
            err.contains("is neither a face model manifest (.json) nor a FLAME file"),
            "{err}"
        );
        let path = run.dir().join("flame.npz");
        std::fs::write(&path, "not a zip").unwrap();
        let err = load(&run, &path).unwrap_err().to_string();
        assert!(err.contains("flame.npz: cannot be read as FLAME"), "{err}");
    }
}
