//! The ICT-FaceKit light layout (USC Institute for Creative Technologies, MIT
//! licence): a 26,719-vertex head whose parts are fixed vertex ranges, 53
//! ARKit-named expression OBJs, identity OBJs, and `vertex_indices.json` with
//! the expression list and the 68 Multi-PIE landmark vertices. The ranges are
//! those of ICT-FaceKit's documentation.

use std::ops::Range;
use std::path::Path;

use gspeech_sdk::NodeError;

/// The neutral mesh's file name.
pub const NEUTRAL: &str = "generic_neutral_mesh.obj";

/// The file listing expressions and landmarks.
pub const INDICES: &str = "vertex_indices.json";

/// Vertices in the full ICT-FaceKit light mesh.
pub const VERTICES: usize = 26_719;

/// Every part of the mesh: name and vertex range.
pub const REGIONS: [(&str, Range<u32>); 17] = [
    ("face", 0..9_409),
    ("head_neck", 9_409..11_248),
    ("mouth_socket", 11_248..13_294),
    ("eye_socket_left", 13_294..13_678),
    ("eye_socket_right", 13_678..14_062),
    ("gums_tongue", 14_062..17_039),
    ("teeth", 17_039..21_451),
    ("eyeball_left", 21_451..23_021),
    ("eyeball_right", 23_021..24_591),
    ("lacrimal_fluid_left", 24_591..24_795),
    ("lacrimal_fluid_right", 24_795..24_999),
    ("eye_blend_left", 24_999..25_023),
    ("eye_blend_right", 25_023..25_047),
    ("eye_occlusion_left", 25_047..25_199),
    ("eye_occlusion_right", 25_199..25_351),
    ("eyelashes_left", 25_351..26_035),
    ("eyelashes_right", 26_035..26_719),
];

/// The parts an avatar needs: skin, mouth interior, teeth and eyes. The
/// lacrimal fluid, eye blend and occlusion shells and the eyelash strips are
/// shading helpers for a game engine and are left out.
pub const AVATAR_REGIONS: [&str; 9] = [
    "face",
    "head_neck",
    "mouth_socket",
    "eye_socket_left",
    "eye_socket_right",
    "gums_tongue",
    "teeth",
    "eyeball_left",
    "eyeball_right",
];

/// What `vertex_indices.json` says.
pub struct Indices {
    /// Expression names, in the model's order.
    pub expressions: Vec<String>,
    /// Landmark vertices, 68-point Multi-PIE order.
    pub landmarks: Vec<u32>,
}

/// Whether a folder holds the ICT-FaceKit layout.
pub fn is_ict(dir: &Path) -> bool {
    dir.join(NEUTRAL).is_file() && dir.join(INDICES).is_file()
}

/// Reads `vertex_indices.json`.
pub fn read_indices(dir: &Path) -> Result<Indices, NodeError> {
    let path = dir.join(INDICES);
    let text = std::fs::read_to_string(&path).map_err(|e| NodeError::file(&path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| NodeError::file(&path, e))?;
    let strings = json["expressions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        })
        .filter(|a| !a.is_empty())
        .ok_or_else(|| NodeError::file(&path, "has no `expressions` list"))?;
    let landmarks = json["idx_to_landmark_verts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_u64().map(|i| i as u32))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    Ok(Indices {
        expressions: strings,
        landmarks,
    })
}
