//! A ring of calibrated studio cameras around the front of the head.

use crate::camera::Camera;
use crate::capture::format::CaptureCamera;
use crate::face::FaceRig;

/// Cameras on an arc around the front of the head, all looking at the
/// centre of the head: azimuths spread evenly over `arc_degrees`
/// centred on the face's forward direction (+z), elevations cycling through
/// `elevations` for vertical parallax, `held_out` of them (evenly spread,
/// never the ends of the arc) kept out of fitting. The lens frames the head
/// (down to 4 cm under the chin) with `margin` to spare. The defaults are ours: 16 cameras at
/// 512 × 512, 1 m away, over 150°, 2 held out.
#[derive(Clone, Debug, PartialEq)]
pub struct StudioRing {
    /// How many cameras.
    pub count: usize,
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// Distance from the face centre, in centimetres.
    pub distance_cm: f32,
    /// The arc's span, degrees.
    pub arc_degrees: f32,
    /// Camera elevations above the face centre, degrees, cycled through.
    pub elevations: Vec<f32>,
    /// How many cameras are held out.
    pub held_out: usize,
    /// Framing: 1 fits the head's box exactly.
    pub margin: f32,
}

impl Default for StudioRing {
    fn default() -> StudioRing {
        StudioRing {
            count: 16,
            width: 512,
            height: 512,
            distance_cm: 100.0,
            arc_degrees: 150.0,
            elevations: vec![0.0, 14.0, -8.0],
            held_out: 2,
            margin: 1.05,
        }
    }
}

impl StudioRing {
    /// The ring around `rest` (`[V * 3]`, a rest or posed shape of `rig`),
    /// named `cam00`, `cam01`, … from the subject's right to left.
    pub fn cameras(&self, rig: &FaceRig, rest: &[f32]) -> Result<Vec<CaptureCamera>, String> {
        if self.count == 0 || self.width == 0 || self.height == 0 {
            return Err("a studio ring needs at least one camera and a non-empty image".into());
        }
        let cm = super::units_per_cm(rig);
        // The head: every vertex down to 4 cm under the chin (landmark 8) when the model has landmarks.
        let floor = rig
            .landmarks
            .get(8)
            .filter(|&&v| (v as usize) * 3 + 1 < rest.len())
            .map_or(f32::NEG_INFINITY, |&v| rest[v as usize * 3 + 1] - 4.0 * cm);
        let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
        for v in (0..rest.len() / 3).filter(|&v| rest[v * 3 + 1] >= floor) {
            for k in 0..3 {
                lo[k] = lo[k].min(rest[v * 3 + k]);
                hi[k] = hi[k].max(rest[v * 3 + k]);
            }
        }
        if lo[0].partial_cmp(&hi[0]).is_none_or(|o| o.is_gt()) {
            return Err("the face model has no vertices to frame".into());
        }
        let target: [f32; 3] = std::array::from_fn(|k| (lo[k] + hi[k]) / 2.0);
        let distance = self.distance_cm * cm;
        // The box's half extent across the view in any direction around the head.
        let half = (hi[0] - lo[0]).max(hi[2] - lo[2]).max(hi[1] - lo[1]) / 2.0 * self.margin;
        let aspect = self.width as f32 / self.height as f32;
        let fov_y = 2.0 * (half / (distance - half) / aspect.min(1.0)).atan().to_degrees();
        let held: Vec<usize> = (0..self.held_out.min(self.count.saturating_sub(2)))
            .map(|i| ((i as f32 + 1.0) * self.count as f32 / (self.held_out as f32 + 1.0)).round() as usize)
            .map(|i| i.clamp(1, self.count.saturating_sub(2)))
            .collect();
        (0..self.count)
            .map(|i| {
                let along = if self.count == 1 {
                    0.5
                } else {
                    i as f32 / (self.count - 1) as f32
                };
                let azimuth = ((along - 0.5) * self.arc_degrees).to_radians();
                let elevation = if self.elevations.is_empty() {
                    0.0
                } else {
                    self.elevations[i % self.elevations.len()].to_radians()
                };
                let eye = [
                    target[0] + distance * elevation.cos() * azimuth.sin(),
                    target[1] + distance * elevation.sin(),
                    target[2] + distance * elevation.cos() * azimuth.cos(),
                ];
                let camera = Camera::new(self.width, self.height, fov_y).looking_at(eye, target, [0.0, 1.0, 0.0])?;
                Ok(CaptureCamera::from_camera(
                    &format!("cam{i:02}"),
                    &camera,
                    held.contains(&i),
                ))
            })
            .collect()
    }
}
