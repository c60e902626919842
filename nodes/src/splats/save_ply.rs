//! `splats.save_ply`: Gaussians to a 3D Gaussian Splatting `.ply` file.

use gspeech_sdk::{
    Caching, FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext,
};

use super::{Gaussians, binding_of, ply};
use crate::avatar::posing::{Posing, posing_inputs};
use crate::camera::cameras_from_record;

/// Writes Gaussians as a binary little-endian splat `.ply`, readable by other splat tools.
pub struct SavePly;

impl Node for SavePly {
    fn spec(&self) -> NodeSpec {
        let spec = NodeSpec::new("splats.save_ply", 1, "Save Splat PLY")
            .doc(
                "Writes Gaussians as a binary little-endian 3D Gaussian Splatting .ply file (log scales, logit \
                 opacities, channel-major f_rest), which other splat viewers and trainers read. An avatar bound to \
                 a mesh is written posed on one frame of the face model moved by the motion, and a fitted avatar's \
                 colour is baked for that frame's expression as seen from the camera (degree-0 spherical \
                 harmonics). The file is replaced atomically.",
            )
            .input(PortSpec::new(
                "gaussians",
                PortType::Avatar,
                "Gaussians in world space, or an avatar.",
            ));
        posing_inputs(spec, "Poses the mesh; `frame` picks the frame.")
            .input(PortSpec::optional(
                "camera",
                PortType::Camera,
                "Where a fitted avatar's view-dependent colour is seen from (its first camera).",
            ))
            .param(ParamSpec::int(
                "frame",
                0,
                (Some(0), None),
                "The motion's frame to pose an avatar on.",
            ))
            .param(ParamSpec::path(
                "path",
                PathRole::OutputFile,
                vec![FileFilter::new("Gaussian splats", &["ply"])],
                "",
                "Where to write, relative to the graph file.",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let record = inputs.record("gaussians", PortType::Avatar)?;
        let optional = |name: &str, kind: PortType| inputs.get(name).map(|_| inputs.record(name, kind)).transpose();
        let (face, motion) = (
            optional("face_model", PortType::FaceModel)?,
            optional("motion", PortType::Motion)?,
        );
        let gaussians = match (binding_of(record), face) {
            (Some(_), None) => {
                return Err(NodeError::input(
                    "face_model",
                    "is needed: these Gaussians are bound to mesh triangles (triangle-local coordinates); connect \
                     the face model they were made for, to write them posed",
                ));
            }
            (Some(_), Some(face)) => {
                let posing = Posing::new(ctx, record, face, motion.map(|m| &**m))?;
                let frame = params.int("frame")? as usize;
                if frame >= posing.frames() {
                    return Err(NodeError::param(
                        "frame",
                        format!("is {frame}, but the motion has {} frames", posing.frames()),
                    ));
                }
                let camera = match optional("camera", PortType::Camera)? {
                    Some(camera) => {
                        cameras_from_record(camera).map_err(|e| NodeError::input("camera", e))?[0].position()
                    }
                    None if posing.view_dependent() => {
                        return Err(NodeError::input(
                            "camera",
                            "is needed: the avatar's colour depends on the view; connect the camera to bake it for",
                        ));
                    }
                    None => [0.0; 3],
                };
                posing.pose(frame, camera)?
            }
            (None, _) => Gaussians::from_record(record).map_err(|e| NodeError::input("gaussians", e))?,
        };
        let path = params.path("path")?;
        ply::write(path, &gaussians, ctx.cancel_token())?;
        ctx.info(&format!("wrote {} Gaussians to {}", gaussians.len(), path.display()));
        Ok(Outputs::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avatar::color::ColorInputs;
    use crate::avatar::model::tests::{face_record, mesh, tiny};
    use crate::camera::{Camera, cameras_to_record};
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{Record, Tensor, Value};
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn an_avatar_is_written_posed_on_a_frame_and_coloured_for_its_expression_and_view() {
        let run = TestRun::new();
        let avatar = tiny(ColorInputs::ExpressionAndView);
        let (vertices, triangles) = mesh();
        let motion = Record::new(PortType::Motion)
            .with_attr("fps", 25)
            .with_attr("weight_names", json!(["a", "b", "c"]))
            .with_tensor(
                "weights",
                Tensor::from_f32(&[2, 3], vec![0.0, 0.0, 0.0, 0.8, 0.0, 0.3]).unwrap(),
            );
        let camera = Camera::new(32, 32, 45.0)
            .looking_at([0.5, 0.5, 4.0], [0.0; 3], [0.0, 1.0, 0.0])
            .unwrap();
        let given = |with_camera: bool| {
            let mut values = vec![
                ("gaussians", avatar.to_record().unwrap()),
                ("face_model", face_record()),
                ("motion", motion.clone()),
            ];
            if with_camera {
                values.push(("camera", cameras_to_record(std::slice::from_ref(&camera)).unwrap()));
            }
            Inputs::new(
                values
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Value::data(v)))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        let path = run.dir().join("frame1.ply");
        run.run(&SavePly, given(true), json!({"path": path, "frame": 1}))
            .unwrap();
        let saved = ply::read(&path, &gspeech_sdk::CancelToken::new()).unwrap();
        let expected = avatar
            .posed_gaussians(&vertices, &triangles, &[0.8, 0.0, 0.3], camera.position())
            .unwrap();
        for (a, b) in saved.means.iter().zip(&expected.means) {
            assert!(
                (0..3).all(|k| (a[k] - b[k]).abs() < 1e-6),
                "posed in the world: {a:?} vs {b:?}"
            );
        }
        assert_eq!(saved.sh_degree, 0);
        assert!(
            saved
                .sh
                .iter()
                .zip(expected.sh.iter())
                .all(|(a, b)| (a - b).abs() < 1e-6),
            "the frame's colour"
        );
        let rest = avatar
            .posed_gaussians(&vertices, &triangles, &[0.0; 3], camera.position())
            .unwrap();
        assert!(
            saved.sh.iter().zip(rest.sh.iter()).any(|(a, b)| (a - b).abs() > 1e-4),
            "not the rest colour"
        );

        let err = run
            .run(&SavePly, given(false), json!({"path": run.dir().join("a.ply")}))
            .unwrap_err();
        assert!(err.to_string().starts_with("input `camera`: is needed"), "{err}");
        let err = run
            .run(
                &SavePly,
                given(true),
                json!({"path": run.dir().join("b.ply"), "frame": 2}),
            )
            .unwrap_err();
        assert_eq!(err.to_string(), "parameter `frame`: is 2, but the motion has 2 frames");
        assert!(!run.dir().join("a.ply").exists() && !run.dir().join("b.ply").exists());
    }
}
