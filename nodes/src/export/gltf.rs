//! `export.gltf`: the face mesh and its animation as binary glTF (`.glb`),
//! which Blender, three.js, Unity and Unreal import.
//!
//! The face model's expressions become morph targets (shape keys in Blender).
//! A motion of blendshape weights animates them by name; a motion of
//! per-frame vertex offsets, which glTF has no direct form for, becomes one
//! morph target per frame, each weighted 1 at its own frame and 0 elsewhere,
//! so linear interpolation between keys blends neighbouring frames exactly as
//! a vertex cache would.

use gspeech_sdk::{
    Caching, Inputs, Node, NodeError, NodeSpec, Outputs, Params, PortSpec, PortType, Record, RunContext,
};
use serde_json::json;

use super::glb::{GlbBuilder, Usage};
use super::weights::NamedWeights;
use super::{output_path, write_file};
use crate::face::Offsets;

/// Writes a face model, and optionally its motion, as a `.glb` file.
pub struct Gltf;

/// The largest binary chunk written: GLB lengths are 32-bit, and importers
/// choke well before 4 GiB.
const MAX_BINARY_BYTES: usize = 2 << 30;

/// The face model's mesh in glTF units (metres) and conventions.
struct FaceMesh {
    positions: Vec<[f32; 3]>,
    normals: Vec<[f32; 3]>,
    indices: Vec<u32>,
    uvs: Option<Vec<[f32; 2]>>,
    expression_names: Vec<String>,
    /// `[E][V]` offsets from the neutral face.
    expressions: Vec<Vec<[f32; 3]>>,
    scale: f32,
}

/// Metres per unit of a face model's `units` attribute (metres when absent).
fn metres_per_unit(units: Option<&str>) -> Result<f32, String> {
    match units.unwrap_or("m") {
        "m" => Ok(1.0),
        "cm" => Ok(0.01),
        "mm" => Ok(0.001),
        other => Err(format!("has units `{other}`; expected m, cm or mm")),
    }
}

fn vectors<const N: usize>(values: &[f32], scale: f32) -> Vec<[f32; N]> {
    values
        .chunks_exact(N)
        .map(|c| std::array::from_fn(|i| c[i] * scale))
        .collect()
}

impl FaceMesh {
    fn of(face: &Record) -> Result<FaceMesh, String> {
        let tensor = |name: &str| face.tensor(name).expect("validated");
        let scale = metres_per_unit(face.attr("units").and_then(|u| u.as_str()))?;
        let positions: Vec<[f32; 3]> = vectors(tensor("neutral").as_f32().expect("validated"), scale);
        let vertices = positions.len();
        let indices = tensor("triangles").as_u32().expect("validated").to_vec();
        if let Some(bad) = indices.iter().find(|&&i| i as usize >= vertices) {
            return Err(format!(
                "has a triangle using vertex {bad}, but only {vertices} vertices"
            ));
        }
        let uvs = match face.tensor("uvs") {
            Some(uvs) if uvs.shape()[0] != vertices => {
                return Err(format!("has {} UVs for {vertices} vertices", uvs.shape()[0]));
            }
            // glTF puts the texture origin at the top left, OBJ at the bottom left.
            Some(uvs) => Some(
                vectors::<2>(uvs.as_f32().expect("validated"), 1.0)
                    .into_iter()
                    .map(|[u, v]| [u, 1.0 - v])
                    .collect(),
            ),
            None => None,
        };
        let expressions = tensor("expressions");
        let (count, per) = (expressions.shape()[0], expressions.shape()[1]);
        if per != vertices {
            return Err(format!("has expressions of {per} vertices for a mesh of {vertices}"));
        }
        let expression_names: Vec<String> = face
            .attr("expression_names")
            .and_then(|n| n.as_array())
            .map(|n| n.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default();
        if expression_names.len() != count {
            return Err(format!("has {count} expressions but {} names", expression_names.len()));
        }
        let expressions = expressions
            .as_f32()
            .expect("validated")
            .chunks_exact(vertices * 3)
            .map(|e| vectors(e, scale))
            .collect();
        Ok(FaceMesh {
            normals: crate::face::vertex_normals(positions.as_flattened(), &indices),
            positions,
            indices,
            uvs,
            expression_names,
            expressions,
            scale,
        })
    }
}

/// The morph targets and the animation of their weights.
struct Animation {
    target_names: Vec<String>,
    /// `[targets][V]` position offsets, when the targets are not the expressions.
    frame_targets: Option<Vec<Vec<[f32; 3]>>>,
    times: Vec<f32>,
    /// `[keys][targets]` weights, flattened.
    weights: Vec<f32>,
}

/// Weights for the face model's expressions, matched by name to a motion's.
fn weight_animation(
    ctx: &RunContext,
    mesh: &FaceMesh,
    weights: &NamedWeights,
    fps: f64,
) -> Result<Animation, NodeError> {
    let expressions = weights.matching(&mesh.expression_names, "an expression of the face model")?;
    let unused = expressions.unused();
    if !unused.is_empty() {
        ctx.info(&format!(
            "weights with no expression of that name, left out: {}",
            unused.join(", ")
        ));
    }
    Ok(Animation {
        target_names: mesh.expression_names.clone(),
        frame_targets: None,
        times: key_times(weights.frames, fps),
        weights: (0..weights.frames).flat_map(|t| expressions.frame(t)).collect(),
    })
}

/// The time of each frame, in seconds.
fn key_times(frames: usize, fps: f64) -> Vec<f32> {
    (0..frames).map(|t| (t as f64 / fps) as f32).collect()
}

/// One morph target per frame of vertex offsets, each weighted 1 at its frame.
fn vertex_animation(mesh: &FaceMesh, motion: &Record, fps: f64) -> Result<Animation, NodeError> {
    let vertices = mesh.positions.len();
    let offsets = Offsets::of(motion, vertices)
        .map_err(|e| NodeError::input("motion", e))?
        .expect("checked by the caller");
    let frames = offsets.frames;
    let bytes = frames * vertices * 12;
    if bytes > MAX_BINARY_BYTES {
        return Err(NodeError::input(
            "motion",
            format!(
                "{frames} frames of per-vertex animation would take {:.1} GiB; glTF files stay under 2 GiB. \
                 Export a shorter span, or a motion of blendshape weights.",
                bytes as f64 / (1u64 << 30) as f64
            ),
        ));
    }
    let frame_targets: Vec<Vec<[f32; 3]>> = (0..frames)
        .map(|t| {
            let mut dense = vec![0f32; vertices * 3];
            offsets.add_to(t, &mut dense);
            vectors(&dense, mesh.scale)
        })
        .collect();
    Ok(Animation {
        target_names: (0..frames).map(|t| format!("frame_{t:05}")).collect(),
        frame_targets: Some(frame_targets),
        times: key_times(frames, fps),
        weights: (0..frames)
            .flat_map(|t| (0..frames).map(move |k| if k == t { 1.0 } else { 0.0 }))
            .collect(),
    })
}

impl Node for Gltf {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("export.gltf", 1, "Export glTF")
            .doc(
                "Writes the face mesh (in metres, with normals and UVs) as binary glTF (.glb) for Blender, three.js, \
                 Unity and Unreal. Its expressions become named morph targets (shape keys). With `motion` \
                 connected, the file carries the animation: blendshape weights drive the expressions of the same \
                 names; per-frame vertex offsets become one morph target per frame, blended in turn.",
            )
            .input(PortSpec::new(
                "face_model",
                PortType::FaceModel,
                "The face mesh and its expressions.",
            ))
            .input(PortSpec::optional(
                "motion",
                PortType::Motion,
                "The animation: weights (preferred, small) or per-frame vertex offsets.",
            ))
            .param(output_path("Binary glTF", &["glb"]))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let face = inputs.record("face_model", PortType::FaceModel)?;
        let mesh = FaceMesh::of(face).map_err(|e| NodeError::input("face_model", e))?;
        let path = params.path("path")?;
        let animation = match inputs.get("motion").and_then(|m| m.as_record()) {
            None => None,
            Some(motion) => {
                let fps = motion.attr("fps").and_then(|v| v.as_f64()).expect("validated");
                let animation = match NamedWeights::of(motion)? {
                    Some(weights) => weight_animation(ctx, &mesh, &weights, fps)?,
                    None => vertex_animation(&mesh, motion, fps)?,
                };
                if animation.times.is_empty() {
                    return Err(NodeError::input("motion", "has no frames"));
                }
                Some(animation)
            }
        };
        ctx.check_cancelled()?;
        ctx.progress(0.3, "building the mesh");

        let mut glb = GlbBuilder::new();
        let mut attributes = json!({
            "POSITION": glb.vectors(&mesh.positions, Usage::Vertices, true),
            "NORMAL": glb.vectors(&mesh.normals, Usage::Vertices, false),
        });
        if let Some(uvs) = &mesh.uvs {
            attributes["TEXCOORD_0"] = glb.vectors(uvs, Usage::Vertices, false).into();
        }
        let indices = glb.indices(&mesh.indices);
        let shapes = match animation.as_ref().and_then(|a| a.frame_targets.as_ref()) {
            Some(frames) => frames,
            None => &mesh.expressions,
        };
        let mut targets = Vec::with_capacity(shapes.len());
        for shape in shapes {
            ctx.check_cancelled()?;
            targets.push(json!({"POSITION": glb.vectors(shape, Usage::Vertices, true)}));
        }
        let target_names = match &animation {
            Some(a) => a.target_names.clone(),
            None => mesh.expression_names.clone(),
        };
        let mut primitive = json!({"attributes": attributes, "indices": indices, "material": 0, "mode": 4});
        let mut face_mesh = json!({"name": "face", "primitives": []});
        if !targets.is_empty() {
            primitive["targets"] = targets.into();
            face_mesh["weights"] = vec![0.0; target_names.len()].into();
            face_mesh["extras"] = json!({"targetNames": target_names});
        }
        face_mesh["primitives"] = json!([primitive]);
        let mut document = json!({
            "asset": {"version": "2.0", "generator": "GaussianSpeech Studio"},
            "scene": 0,
            "scenes": [{"nodes": [0]}],
            "nodes": [{"name": "face", "mesh": 0}],
            "meshes": [face_mesh],
            "materials": [{
                "name": "skin",
                "pbrMetallicRoughness": {"baseColorFactor": [0.8, 0.62, 0.53, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.6}
            }],
        });
        if let Some(animation) = &animation {
            let input = glb.scalars(&animation.times, true);
            let output = glb.scalars(&animation.weights, false);
            document["animations"] = json!([{
                "name": "speech",
                "samplers": [{"input": input, "output": output, "interpolation": "LINEAR"}],
                "channels": [{"sampler": 0, "target": {"node": 0, "path": "weights"}}],
            }]);
        }
        if glb.binary_len() > MAX_BINARY_BYTES {
            return Err(NodeError::input(
                "face_model",
                format!(
                    "the mesh and its targets take {:.1} GiB; glTF files stay under 2 GiB",
                    glb.binary_len() as f64 / (1u64 << 30) as f64
                ),
            ));
        }
        ctx.progress(0.8, "writing");
        let bytes = glb.finish(document);
        write_file(ctx, path, &bytes)?;
        ctx.info(&format!(
            "wrote {}: {} vertices, {} triangles, {} morph targets{}",
            path.display(),
            mesh.positions.len(),
            mesh.indices.len() / 3,
            target_names.len(),
            animation
                .as_ref()
                .map(|a| format!(", {} keys of animation", a.times.len()))
                .unwrap_or_default()
        ));
        Ok(Outputs::new())
    }
}

#[cfg(test)]
mod tests;
