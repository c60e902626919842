//! Binary glTF 2.0 (GLB) assembly: typed accessors over one binary buffer,
//! following the glTF validator's rules — every buffer view 4-byte aligned,
//! vertex data marked as such, `min`/`max` on positions and key times.

use serde_json::{Value, json};

/// `bufferView.target` for vertex attributes.
const ARRAY_BUFFER: u32 = 34962;
/// `bufferView.target` for triangle indices.
const ELEMENT_ARRAY_BUFFER: u32 = 34963;
/// `accessor.componentType` values.
const FLOAT: u32 = 5126;
const UNSIGNED_INT: u32 = 5125;

/// What a buffer view holds, which decides its `target`.
#[derive(Clone, Copy, PartialEq)]
pub enum Usage {
    /// Per-vertex attributes and morph targets.
    Vertices,
    /// Triangle indices.
    Indices,
    /// Anything else (animation keys and values): no target.
    Other,
}

/// Collects binary data and the buffer views and accessors describing it.
#[derive(Default)]
pub struct GlbBuilder {
    bin: Vec<u8>,
    views: Vec<Value>,
    accessors: Vec<Value>,
}

impl GlbBuilder {
    /// An empty builder.
    pub fn new() -> GlbBuilder {
        GlbBuilder::default()
    }

    fn view(&mut self, bytes: &[u8], usage: Usage) -> usize {
        while !self.bin.len().is_multiple_of(4) {
            self.bin.push(0);
        }
        let mut view = json!({"buffer": 0, "byteOffset": self.bin.len(), "byteLength": bytes.len()});
        match usage {
            Usage::Vertices => view["target"] = ARRAY_BUFFER.into(),
            Usage::Indices => view["target"] = ELEMENT_ARRAY_BUFFER.into(),
            Usage::Other => {}
        }
        self.bin.extend_from_slice(bytes);
        self.views.push(view);
        self.views.len() - 1
    }

    fn accessor(&mut self, accessor: Value) -> usize {
        self.accessors.push(accessor);
        self.accessors.len() - 1
    }

    /// Float vectors of `N` components (`VEC2`, `VEC3`), with their bounds
    /// when `bounded` (required for positions and morph-target positions).
    pub fn vectors<const N: usize>(&mut self, data: &[[f32; N]], usage: Usage, bounded: bool) -> usize {
        let bytes: Vec<u8> = data.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
        let view = self.view(&bytes, usage);
        let mut accessor = json!({
            "bufferView": view,
            "componentType": FLOAT,
            "count": data.len(),
            "type": format!("VEC{N}"),
        });
        if bounded {
            let (min, max) = bounds(data.iter().copied());
            accessor["min"] = min.to_vec().into();
            accessor["max"] = max.to_vec().into();
        }
        self.accessor(accessor)
    }

    /// Float scalars (animation times and weights), with bounds when `bounded`
    /// (required for animation inputs).
    pub fn scalars(&mut self, data: &[f32], bounded: bool) -> usize {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = self.view(&bytes, Usage::Other);
        let mut accessor = json!({
            "bufferView": view,
            "componentType": FLOAT,
            "count": data.len(),
            "type": "SCALAR",
        });
        if bounded {
            let (min, max) = bounds(data.iter().map(|&v| [v]));
            accessor["min"] = min.to_vec().into();
            accessor["max"] = max.to_vec().into();
        }
        self.accessor(accessor)
    }

    /// Triangle indices as 32-bit unsigned integers.
    pub fn indices(&mut self, data: &[u32]) -> usize {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let view = self.view(&bytes, Usage::Indices);
        self.accessor(json!({
            "bufferView": view,
            "componentType": UNSIGNED_INT,
            "count": data.len(),
            "type": "SCALAR",
        }))
    }

    /// Bytes the binary chunk will hold.
    pub fn binary_len(&self) -> usize {
        self.bin.len()
    }

    /// The GLB file: `document` (everything but buffers, views and accessors)
    /// completed with them, then the JSON and binary chunks, each padded to
    /// four bytes (the JSON with spaces, the binary with zeros).
    pub fn finish(mut self, mut document: Value) -> Vec<u8> {
        while !self.bin.len().is_multiple_of(4) {
            self.bin.push(0);
        }
        document["buffers"] = json!([{"byteLength": self.bin.len()}]);
        document["bufferViews"] = self.views.into();
        document["accessors"] = self.accessors.into();
        let mut text = serde_json::to_vec(&document).expect("JSON values serialise");
        while !text.len().is_multiple_of(4) {
            text.push(b' ');
        }
        let total = 12 + 8 + text.len() + 8 + self.bin.len();
        let mut glb = Vec::with_capacity(total);
        glb.extend(b"glTF");
        glb.extend(2u32.to_le_bytes());
        glb.extend((total as u32).to_le_bytes());
        glb.extend((text.len() as u32).to_le_bytes());
        glb.extend(b"JSON");
        glb.extend(text);
        glb.extend((self.bin.len() as u32).to_le_bytes());
        glb.extend(b"BIN\0");
        glb.extend(self.bin);
        glb
    }
}

/// Component-wise minimum and maximum.
fn bounds<const N: usize>(values: impl Iterator<Item = [f32; N]>) -> ([f32; N], [f32; N]) {
    values.fold(([f32::INFINITY; N], [f32::NEG_INFINITY; N]), |(mut lo, mut hi), v| {
        for i in 0..N {
            lo[i] = lo[i].min(v[i]);
            hi[i] = hi[i].max(v[i]);
        }
        (lo, hi)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn views_are_aligned_and_chunks_padded() {
        let mut glb = GlbBuilder::new();
        glb.indices(&[0, 1, 2]);
        glb.scalars(&[0.5], true);
        let positions = glb.vectors(&[[1.0, -2.0, 3.0], [0.0, 5.0, -1.0]], Usage::Vertices, true);
        let file = glb.finish(json!({"asset": {"version": "2.0"}}));
        assert_eq!(&file[..4], b"glTF");
        assert_eq!(u32::from_le_bytes(file[8..12].try_into().unwrap()) as usize, file.len());
        let json_len = u32::from_le_bytes(file[12..16].try_into().unwrap()) as usize;
        assert!(json_len.is_multiple_of(4) && file.len().is_multiple_of(4));
        let doc: Value = serde_json::from_slice(&file[20..20 + json_len]).unwrap();
        for view in doc["bufferViews"].as_array().unwrap() {
            assert!(view["byteOffset"].as_u64().unwrap().is_multiple_of(4));
        }
        assert_eq!(doc["bufferViews"][0]["target"], ELEMENT_ARRAY_BUFFER);
        assert!(doc["bufferViews"][1].get("target").is_none());
        assert_eq!(doc["accessors"][positions]["min"], json!([0.0, -2.0, -1.0]));
        assert_eq!(doc["accessors"][positions]["max"], json!([1.0, 5.0, 3.0]));
    }
}
