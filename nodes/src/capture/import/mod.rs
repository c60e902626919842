//! Importers: multi-view captures in other tools' layouts converted to a
//! capture folder ([`super::format`]).
//!
//! - [`gaussian_avatars`]: GaussianAvatars' NeRSemble layout, as VHAP
//!   exports it: per-timestep FLAME parameters posed on a user-supplied FLAME;
//! - [`transforms`]: NeRF `transforms.json` with one OBJ or PLY mesh per
//!   timestep, as custom trackers export them;
//! - [`nerf`]: the transforms files both read: cameras, timesteps, splits.
//!
//! An import reads and checks everything it can before writing, writes the
//! capture into a hidden folder beside the destination, checks the result
//! ([`Capture::problems`]) and only then renames it into place: an import
//! that fails or is interrupted leaves no capture behind, whole or half.

pub mod gaussian_avatars;
pub mod nerf;
mod npz;
pub mod transforms;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use gspeech_sdk::{CancelToken, NodeError, Reporter};
use image::DynamicImage;
use rayon::prelude::*;
use serde_json::json;

use super::format::{
    Capture, CaptureCamera, CaptureFrame, CaptureIndex, FORMAT, FaceModelRef, VERSION, write_image, write_index,
    write_mask, write_meshes,
};
use crate::face::FaceRig;
use crate::face::asset::write_asset;
use crate::face::flame::FlameConfig;
use nerf::{CyOrigin, Layout, View};

/// The layout of the source folder and what it needs besides.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    /// GaussianAvatars / NeRSemble as VHAP exports it
    /// ([`gaussian_avatars`]): FLAME posed by each timestep's parameters.
    GaussianAvatars {
        /// The FLAME model the parameters were tracked on (`.npz` or `.safetensors`).
        flame: PathBuf,
    },
    /// NeRF transforms with one mesh per timestep ([`transforms`]).
    Transforms {
        /// A folder of `NNNNN.obj` or `NNNNN.ply` meshes named by timestep,
        /// used instead of the frames' `mesh_path`.
        meshes: Option<PathBuf>,
        /// The face model the meshes are on (a manifest or a FLAME file);
        /// without one, the capture gets a model of the first mesh's topology.
        face: Option<PathBuf>,
        /// The length unit of the meshes and camera positions, for a model of
        /// the first mesh's topology.
        units: String,
    },
}

/// What every import takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ImportOptions {
    /// The rate the timesteps were taken at: a frame's time is its timestep
    /// number over it.
    pub fps: f64,
    /// Where the files' `cy` counts from; `None` takes the layout's own:
    /// [`CyOrigin::Bottom`] for GaussianAvatars (VHAP), [`CyOrigin::Top`] for transforms.
    pub cy_origin: Option<CyOrigin>,
    /// How FLAME files split their shape directions into identity and expression.
    pub flame: FlameConfig,
}

impl Default for ImportOptions {
    fn default() -> ImportOptions {
        ImportOptions {
            fps: 25.0,
            cy_origin: None,
            flame: FlameConfig::default(),
        }
    }
}

/// The largest mesh or parameter file read.
pub const MAX_MESH_BYTES: u64 = 256 << 20;
/// The file name of a face model written into the capture.
pub const BUNDLED_FACE_MODEL: &str = "face_model.json";

/// A source's tracked meshes and the face model they are on.
struct Tracked {
    /// One mesh per timestep, flattened `[T * V * 3]`.
    meshes: Vec<f32>,
    /// The face model, as `capture.json` records it.
    face_model: FaceModelRef,
    /// A face model to write into the capture (as [`BUNDLED_FACE_MODEL`]).
    bundled: Option<FaceRig>,
    /// Names of the per-timestep expression codes.
    weight_names: Vec<String>,
    /// Per timestep, its expression codes when the source has them.
    weights: Vec<Option<Vec<f32>>>,
}

/// Imports the capture in `src` to a new capture folder `dest` (which must not
/// exist, or be empty), and returns it opened.
pub fn import(
    source: &Source,
    src: &Path,
    dest: &Path,
    options: &ImportOptions,
    report: &dyn Reporter,
    cancel: &CancelToken,
) -> Result<Capture, NodeError> {
    if !(options.fps.is_finite() && options.fps > 0.0) {
        return Err(NodeError::param(
            "fps",
            format!("{} is not a positive frame rate", options.fps),
        ));
    }
    let cy = options.cy_origin.unwrap_or(match source {
        Source::GaussianAvatars { .. } => CyOrigin::Bottom,
        Source::Transforms { .. } => CyOrigin::Top,
    });
    report.progress(0.0, "reading the transforms files");
    let layout = nerf::read(src, cy)?;
    let staged = Staged::create(dest)?;
    let tracked = match source {
        Source::GaussianAvatars { flame } => {
            gaussian_avatars::track(src, &layout, flame, options.flame, report, cancel)?
        }
        Source::Transforms { meshes, face, units } => {
            let name = src.file_name().unwrap_or_default().to_string_lossy();
            let face = match face {
                Some(path) => transforms::Face::File(path, options.flame),
                None => transforms::Face::FirstMesh { name: &name, units },
            };
            transforms::track(src, &layout, meshes.as_deref(), face, report, cancel)?
        }
    };
    let frames = layout
        .timesteps
        .iter()
        .zip(&tracked.weights)
        .enumerate()
        .map(|(index, (timestep, weights))| CaptureFrame {
            index,
            time: timestep.number as f64 / options.fps,
            split: timestep.split.into(),
            weights: weights.clone(),
        })
        .collect();
    let index = CaptureIndex {
        format: FORMAT.into(),
        version: VERSION,
        fps: Some(options.fps),
        audio: None,
        face_model: tracked.face_model,
        cameras: layout.cameras.clone(),
        weight_names: tracked.weight_names,
        frames,
    };
    let root = &staged.dir;
    let vertices = index.face_model.vertices;
    write_meshes(root, layout.timesteps.len(), vertices, &tracked.meshes, cancel)?;
    if let Some(rig) = &tracked.bundled {
        let notes = json!({
            "source": "the topology of the first tracked mesh, made by `gspeech capture import`",
            "imported_from": src.display().to_string(),
        });
        write_asset(rig, &root.join(BUNDLED_FACE_MODEL), 0.0, notes, cancel)?;
    }
    copy_images(&layout, root, report, cancel)?;
    write_index(root, &index, cancel)?;
    let problems = Capture::read(root)?.problems();
    if !problems.is_empty() {
        let listed: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        return Err(NodeError::file(
            dest,
            format!(
                "was not written: the imported capture has problems: {}",
                listed.join("; ")
            ),
        ));
    }
    staged.commit()?;
    report.progress(1.0, "imported");
    Capture::read(dest)
}

/// Re-encodes every view's image (and mask) as the capture's PNG, in parallel.
fn copy_images(layout: &Layout, root: &Path, report: &dyn Reporter, cancel: &CancelToken) -> Result<(), NodeError> {
    let jobs: Vec<(usize, &CaptureCamera, &View, u64)> = layout
        .timesteps
        .iter()
        .enumerate()
        .flat_map(|(frame, t)| {
            layout
                .cameras
                .iter()
                .zip(&t.views)
                .map(move |(c, v)| (frame, c, v, t.number))
        })
        .collect();
    let done = AtomicUsize::new(0);
    jobs.par_iter().try_for_each(|&(frame, camera, view, timestep)| {
        if cancel.is_cancelled() {
            return Err(NodeError::Cancelled);
        }
        let image = decode(&view.image, camera, view, timestep)?;
        let pixels = if image.color().has_alpha() {
            image.into_rgba8().into_raw()
        } else {
            image.into_rgb8().into_raw()
        };
        write_image(root, camera, frame, &pixels, cancel)?;
        if let Some(mask) = &view.mask {
            let mask = decode(mask, camera, view, timestep)?.into_luma8().into_raw();
            write_mask(root, camera, frame, &mask, cancel)?;
        }
        let done = done.fetch_add(1, Ordering::Relaxed) + 1;
        report.progress(
            0.3 + 0.7 * done as f32 / jobs.len() as f32,
            &format!("images {done}/{}", jobs.len()),
        );
        Ok(())
    })
}

/// Decodes an image (PNG or JPEG) of the camera's size; errors name the
/// file, camera, timestep and the frame that lists it. The size is read from
/// the header first, and decoding is limited to it.
fn decode(path: &Path, camera: &CaptureCamera, view: &View, timestep: u64) -> Result<DynamicImage, NodeError> {
    let bad = |message: String| {
        NodeError::file(
            path,
            format!(
                "camera \"{}\", timestep {timestep} ({}): {message}",
                camera.name, view.entry
            ),
        )
    };
    let (width, height) = image_size(path).map_err(bad)?;
    if (width, height) != (camera.width, camera.height) {
        return Err(bad(format!(
            "is {width}×{height}, but the camera's images are {}×{}",
            camera.width, camera.height
        )));
    }
    let mut reader = open_image(path).map_err(bad)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    limits.max_alloc = Some(width as u64 * height as u64 * 16 + (1 << 20));
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| bad(format!("is not a readable image: {e}")))
}

/// An image's width and height, from its header.
pub(crate) fn image_size(path: &Path) -> Result<(u32, u32), String> {
    open_image(path)?
        .into_dimensions()
        .map_err(|e| format!("is not a readable image: {e}"))
}

/// A reader of the image at `path`, its format found from its first bytes.
fn open_image(path: &Path) -> Result<image::ImageReader<std::io::BufReader<std::fs::File>>, String> {
    image::ImageReader::open(path)
        .and_then(|reader| reader.with_guessed_format())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "is missing".to_string(),
            _ => e.to_string(),
        })
}

/// Reads a whole file of at most `max_bytes`; a larger one is refused before reading.
pub(crate) fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>, NodeError> {
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => NodeError::file(path, "is missing"),
        _ => NodeError::file(path, e),
    })?;
    let size = file.metadata().map_err(|e| NodeError::file(path, e))?.len();
    if size > max_bytes {
        return Err(NodeError::file(
            path,
            format!("is {size} bytes, more than the {max_bytes} an import reads"),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(max_bytes)
        .read_to_end(&mut bytes)
        .map_err(|e| NodeError::file(path, e))?;
    Ok(bytes)
}

/// The capture being written: a hidden folder beside its destination, renamed
/// onto it when complete and removed when dropped before that.
struct Staged {
    dir: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl Staged {
    fn create(dest: &Path) -> Result<Staged, NodeError> {
        let exists = |e: std::io::Error| NodeError::file(dest, e);
        if dest.exists() && (!dest.is_dir() || std::fs::read_dir(dest).map_err(exists)?.next().is_some()) {
            return Err(NodeError::file(
                dest,
                "already exists: an import writes a new capture folder and never overwrites one",
            ));
        }
        let name = dest
            .file_name()
            .ok_or_else(|| NodeError::file(dest, "is not a folder name"))?;
        let parent = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| NodeError::file(parent, e))?;
        let dir = parent.join(format!(
            ".{}.import-{}.partial",
            name.to_string_lossy(),
            std::process::id()
        ));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| NodeError::file(&dir, e))?;
        }
        std::fs::create_dir(&dir).map_err(|e| NodeError::file(&dir, e))?;
        Ok(Staged {
            dir,
            dest: dest.to_path_buf(),
            committed: false,
        })
    }

    fn commit(mut self) -> Result<(), NodeError> {
        if self.dest.is_dir() {
            std::fs::remove_dir(&self.dest).map_err(|e| NodeError::file(&self.dest, e))?;
        }
        std::fs::rename(&self.dir, &self.dest).map_err(|e| NodeError::file(&self.dest, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests;
