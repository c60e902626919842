//! The face model asset: a JSON manifest (`name.json`, human-readable: names,
//! regions, provenance) beside a safetensors file of arrays (`name.safetensors`).
//!
//! Shapes are stored compactly: per shape, a bit mask of the vertices it moves
//! (deltas whose largest component is at most `threshold` are dropped) and the
//! kept deltas as 16-bit integers scaled by the shape's largest component. A
//! delta therefore comes back within `threshold` plus half a quantisation step
//! (the shape's largest component / 65,534) of the original. Per-vertex UVs
//! are not stored; they are derived from the face-varying ones on load.
//!
//! The manifest records the BLAKE3 digest of the array file, so a damaged or
//! swapped file is detected, and the manifest alone identifies the content
//! (graphs cache `face.model` outputs by the manifest's bytes).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gspeech_sdk::{CancelToken, NodeError, fs::write_atomic};
use safetensors::{Dtype, SafeTensors};
use serde_json::{Value as Json, json};

use super::rig::{FaceRig, FaceUvs, regions_from_json, regions_json};

/// The manifest's `format` field.
pub const FORMAT: &str = "gspeech-face-model";
/// The manifest layout this build writes and reads.
pub const VERSION: u64 = 1;

/// What writing an asset produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    /// The array file.
    pub tensors: PathBuf,
    /// Its size in bytes.
    pub tensor_bytes: usize,
    /// Deltas kept, over all shapes.
    pub kept_deltas: usize,
    /// Deltas dropped as below the threshold.
    pub dropped_deltas: usize,
}

/// Writes `rig` as an asset: `manifest` (`.json`) and its array file beside it.
/// `notes` (provenance, licence, what was left out) are stored in the manifest.
pub fn write_asset(
    rig: &FaceRig,
    manifest: &Path,
    threshold: f32,
    notes: Json,
    cancel: &CancelToken,
) -> Result<Written, NodeError> {
    rig.check().map_err(|e| NodeError::file(manifest, e))?;
    let tensors_path = manifest.with_extension("safetensors");
    let v = rig.vertex_count();
    let mut arrays: BTreeMap<String, Array> = BTreeMap::new();
    arrays.insert("neutral".into(), Array::f32(&[v, 3], &rig.neutral));
    arrays.insert(
        "triangles".into(),
        Array::u32(&[rig.triangle_count(), 3], &rig.triangles),
    );
    if let Some(uvs) = &rig.uvs {
        arrays.insert("uv_coords".into(), Array::f32(&[uvs.coords.len() / 2, 2], &uvs.coords));
        arrays.insert(
            "uv_triangles".into(),
            Array::u32(&[uvs.triangles.len() / 3, 3], &uvs.triangles),
        );
    }
    for (name, set) in [
        ("lip_vertices", &rig.lip_vertices),
        ("upper_face_vertices", &rig.upper_face_vertices),
        ("landmarks", &rig.landmarks),
    ] {
        arrays.insert(name.into(), Array::u32(&[set.len()], set));
    }
    let mut counts = (0, 0);
    for (group, shapes, count) in [
        ("expressions", &rig.expressions, rig.expression_names.len()),
        ("identities", &rig.identities, rig.identity_names.len()),
    ] {
        let (kept, dropped) = encode_shapes(&mut arrays, group, shapes, count, v, threshold);
        counts = (counts.0 + kept, counts.1 + dropped);
    }
    let bytes = safetensors::serialize(arrays.iter().map(|(n, a)| (n.as_str(), a)), None)
        .map_err(|e| NodeError::file(&tensors_path, e))?;
    let digest = blake3::hash(&bytes).to_hex().to_string();
    write_atomic(&tensors_path, &bytes, cancel)?;

    let file_name = tensors_path.file_name().unwrap_or_default().to_string_lossy();
    let document = json!({
        "format": FORMAT,
        "version": VERSION,
        "name": rig.name,
        "units": rig.units,
        "tensors": file_name,
        "blake3": digest,
        "vertices": v,
        "triangles": rig.triangle_count(),
        "expression_names": rig.expression_names,
        "identity_names": rig.identity_names,
        "regions": regions_json(&rig.regions),
        "encoding": {
            "threshold": threshold,
            "shapes": "per shape: a bit mask of moved vertices, int16 deltas scaled by the shape's largest component",
        },
        "notes": notes,
    });
    let text = serde_json::to_string_pretty(&document).expect("JSON") + "\n";
    write_atomic(manifest, text.as_bytes(), cancel)?;
    Ok(Written {
        tensors: tensors_path,
        tensor_bytes: bytes.len(),
        kept_deltas: counts.0,
        dropped_deltas: counts.1,
    })
}

/// Reads an asset from its manifest.
pub fn read_asset(manifest: &Path) -> Result<FaceRig, NodeError> {
    let text = std::fs::read_to_string(manifest).map_err(|e| NodeError::file(manifest, e))?;
    let doc: Json = serde_json::from_str(&text).map_err(|e| NodeError::file(manifest, format!("is not JSON: {e}")))?;
    let bad = |message: String| NodeError::file(manifest, message);
    if doc["format"] != FORMAT {
        return Err(bad(format!(
            "is not a face model manifest (its `format` is not \"{FORMAT}\")"
        )));
    }
    if doc["version"].as_u64() != Some(VERSION) {
        return Err(bad(format!(
            "is face model format version {}, but this build reads version {VERSION}",
            doc["version"]
        )));
    }
    let field = |name: &str| doc[name].as_str().ok_or_else(|| bad(format!("has no `{name}` text")));
    let names = |name: &str| -> Result<Vec<String>, NodeError> {
        doc[name]
            .as_array()
            .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect())
            .ok_or_else(|| bad(format!("has no `{name}` list of text")))
    };
    let tensors_path = manifest.with_file_name(field("tensors")?);
    let bytes = std::fs::read(&tensors_path).map_err(|e| NodeError::file(&tensors_path, e))?;
    if blake3::hash(&bytes).to_hex().as_str() != field("blake3")? {
        return Err(NodeError::file(
            &tensors_path,
            format!(
                "does not match its manifest {} (damaged or replaced); import the model again",
                manifest.display()
            ),
        ));
    }
    let file = SafeTensors::deserialize(&bytes).map_err(|e| NodeError::file(&tensors_path, e))?;
    let arrays = Arrays {
        file: &file,
        path: &tensors_path,
    };
    let neutral = arrays.f32("neutral", None)?;
    let v = neutral.len() / 3;
    let expression_names = names("expression_names")?;
    let identity_names = names("identity_names")?;
    let uv_coords = arrays.f32("uv_coords", Some(Vec::new()))?;
    let rig = FaceRig {
        name: field("name")?.to_string(),
        units: field("units")?.to_string(),
        triangles: arrays.u32("triangles")?,
        expressions: decode_shapes(&arrays, "expressions", expression_names.len(), v)?,
        identities: decode_shapes(&arrays, "identities", identity_names.len(), v)?,
        neutral,
        expression_names,
        identity_names,
        uvs: (!uv_coords.is_empty())
            .then(|| {
                arrays.u32("uv_triangles").map(|triangles| FaceUvs {
                    coords: uv_coords,
                    triangles,
                })
            })
            .transpose()?,
        regions: regions_from_json(&doc["regions"]).map_err(bad)?,
        lip_vertices: arrays.u32("lip_vertices")?,
        upper_face_vertices: arrays.u32("upper_face_vertices")?,
        landmarks: arrays.u32("landmarks")?,
    };
    rig.check().map_err(|e| NodeError::file(&tensors_path, e))?;
    Ok(rig)
}

/// An array to write: its type, shape and little-endian bytes.
struct Array {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl Array {
    fn f32(shape: &[usize], values: &[f32]) -> Array {
        Array {
            dtype: Dtype::F32,
            shape: shape.to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    fn u32(shape: &[usize], values: &[u32]) -> Array {
        Array {
            dtype: Dtype::U32,
            shape: shape.to_vec(),
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

impl safetensors::View for &Array {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Encodes `count` shapes of `v` vertices as `{group}.mask`, `{group}.deltas`
/// and `{group}.scales`; returns the deltas kept and dropped.
fn encode_shapes(
    arrays: &mut BTreeMap<String, Array>,
    group: &str,
    shapes: &[f32],
    count: usize,
    v: usize,
    threshold: f32,
) -> (usize, usize) {
    let mask_bytes = v.div_ceil(8);
    let mut mask = vec![0u8; count * mask_bytes];
    let mut deltas: Vec<u8> = Vec::new();
    let mut scales = Vec::with_capacity(count);
    let mut kept = 0;
    for (k, shape) in shapes.chunks_exact(v * 3).enumerate() {
        let largest = shape.iter().fold(0f32, |m, d| m.max(d.abs()));
        let scale = if largest > 0.0 { largest / i16::MAX as f32 } else { 1.0 };
        scales.push(scale);
        for (i, d) in shape.chunks_exact(3).enumerate() {
            if d.iter().any(|c| c.abs() > threshold) {
                mask[k * mask_bytes + i / 8] |= 1 << (i % 8);
                deltas.extend(d.iter().flat_map(|c| ((c / scale).round() as i16).to_le_bytes()));
                kept += 1;
            }
        }
    }
    arrays.insert(
        format!("{group}.mask"),
        Array {
            dtype: Dtype::U8,
            shape: vec![count, mask_bytes],
            bytes: mask,
        },
    );
    arrays.insert(
        format!("{group}.deltas"),
        Array {
            dtype: Dtype::I16,
            shape: vec![kept, 3],
            bytes: deltas,
        },
    );
    arrays.insert(format!("{group}.scales"), Array::f32(&[count], &scales));
    (kept, count * v - kept)
}

/// Arrays read from a safetensors file, with errors naming it.
struct Arrays<'a> {
    file: &'a SafeTensors<'a>,
    path: &'a Path,
}

impl Arrays<'_> {
    fn bytes(&self, name: &str, dtype: Dtype) -> Result<Option<&[u8]>, NodeError> {
        match self.file.tensor(name) {
            Ok(view) if view.dtype() == dtype => Ok(Some(view.data())),
            Ok(view) => Err(NodeError::file(
                self.path,
                format!("array `{name}` is {:?}, expected {dtype:?}", view.dtype()),
            )),
            Err(_) => Ok(None),
        }
    }

    fn required(&self, name: &str, dtype: Dtype) -> Result<&[u8], NodeError> {
        self.bytes(name, dtype)?
            .ok_or_else(|| NodeError::file(self.path, format!("has no array `{name}`")))
    }

    /// An f32 array; `default` is used when it is absent (`None`: it is required).
    fn f32(&self, name: &str, default: Option<Vec<f32>>) -> Result<Vec<f32>, NodeError> {
        match (self.bytes(name, Dtype::F32)?, default) {
            (Some(b), _) => Ok(b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                .collect()),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(NodeError::file(self.path, format!("has no array `{name}`"))),
        }
    }

    fn u32(&self, name: &str) -> Result<Vec<u32>, NodeError> {
        let b = self.required(name, Dtype::U32)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect())
    }
}

fn decode_shapes(arrays: &Arrays, group: &str, count: usize, v: usize) -> Result<Vec<f32>, NodeError> {
    let mask = arrays.required(&format!("{group}.mask"), Dtype::U8)?;
    let deltas = arrays.required(&format!("{group}.deltas"), Dtype::I16)?;
    let scales = arrays.f32(&format!("{group}.scales"), None)?;
    let mask_bytes = v.div_ceil(8);
    let set_bits: usize = mask.iter().map(|b| b.count_ones() as usize).sum();
    if mask.len() != count * mask_bytes || scales.len() != count || deltas.len() != set_bits * 6 {
        return Err(NodeError::file(
            arrays.path,
            format!("the `{group}` arrays do not fit {count} shapes of {v} vertices"),
        ));
    }
    let mut out = vec![0f32; count * v * 3];
    let mut next = deltas.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f32);
    for k in 0..count {
        for i in 0..v {
            if mask[k * mask_bytes + i / 8] & (1 << (i % 8)) != 0 {
                for c in 0..3 {
                    out[(k * v + i) * 3 + c] = next.next().expect("counted") * scales[k];
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::rig::tests::square;

    #[test]
    fn assets_round_trip_within_the_stated_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut rig = square();
        // A delta below the threshold, and one that needs quantising.
        rig.expressions[0] = 0.0004;
        rig.expressions[4] = 0.123_456_7;
        let manifest = dir.path().join("square.json");
        let written = write_asset(&rig, &manifest, 0.001, json!({"source": "test"}), &CancelToken::new()).unwrap();
        assert_eq!(written.tensors, dir.path().join("square.safetensors"));
        let back = read_asset(&manifest).unwrap();
        assert_eq!(back.triangles, rig.triangles);
        assert_eq!(back.uvs, rig.uvs);
        assert_eq!(back.regions, rig.regions);
        assert_eq!(back.lip_vertices, rig.lip_vertices);
        for (shapes, back_shapes) in [
            (&rig.expressions, &back.expressions),
            (&rig.identities, &back.identities),
        ] {
            let largest = shapes.iter().fold(0f32, |m, d| m.max(d.abs()));
            for (a, b) in shapes.chunks(3).zip(back_shapes.chunks(3)) {
                let kept = a.iter().any(|c| c.abs() > 0.001);
                for (x, y) in a.iter().zip(b) {
                    let bound = if kept { largest / 65_534.0 * 1.0001 } else { 0.001 };
                    assert!((x - y).abs() <= bound, "{x} came back as {y}");
                }
            }
        }
        // Vertex 0 of "up" held (0.0004, 1, 0): kept, since one component is above the threshold.
        assert_eq!(back.expressions[1], 1.0);
    }

    #[test]
    fn damaged_or_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("square.json");
        write_asset(&square(), &manifest, 0.001, Json::Null, &CancelToken::new()).unwrap();
        let tensors = dir.path().join("square.safetensors");
        let mut bytes = std::fs::read(&tensors).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&tensors, bytes).unwrap();
        let err = read_asset(&manifest).unwrap_err().to_string();
        assert!(err.contains("square.safetensors: does not match its manifest"), "{err}");
        std::fs::write(&manifest, "{\"format\": \"something-else\"}").unwrap();
        let err = read_asset(&manifest).unwrap_err().to_string();
        assert!(err.contains("is not a face model manifest"), "{err}");
    }
}
