//! NeRF `transforms.json` captures with one tracked mesh per timestep, as
//! custom trackers export them (VHAP's mesh export among them):
//!
//! ```text
//! transforms.json (or transforms_{train,val,test}.json)   cameras, frames, timesteps
//! <file_path>                                              one image per frame
//! meshes/TTTTT.obj                                         one mesh per timestep
//! ```
//!
//! Cameras, timesteps and splits are read by [`super::nerf`]; `cy` counts
//! from the top by default. A timestep's mesh is the file its frames'
//! `mesh_path` names, or, given a folder, its `NNNNN.obj` or `NNNNN.ply` (the
//! timestep number in five digits). Meshes are OBJ or PLY (ASCII or binary),
//! all of one topology: the same vertex count and polygons as the first.
//! Positions are taken as they are, in the cameras' world space.
//!
//! The meshes' face model is given (a face model manifest or a FLAME file,
//! whose vertex count they must have), or else made from the first mesh: its
//! positions as the neutral, its polygons triangulated, no shapes. Such a
//! model travels with the capture as `face_model.json`, so the capture
//! records a digest of the topology its meshes share.

use std::path::{Path, PathBuf};

use gspeech_sdk::{CancelToken, NodeError, Reporter};

use super::nerf::{Layout, Timestep};
use super::{BUNDLED_FACE_MODEL, MAX_MESH_BYTES, Tracked, read_bounded};
use crate::capture::format::FaceModelRef;
use crate::face::flame::FlameConfig;
use crate::face::import::split_polygon;
use crate::face::obj::parse_obj;
use crate::face::{FaceModelFile, FaceRig};
use crate::splats::ply::parse_mesh;

/// Where the meshes' face model comes from.
#[derive(Clone, Copy, Debug)]
pub enum Face<'a> {
    /// A face model file (a manifest, or FLAME split by the config).
    File(&'a Path, FlameConfig),
    /// A model of the first mesh's topology, with this name and length unit.
    FirstMesh {
        /// The model's name.
        name: &'a str,
        /// The length unit of the meshes.
        units: &'a str,
    },
}

/// A tracked mesh: positions and polygons.
#[derive(Clone, Debug, PartialEq)]
pub struct Mesh {
    /// Vertex positions.
    pub positions: Vec<[f32; 3]>,
    /// Polygons as 0-based vertex indices.
    pub polygons: Vec<Vec<u32>>,
}

/// Reads an OBJ or PLY mesh (by extension, at most [`MAX_MESH_BYTES`]).
pub fn read_mesh(path: &Path) -> Result<Mesh, NodeError> {
    let extension = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if extension != "obj" && extension != "ply" {
        return Err(NodeError::file(path, "is neither an OBJ nor a PLY mesh"));
    }
    let bytes = read_bounded(path, MAX_MESH_BYTES)?;
    let bad = |e: String| NodeError::file(path, e);
    if extension == "obj" {
        let text = String::from_utf8(bytes).map_err(|_| bad("is not a text OBJ file".into()))?;
        let obj = parse_obj(&text).map_err(bad)?;
        Ok(Mesh {
            positions: obj.positions,
            polygons: obj.faces.into_iter().map(|f| f.vertices).collect(),
        })
    } else {
        let ply = parse_mesh(&bytes).map_err(bad)?;
        Ok(Mesh {
            positions: ply.positions,
            polygons: ply.polygons,
        })
    }
}

/// Every timestep's mesh, on the face model `face`.
pub(super) fn track(
    src: &Path,
    layout: &Layout,
    folder: Option<&Path>,
    face: Face,
    report: &dyn Reporter,
    cancel: &CancelToken,
) -> Result<Tracked, NodeError> {
    let count = layout.timesteps.len();
    let mut first: Option<(Mesh, PathBuf)> = None;
    let mut meshes = Vec::new();
    for (i, timestep) in layout.timesteps.iter().enumerate() {
        if cancel.is_cancelled() {
            return Err(NodeError::Cancelled);
        }
        report.progress(0.05 + 0.25 * i as f32 / count as f32, "reading meshes");
        let path = mesh_file(src, timestep, folder)?;
        let mesh = read_mesh(&path)?;
        match &first {
            Some((reference, reference_path)) => same_topology(&mesh, reference)
                .map_err(|e| NodeError::file(&path, format!("{e} {}", reference_path.display())))?,
            None => {
                meshes.reserve(count * mesh.positions.len() * 3);
                first = Some((mesh.clone(), path.clone()));
            }
        }
        meshes.extend(mesh.positions.iter().flatten());
    }
    let (mesh, mesh_path) = first.expect("a layout has timesteps");
    let (rig, bundled) = match face {
        Face::File(path, config) => {
            let rig = FaceModelFile::open(path, config)?.into_rig(path)?;
            if rig.vertex_count() != mesh.positions.len() {
                return Err(NodeError::file(
                    &mesh_path,
                    format!(
                        "has {} vertices, but the face model {} has {}",
                        mesh.positions.len(),
                        path.display(),
                        rig.vertex_count()
                    ),
                ));
            }
            (rig, false)
        }
        Face::FirstMesh { .. } if mesh.polygons.is_empty() => {
            return Err(NodeError::file(
                &mesh_path,
                "has no polygons, so no face model can be made of it: give the meshes' face model",
            ));
        }
        Face::FirstMesh { name, units } => (topology(&mesh, name, units), true),
    };
    Ok(Tracked {
        meshes,
        face_model: FaceModelRef::of(&rig, bundled.then(|| BUNDLED_FACE_MODEL.to_string())),
        bundled: bundled.then_some(rig),
        weight_names: Vec::new(),
        weights: vec![None; count],
    })
}

/// The mesh file of a timestep: in `folder` when given, else its frames' `mesh_path`.
fn mesh_file(src: &Path, timestep: &Timestep, folder: Option<&Path>) -> Result<PathBuf, NodeError> {
    let Some(folder) = folder else {
        return timestep.file(src, "mesh_path")?.ok_or_else(|| {
            timestep.views[0]
                .entry
                .error("has no `mesh_path`; name each timestep's mesh there or give a folder of meshes")
        });
    };
    let stem = format!("{:05}", timestep.number);
    ["obj", "ply"]
        .iter()
        .map(|extension| folder.join(format!("{stem}.{extension}")))
        .find(|path| path.is_file())
        .ok_or_else(|| {
            NodeError::file(
                folder.join(format!("{stem}.obj")),
                format!(
                    "is missing (nor is there a {stem}.ply): timestep {} ({}) has no mesh",
                    timestep.number, timestep.views[0].entry
                ),
            )
        })
}

/// Whether `mesh` has the vertex count and polygons of `reference`; the
/// error reads "… than the first mesh" and is followed by its path.
fn same_topology(mesh: &Mesh, reference: &Mesh) -> Result<(), String> {
    let (n, m) = (mesh.positions.len(), reference.positions.len());
    if n != m {
        return Err(format!("has {n} vertices, not the {m} of the first mesh"));
    }
    if mesh.polygons.len() != reference.polygons.len() {
        return Err(format!(
            "has {} polygons, not the {} of the first mesh",
            mesh.polygons.len(),
            reference.polygons.len()
        ));
    }
    match mesh.polygons.iter().zip(&reference.polygons).position(|(a, b)| a != b) {
        Some(k) => Err(format!(
            "has other polygons: polygon {k} joins vertices {:?}, not {:?} as in the first mesh",
            mesh.polygons[k], reference.polygons[k]
        )),
        None => Ok(()),
    }
}

/// A face model of a mesh's topology alone: its positions as the neutral,
/// its polygons triangulated, one region, no shapes.
fn topology(mesh: &Mesh, name: &str, units: &str) -> FaceRig {
    let triangles: Vec<u32> = mesh
        .polygons
        .iter()
        .flat_map(|polygon| {
            split_polygon(polygon, &mesh.positions)
                .into_iter()
                .flat_map(move |corners| corners.map(|c| polygon[c]))
        })
        .collect();
    let neutral = mesh.positions.iter().flatten().copied().collect();
    FaceRig::mesh(name, units, neutral, triangles, "mesh")
}
