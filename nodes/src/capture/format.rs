//! The capture folder on disk, its types, and the functions that read and
//! write it:
//!
//! ```text
//! <root>/capture.json                      index: cameras, frames, splits, face model, audio
//! <root>/meshes.safetensors                `vertices` f32 [T, V, 3]: one tracked mesh per frame
//! <root>/images/<camera>/<frame:05>.png    8-bit sRGB, RGB or RGBA, the camera's size
//! <root>/masks/<camera>/<frame:05>.png     optional: 8-bit, the camera's size
//! <root>/<audio>                           optional: the sound of the take
//! ```
//!
//! Cameras follow OpenCV's convention, as the rest of the project ([`crate::camera`]):
//! camera space has x right, y down and z forward; `world_to_camera` is the
//! row-major 4×4 matrix `[R | t; 0 0 0 1]` taking world points to camera
//! space; `fx, fy, cx, cy` are in pixels with pixel `(i, j)` covering
//! `[i, i + 1) × [j, j + 1)`. Meshes are in world space, in the face model's
//! length unit (`face_model.units`: `cm` for ICT-FaceKit, `m` for FLAME), and
//! camera translations are in the same unit. Frame `index` names a frame's
//! images and its row of `vertices`.
//!
//! Every file is written to a temporary name and renamed into place.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use gspeech_sdk::{CancelToken, NodeError, fs::write_atomic};
use safetensors::Dtype;
use safetensors::tensor::TensorView;
use serde::{Deserialize, Serialize};

use crate::camera::{Camera, DEFAULT_FAR, DEFAULT_NEAR};

/// The index file's name.
pub const INDEX: &str = "capture.json";
/// The mesh file's name.
pub const MESHES: &str = "meshes.safetensors";
/// The mesh tensor's name in [`MESHES`].
pub const VERTICES: &str = "vertices";
/// The index's `format` field.
pub const FORMAT: &str = "gspeech-capture";
/// The layout version this build writes and reads.
pub const VERSION: u64 = 1;
/// The frame splits a capture may use.
pub const SPLITS: [&str; 3] = ["train", "val", "test"];
/// The largest `capture.json` read (a capture of thousands of frames and
/// dozens of cameras is a few MiB).
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// The largest safetensors header read from [`MESHES`].
const MAX_HEADER_BYTES: u64 = 1 << 20;

/// `capture.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureIndex {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for files this build writes.
    pub version: u64,
    /// The frame rate, when the frames are a regular video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// The take's sound, a file name relative to the capture folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<String>,
    /// The face model the meshes live on.
    pub face_model: FaceModelRef,
    /// The calibrated cameras.
    pub cameras: Vec<CaptureCamera>,
    /// Names of the per-frame expression codes (`weights`), when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_names: Vec<String>,
    /// The frames.
    pub frames: Vec<CaptureFrame>,
}

/// The face model a capture's meshes are on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceModelRef {
    /// Its name (`ict-facekit`, `FLAME 2023`).
    pub name: String,
    /// Its file (a face model manifest or FLAME file), relative to the capture folder, when it travels with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Its vertex count: the `V` of every mesh.
    pub vertices: usize,
    /// Its BLAKE3 digest ([`FaceRig::digest`](crate::face::FaceRig::digest)), as motion checkpoints record it.
    pub digest: String,
    /// The length unit of its positions, and so of the meshes and camera translations (`cm`, `m`).
    pub units: String,
}

impl FaceModelRef {
    /// How `capture.json` records `rig`, kept at `path` when it travels with the capture.
    pub fn of(rig: &crate::face::FaceRig, path: Option<String>) -> FaceModelRef {
        FaceModelRef {
            name: rig.name.clone(),
            path,
            vertices: rig.vertex_count(),
            digest: rig.digest(),
            units: rig.units.clone(),
        }
    }
}

/// One calibrated camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureCamera {
    /// A unique name, also its image folder's.
    pub name: String,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Focal length along x, in pixels.
    pub fx: f64,
    /// Focal length along y, in pixels.
    pub fy: f64,
    /// Principal point x, in pixels.
    pub cx: f64,
    /// Principal point y, in pixels.
    pub cy: f64,
    /// World → camera (OpenCV axes), row-major `[R | t; 0 0 0 1]`.
    pub world_to_camera: [[f64; 4]; 4],
    /// Kept out of fitting, to judge novel views.
    #[serde(default)]
    pub held_out: bool,
}

impl CaptureCamera {
    /// The camera in the project's renderer form (f32, default clipping range).
    pub fn to_camera(&self) -> Camera {
        let m = &self.world_to_camera;
        let row = |i: usize| [m[i][0] as f32, m[i][1] as f32, m[i][2] as f32];
        Camera {
            width: self.width,
            height: self.height,
            fx: self.fx as f32,
            fy: self.fy as f32,
            cx: self.cx as f32,
            cy: self.cy as f32,
            rotation: [row(0), row(1), row(2)],
            translation: [m[0][3] as f32, m[1][3] as f32, m[2][3] as f32],
            near: DEFAULT_NEAR,
            far: DEFAULT_FAR,
        }
    }

    /// A camera of `camera` named `name`: the inverse of [`CaptureCamera::to_camera`].
    pub fn from_camera(name: &str, camera: &Camera, held_out: bool) -> CaptureCamera {
        CaptureCamera {
            name: name.to_string(),
            width: camera.width,
            height: camera.height,
            fx: camera.fx as f64,
            fy: camera.fy as f64,
            cx: camera.cx as f64,
            cy: camera.cy as f64,
            world_to_camera: camera.world_to_camera().map(|row| row.map(|v| v as f64)),
            held_out,
        }
    }

    /// Where a world point lands in the image (pixels), if it is in front of the camera.
    pub fn project(&self, point: [f32; 3]) -> Option<[f32; 2]> {
        self.to_camera().project(point)
    }

    /// The camera centre in world space.
    pub fn position(&self) -> [f32; 3] {
        self.to_camera().position()
    }
}

/// One frame: a moment seen by every camera, with its mesh.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureFrame {
    /// Its number: the images' file name (`00012.png`) and the mesh row.
    pub index: usize,
    /// When it was taken, in seconds from the start of the take.
    pub time: f64,
    /// `train`, `val` or `test` ([`SPLITS`]).
    pub split: String,
    /// Expression codes, one per `weight_names` entry, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<f32>>,
}

/// A capture folder with its parsed index.
#[derive(Clone, Debug, PartialEq)]
pub struct Capture {
    /// The folder.
    pub root: PathBuf,
    /// `capture.json`.
    pub index: CaptureIndex,
}

impl Capture {
    /// Reads `capture.json` (at most [`MAX_INDEX_BYTES`]) and checks its format
    /// and version, nothing more: [`Capture::problems`] checks the rest.
    pub fn read(root: &Path) -> Result<Capture, NodeError> {
        let path = root.join(INDEX);
        let file = File::open(&path).map_err(|e| NodeError::file(&path, format!("{e} (is this a capture folder?)")))?;
        let size = file.metadata().map_err(|e| NodeError::file(&path, e))?.len();
        if size > MAX_INDEX_BYTES {
            return Err(NodeError::file(
                &path,
                format!("is {size} bytes, more than a capture index may be ({MAX_INDEX_BYTES})"),
            ));
        }
        let mut text = String::new();
        file.take(MAX_INDEX_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|e| NodeError::file(&path, e))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| NodeError::file(&path, format!("is not JSON: {e}")))?;
        if json["format"] != FORMAT {
            return Err(NodeError::file(
                &path,
                format!("is not a capture index (its `format` is not \"{FORMAT}\")"),
            ));
        }
        if json["version"].as_u64() != Some(VERSION) {
            return Err(NodeError::file(
                &path,
                format!(
                    "is capture format version {}, but this build reads version {VERSION}",
                    json["version"]
                ),
            ));
        }
        let index = serde_json::from_value(json).map_err(|e| NodeError::file(&path, e))?;
        Ok(Capture {
            root: root.to_path_buf(),
            index,
        })
    }

    /// Reads a capture and checks it ([`Capture::problems`]), failing with every problem found.
    pub fn open(root: &Path) -> Result<Capture, NodeError> {
        let capture = Capture::read(root)?;
        let problems = capture.problems();
        if problems.is_empty() {
            return Ok(capture);
        }
        const SHOWN: usize = 20;
        let mut message = format!("is not a valid capture ({} problem(s)):", problems.len());
        for problem in problems.iter().take(SHOWN) {
            message += &format!("\n  {problem}");
        }
        if problems.len() > SHOWN {
            message += &format!(
                "\n  … and {} more (`gspeech capture info` lists them all)",
                problems.len() - SHOWN
            );
        }
        Err(NodeError::file(root, message))
    }

    /// The index file's path.
    pub fn index_path(&self) -> PathBuf {
        self.root.join(INDEX)
    }

    /// The mesh file, its header read and checked.
    pub fn meshes(&self) -> Result<MeshFile, NodeError> {
        MeshFile::open(&self.root.join(MESHES))
    }

    /// A camera by name.
    pub fn camera(&self, name: &str) -> Option<&CaptureCamera> {
        self.index.cameras.iter().find(|c| c.name == name)
    }

    /// The frames of a split, in file order.
    pub fn split(&self, name: &str) -> impl Iterator<Item = &CaptureFrame> {
        self.index.frames.iter().filter(move |f| f.split == name)
    }
}

/// The image of `camera` at frame `index`.
pub fn image_path(root: &Path, camera: &str, index: usize) -> PathBuf {
    root.join("images").join(camera).join(format!("{index:05}.png"))
}

/// The mask of `camera` at frame `index`.
pub fn mask_path(root: &Path, camera: &str, index: usize) -> PathBuf {
    root.join("masks").join(camera).join(format!("{index:05}.png"))
}

/// `meshes.safetensors`, opened: the `vertices` tensor's shape and place,
/// read frame by frame or whole.
#[derive(Clone, Debug, PartialEq)]
pub struct MeshFile {
    /// The file.
    pub path: PathBuf,
    /// `T`: how many meshes it holds.
    pub frames: usize,
    /// `V`: vertices per mesh.
    pub vertices: usize,
    /// Byte offset of the tensor's data in the file.
    offset: u64,
}

impl MeshFile {
    /// Reads the safetensors header (at most 1 MiB) and checks that `vertices`
    /// is f32 `[T, V, 3]` and that the file's size is what the header says.
    pub fn open(path: &Path) -> Result<MeshFile, NodeError> {
        let bad = |message: String| NodeError::file(path, message);
        let mut file = File::open(path).map_err(|e| NodeError::file(path, e))?;
        let size = file.metadata().map_err(|e| NodeError::file(path, e))?.len();
        let mut n = [0u8; 8];
        file.read_exact(&mut n)
            .map_err(|_| bad("is too short for a safetensors file".into()))?;
        let n = u64::from_le_bytes(n);
        if n > MAX_HEADER_BYTES || 8 + n > size {
            return Err(bad(format!(
                "has a safetensors header of {n} bytes in a file of {size} (not a safetensors file?)"
            )));
        }
        let mut header = vec![0u8; n as usize];
        file.read_exact(&mut header).map_err(|e| NodeError::file(path, e))?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| bad(format!("has an unreadable safetensors header: {e}")))?;
        let mut data_end = 0u64;
        for (name, entry) in &header {
            if name != "__metadata__" {
                let end = entry["data_offsets"][1].as_u64();
                data_end = data_end.max(end.ok_or_else(|| bad(format!("tensor `{name}` has no data offsets")))?);
            }
        }
        let entry = header
            .get(VERTICES)
            .ok_or_else(|| bad(format!("has no tensor `{VERTICES}`")))?;
        let shape: Vec<u64> = entry["shape"]
            .as_array()
            .map(|dims| dims.iter().filter_map(|d| d.as_u64()).collect())
            .unwrap_or_default();
        let (Some("F32"), [frames, vertices, 3]) = (entry["dtype"].as_str(), shape.as_slice()) else {
            return Err(bad(format!(
                "tensor `{VERTICES}` is {} {:?}, but must be F32 [frames, vertices, 3]",
                entry["dtype"], entry["shape"]
            )));
        };
        let (start, end) = (entry["data_offsets"][0].as_u64(), entry["data_offsets"][1].as_u64());
        let (Some(start), Some(end)) = (start, end) else {
            return Err(bad(format!("tensor `{VERTICES}` has no data offsets")));
        };
        let expected = frames
            .checked_mul(*vertices)
            .and_then(|n| n.checked_mul(12))
            .ok_or_else(|| bad(format!("tensor `{VERTICES}`'s shape {shape:?} is too large")))?;
        if end.checked_sub(start) != Some(expected) || 8 + n + data_end != size {
            return Err(bad(format!(
                "does not match its header: `{VERTICES}` [{frames}, {vertices}, 3] needs {expected} bytes at \
                 [{start}, {end}) and the tensors {data_end} bytes after the header, but the file has {} \
                 (damaged or cut short?)",
                size.saturating_sub(8 + n)
            )));
        }
        Ok(MeshFile {
            path: path.to_path_buf(),
            frames: *frames as usize,
            vertices: *vertices as usize,
            offset: 8 + n + start,
        })
    }

    /// Meshes `first..first + count`, flattened `[count * V * 3]`.
    pub fn read_frames(&self, first: usize, count: usize) -> Result<Vec<f32>, NodeError> {
        if first + count > self.frames {
            return Err(NodeError::file(
                &self.path,
                format!(
                    "holds {} meshes; meshes {first}..{} were asked for",
                    self.frames,
                    first + count
                ),
            ));
        }
        let row = self.vertices * 12;
        let mut file = File::open(&self.path).map_err(|e| NodeError::file(&self.path, e))?;
        file.seek(SeekFrom::Start(self.offset + (first * row) as u64))
            .map_err(|e| NodeError::file(&self.path, e))?;
        let mut bytes = vec![0u8; count * row];
        file.read_exact(&mut bytes)
            .map_err(|e| NodeError::file(&self.path, e))?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    /// Every mesh, flattened `[T * V * 3]`.
    pub fn read_all(&self) -> Result<Vec<f32>, NodeError> {
        self.read_frames(0, self.frames)
    }
}

/// Writes `capture.json`, after checking it ([`super::check::index_problems`]):
/// an index with problems is refused with all of them.
pub fn write_index(root: &Path, index: &CaptureIndex, cancel: &CancelToken) -> Result<(), NodeError> {
    let path = root.join(INDEX);
    let problems = super::check::index_problems(index, &path);
    if !problems.is_empty() {
        let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        return Err(NodeError::file(
            &path,
            format!("would not be a valid capture index: {}", listed.join("; ")),
        ));
    }
    let text = serde_json::to_string_pretty(index).map_err(|e| NodeError::file(&path, e))? + "\n";
    write_atomic(&path, text.as_bytes(), cancel)
}

/// Writes `meshes.safetensors`: `frames` meshes of `vertices` vertices,
/// flattened `[frames * vertices * 3]`, in the face model's units.
pub fn write_meshes(
    root: &Path,
    frames: usize,
    vertices: usize,
    positions: &[f32],
    cancel: &CancelToken,
) -> Result<(), NodeError> {
    let path = root.join(MESHES);
    if positions.len() != frames * vertices * 3 {
        return Err(NodeError::file(
            &path,
            format!(
                "{} values are not {frames} meshes of {vertices} vertices",
                positions.len()
            ),
        ));
    }
    if let Some(at) = positions.iter().position(|v| !v.is_finite()) {
        return Err(NodeError::file(
            &path,
            format!(
                "mesh {} vertex {} is not finite",
                at / (vertices * 3),
                at / 3 % vertices
            ),
        ));
    }
    let bytes: &[u8] = bytemuck::cast_slice(positions);
    let view = TensorView::new(Dtype::F32, vec![frames, vertices, 3], bytes).map_err(|e| NodeError::file(&path, e))?;
    let file = safetensors::serialize([(VERTICES, view)], None).map_err(|e| NodeError::file(&path, e))?;
    write_atomic(&path, &file, cancel)
}

/// PNG bytes of 8-bit sRGB pixels, `width × height`, row by row: grey, RGB or
/// RGBA by the number of values per pixel, with fast compression.
pub fn encode_png(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let area = width as usize * height as usize;
    let color = match pixels.len().checked_div(area) {
        Some(1) if pixels.len() == area => png::ColorType::Grayscale,
        Some(3) if pixels.len() == area * 3 => png::ColorType::Rgb,
        Some(4) if pixels.len() == area * 4 => png::ColorType::Rgba,
        _ => {
            return Err(format!(
                "{} values are not a {width}×{height} grey, RGB or RGBA image",
                pixels.len()
            ));
        }
    };
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(color);
    encoder.set_depth(png::BitDepth::Eight);
    // fdeflate: several times faster than the default for a few % more bytes.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(pixels).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// Writes the image of `camera` at frame `index`: RGB or RGBA pixels ([`encode_png`]).
pub fn write_image(
    root: &Path,
    camera: &CaptureCamera,
    index: usize,
    pixels: &[u8],
    cancel: &CancelToken,
) -> Result<(), NodeError> {
    let path = image_path(root, &camera.name, index);
    let area = camera.width as usize * camera.height as usize;
    if pixels.len() != area * 3 && pixels.len() != area * 4 {
        return Err(NodeError::file(
            &path,
            format!(
                "{} values are not a {}×{} RGB or RGBA image",
                pixels.len(),
                camera.width,
                camera.height
            ),
        ));
    }
    let bytes = encode_png(pixels, camera.width, camera.height).map_err(|e| NodeError::file(&path, e))?;
    write_atomic(&path, &bytes, cancel)
}

/// Writes the mask of `camera` at frame `index`: one value per pixel, 0 for
/// background and 255 for the subject.
pub fn write_mask(
    root: &Path,
    camera: &CaptureCamera,
    index: usize,
    mask: &[u8],
    cancel: &CancelToken,
) -> Result<(), NodeError> {
    let path = mask_path(root, &camera.name, index);
    if mask.len() != camera.width as usize * camera.height as usize {
        return Err(NodeError::file(
            &path,
            format!(
                "{} values are not a {}×{} mask",
                mask.len(),
                camera.width,
                camera.height
            ),
        ));
    }
    let bytes = encode_png(mask, camera.width, camera.height).map_err(|e| NodeError::file(&path, e))?;
    write_atomic(&path, &bytes, cancel)
}
