//! Avatar files: `NAME.safetensors` holds the `avatar` record (the store
//! format `io.save` writes, one value named `avatar`, with a checksum of every
//! tensor, so `io.load` reads it too), and `NAME.json` beside it says what it
//! is for people and tools: the format and version, the Gaussian and mouth
//! triangle counts, the [`AvatarConfig`] (face model, colour MLP, the command
//! that made it) and the BLAKE3 digest of the tensor file, which ties the two
//! together. Both are written atomically, the tensors first.
//!
//! Reading checks the sizes of both files before reading them, the digest,
//! that the manifest's configuration is the record's, and every tensor's name
//! and shape; each error names the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Device;
use gspeech_sdk::{CancelToken, NodeError, PortType, Record, Value, fs::write_atomic, store};
use serde_json::{Value as Json, json};

use super::model::{Avatar, AvatarConfig};

/// The manifest's `format` field.
pub const FORMAT: &str = "gspeech-avatar";
/// The manifest layout this build writes and reads.
pub const VERSION: u64 = 1;
/// The name of the value in the tensor file.
pub const VALUE: &str = "avatar";
/// The largest manifest read, bytes.
const MAX_MANIFEST_BYTES: u64 = 1 << 20;
/// The largest tensor file read, bytes (some 20 million Gaussians with 32 latents).
const MAX_TENSOR_BYTES: u64 = 4 << 30;

/// The tensor file beside a manifest (`NAME.json` → `NAME.safetensors`).
pub fn tensor_path(manifest: &Path) -> PathBuf {
    manifest.with_extension("safetensors")
}

/// Writes an avatar as `manifest` (`.json`) and its tensor file beside it.
pub fn save(avatar: &Avatar, manifest: &Path, cancel: &CancelToken) -> Result<(), NodeError> {
    let record = avatar.to_record().map_err(|e| NodeError::file(manifest, e))?;
    write_record(record, manifest, cancel)
}

/// Writes an avatar record (any, valid or not: tests write damaged ones).
fn write_record(record: Record, manifest: &Path, cancel: &CancelToken) -> Result<(), NodeError> {
    let tensors = tensor_path(manifest);
    let count = |name: &str| record.tensor(name).map_or(0, |t| t.shape()[0]);
    let mut document = json!({
        "format": FORMAT,
        "version": VERSION,
        "tensors": tensors.file_name().unwrap_or_default().to_string_lossy(),
        "gaussians": count("means"),
        "mouth_triangles": count("mouth_triangles"),
        "config": record.attr("config").cloned().unwrap_or(Json::Null),
    });
    let values = BTreeMap::from([(VALUE.to_string(), Value::data(record))]);
    let bytes = store::encode(&values).map_err(|e| NodeError::file(&tensors, e))?;
    document["blake3"] = blake3::hash(&bytes).to_hex().to_string().into();
    write_atomic(&tensors, &bytes, cancel)?;
    let text = serde_json::to_string_pretty(&document).expect("JSON") + "\n";
    write_atomic(manifest, text.as_bytes(), cancel)
}

/// Reads at most `limit` bytes of a file, refusing a larger one.
fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, NodeError> {
    let size = std::fs::metadata(path).map_err(|e| NodeError::file(path, e))?.len();
    if size > limit {
        return Err(NodeError::file(
            path,
            format!("is {size} bytes, more than the {limit} an avatar file may have"),
        ));
    }
    std::fs::read(path).map_err(|e| NodeError::file(path, e))
}

/// Reads an avatar's record from its manifest, checking the pair.
pub fn read_record(manifest: &Path) -> Result<Record, NodeError> {
    let bad = |message: String| NodeError::file(manifest, message);
    let text = read_bounded(manifest, MAX_MANIFEST_BYTES)?;
    let doc: Json = serde_json::from_slice(&text).map_err(|e| bad(format!("is not JSON: {e}")))?;
    if doc["format"] != FORMAT {
        return Err(bad(format!(
            "is not an avatar manifest (its `format` is not \"{FORMAT}\")"
        )));
    }
    if doc["version"].as_u64() != Some(VERSION) {
        return Err(bad(format!(
            "is avatar format version {}, but this build reads version {VERSION}",
            doc["version"]
        )));
    }
    let name = doc["tensors"]
        .as_str()
        .ok_or_else(|| bad("has no `tensors` file name".into()))?;
    if Path::new(name).file_name() != Some(name.as_ref()) {
        return Err(bad(format!(
            "names the tensor file `{name}`, which is not a plain file name"
        )));
    }
    let tensors = manifest.with_file_name(name);
    let bytes = read_bounded(&tensors, MAX_TENSOR_BYTES)?;
    if Some(blake3::hash(&bytes).to_hex().as_str()) != doc["blake3"].as_str() {
        return Err(NodeError::file(
            &tensors,
            format!(
                "does not match its manifest {} (damaged, or another avatar's); save the avatar again",
                manifest.display()
            ),
        ));
    }
    let mut values = store::decode(&bytes).map_err(|e| NodeError::file(&tensors, e))?;
    let record = match values.remove(VALUE) {
        Some(Value::Data(record)) if record.kind() == PortType::Avatar => record,
        _ => return Err(NodeError::file(&tensors, format!("holds no `{VALUE}` value"))),
    };
    if record.attr("config").unwrap_or(&Json::Null) != &doc["config"] {
        return Err(bad(format!(
            "its `config` differs from the one in {}",
            tensors.display()
        )));
    }
    Ok((*record).clone())
}

/// Reads an avatar onto `device`.
pub fn load(manifest: &Path, device: &Device) -> Result<Avatar, NodeError> {
    let record = read_record(manifest)?;
    Avatar::from_record(&record, device).map_err(|e| NodeError::file(tensor_path(manifest), e))
}

/// The configuration a manifest states, without reading the tensors.
pub fn read_config(manifest: &Path) -> Result<AvatarConfig, NodeError> {
    let text = read_bounded(manifest, MAX_MANIFEST_BYTES)?;
    let doc: Json =
        serde_json::from_slice(&text).map_err(|e| NodeError::file(manifest, format!("is not JSON: {e}")))?;
    serde_json::from_value(doc["config"].clone())
        .map_err(|e| NodeError::file(manifest, format!("has no avatar `config`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avatar::color::ColorInputs;
    use crate::avatar::model::FaceIdentity;
    use crate::avatar::model::tests::{mesh, tiny};

    fn rebuilt(record: &Record, skip: &str, extra: Option<(&str, gspeech_sdk::Tensor)>) -> Record {
        let mut out = Record::new(PortType::Avatar);
        for (name, tensor) in record.tensors() {
            if name != skip {
                out = out.with_tensor(name.clone(), tensor.clone());
            }
        }
        if let Some((name, tensor)) = extra {
            out = out.with_tensor(name, tensor);
        }
        for (name, value) in record.attrs() {
            out = out.with_attr(name.clone(), value.clone());
        }
        out
    }

    #[test]
    fn saved_avatars_load_to_the_same_posed_gaussians_and_colours() {
        let dir = tempfile::tempdir().unwrap();
        let (vertices, triangles) = mesh();
        for inputs in [ColorInputs::ExpressionAndView, ColorInputs::Constant] {
            let avatar = tiny(inputs);
            let manifest = dir.path().join("AVATAR.json");
            save(&avatar, &manifest, &CancelToken::new()).unwrap();
            assert!(tensor_path(&manifest).is_file());
            let back = load(&manifest, &Device::Cpu).unwrap();
            assert_eq!(read_config(&manifest).unwrap(), avatar.config);
            for (expression, camera) in [([0.0, 0.3, 0.9], [0.0, 0.0, 4.0]), ([1.0, 0.0, 0.0], [3.0, -1.0, 2.0])] {
                let posed = |a: &Avatar| a.posed_gaussians(&vertices, &triangles, &expression, camera).unwrap();
                assert_eq!(posed(&back), posed(&avatar));
            }
            let doc: Json = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
            assert_eq!(
                (doc["gaussians"].as_u64(), doc["mouth_triangles"].as_u64()),
                (Some(7), Some(1))
            );
            assert_eq!(doc["config"]["command"], "test");
            // io.load reads the tensor file as an avatar value.
            let values = store::load(&tensor_path(&manifest)).unwrap();
            assert_eq!(values[VALUE].port_type(), PortType::Avatar);
        }
    }

    #[test]
    fn each_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let avatar = tiny(ColorInputs::ExpressionAndView);
        let record = avatar.to_record().unwrap();
        let manifest = dir.path().join("a.json");
        let cancel = CancelToken::new();
        let error = |record: Record| {
            write_record(record, &manifest, &cancel).unwrap();
            load(&manifest, &Device::Cpu).unwrap_err().to_string()
        };

        let err = error(rebuilt(&record, "latents", None));
        assert!(err.contains("a.safetensors: has no tensor `latents`"), "{err}");
        let err = error(rebuilt(&record, "mlp.hidden.1.weight", None));
        assert!(err.contains("has no tensor `mlp.hidden.1.weight`"), "{err}");
        let wrong = gspeech_sdk::Tensor::from_f32(&[4], vec![0.0; 4]).unwrap();
        let err = error(rebuilt(&record, "mlp.out.bias", Some(("mlp.out.bias", wrong))));
        assert!(
            err.contains("tensor `mlp.out.bias` has shape [4], expected [3]"),
            "{err}"
        );
        let wrong = gspeech_sdk::Tensor::from_f32(&[7, 5], vec![0.0; 35]).unwrap();
        let err = error(rebuilt(&record, "latents", Some(("latents", wrong))));
        assert!(
            err.contains("tensor `latents` has shape [7, 5], expected [7, 4]"),
            "{err}"
        );
        let err = error(avatar.gaussians.to_record(Some(&avatar.binding)));
        assert!(err.contains("has no `config`"), "{err}");

        // Another face model: the loaded avatar says whose it is.
        save(&avatar, &manifest, &cancel).unwrap();
        let back = load(&manifest, &Device::Cpu).unwrap();
        let err = back.check_face(&FaceIdentity::new("big", 9, &[0, 1, 2])).unwrap_err();
        assert!(
            err.contains("`tiny` (5 vertices") && err.contains("`big` (9 vertices"),
            "{err}"
        );

        // A tensor file from another save, and a foreign manifest.
        let other = dir.path().join("b.json");
        save(&tiny(ColorInputs::Constant), &other, &cancel).unwrap();
        std::fs::copy(tensor_path(&other), tensor_path(&manifest)).unwrap();
        let err = load(&manifest, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("a.safetensors: does not match its manifest"), "{err}");
        std::fs::write(&manifest, "{\"format\": \"gspeech-face-model\"}").unwrap();
        let err = load(&manifest, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("a.json: is not an avatar manifest"), "{err}");
        let err = load(&dir.path().join("missing.json"), &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.json"), "{err}");
    }
}
