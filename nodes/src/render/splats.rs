//! `render.splats`: Gaussians (or an avatar posed by a motion) seen by cameras, as frames.

use std::sync::Mutex;

use gspeech_sdk::{
    Inputs, LogLevel, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, Record, RunContext,
    Tensor, Value,
};

use super::{Image, SplatRenderer, cpu};
use crate::avatar::posing::{Posing, posing_inputs};
use crate::camera::{Camera, cameras_from_record};
use crate::splats::{Gaussians, binding_of};

/// Renders Gaussian splats into frames on the GPU (or the CPU reference).
/// The GPU renderer is kept between runs, so its kernels compile once per device.
#[derive(Default)]
pub struct RenderSplats {
    renderer: Mutex<Option<SplatRenderer>>,
}

/// Where a frame is rendered.
enum Device<'a> {
    Gpu(&'a mut SplatRenderer),
    Cpu,
}

impl Device<'_> {
    fn render(&mut self, gaussians: &Gaussians, camera: &Camera, background: [f32; 4]) -> Result<Image, NodeError> {
        match self {
            Device::Gpu(renderer) => {
                renderer
                    .render(gaussians, camera, background)
                    .map_err(NodeError::other)?;
                renderer.read_back().map_err(NodeError::other)
            }
            Device::Cpu => Ok(cpu::render(gaussians, camera, background)),
        }
    }
}

impl Node for RenderSplats {
    fn spec(&self) -> NodeSpec {
        let spec = NodeSpec::new("render.splats", 1, "Render Splats")
            .doc(
                "Renders Gaussian splats seen by a camera into RGBA frames (straight alpha) with a `depth` tensor \
                 (the expected camera-space depth of each pixel, 0 where nothing is drawn), on the GPU with wgpu \
                 (Mesa's software Vulkan where there is no GPU) or on the CPU reference renderer. An avatar whose \
                 Gaussians are bound to mesh triangles is posed on each frame's mesh: the face model's neutral mesh \
                 moved by the motion's vertex offsets or blendshape weights. A fitted avatar's colour comes from its \
                 colour MLP on every frame, for the motion's expression (its blendshape weights) and each camera's \
                 view. There is one frame per motion frame, or else per camera; a single camera serves every frame.",
            )
            .input(PortSpec::new(
                "gaussians",
                PortType::Avatar,
                "The Gaussians or the avatar.",
            ))
            .input(PortSpec::new(
                "camera",
                PortType::Camera,
                "One camera, or one per frame.",
            ));
        posing_inputs(spec, "Moves the mesh, one frame per motion frame.")
            .output(PortSpec::new("frames", PortType::Frames, "The rendered frames."))
            .param(ParamSpec::color(
                "background",
                [0.0, 0.0, 0.0, 1.0],
                "Shown where the splats do not cover the pixel (alpha 0: transparent).",
            ))
            .param(ParamSpec::choice(
                "device",
                "auto",
                &["auto", "gpu", "cpu"],
                "auto: the GPU; the CPU reference renderer when there is no GPU adapter, or when the adapter is a \
                 software rasteriser (Mesa's llvmpipe), which runs the same maths 2-3x slower on the same cores.",
            ))
            .param(ParamSpec::choice(
                "format",
                "u8",
                &["u8", "f32"],
                "Pixel values as 8-bit (for video) or 32-bit float (for compositing).",
            ))
            .param(ParamSpec::float(
                "fps",
                25.0,
                (Some(1.0), Some(240.0)),
                "Frame rate, when no motion sets it.",
            ))
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let avatar = inputs.record("gaussians", PortType::Avatar)?;
        let cameras = cameras_from_record(inputs.record("camera", PortType::Camera)?)
            .map_err(|e| NodeError::input("camera", e))?;
        let face = inputs
            .get("face_model")
            .map(|_| inputs.record("face_model", PortType::FaceModel))
            .transpose()?;
        let motion = inputs
            .get("motion")
            .map(|_| inputs.record("motion", PortType::Motion))
            .transpose()?;
        let posing = match (binding_of(avatar), face) {
            (Some(_), Some(face)) => Some(Posing::new(ctx, avatar, face, motion.map(|m| &**m))?),
            (Some(_), None) => {
                return Err(NodeError::input(
                    "face_model",
                    "is needed: the avatar's Gaussians are bound to mesh triangles; connect the face model it was \
                     made for",
                ));
            }
            (None, _) if motion.is_some() => {
                return Err(NodeError::input(
                    "motion",
                    "cannot move these Gaussians: they are not bound to a mesh (the avatar has no `binding`)",
                ));
            }
            (None, face) => {
                if face.is_some() {
                    ctx.log(
                        LogLevel::Warn,
                        "the face model is not used: the Gaussians are not bound to a mesh",
                    );
                }
                None
            }
        };
        // Gaussians drawn as they are (the posing reads its own).
        let still = match posing {
            Some(_) => None,
            None => Some(Gaussians::from_record(avatar).map_err(|e| NodeError::input("gaussians", e))?),
        };
        let frames = match (&posing, motion) {
            (Some(posing), Some(_)) => posing.frames(),
            _ => cameras.len(),
        };
        if cameras.len() != 1 && cameras.len() != frames {
            return Err(NodeError::input(
                "camera",
                format!(
                    "holds {} cameras for {frames} frames; give one camera, or one per frame",
                    cameras.len()
                ),
            ));
        }
        let fps = posing.as_ref().and_then(Posing::fps).unwrap_or(params.float("fps")?);
        let background = params.color("background")?;

        let mut slot = self.renderer.lock().unwrap_or_else(|e| e.into_inner());
        let mut device = match params.text("device")? {
            "cpu" => Device::Cpu,
            choice => match ctx.gpu() {
                Ok(gpu) if choice == "auto" && gpu.adapter.get_info().device_type == wgpu::DeviceType::Cpu => {
                    ctx.info(&format!(
                        "rendering on the CPU reference renderer: the only adapter, {}, is a software rasteriser",
                        gpu.describe()
                    ));
                    Device::Cpu
                }
                Ok(gpu) => {
                    if slot.as_ref().is_none_or(|r| r.device() != &gpu.device) {
                        *slot = Some(SplatRenderer::new(&gpu.device, &gpu.queue));
                    }
                    ctx.info(&format!("rendering on {}", gpu.describe()));
                    Device::Gpu(slot.as_mut().expect("just made"))
                }
                Err(e) if choice == "auto" => {
                    ctx.log(LogLevel::Warn, &format!("{e}; rendering on the CPU"));
                    Device::Cpu
                }
                Err(e) => return Err(e),
            },
        };

        let (width, height) = (cameras[0].width as usize, cameras[0].height as usize);
        let pixels = width * height;
        let as_u8 = params.text("format")? == "u8";
        let mut rgba8 = Vec::new();
        let mut rgba32 = Vec::new();
        let mut depth = Vec::with_capacity(frames * pixels);
        for frame in 0..frames {
            ctx.check_cancelled()?;
            ctx.progress(
                frame as f32 / frames as f32,
                &format!("frame {} of {frames}", frame + 1),
            );
            let camera = &cameras[frame.min(cameras.len() - 1)];
            let posed;
            let shown = match &posing {
                Some(posing) => {
                    posed = posing.pose(frame, camera.position())?;
                    &posed
                }
                None => still.as_ref().expect("parsed where there is no posing"),
            };
            let image = device.render(shown, camera, background)?;
            let straight = image.straight_rgba();
            if as_u8 {
                rgba8.extend(straight.iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8));
            } else {
                rgba32.extend(straight);
            }
            depth.extend(image.depth);
        }
        ctx.progress(1.0, "done");
        let shape = [frames, height, width, 4];
        let rgba = if as_u8 {
            Tensor::from_u8(&shape, rgba8)
        } else {
            Tensor::from_f32(&shape, rgba32)
        }
        .expect("every frame has the camera's size");
        let record = Record::new(PortType::Frames)
            .with_tensor("rgba", rgba)
            .with_tensor(
                "depth",
                Tensor::from_f32(&[frames, height, width], depth).expect("one depth per pixel"),
            )
            .with_attr("fps", fps);
        Ok(Outputs::new().with("frames", Value::data(record)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::camera::cameras_to_record;
    use crate::splats::synthetic::random;
    use gspeech_sdk::testing::TestRun;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn run(inputs: &[(&str, Record)], params: serde_json::Value) -> Result<Record, NodeError> {
        let inputs = Inputs::new(
            inputs
                .iter()
                .map(|(name, record)| (name.to_string(), Value::data(record.clone())))
                .collect::<BTreeMap<_, _>>(),
        );
        let out = TestRun::new().run(&RenderSplats::default(), inputs, params)?;
        Ok((**out.get("frames").and_then(Value::as_record).unwrap()).clone())
    }

    fn cameras(eyes: &[[f32; 3]], width: u32, height: u32) -> Record {
        let cameras: Vec<Camera> = eyes
            .iter()
            .map(|&eye| {
                Camera::new(width, height, 45.0)
                    .looking_at(eye, [0.0; 3], [0.0, 1.0, 0.0])
                    .unwrap()
            })
            .collect();
        cameras_to_record(&cameras).unwrap()
    }

    #[test]
    fn auto_renders_on_the_cpu_where_the_adapter_is_a_software_rasteriser() {
        let inputs = Inputs::new(BTreeMap::from([
            (
                "gaussians".to_string(),
                Value::data(random(50, 0, 1.0, 1).to_record(None)),
            ),
            ("camera".to_string(), Value::data(cameras(&[[0.0, 0.0, 4.0]], 16, 16))),
        ]));
        let harness = TestRun::new();
        harness.run(&RenderSplats::default(), inputs, json!({})).unwrap();
        let said: Vec<String> = harness.logs().into_iter().map(|(_, line)| line).collect();
        let software = match gspeech_sdk::gpu::Gpu::headless() {
            Ok(gpu) => gpu.adapter.get_info().device_type == wgpu::DeviceType::Cpu,
            Err(_) => true,
        };
        let on_cpu = said.iter().any(|l| l.contains("rendering on the CPU"));
        assert_eq!(on_cpu, software, "software adapter: {software}; the node said {said:?}");
    }

    #[test]
    fn a_turntable_renders_the_same_on_the_gpu_and_the_cpu() {
        let gaussians = random(300, 2, 1.0, 5).to_record(None);
        let camera = cameras(&[[0.0, 0.0, 4.0], [4.0, 0.0, 0.0], [0.0, 1.0, -4.0]], 40, 24);
        let inputs = [("gaussians", gaussians), ("camera", camera)];
        let gpu = run(&inputs, json!({"device": "gpu", "fps": 30.0})).unwrap();
        let cpu = run(&inputs, json!({"device": "cpu", "fps": 30.0})).unwrap();
        let (gpu_rgba, cpu_rgba) = (gpu.tensor("rgba").unwrap(), cpu.tensor("rgba").unwrap());
        assert_eq!(gpu_rgba.shape(), &[3, 24, 40, 4]);
        assert_eq!(gpu.tensor("depth").unwrap().shape(), &[3, 24, 40]);
        assert_eq!(gpu.attr("fps"), Some(&json!(30.0)));
        let differences = gpu_rgba
            .as_u8()
            .unwrap()
            .iter()
            .zip(cpu_rgba.as_u8().unwrap())
            .filter(|(a, b)| a.abs_diff(**b) > 1)
            .count();
        assert!(differences < 10, "{differences} values differ by more than one level");
        let frames = gpu_rgba.as_u8().unwrap().chunks(24 * 40 * 4).collect::<Vec<_>>();
        assert_ne!(frames[0], frames[1], "each frame has its own camera");
    }

    #[test]
    fn float_frames_hold_straight_alpha_over_a_transparent_background() {
        let mut g = Gaussians::empty(0);
        g.means.push([0.0; 3]);
        g.scales.push([0.3; 3]);
        g.rotations.push([1.0, 0.0, 0.0, 0.0]);
        g.opacities.push(0.7);
        g.sh = vec![
            (0.8 - 0.5) / crate::splats::SH_C0,
            (0.2 - 0.5) / crate::splats::SH_C0,
            0.0,
        ]
        .into();
        let inputs = [
            ("gaussians", g.to_record(None)),
            ("camera", cameras(&[[0.0, 0.0, 3.0]], 21, 21)),
        ];
        let frames = run(&inputs, json!({"format": "f32", "background": [0.0, 0.0, 0.0, 0.0]})).unwrap();
        let rgba = frames.tensor("rgba").unwrap().as_f32().unwrap();
        let drawn: Vec<&[f32]> = rgba.chunks(4).filter(|p| p[3] > 0.0).collect();
        assert!(drawn.len() > 20 && drawn.len() < 21 * 21, "a round footprint");
        for p in drawn {
            assert!(
                (p[0] - 0.8).abs() < 1e-4 && (p[1] - 0.2).abs() < 1e-4,
                "colour not darkened by alpha: {p:?}"
            );
        }
        let centre = &rgba[(10 * 21 + 10) * 4..][..4];
        assert!((centre[3] - 0.7).abs() < 1e-4);
    }

    /// A unit right triangle in the z = 0 plane, facing +z.
    fn face_model() -> Record {
        Record::new(PortType::FaceModel)
            .with_tensor(
                "neutral",
                Tensor::from_f32(&[3, 3], vec![-1.0, -1.0, 0.0, 1.0, -1.0, 0.0, -1.0, 1.0, 0.0]).unwrap(),
            )
            .with_tensor("triangles", Tensor::from_u32(&[1, 3], vec![0, 1, 2]).unwrap())
            .with_tensor("expressions", Tensor::from_f32(&[0, 3, 3], vec![]).unwrap())
            .with_attr("expression_names", json!([]))
    }

    /// Where the drawn pixels of a frame are, on average (x, y).
    fn centroid(rgba: &[u8], width: usize) -> [f32; 2] {
        let (mut sum, mut total) = ([0f32; 2], 0f32);
        for (i, p) in rgba.chunks(4).enumerate() {
            let a = p[3] as f32;
            sum[0] += a * (i % width) as f32;
            sum[1] += a * (i / width) as f32;
            total += a;
        }
        [sum[0] / total, sum[1] / total]
    }

    #[test]
    fn an_avatar_follows_its_mesh_through_a_motion() {
        let mut local = random(50, 0, 0.3, 8);
        local.means.iter_mut().for_each(|m| m[2] = 0.0);
        let binding = vec![0u32; local.len()];
        let avatar = local.to_record(Some(&binding));
        // Three frames, the mesh moving 0.5 units along +x each frame.
        let offsets: Vec<f32> = (0..3).flat_map(|t| [0.5 * t as f32, 0.0, 0.0].repeat(3)).collect();
        let motion = Record::new(PortType::Motion)
            .with_attr("fps", 50)
            .with_tensor("vertex_offsets", Tensor::from_f32(&[3, 3, 3], offsets).unwrap());
        let camera_record = cameras(&[[0.0, 0.0, 8.0]], 64, 48);
        let camera = cameras_from_record(&camera_record).unwrap().remove(0);
        let inputs = [
            ("gaussians", avatar.clone()),
            ("camera", camera_record.clone()),
            ("face_model", face_model()),
            ("motion", motion.clone()),
        ];
        let frames = run(&inputs, json!({"device": "gpu", "background": [0.0, 0.0, 0.0, 0.0]})).unwrap();
        let rgba = frames.tensor("rgba").unwrap();
        assert_eq!(rgba.shape()[0], 3, "one frame per motion frame");
        assert_eq!(frames.attr("fps"), Some(&json!(50.0)), "at the motion's rate");
        let per_frame: Vec<[f32; 2]> = rgba
            .as_u8()
            .unwrap()
            .chunks(64 * 48 * 4)
            .map(|f| centroid(f, 64))
            .collect();
        let step = camera.fx * 0.5 / 8.0;
        for t in 1..3 {
            assert!(
                (per_frame[t][0] - per_frame[0][0] - step * t as f32).abs() < 0.3,
                "{per_frame:?}, step {step}"
            );
            assert!((per_frame[t][1] - per_frame[0][1]).abs() < 0.3, "{per_frame:?}");
        }

        let without_face = [("gaussians", avatar.clone()), ("camera", camera_record.clone())];
        let err = run(&without_face, json!({})).unwrap_err().to_string();
        assert!(err.starts_with("input `face_model`: is needed"), "{err}");
        let unbound = [
            ("gaussians", local.to_record(None)),
            ("camera", camera_record.clone()),
            ("motion", motion.clone()),
        ];
        let err = run(&unbound, json!({})).unwrap_err().to_string();
        assert!(err.starts_with("input `motion`: cannot move these Gaussians"), "{err}");
        let two_cameras = [
            ("gaussians", avatar),
            ("camera", cameras(&[[0.0, 0.0, 8.0], [0.0, 0.0, 9.0]], 64, 48)),
            ("face_model", face_model()),
            ("motion", motion),
        ];
        let err = run(&two_cameras, json!({})).unwrap_err().to_string();
        assert_eq!(
            err,
            "input `camera`: holds 2 cameras for 3 frames; give one camera, or one per frame"
        );
    }

    #[test]
    fn a_fitted_avatar_takes_its_colour_from_the_motion_s_expression() {
        use crate::avatar::color::ColorInputs;
        use crate::avatar::model::tests::{face_record, mesh, tiny};
        let (vertices, triangles) = mesh();
        let face = face_record();
        let motion = Record::new(PortType::Motion)
            .with_attr("fps", 25)
            .with_attr("weight_names", json!(["c", "a", "b"]))
            .with_tensor(
                "weights",
                Tensor::from_f32(&[2, 3], vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.5]).unwrap(),
            );
        let camera_record = cameras(&[[0.5, 0.5, 4.0]], 40, 40);
        let camera = cameras_from_record(&camera_record).unwrap().remove(0);
        for (inputs, dynamic) in [(ColorInputs::ExpressionAndView, true), (ColorInputs::Constant, false)] {
            let avatar = tiny(inputs);
            let given = [
                ("gaussians", avatar.to_record().unwrap()),
                ("camera", camera_record.clone()),
                ("face_model", face.clone()),
                ("motion", motion.clone()),
            ];
            let frames = run(&given, json!({"device": "cpu"})).unwrap();
            let rgba = frames.tensor("rgba").unwrap().as_u8().unwrap().to_vec();
            let (rest, smiling) = rgba.split_at(40 * 40 * 4);
            // Frame 1 is the avatar posed with weights a = 1, b = 0.5 (the motion names them out of order).
            let posed = avatar
                .posed_gaussians(&vertices, &triangles, &[1.0, 0.5, 0.0], camera.position())
                .unwrap();
            let expected = cpu::render(&posed, &camera, [0.0, 0.0, 0.0, 1.0]).straight_rgba();
            let expected: Vec<u8> = expected
                .iter()
                .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect();
            assert_eq!(smiling, &expected[..], "frame 1 is coloured for its own expression");
            let changed = rest.iter().zip(smiling).filter(|(a, b)| a.abs_diff(**b) > 1).count();
            assert_eq!(changed > 0, dynamic, "{changed} values changed between the expressions");
        }
    }
}
