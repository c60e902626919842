//! Pinhole cameras: the `camera` value, look-at and turntable poses, and the
//! camera nodes.
//!
//! Conventions are OpenCV's (as in COLMAP and 3D Gaussian Splatting): camera
//! space has x right, y down and z forward (into the scene); the intrinsics
//! `K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]` map camera space to pixels,
//! with pixel `(i, j)` covering `[i, i + 1) × [j, j + 1)` (its centre is at
//! `i + 0.5`); `world_to_camera` is `[R | t]` with a rotation `R`.
//!
//! A `camera` record holds one camera per frame (`intrinsics` `[N, 3, 3]`,
//! `world_to_camera` `[N, 4, 4]`) sharing `width`, `height`, `near` and `far`.

mod orbit;
mod pinhole;

use std::sync::Arc;

use gspeech_sdk::{Node, NodeError, ParamSpec, Params, PortType, Record, Tensor};

use crate::math::{Mat3, Vec3, cross, mul_vec, normalize, scale, sub, transpose};

pub use orbit::{Orbit, orbit_eyes};
pub use pinhole::Pinhole;

/// The camera nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(Pinhole), Arc::new(Orbit)]
}

/// Near clipping distance when a camera record does not set one.
pub const DEFAULT_NEAR: f32 = 0.01;
/// Far clipping distance when a camera record does not set one.
pub const DEFAULT_FAR: f32 = 1.0e4;

/// One pinhole camera.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Focal length along x, in pixels.
    pub fx: f32,
    /// Focal length along y, in pixels.
    pub fy: f32,
    /// Principal point x, in pixels.
    pub cx: f32,
    /// Principal point y, in pixels.
    pub cy: f32,
    /// The rotation part of world → camera.
    pub rotation: Mat3,
    /// The translation part of world → camera.
    pub translation: Vec3,
    /// Nothing nearer than this (along the optical axis) is drawn.
    pub near: f32,
    /// Nothing farther than this is drawn.
    pub far: f32,
}

impl Camera {
    /// A camera at the origin looking along +z, with a vertical field of view in
    /// degrees, square pixels, the principal point at the centre and the default clipping range.
    pub fn new(width: u32, height: u32, fov_y: f32) -> Camera {
        let focal = 0.5 * height as f32 / (0.5 * fov_y.to_radians()).tan();
        Camera {
            width,
            height,
            fx: focal,
            fy: focal,
            cx: 0.5 * width as f32,
            cy: 0.5 * height as f32,
            rotation: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            translation: [0.0; 3],
            near: DEFAULT_NEAR,
            far: DEFAULT_FAR,
        }
    }

    /// The same lens moved to `eye`, looking at `target`, with `up` pointing up in the image.
    pub fn looking_at(self, eye: Vec3, target: Vec3, up: Vec3) -> Result<Camera, String> {
        let forward = normalize(sub(target, eye)).ok_or("the eye and the target are the same point")?;
        let right = normalize(cross(forward, up)).ok_or("the view direction is parallel to the up direction")?;
        let down = cross(forward, right);
        let rotation = [right, down, forward];
        Ok(Camera {
            rotation,
            translation: scale(mul_vec(&rotation, eye), -1.0),
            ..self
        })
    }

    /// The camera centre in world space.
    pub fn position(&self) -> Vec3 {
        scale(mul_vec(&transpose(&self.rotation), self.translation), -1.0)
    }

    /// A world point in camera space.
    pub fn to_camera(&self, p: Vec3) -> Vec3 {
        let r = mul_vec(&self.rotation, p);
        [
            r[0] + self.translation[0],
            r[1] + self.translation[1],
            r[2] + self.translation[2],
        ]
    }

    /// Where a world point lands in the image (pixels), if it is in front of the camera.
    pub fn project(&self, p: Vec3) -> Option<[f32; 2]> {
        let c = self.to_camera(p);
        (c[2] > 0.0).then(|| [self.fx * c[0] / c[2] + self.cx, self.fy * c[1] / c[2] + self.cy])
    }

    /// The 4×4 world → camera matrix, row-major.
    pub fn world_to_camera(&self) -> [[f32; 4]; 4] {
        let (r, t) = (&self.rotation, &self.translation);
        [
            [r[0][0], r[0][1], r[0][2], t[0]],
            [r[1][0], r[1][1], r[1][2], t[1]],
            [r[2][0], r[2][1], r[2][2], t[2]],
            [0.0, 0.0, 0.0, 1.0],
        ]
    }

    /// Checks sizes, focal lengths, clipping distances and that the rotation is
    /// one (to [`ROTATION_TOLERANCE`]); the first problem found.
    pub fn check(&self) -> Result<(), String> {
        if !(self.near > 0.0 && self.far > self.near) {
            return Err(format!(
                "the clipping range must satisfy 0 < near < far (near {}, far {})",
                self.near, self.far
            ));
        }
        let matrix = self.world_to_camera().map(|row| row.map(|v| v as f64));
        let intrinsics = [self.fx, self.fy, self.cx, self.cy].map(|v| v as f64);
        match calibration_problems(self.width, self.height, intrinsics, &matrix, ROTATION_TOLERANCE).into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(()),
        }
    }
}

/// How far a world-to-camera rotation may be from orthonormal, and its
/// determinant from +1, for cameras held in f32.
pub const ROTATION_TOLERANCE: f64 = 1e-3;

/// Everything wrong with a calibration: an empty image, focal lengths that are
/// not positive, values that are not finite, a world-to-camera matrix
/// (row-major `[R | t; 0 0 0 1]`) whose 3×3 part is not a rotation within
/// `tolerance` or is a reflection.
pub fn calibration_problems(
    width: u32,
    height: u32,
    [fx, fy, cx, cy]: [f64; 4],
    world_to_camera: &[[f64; 4]; 4],
    tolerance: f64,
) -> Vec<String> {
    let mut problems = Vec::new();
    if width == 0 || height == 0 {
        problems.push(format!("the image size {width}×{height} is empty"));
    }
    if ![fx, fy, cx, cy].iter().all(|v| v.is_finite()) {
        problems.push(format!("the intrinsics (fx {fx}, fy {fy}, cx {cx}, cy {cy}) are not all finite"));
    } else if fx <= 0.0 || fy <= 0.0 {
        problems.push(format!("the focal lengths (fx {fx}, fy {fy}) must be positive"));
    }
    let m = world_to_camera;
    if !m.iter().flatten().all(|v| v.is_finite()) {
        problems.push("`world_to_camera` has values that are not finite".into());
        return problems;
    }
    if m[3] != [0.0, 0.0, 0.0, 1.0] {
        problems.push(format!("`world_to_camera`'s last row is {:?}, not [0, 0, 0, 1]", m[3]));
    }
    let r = |i: usize| [m[i][0], m[i][1], m[i][2]];
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let mut worst = 0f64;
    for i in 0..3 {
        for j in 0..3 {
            let expected = if i == j { 1.0 } else { 0.0 };
            worst = worst.max((dot(r(i), r(j)) - expected).abs());
        }
    }
    let (a, b, c) = (r(0), r(1), r(2));
    let det = dot(a, [b[1] * c[2] - b[2] * c[1], b[2] * c[0] - b[0] * c[2], b[0] * c[1] - b[1] * c[0]]);
    if worst > tolerance {
        problems.push(format!(
            "`world_to_camera`'s 3×3 part is not a rotation (RRᵀ is off the identity by {worst:.2e}, \
             determinant {det:.4}): a camera pose is rigid, with no scale or shear"
        ));
    } else if (det - 1.0).abs() > tolerance {
        problems.push(format!(
            "`world_to_camera`'s 3×3 part has determinant {det:.4}, not +1 (a reflection: the axes must be \
             OpenCV's right-handed x right, y down, z forward)"
        ));
    }
    problems
}

/// The `camera` record for one camera per frame. All must share the image size
/// and clipping range.
pub fn cameras_to_record(cameras: &[Camera]) -> Result<Record, String> {
    let first = cameras.first().ok_or("no cameras")?;
    if let Some(other) = cameras
        .iter()
        .find(|c| (c.width, c.height, c.near, c.far) != (first.width, first.height, first.near, first.far))
    {
        return Err(format!(
            "every camera of a sequence shares its image size and clipping range ({}×{} vs {}×{})",
            first.width, first.height, other.width, other.height
        ));
    }
    let n = cameras.len();
    let intrinsics: Vec<f32> = cameras
        .iter()
        .flat_map(|c| [c.fx, 0.0, c.cx, 0.0, c.fy, c.cy, 0.0, 0.0, 1.0])
        .collect();
    let extrinsics: Vec<f32> = cameras.iter().flat_map(|c| c.world_to_camera().concat()).collect();
    Ok(Record::new(PortType::Camera)
        .with_tensor(
            "intrinsics",
            Tensor::from_f32(&[n, 3, 3], intrinsics).expect("n × 3 × 3"),
        )
        .with_tensor(
            "world_to_camera",
            Tensor::from_f32(&[n, 4, 4], extrinsics).expect("n × 4 × 4"),
        )
        .with_attr("width", first.width)
        .with_attr("height", first.height)
        .with_attr("near", first.near as f64)
        .with_attr("far", first.far as f64))
}

/// The cameras of a `camera` record; the message names the offending camera.
pub fn cameras_from_record(record: &Record) -> Result<Vec<Camera>, String> {
    record.validate()?;
    let tensor = |name: &str| record.tensor(name).and_then(|t| t.as_f32()).expect("validated");
    let (intrinsics, extrinsics) = (tensor("intrinsics"), tensor("world_to_camera"));
    let n = intrinsics.len() / 9;
    if extrinsics.len() / 16 != n {
        return Err(format!(
            "camera has {n} intrinsics but {} world-to-camera matrices",
            extrinsics.len() / 16
        ));
    }
    if n == 0 {
        return Err("camera holds no cameras".into());
    }
    let attr = |name: &str| record.attr(name).and_then(|v| v.as_f64());
    let size = |name: &str| attr(name).expect("validated") as u32;
    (0..n)
        .map(|i| {
            let k = &intrinsics[i * 9..i * 9 + 9];
            let m = &extrinsics[i * 16..i * 16 + 16];
            if k[1] != 0.0 || k[3] != 0.0 || k[6] != 0.0 || k[7] != 0.0 || k[8] != 1.0 {
                return Err(format!(
                    "camera {i}: intrinsics {k:?} are not a pinhole matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] \
                     (skew is not supported)"
                ));
            }
            if m[12..16] != [0.0, 0.0, 0.0, 1.0] {
                return Err(format!(
                    "camera {i}: the world-to-camera matrix's last row is not [0, 0, 0, 1]"
                ));
            }
            let camera = Camera {
                width: size("width"),
                height: size("height"),
                fx: k[0],
                fy: k[4],
                cx: k[2],
                cy: k[5],
                rotation: [[m[0], m[1], m[2]], [m[4], m[5], m[6]], [m[8], m[9], m[10]]],
                translation: [m[3], m[7], m[11]],
                near: attr("near").map_or(DEFAULT_NEAR, |v| v as f32),
                far: attr("far").map_or(DEFAULT_FAR, |v| v as f32),
            };
            camera.check().map_err(|e| format!("camera {i}: {e}"))?;
            Ok(camera)
        })
        .collect()
}

/// The image and lens parameters shared by the camera nodes.
fn lens_params() -> Vec<ParamSpec> {
    vec![
        ParamSpec::int("width", 512, (Some(1), Some(16384)), "Image width in pixels."),
        ParamSpec::int("height", 512, (Some(1), Some(16384)), "Image height in pixels."),
        ParamSpec::float(
            "fov_y",
            30.0,
            (Some(1.0), Some(170.0)),
            "Vertical field of view in degrees (square pixels, principal point at the centre).",
        ),
        ParamSpec::float(
            "near",
            DEFAULT_NEAR as f64,
            (Some(1e-6), None),
            "Nothing nearer than this (scene units, along the view axis) is drawn.",
        ),
        ParamSpec::float(
            "far",
            DEFAULT_FAR as f64,
            (Some(1e-6), None),
            "Nothing farther than this is drawn.",
        ),
    ]
}

/// Three parameters `{prefix}_x`, `{prefix}_y`, `{prefix}_z` for a point.
fn point_params(prefix: &str, what: &str, default: Vec3) -> [ParamSpec; 3] {
    [("x", 0), ("y", 1), ("z", 2)].map(|(axis, i)| {
        ParamSpec::float(
            &format!("{prefix}_{axis}"),
            default[i] as f64,
            (None, None),
            &format!("{what}, {axis}."),
        )
    })
}

/// The point set by [`point_params`].
fn point(params: &Params, prefix: &str) -> Result<Vec3, NodeError> {
    Ok([
        params.float(&format!("{prefix}_x"))? as f32,
        params.float(&format!("{prefix}_y"))? as f32,
        params.float(&format!("{prefix}_z"))? as f32,
    ])
}

/// The up-axis parameter shared by the camera nodes.
fn up_param() -> ParamSpec {
    ParamSpec::choice(
        "up",
        "+y",
        &["+y", "-y", "+z", "-z", "+x", "-x"],
        "The world axis that points up in the image.",
    )
}

/// The world axis chosen by the `up` parameter.
fn up_axis(params: &Params) -> Result<Vec3, NodeError> {
    let text = params.text("up")?;
    let sign = if text.starts_with('-') { -1.0 } else { 1.0 };
    let axis = match text.trim_start_matches(['+', '-']) {
        "x" => [1.0, 0.0, 0.0],
        "y" => [0.0, 1.0, 0.0],
        _ => [0.0, 0.0, 1.0],
    };
    Ok(scale(axis, sign))
}

/// A camera at the origin with the lens parameters' image size, field of view and clipping range.
fn camera_from_lens(params: &Params) -> Result<Camera, NodeError> {
    let (near, far) = (params.float("near")? as f32, params.float("far")? as f32);
    if far <= near {
        return Err(NodeError::param("far", format!("{far} is not beyond `near` ({near})")));
    }
    let mut camera = Camera::new(
        params.int("width")? as u32,
        params.int("height")? as u32,
        params.float("fov_y")? as f32,
    );
    camera.near = near;
    camera.far = far;
    Ok(camera)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_at_puts_the_target_at_the_centre_with_up_upwards() {
        let camera = Camera::new(640, 480, 40.0)
            .looking_at([3.0, 1.0, 5.0], [0.5, 0.0, -1.0], [0.0, 1.0, 0.0])
            .unwrap();
        camera.check().unwrap();
        let centre = camera.project([0.5, 0.0, -1.0]).unwrap();
        assert!(
            (centre[0] - 320.0).abs() < 1e-3 && (centre[1] - 240.0).abs() < 1e-3,
            "{centre:?}"
        );
        let above = camera.project([0.5, 0.5, -1.0]).unwrap();
        assert!(above[1] < 240.0, "world up is image up: {above:?}");
        let position = camera.position();
        assert!(position.iter().zip([3.0, 1.0, 5.0]).all(|(a, b)| (a - b).abs() < 1e-5));
        // Half the image height subtends half the vertical field of view.
        assert!((camera.fy - 240.0 / 20f32.to_radians().tan()).abs() < 1e-3);
    }

    #[test]
    fn records_round_trip_and_bad_matrices_are_named() {
        let lens = Camera::new(64, 48, 30.0);
        let a = lens
            .clone()
            .looking_at([0.0, 0.0, 5.0], [0.0; 3], [0.0, 1.0, 0.0])
            .unwrap();
        let b = lens.looking_at([5.0, 0.0, 0.0], [0.0; 3], [0.0, 1.0, 0.0]).unwrap();
        let record = cameras_to_record(&[a.clone(), b.clone()]).unwrap();
        record.validate().unwrap();
        assert_eq!(cameras_from_record(&record).unwrap(), vec![a.clone(), b]);

        let mut skewed = record.tensor("intrinsics").unwrap().as_f32().unwrap().to_vec();
        skewed[9 + 1] = 0.5;
        let bad = record
            .clone()
            .with_tensor("intrinsics", Tensor::from_f32(&[2, 3, 3], skewed).unwrap());
        let err = cameras_from_record(&bad).unwrap_err();
        assert!(err.starts_with("camera 1: intrinsics"), "{err}");

        let mut stretched = record.tensor("world_to_camera").unwrap().as_f32().unwrap().to_vec();
        stretched[0] *= 2.0;
        let bad = record
            .clone()
            .with_tensor("world_to_camera", Tensor::from_f32(&[2, 4, 4], stretched).unwrap());
        assert_eq!(
            cameras_from_record(&bad).unwrap_err(),
            "camera 0: `world_to_camera`'s 3×3 part is not a rotation (RRᵀ is off the identity by 3.00e0, \
             determinant 2.0000): a camera pose is rigid, with no scale or shear"
        );
        let mut other = a.clone();
        other.width = 32;
        assert!(
            cameras_to_record(&[a, other])
                .unwrap_err()
                .contains("shares its image size")
        );
    }
}
