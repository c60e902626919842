//! `camera.orbit`: a turntable, one camera per frame circling a target.

use gspeech_sdk::{
    Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, RunContext, Value,
};

use super::{Camera, camera_from_lens, cameras_to_record, lens_params, point, point_params, up_axis, up_param};
use crate::math::{Vec3, add, cross, scale};

/// Cameras on a circle around a target, all looking at it.
pub struct Orbit;

/// The camera positions of a turntable: `frames` evenly spaced azimuths over
/// `turns` full circles from `azimuth` (degrees), at an `elevation` (degrees)
/// above the plane perpendicular to `up`. Azimuth 0 is in front: +z for a
/// y-up world, −y for a z-up one (+z for x-up); it grows towards `up × front`.
pub fn orbit_eyes(
    target: Vec3,
    up: Vec3,
    radius: f32,
    elevation: f32,
    azimuth: f32,
    turns: f32,
    frames: usize,
) -> Vec<Vec3> {
    let front: Vec3 = if up[2] != 0.0 {
        [0.0, -1.0, 0.0]
    } else {
        [0.0, 0.0, 1.0]
    };
    let side = cross(up, front);
    let el = elevation.to_radians();
    (0..frames)
        .map(|i| {
            let az = azimuth.to_radians() + std::f32::consts::TAU * turns * i as f32 / frames as f32;
            let around = add(scale(front, az.cos()), scale(side, az.sin()));
            add(target, scale(add(scale(around, el.cos()), scale(up, el.sin())), radius))
        })
        .collect()
}

impl Node for Orbit {
    fn spec(&self) -> NodeSpec {
        let mut spec = NodeSpec::new("camera.orbit", 1, "Orbit Camera")
            .doc(
                "A turntable: one camera per frame on a circle around a target, all looking at it, evenly spaced \
                 over a number of turns (the last frame stops short of the first, so the sequence loops). With a \
                 motion connected there is one camera per motion frame.",
            )
            .input(PortSpec::optional(
                "motion",
                PortType::Motion,
                "A motion whose frame count sets the number of cameras.",
            ))
            .output(PortSpec::new("camera", PortType::Camera, "One camera per frame."));
        for p in lens_params()
            .into_iter()
            .chain(point_params("target", "Orbit centre", [0.0; 3]))
        {
            spec = spec.param(p);
        }
        spec.param(ParamSpec::float(
            "radius",
            60.0,
            (Some(1e-6), None),
            "Distance from the centre.",
        ))
        .param(ParamSpec::float(
            "elevation",
            0.0,
            (Some(-89.0), Some(89.0)),
            "Degrees above the horizontal plane.",
        ))
        .param(ParamSpec::float(
            "azimuth",
            0.0,
            (None, None),
            "Start angle in degrees (0: in front).",
        ))
        .param(ParamSpec::float(
            "turns",
            1.0,
            (None, None),
            "Full circles over the sequence (negative: the other way).",
        ))
        .param(ParamSpec::int(
            "frames",
            100,
            (Some(1), Some(100_000)),
            "Cameras, when no motion is connected.",
        ))
        .param(up_param())
    }

    fn run(&self, _ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let frames = match inputs.get("motion") {
            Some(_) => motion_frames(inputs.record("motion", PortType::Motion)?),
            None => params.int("frames")? as usize,
        };
        let target = point(params, "target")?;
        let up = up_axis(params)?;
        let lens = camera_from_lens(params)?;
        let eyes = orbit_eyes(
            target,
            up,
            params.float("radius")? as f32,
            params.float("elevation")? as f32,
            params.float("azimuth")? as f32,
            params.float("turns")? as f32,
            frames,
        );
        let cameras: Vec<Camera> = eyes
            .into_iter()
            .map(|eye| lens.clone().looking_at(eye, target, up))
            .collect::<Result<_, _>>()
            .map_err(NodeError::other)?;
        let record = cameras_to_record(&cameras).map_err(NodeError::other)?;
        Ok(Outputs::new().with("camera", Value::data(record)))
    }
}

/// The number of frames of a motion record.
fn motion_frames(record: &gspeech_sdk::Record) -> usize {
    ["vertex_offsets", "weights"]
        .iter()
        .find_map(|name| record.tensor(name))
        .map_or(0, |t| t.shape()[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::cameras_from_record;
    use crate::math::{length, sub};
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{Record, Tensor};
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn cameras_circle_the_target_at_the_radius() {
        let eyes = orbit_eyes([1.0, 2.0, 3.0], [0.0, 1.0, 0.0], 10.0, 30.0, 0.0, 1.0, 4);
        assert_eq!(eyes.len(), 4);
        for eye in &eyes {
            assert!((length(sub(*eye, [1.0, 2.0, 3.0])) - 10.0).abs() < 1e-4);
            assert!((eye[1] - 2.0 - 5.0).abs() < 1e-4, "30° up: {eye:?}");
        }
        // A quarter turn apart, starting in front (+z) and moving towards +x.
        assert!(eyes[0][2] > 3.0 && (eyes[0][0] - 1.0).abs() < 1e-4);
        assert!(eyes[1][0] > 1.0 && (eyes[1][2] - 3.0).abs() < 1e-4);
        let z_up = orbit_eyes([0.0; 3], [0.0, 0.0, 1.0], 1.0, 0.0, 0.0, 1.0, 1);
        assert!((z_up[0][1] + 1.0).abs() < 1e-6, "z-up front is −y: {z_up:?}");
    }

    #[test]
    fn one_camera_per_motion_frame_each_looking_at_the_target() {
        let motion = Record::new(PortType::Motion)
            .with_attr("fps", 25)
            .with_tensor("weights", Tensor::from_f32(&[7, 2], vec![0.0; 14]).unwrap());
        let inputs = Inputs::new(BTreeMap::from([("motion".to_string(), Value::data(motion))]));
        let out = TestRun::new()
            .run(&Orbit, inputs, json!({"target_y": 5.0, "width": 100, "height": 80}))
            .unwrap();
        let cameras = cameras_from_record(out.get("camera").and_then(Value::as_record).unwrap()).unwrap();
        assert_eq!(cameras.len(), 7);
        for camera in cameras {
            let centre = camera.project([0.0, 5.0, 0.0]).unwrap();
            assert!((centre[0] - 50.0).abs() < 1e-3 && (centre[1] - 40.0).abs() < 1e-3);
        }
    }
}
