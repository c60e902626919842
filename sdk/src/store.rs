//! Values on disk: named values in one safetensors file.
//!
//! Tensors are stored as `<value>/<tensor>`; kinds, attributes and scalar values
//! go in the header's `gspeech` metadata entry as JSON, together with a BLAKE3
//! digest of every tensor, so a damaged file is detected on read rather than
//! trusted. `io.save`, `io.load` and the on-disk cache all use this format.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use crate::{CancelToken, DType, NodeError, PortType, Record, Tensor, Value};

#[cfg(target_endian = "big")]
compile_error!("the safetensors store assumes a little-endian machine");

/// Version of the metadata layout written by [`encode`].
pub const STORE_FORMAT: u64 = 1;

struct View<'a>(&'a Tensor);

impl safetensors::View for View<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        match self.0.dtype() {
            DType::U8 => safetensors::Dtype::U8,
            DType::U32 => safetensors::Dtype::U32,
            DType::I32 => safetensors::Dtype::I32,
            DType::I64 => safetensors::Dtype::I64,
            DType::F32 => safetensors::Dtype::F32,
            DType::F64 => safetensors::Dtype::F64,
        }
    }
    fn shape(&self) -> &[usize] {
        self.0.shape()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(self.0.as_bytes())
    }
    fn data_len(&self) -> usize {
        self.0.byte_len()
    }
}

fn digest<'a>(tensors: impl Iterator<Item = (&'a str, &'a Tensor)>) -> String {
    let mut hasher = blake3::Hasher::new();
    for (name, t) in tensors {
        hasher.update(name.as_bytes());
        hasher.update(t.dtype().name().as_bytes());
        for d in t.shape() {
            hasher.update(&(*d as u64).to_le_bytes());
        }
        hasher.update(t.as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// Encodes named values as safetensors bytes.
pub fn encode(values: &BTreeMap<String, Value>) -> Result<Vec<u8>, String> {
    let mut described = serde_json::Map::new();
    let mut tensors: Vec<(String, &Tensor)> = Vec::new();
    for (name, value) in values {
        if name.contains('/') {
            return Err(format!("value name `{name}` must not contain '/'"));
        }
        let entry = match value {
            Value::Int(v) => json!({"kind": "int", "value": v}),
            Value::Float(v) => json!({"kind": "float", "value": v}),
            Value::Bool(v) => json!({"kind": "bool", "value": v}),
            Value::Text(v) => json!({"kind": "text", "value": &**v}),
            Value::Path(v) => json!({"kind": "path", "value": v.to_string_lossy()}),
            Value::Data(r) => {
                tensors.extend(r.tensors().iter().map(|(t, tensor)| (format!("{name}/{t}"), tensor)));
                json!({"kind": r.kind().name(), "attrs": r.attrs()})
            }
        };
        described.insert(name.clone(), entry);
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let header = json!({
        "format": STORE_FORMAT,
        "values": described,
        "blake3": digest(tensors.iter().map(|(n, t)| (n.as_str(), *t))),
    });
    let metadata = HashMap::from([("gspeech".to_string(), header.to_string())]);
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.clone(), View(t))), Some(metadata)).map_err(|e| e.to_string())
}

/// Decodes bytes written by [`encode`], verifying the digest and each record's form.
pub fn decode(bytes: &[u8]) -> Result<BTreeMap<String, Value>, String> {
    let file = safetensors::SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file: {e}"))?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
    let header = metadata
        .metadata()
        .as_ref()
        .and_then(|m| m.get("gspeech"))
        .ok_or("the file has no gspeech metadata (it was not written by gspeech)")?;
    let header: serde_json::Value = serde_json::from_str(header).map_err(|e| format!("bad gspeech metadata: {e}"))?;
    let format = header["format"].as_u64().unwrap_or(0);
    if format != STORE_FORMAT {
        return Err(format!(
            "store format {format} is not supported (this build reads {STORE_FORMAT})"
        ));
    }
    let mut tensors: BTreeMap<String, BTreeMap<String, Tensor>> = BTreeMap::new();
    let mut all: Vec<(String, Tensor)> = Vec::new();
    for (full, view) in file.tensors() {
        let (value, tensor) = full
            .split_once('/')
            .ok_or_else(|| format!("tensor `{full}` has no value prefix"))?;
        let dtype = match view.dtype() {
            safetensors::Dtype::U8 => DType::U8,
            safetensors::Dtype::U32 => DType::U32,
            safetensors::Dtype::I32 => DType::I32,
            safetensors::Dtype::I64 => DType::I64,
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::F64 => DType::F64,
            other => return Err(format!("tensor `{full}` has unsupported dtype {other:?}")),
        };
        let t = Tensor::from_le_bytes(dtype, view.shape(), view.data()).map_err(|e| format!("tensor `{full}`: {e}"))?;
        all.push((full.clone(), t.clone()));
        tensors
            .entry(value.to_string())
            .or_default()
            .insert(tensor.to_string(), t);
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    if header["blake3"].as_str() != Some(digest(all.iter().map(|(n, t)| (n.as_str(), t))).as_str()) {
        return Err("the tensor data does not match its checksum (the file is damaged)".into());
    }
    let described = header["values"].as_object().ok_or("gspeech metadata lists no values")?;
    let mut values = BTreeMap::new();
    for (name, entry) in described {
        let kind = entry["kind"].as_str().and_then(PortType::from_name);
        let scalar = &entry["value"];
        let bad = || format!("value `{name}` is malformed");
        let value = match kind.ok_or_else(bad)? {
            PortType::Int => Value::Int(scalar.as_i64().ok_or_else(bad)?),
            PortType::Float => Value::Float(scalar.as_f64().ok_or_else(bad)?),
            PortType::Bool => Value::Bool(scalar.as_bool().ok_or_else(bad)?),
            PortType::Text => Value::Text(scalar.as_str().ok_or_else(bad)?.into()),
            PortType::Path => Value::Path(Path::new(scalar.as_str().ok_or_else(bad)?).into()),
            PortType::Any => return Err(bad()),
            kind => {
                let mut record = Record::new(kind);
                for (t, tensor) in tensors.remove(name).unwrap_or_default() {
                    record = record.with_tensor(t, tensor);
                }
                for (k, v) in entry["attrs"].as_object().ok_or_else(bad)? {
                    record = record.with_attr(k.clone(), v.clone());
                }
                record.validate().map_err(|e| format!("value `{name}`: {e}"))?;
                Value::Data(Arc::new(record))
            }
        };
        values.insert(name.clone(), value);
    }
    if let Some(orphan) = tensors.keys().next() {
        return Err(format!("tensors under `{orphan}/` belong to no listed value"));
    }
    Ok(values)
}

/// Writes named values to `path` atomically; cancellation leaves nothing behind.
pub fn save(path: &Path, values: &BTreeMap<String, Value>, cancel: &CancelToken) -> Result<(), NodeError> {
    let bytes = encode(values).map_err(|e| NodeError::file(path, e))?;
    crate::fs::write_atomic(path, &bytes, cancel)
}

/// Reads named values written by [`save`]; every problem names the file.
pub fn load(path: &Path) -> Result<BTreeMap<String, Value>, NodeError> {
    let bytes = std::fs::read(path).map_err(|e| NodeError::file(path, e))?;
    decode(&bytes).map_err(|e| NodeError::file(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<String, Value> {
        let audio = Record::new(PortType::Audio)
            .with_tensor("samples", Tensor::from_f32(&[1, 3], vec![0.5, -0.25, 1.0]).unwrap())
            .with_attr("sample_rate", 16000);
        BTreeMap::from([
            ("audio".to_string(), Value::data(audio)),
            ("count".to_string(), Value::Int(-3)),
            ("name".to_string(), Value::Text("take 1".into())),
            ("gain".to_string(), Value::Float(0.1)),
        ])
    }

    #[test]
    fn round_trips_records_and_scalars() {
        let values = sample();
        assert_eq!(decode(&encode(&values).unwrap()).unwrap(), values);
    }

    #[test]
    fn detects_damaged_tensor_data() {
        let mut bytes = encode(&sample()).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let err = decode(&bytes).unwrap_err();
        assert!(err.contains("checksum"), "{err}");
        assert!(decode(&bytes[..10]).unwrap_err().contains("not a safetensors file"));
    }

    #[test]
    fn load_names_the_file() {
        let err = load(Path::new("/nonexistent/x.safetensors")).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/x.safetensors: "), "{err}");
    }
}
