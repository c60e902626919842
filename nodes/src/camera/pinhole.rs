//! `camera.pinhole`: one pinhole camera, placed by look-at or by its matrices.

use gspeech_sdk::{
    Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, RunContext, Value,
};

use super::{camera_from_lens, cameras_to_record, lens_params, point, point_params, up_axis, up_param};

/// A pinhole camera from a look-at pose or explicit intrinsics and extrinsics.
pub struct Pinhole;

/// Numbers separated by spaces or commas, as typed into a text parameter.
fn numbers(params: &Params, name: &str) -> Result<Vec<f32>, NodeError> {
    params
        .text(name)?
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| NodeError::param(name, format!("`{s}` is not a number")))
        })
        .collect()
}

impl Node for Pinhole {
    fn spec(&self) -> NodeSpec {
        let mut spec = NodeSpec::new("camera.pinhole", 1, "Camera")
            .doc(
                "A pinhole camera (OpenCV convention: x right, y down, z forward). Placed by look-at (eye, \
                 target and up axis) or by an explicit world-to-camera matrix; the lens is a vertical field of \
                 view with the principal point at the centre, or explicit intrinsics.",
            )
            .output(PortSpec::new("camera", PortType::Camera, "The camera."));
        let pose = ParamSpec::choice(
            "pose",
            "look_at",
            &["look_at", "matrix"],
            "Place the camera by eye, target and up, or by `world_to_camera`.",
        );
        let look_at = point_params("eye", "Camera position (look-at)", [0.0, 0.0, 60.0])
            .into_iter()
            .chain(point_params("target", "Point looked at (look-at)", [0.0; 3]));
        for p in lens_params()
            .into_iter()
            .chain([pose])
            .chain(look_at)
            .chain([up_param()])
        {
            spec = spec.param(p);
        }
        spec.param(ParamSpec::text(
            "world_to_camera",
            "",
            "With pose `matrix`: the world-to-camera matrix [R | t], 12 or 16 numbers row by row.",
        ))
        .param(ParamSpec::text(
            "intrinsics",
            "",
            "Explicit intrinsics instead of `fov_y`: `fx fy cx cy` in pixels, or the 9 numbers of K row by row. \
             Empty: from the field of view.",
        ))
    }

    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let mut camera = camera_from_lens(params)?;
        if params.text("pose")? == "look_at" {
            camera = camera
                .looking_at(point(params, "eye")?, point(params, "target")?, up_axis(params)?)
                .map_err(NodeError::other)?;
        } else {
            let m = numbers(params, "world_to_camera")?;
            if m.len() != 12 && m.len() != 16 {
                return Err(NodeError::param(
                    "world_to_camera",
                    format!(
                        "has {} numbers; a [R | t] matrix has 12 (or 16 with the last row)",
                        m.len()
                    ),
                ));
            }
            camera.rotation = [[m[0], m[1], m[2]], [m[4], m[5], m[6]], [m[8], m[9], m[10]]];
            camera.translation = [m[3], m[7], m[11]];
        }
        let k = numbers(params, "intrinsics")?;
        match k.len() {
            0 => {}
            4 => [camera.fx, camera.fy, camera.cx, camera.cy] = [k[0], k[1], k[2], k[3]],
            9 if k[1] == 0.0 && k[3] == 0.0 && k[6..] == [0.0, 0.0, 1.0] => {
                [camera.fx, camera.fy, camera.cx, camera.cy] = [k[0], k[4], k[2], k[5]]
            }
            9 => {
                return Err(NodeError::param(
                    "intrinsics",
                    "is not a pinhole matrix [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]",
                ));
            }
            n => {
                return Err(NodeError::param(
                    "intrinsics",
                    format!("has {n} numbers; expected `fx fy cx cy` or the 9 numbers of K"),
                ));
            }
        }
        camera.check().map_err(NodeError::other)?;
        let record = cameras_to_record(&[camera]).map_err(NodeError::other)?;
        Ok(Outputs::new().with("camera", Value::data(record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::cameras_from_record;
    use gspeech_sdk::testing::TestRun;
    use serde_json::json;

    fn camera(params: serde_json::Value) -> Result<crate::camera::Camera, NodeError> {
        let out = TestRun::new().run(&Pinhole, Inputs::default(), params)?;
        let record = out.get("camera").and_then(Value::as_record).unwrap();
        Ok(cameras_from_record(record).unwrap().remove(0))
    }

    #[test]
    fn look_at_and_matrices_give_the_same_camera() {
        let looked = camera(json!({"eye_x": 10.0, "eye_z": 0.0, "width": 320, "height": 240, "fov_y": 45.0})).unwrap();
        assert!((looked.project([0.0; 3]).unwrap()[0] - 160.0).abs() < 1e-3);
        let m = looked.world_to_camera();
        let text: Vec<String> = m.iter().flatten().map(|v| v.to_string()).collect();
        let k = format!("{} {} {} {}", looked.fx, looked.fy, looked.cx, looked.cy);
        let explicit = camera(json!({
            "pose": "matrix", "world_to_camera": text.join(" "), "intrinsics": k,
            "width": 320, "height": 240, "fov_y": 10.0,
        }))
        .unwrap();
        assert_eq!(explicit, looked);
    }

    #[test]
    fn bad_matrices_name_the_parameter() {
        let err = camera(json!({"pose": "matrix", "world_to_camera": "1 0 0"})).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("parameter `world_to_camera`: has 3 numbers"),
            "{err}"
        );
        let err = camera(json!({"intrinsics": "500 500 x 10"})).unwrap_err();
        assert_eq!(err.to_string(), "parameter `intrinsics`: `x` is not a number");
        let err = camera(json!({"pose": "matrix", "world_to_camera": "2 0 0 0 0 1 0 0 0 0 1 5"})).unwrap_err();
        assert!(err.to_string().contains("is not a rotation"), "{err}");
        let err = camera(json!({"eye_x": 0.0, "eye_y": 0.0, "eye_z": 0.0})).unwrap_err();
        assert!(err.to_string().contains("the same point"), "{err}");
    }
}
