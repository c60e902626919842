//! What can be wrong with a capture, found all at once: each [`Problem`]
//! names the file and the camera or frame it is about.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::format::{Capture, CaptureCamera, CaptureIndex, INDEX, SPLITS, image_path, mask_path};
use crate::camera::calibration_problems;
use crate::face::FaceRig;
use crate::face::asset::read_asset;

/// How far a world-to-camera rotation may be from orthonormal, and its
/// determinant from +1.
pub const ROTATION_TOLERANCE: f64 = 1e-4;

/// One thing wrong with a capture.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The file at fault.
    pub file: PathBuf,
    /// The entry in it (`camera "left"`, `frame 12`), when it is about one.
    pub entry: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    fn new(file: &Path, entry: Option<String>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            entry,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(entry) => write!(f, "{}: {entry}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

fn camera_entry(name: &str) -> Option<String> {
    Some(format!("camera \"{name}\""))
}

fn frame_entry(index: usize) -> Option<String> {
    Some(format!("frame {index}"))
}

/// Problems of the index alone, without looking at other files; `path` is
/// where it lives (or will).
pub fn index_problems(index: &CaptureIndex, path: &Path) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut problem = |entry: Option<String>, message: String| problems.push(Problem::new(path, entry, message));
    if index.cameras.is_empty() {
        problem(None, "has no cameras".into());
    }
    if index.frames.is_empty() {
        problem(None, "has no frames".into());
    }
    if let Some(fps) = index.fps
        && !(fps.is_finite() && fps > 0.0)
    {
        problem(None, format!("`fps` is {fps}, but must be a positive number"));
    }
    let face = &index.face_model;
    if face.name.trim().is_empty() {
        problem(None, "`face_model.name` is empty".into());
    }
    if face.vertices == 0 {
        problem(None, "`face_model.vertices` is 0".into());
    }
    if face.digest.len() != 64 || !face.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        problem(
            None,
            format!(
                "`face_model.digest` \"{}\" is not a BLAKE3 digest (64 hexadecimal digits)",
                face.digest
            ),
        );
    }
    let mut names = BTreeSet::new();
    for camera in &index.cameras {
        for message in camera_problems(camera) {
            problem(camera_entry(&camera.name), message);
        }
        if !names.insert(camera.name.as_str()) {
            problem(camera_entry(&camera.name), "the name is used by another camera".into());
        }
    }
    let mut indices = BTreeSet::new();
    for frame in &index.frames {
        let entry = || frame_entry(frame.index);
        if !indices.insert(frame.index) {
            problem(entry(), "the index is used by another frame".into());
        }
        if !frame.time.is_finite() {
            problem(entry(), format!("its time {} is not a number of seconds", frame.time));
        }
        if !SPLITS.contains(&frame.split.as_str()) {
            problem(
                entry(),
                format!("unknown split \"{}\" (splits are {})", frame.split, SPLITS.join(", ")),
            );
        }
        match &frame.weights {
            Some(weights) if weights.len() != index.weight_names.len() => problem(
                entry(),
                format!(
                    "has {} weights, but `weight_names` names {}",
                    weights.len(),
                    index.weight_names.len()
                ),
            ),
            Some(weights) if weights.iter().any(|w| !w.is_finite()) => {
                problem(entry(), "has a weight that is not finite".into())
            }
            _ => {}
        }
    }
    problems
}

/// What is wrong with one camera's name, size, intrinsics and pose.
pub fn camera_problems(camera: &CaptureCamera) -> Vec<String> {
    let mut problems = Vec::new();
    let name = camera.name.as_str();
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
        problems.push("the name must be a plain folder name (no slashes, not `.` or `..`)".into());
    }
    problems.extend(calibration_problems(
        camera.width,
        camera.height,
        [camera.fx, camera.fy, camera.cx, camera.cy],
        &camera.world_to_camera,
        ROTATION_TOLERANCE,
    ));
    problems
}

/// Reads a PNG's header only: size, colour type and bit depth.
fn png_header(path: &Path) -> Result<(u32, u32, png::ColorType, png::BitDepth), String> {
    let file = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "is missing".to_string(),
        _ => e.to_string(),
    })?;
    let reader = png::Decoder::new(BufReader::new(file))
        .read_info()
        .map_err(|e| format!("is not a readable PNG: {e}"))?;
    let info = reader.info();
    Ok((info.width, info.height, info.color_type, info.bit_depth))
}

impl Capture {
    /// Every problem of the capture: the index's, then the face model's, the
    /// audio's, the meshes', and every image's and mask's (each image's size
    /// is read from its PNG header).
    pub fn problems(&self) -> Vec<Problem> {
        let index_path = self.root.join(INDEX);
        let index = &self.index;
        let mut problems = index_problems(index, &index_path);
        if let Some(audio) = &index.audio
            && !self.root.join(audio).is_file()
        {
            problems.push(Problem::new(
                &self.root.join(audio),
                None,
                "the capture's audio is missing",
            ));
        }
        if let Some(relative) = &index.face_model.path {
            let path = self.root.join(relative);
            if !path.is_file() {
                problems.push(Problem::new(&path, None, "the capture's face model is missing"));
            } else if path.extension().is_some_and(|e| e == "json") {
                match read_asset(&path) {
                    Ok(rig) => problems.extend(self.face_problems(&rig)),
                    Err(e) => problems.push(Problem::new(&path, None, e.to_string())),
                }
            }
        }
        match self.meshes() {
            Err(e) => problems.push(Problem::new(
                &self.root.join(super::format::MESHES),
                None,
                strip_path(e),
            )),
            Ok(meshes) => {
                if meshes.vertices != index.face_model.vertices {
                    problems.push(Problem::new(
                        &meshes.path,
                        None,
                        format!(
                            "its meshes have {} vertices, but the face model \"{}\" has {}",
                            meshes.vertices, index.face_model.name, index.face_model.vertices
                        ),
                    ));
                }
                for frame in index.frames.iter().filter(|f| f.index >= meshes.frames) {
                    problems.push(Problem::new(
                        &meshes.path,
                        frame_entry(frame.index),
                        format!("has no mesh: the file holds {} meshes", meshes.frames),
                    ));
                }
            }
        }
        problems.extend(self.image_problems());
        problems
    }

    /// Problems of the capture's meshes on `rig`: its vertex count and digest
    /// must be those `capture.json` records.
    pub fn face_problems(&self, rig: &FaceRig) -> Vec<Problem> {
        let recorded = &self.index.face_model;
        let path = self.root.join(INDEX);
        let mut problems = Vec::new();
        if rig.vertex_count() != recorded.vertices {
            problems.push(Problem::new(
                &path,
                None,
                format!(
                    "records a face model of {} vertices, but \"{}\" has {}",
                    recorded.vertices,
                    rig.name,
                    rig.vertex_count()
                ),
            ));
        }
        let digest = rig.digest();
        if digest != recorded.digest {
            problems.push(Problem::new(
                &path,
                None,
                format!(
                    "records the face model \"{}\" (digest {}…), not \"{}\" (digest {}…)",
                    recorded.name,
                    recorded.digest.get(..12).unwrap_or(&recorded.digest),
                    rig.name,
                    &digest[..12]
                ),
            ));
        }
        problems
    }

    /// Problems of every image and mask: missing, unreadable, of the wrong
    /// size or colour type. Masks are optional.
    fn image_problems(&self) -> Vec<Problem> {
        let pairs: Vec<(&CaptureCamera, usize)> = self
            .index
            .cameras
            .iter()
            .flat_map(|c| self.index.frames.iter().map(move |f| (c, f.index)))
            .collect();
        pairs
            .par_iter()
            .flat_map_iter(|&(camera, frame)| {
                let entry = || Some(format!("camera \"{}\", frame {frame}", camera.name));
                let size = |w: u32, h: u32| {
                    ((w, h) != (camera.width, camera.height)).then(|| {
                        format!(
                            "is {w}×{h}, but the camera's images are {}×{}",
                            camera.width, camera.height
                        )
                    })
                };
                let mut found = Vec::new();
                let image = image_path(&self.root, &camera.name, frame);
                let message = match png_header(&image) {
                    Err(e) => Some(e),
                    Ok((w, h, color, depth)) => size(w, h).or_else(|| {
                        let rgb = matches!(color, png::ColorType::Rgb | png::ColorType::Rgba);
                        (!rgb || depth != png::BitDepth::Eight)
                            .then(|| format!("is {color:?} with {}-bit samples, not 8-bit RGB or RGBA", depth as u8))
                    }),
                };
                found.extend(message.map(|m| Problem::new(&image, entry(), m)));
                let mask = mask_path(&self.root, &camera.name, frame);
                if mask.exists() {
                    let message = match png_header(&mask) {
                        Err(e) => Some(e),
                        Ok((w, h, _, depth)) => size(w, h).or_else(|| {
                            (depth != png::BitDepth::Eight).then(|| format!("has {}-bit samples, not 8", depth as u8))
                        }),
                    };
                    found.extend(message.map(|m| Problem::new(&mask, entry(), m)));
                }
                found
            })
            .collect()
    }
}

/// The message of a file error, without the path the problem names anyway.
fn strip_path(error: gspeech_sdk::NodeError) -> String {
    match error {
        gspeech_sdk::NodeError::File { message, .. } => message,
        other => other.to_string(),
    }
}
