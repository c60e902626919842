//! NeRF-style `transforms*.json` files, which both importers read: frames of
//! one camera's image at one timestep, grouped into cameras and timesteps.
//!
//! - **Files**: `transforms_train.json`, `transforms_val.json` and
//!   `transforms_test.json` (those present), else `transforms.json` (all
//!   training). A timestep's split is the first of train, val, test whose
//!   file lists it; a camera no frame of `transforms_train.json` shows is held
//!   out (VHAP's split: training timesteps seen by the held-out camera in the
//!   val file, test timesteps by every camera in the test file).
//! - **Cameras**: a frame's camera is its `camera_id`, else its
//!   `camera_index` (named `camNN`), else its image's file name (one camera per
//!   frame: a static capture). Every frame of a camera must give it the same
//!   intrinsics and pose.
//! - **Intrinsics**, from the frame or else the file's top level: `w` and `h`
//!   (else the image's size), `fl_x` (else from `camera_angle_x`), `fl_y`
//!   (else from `camera_angle_y`, else `fl_x`), `cx` and `cy` (else the image
//!   centre). `cy` counts from the top ([`CyOrigin::Top`], instant-ngp and
//!   nerfstudio) or the bottom ([`CyOrigin::Bottom`], VHAP's OpenGL cameras).
//! - **Pose**: `transform_matrix`, camera to world with OpenGL's camera axes
//!   (x right, y up, z back), becomes OpenCV's world to camera: the camera's
//!   y and z axes flipped, then inverted.
//! - **Timesteps**: `timestep_index` (VHAP), else `timestep`, else 0. Every
//!   camera must see every timestep.
//! - **Images**: `file_path` relative to the folder, `.png` added when it has
//!   no extension (the Blender datasets' habit); masks: `fg_mask_path` (VHAP)
//!   or `mask_path` (nerfstudio).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use gspeech_sdk::NodeError;
use serde_json::{Map, Value as Json};

use super::{image_size, read_bounded};
use crate::capture::CaptureCamera;
use crate::capture::check::camera_problems;

/// The largest transforms file read (VHAP's for a long NeRSemble take of 16
/// cameras is tens of MiB).
pub const MAX_TRANSFORMS_BYTES: u64 = 256 << 20;

/// The split files, in the order a timestep's split is decided.
const SPLIT_FILES: [(&str, &str); 3] = [
    ("train", "transforms_train.json"),
    ("val", "transforms_val.json"),
    ("test", "transforms_test.json"),
];

/// Where a file's principal point `cy` is measured from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CyOrigin {
    /// The top row, as OpenCV, instant-ngp and nerfstudio measure it.
    Top,
    /// The bottom row: VHAP's export flips `cy` with the camera axes to OpenGL's.
    Bottom,
}

/// A frame of a transforms file: the file and the frame's position in its
/// `frames`, which messages name.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The transforms file.
    pub file: PathBuf,
    /// The frame's position in the file's `frames`.
    pub frame: usize,
}

impl Entry {
    /// An error about this frame.
    pub fn error(&self, message: impl fmt::Display) -> NodeError {
        NodeError::file(&self.file, format!("frame {}: {message}", self.frame))
    }
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.file.file_name().unwrap_or_default().to_string_lossy();
        write!(f, "{name} frame {}", self.frame)
    }
}

/// One camera's image of one timestep.
#[derive(Clone, Debug)]
pub struct View {
    /// The image.
    pub image: PathBuf,
    /// The foreground mask, when the frame names one.
    pub mask: Option<PathBuf>,
    /// The frame it comes from.
    pub entry: Entry,
    /// The frame's fields, for what a format adds (mesh or FLAME parameter files).
    pub fields: Map<String, Json>,
}

/// A moment every camera saw.
#[derive(Clone, Debug)]
pub struct Timestep {
    /// Its number in the source.
    pub number: u64,
    /// `train`, `val` or `test`.
    pub split: &'static str,
    /// One view per camera, in [`Layout::cameras`] order.
    pub views: Vec<View>,
}

impl Timestep {
    /// The file a per-timestep field (`flame_param_path`, `mesh_path`) names,
    /// relative to `src`: `None` when no frame of the timestep has the field;
    /// an error when its frames disagree.
    pub fn file(&self, src: &Path, key: &str) -> Result<Option<PathBuf>, NodeError> {
        let first = &self.views[0];
        let value = |view: &View| -> Result<Option<String>, NodeError> {
            match view.fields.get(key) {
                None => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(view.entry.error(format!("`{key}` is {other}, not a file name"))),
            }
        };
        let named = value(first)?;
        for view in &self.views[1..] {
            if value(view)? != named {
                return Err(view.entry.error(format!(
                    "`{key}` differs from that of {} for the same timestep {}",
                    first.entry, self.number
                )));
            }
        }
        Ok(named.map(|name| src.join(name)))
    }
}

/// Every camera and timestep of a source folder.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The cameras, in order of first appearance.
    pub cameras: Vec<CaptureCamera>,
    /// The timesteps, by number.
    pub timesteps: Vec<Timestep>,
}

/// Reads the transforms files of `src` ([the module's rules](self)).
pub fn read(src: &Path, cy: CyOrigin) -> Result<Layout, NodeError> {
    let mut files: Vec<(&'static str, PathBuf)> = SPLIT_FILES
        .iter()
        .map(|&(split, name)| (split, src.join(name)))
        .filter(|(_, path)| path.is_file())
        .collect();
    if files.is_empty() {
        let all = src.join("transforms.json");
        if !all.is_file() {
            return Err(NodeError::file(
                src,
                "has no transforms_train.json, transforms_val.json, transforms_test.json or transforms.json",
            ));
        }
        files.push(("train", all));
    }
    let has_train_file = files.iter().any(|(split, _)| *split == "train");
    let mut cameras: Vec<(CaptureCamera, Entry)> = Vec::new();
    let mut trained = Vec::new();
    let mut timesteps: BTreeMap<u64, (&'static str, Vec<Option<View>>)> = BTreeMap::new();
    for (split, path) in &files {
        let document = read_json(path)?;
        let frames = document
            .get("frames")
            .and_then(Json::as_array)
            .ok_or_else(|| NodeError::file(path, "has no `frames` list"))?;
        for (number, frame) in frames.iter().enumerate() {
            let entry = Entry {
                file: path.clone(),
                frame: number,
            };
            let fields = frame.as_object().ok_or_else(|| entry.error("is not a JSON object"))?;
            let frame = Frame {
                fields,
                top: &document,
                entry: &entry,
            };
            let view = frame.view(src)?;
            let name = frame.camera_name(&view.image)?;
            let camera = match cameras.iter().position(|(c, _)| c.name == name) {
                Some(c) => {
                    frame.same_camera(&cameras[c].0, &cameras[c].1, &view.image, cy)?;
                    c
                }
                None => {
                    cameras.push((frame.camera(&name, &view.image, cy)?, entry.clone()));
                    trained.push(false);
                    cameras.len() - 1
                }
            };
            trained[camera] |= *split == "train";
            let timestep = frame.timestep()?;
            let (_, views) = timesteps.entry(timestep).or_insert((*split, Vec::new()));
            if views.len() <= camera {
                views.resize(camera + 1, None);
            }
            if let Some(earlier) = &views[camera] {
                return Err(entry.error(format!(
                    "camera \"{name}\" at timestep {timestep} is also {}",
                    earlier.entry
                )));
            }
            views[camera] = Some(view);
        }
    }
    let timesteps = timesteps
        .into_iter()
        .map(|(number, (split, mut views))| {
            views.resize(cameras.len(), None);
            let seen = views
                .iter()
                .flatten()
                .next()
                .expect("a timestep comes from a frame")
                .entry
                .clone();
            let views = views
                .into_iter()
                .zip(&cameras)
                .map(|(view, (camera, _))| {
                    view.ok_or_else(|| {
                        seen.error(format!(
                            "timestep {number} has no image from camera \"{}\" in any transforms file \
                             (every camera must see every timestep)",
                            camera.name
                        ))
                    })
                })
                .collect::<Result<Vec<View>, NodeError>>()?;
            Ok(Timestep { number, split, views })
        })
        .collect::<Result<Vec<Timestep>, NodeError>>()?;
    let cameras = cameras
        .into_iter()
        .zip(trained)
        .map(|((camera, _), trained)| CaptureCamera {
            held_out: has_train_file && !trained,
            ..camera
        })
        .collect();
    Ok(Layout { cameras, timesteps })
}

fn read_json(path: &Path) -> Result<Map<String, Json>, NodeError> {
    let bytes = read_bounded(path, MAX_TRANSFORMS_BYTES)?;
    match serde_json::from_slice(&bytes) {
        Ok(Json::Object(document)) => Ok(document),
        Ok(_) => Err(NodeError::file(path, "is not a JSON object with `frames`")),
        Err(e) => Err(NodeError::file(path, format!("is not JSON: {e}"))),
    }
}

/// One frame of a transforms file, with the file's top-level defaults.
struct Frame<'a> {
    fields: &'a Map<String, Json>,
    top: &'a Map<String, Json>,
    entry: &'a Entry,
}

impl Frame<'_> {
    /// A number the frame gives, or else the file's top level.
    fn number(&self, key: &str) -> Result<Option<f64>, NodeError> {
        match self.fields.get(key).or_else(|| self.top.get(key)) {
            None | Some(Json::Null) => Ok(None),
            Some(value) => value
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.entry.error(format!("`{key}` is {value}, not a number"))),
        }
    }

    fn path(&self, src: &Path, key: &str) -> Result<Option<PathBuf>, NodeError> {
        match self.fields.get(key) {
            None => Ok(None),
            Some(Json::String(name)) => Ok(Some(src.join(name))),
            Some(other) => Err(self.entry.error(format!("`{key}` is {other}, not a file name"))),
        }
    }

    fn view(&self, src: &Path) -> Result<View, NodeError> {
        let mut image = self
            .path(src, "file_path")?
            .ok_or_else(|| self.entry.error("has no `file_path`"))?;
        if image.extension().is_none() {
            image.set_extension("png");
        }
        let mask = match self.path(src, "fg_mask_path")? {
            Some(mask) => Some(mask),
            None => self.path(src, "mask_path")?,
        };
        Ok(View {
            image,
            mask,
            entry: self.entry.clone(),
            fields: self.fields.clone(),
        })
    }

    fn timestep(&self) -> Result<u64, NodeError> {
        let Some((key, value)) = ["timestep_index", "timestep"]
            .iter()
            .find_map(|&key| self.fields.get(key).map(|v| (key, v)))
        else {
            return Ok(0);
        };
        value
            .as_u64()
            .ok_or_else(|| self.entry.error(format!("`{key}` is {value}, not a timestep number")))
    }

    fn camera_name(&self, image: &Path) -> Result<String, NodeError> {
        match (self.fields.get("camera_id"), self.fields.get("camera_index")) {
            (Some(Json::String(id)), _) => Ok(id.clone()),
            (Some(Json::Number(id)), _) => Ok(id.to_string()),
            (Some(other), _) => Err(self.entry.error(format!("`camera_id` is {other}, not a name"))),
            (None, Some(index)) => index.as_u64().map(|i| format!("cam{i:02}")).ok_or_else(|| {
                self.entry
                    .error(format!("`camera_index` is {index}, not a camera number"))
            }),
            (None, None) => Ok(image.file_stem().unwrap_or_default().to_string_lossy().into_owned()),
        }
    }

    /// The frame's camera: its intrinsics and pose, checked.
    fn camera(&self, name: &str, image: &Path, cy_origin: CyOrigin) -> Result<CaptureCamera, NodeError> {
        let (width, height) = match (self.number("w")?, self.number("h")?) {
            (Some(w), Some(h)) => (pixels(w), pixels(h)),
            _ => image_size(image)
                .map(|(w, h)| (Some(w), Some(h)))
                .map_err(|e| NodeError::file(image, format!("{e} (it gives camera \"{name}\" its size)")))?,
        };
        let (Some(width), Some(height)) = (width, height) else {
            return Err(self.entry.error(format!(
                "the image size `w` {:?} × `h` {:?} is not whole pixels",
                self.number("w")?,
                self.number("h")?
            )));
        };
        let (w, h) = (width as f64, height as f64);
        let from_angle = |angle: Option<f64>, size: f64| angle.map(|a| size / 2.0 / (a / 2.0).tan());
        let fx = self
            .number("fl_x")?
            .or(from_angle(self.number("camera_angle_x")?, w))
            .ok_or_else(|| self.entry.error("gives no focal length (`fl_x` or `camera_angle_x`)"))?;
        let fy = self
            .number("fl_y")?
            .or(from_angle(self.number("camera_angle_y")?, h))
            .unwrap_or(fx);
        let cx = self.number("cx")?.unwrap_or(w / 2.0);
        let cy = match (self.number("cy")?, cy_origin) {
            (Some(cy), CyOrigin::Top) => cy,
            (Some(cy), CyOrigin::Bottom) => h - cy,
            (None, _) => h / 2.0,
        };
        let camera = CaptureCamera {
            name: name.to_string(),
            width,
            height,
            fx,
            fy,
            cx,
            cy,
            world_to_camera: self.world_to_camera()?,
            held_out: false,
        };
        let problems = camera_problems(&camera);
        if !problems.is_empty() {
            return Err(self.entry.error(format!("camera \"{name}\": {}", problems.join("; "))));
        }
        Ok(camera)
    }

    /// Whether the frame gives `camera` (first given by `first`) the same intrinsics and pose.
    fn same_camera(&self, camera: &CaptureCamera, first: &Entry, image: &Path, cy: CyOrigin) -> Result<(), NodeError> {
        let here = self.camera(&camera.name, image, cy)?;
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()));
        let intrinsics = |c: &CaptureCamera| [c.width as f64, c.height as f64, c.fx, c.fy, c.cx, c.cy];
        let same = intrinsics(&here)
            .iter()
            .zip(intrinsics(camera))
            .all(|(&a, b)| close(a, b))
            && here
                .world_to_camera
                .as_flattened()
                .iter()
                .zip(camera.world_to_camera.as_flattened())
                .all(|(&a, &b)| close(a, b));
        if same {
            return Ok(());
        }
        Err(self.entry.error(format!(
            "camera \"{}\" has other intrinsics or another pose than at {first}: a camera must be the same \
             in every frame (give moving cameras a `camera_id` per position)",
            camera.name
        )))
    }

    /// `transform_matrix` (camera to world, OpenGL axes) as OpenCV's world to camera.
    fn world_to_camera(&self) -> Result<[[f64; 4]; 4], NodeError> {
        let bad = |what: &str| self.entry.error(format!("`transform_matrix` {what}"));
        let rows = self
            .fields
            .get("transform_matrix")
            .and_then(Json::as_array)
            .ok_or_else(|| bad("is missing or not a list of rows"))?;
        let mut m = [[0.0, 0.0, 0.0, 0.0], [0.0; 4], [0.0; 4], [0.0, 0.0, 0.0, 1.0]];
        if !(3..=4).contains(&rows.len()) {
            return Err(bad(&format!("has {} rows, not 4 (or 3)", rows.len())));
        }
        for (i, row) in rows.iter().enumerate() {
            let values: Vec<f64> = row.as_array().into_iter().flatten().filter_map(Json::as_f64).collect();
            if values.len() != 4 || row.as_array().is_none_or(|r| r.len() != 4) {
                return Err(bad(&format!("row {i} is {row}, not 4 numbers")));
            }
            m[i].copy_from_slice(&values);
        }
        if m[3] != [0.0, 0.0, 0.0, 1.0] {
            return Err(bad(&format!("has the last row {:?}, not [0, 0, 0, 1]", m[3])));
        }
        opengl_to_world_to_camera(&m).map_err(|e| bad(&e))
    }
}

/// A whole positive number of pixels.
fn pixels(value: f64) -> Option<u32> {
    (value >= 1.0 && value.fract() == 0.0 && value <= u32::MAX as f64).then_some(value as u32)
}

/// Camera to world with OpenGL's camera axes → world to camera with
/// OpenCV's: the camera's y and z axes (columns 1 and 2) flipped, then the
/// affine transform inverted.
pub fn opengl_to_world_to_camera(c2w: &[[f64; 4]; 4]) -> Result<[[f64; 4]; 4], String> {
    let a: [[f64; 3]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|j| if j == 0 { c2w[i][j] } else { -c2w[i][j] }));
    let cofactor = |i: usize, j: usize| {
        let (r0, r1) = ((i + 1) % 3, (i + 2) % 3);
        let (c0, c1) = ((j + 1) % 3, (j + 2) % 3);
        a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]
    };
    let det: f64 = (0..3).map(|j| a[0][j] * cofactor(0, j)).sum();
    let scale = a.as_flattened().iter().fold(0f64, |m, v| m.max(v.abs()));
    if !det.is_finite() || det.abs() <= 1e-9 * scale.powi(3).max(f64::MIN_POSITIVE) {
        return Err(format!("is singular (its 3×3 part has determinant {det:.3e})"));
    }
    // The inverse is the adjugate (transposed cofactors) over the determinant.
    let inverse: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| cofactor(j, i) / det));
    let t = [c2w[0][3], c2w[1][3], c2w[2][3]];
    let mut w2c = [[0.0; 4]; 4];
    for i in 0..3 {
        w2c[i][..3].copy_from_slice(&inverse[i]);
        w2c[i][3] = -(0..3).map(|k| inverse[i][k] * t[k]).sum::<f64>();
    }
    w2c[3][3] = 1.0;
    Ok(w2c)
}
