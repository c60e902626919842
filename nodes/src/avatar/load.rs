//! `avatar.load`: an avatar file (`AVATAR.json` + `AVATAR.safetensors`) as an avatar value.

use gspeech_sdk::{
    Caching, FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    Record, RunContext, Value,
};

use super::file;
use super::model::{Avatar, FaceIdentity};

/// Loads an avatar and, given its face model, checks that it is the one the avatar was made for.
pub struct LoadAvatar;

/// The identity of a `face_model` record.
pub fn face_identity(face: &Record) -> Result<FaceIdentity, String> {
    face.validate()?;
    let vertices = face.tensor("neutral").expect("validated").shape()[0];
    let triangles = face.tensor("triangles").and_then(|t| t.as_u32()).expect("validated");
    let name = face.attr("name").and_then(|v| v.as_str()).unwrap_or("face model");
    Ok(FaceIdentity::new(name, vertices, triangles))
}

impl Node for LoadAvatar {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("avatar.load", 1, "Load Avatar")
            .doc(
                "Reads an avatar (`AVATAR.json` and the `AVATAR.safetensors` beside it): Gaussians bound to the \
                 face model's triangles and extra mouth triangles, a latent per Gaussian and the colour MLP. Every \
                 tensor is checked by name and shape; with a face model connected, the avatar must have been made \
                 for it (same vertex count and triangles).",
            )
            .input(PortSpec::optional(
                "face_model",
                PortType::FaceModel,
                "The face model to check the avatar against.",
            ))
            .output(PortSpec::new("avatar", PortType::Avatar, "The avatar."))
            .param(ParamSpec::path(
                "path",
                PathRole::InputFile,
                vec![FileFilter::new("Avatar", &["json"])],
                "",
                "The avatar's manifest (.json), relative to the graph file.",
            ))
            .caching(Caching::Memory)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let path = params.path("path")?;
        let record = file::read_record(path)?;
        let avatar = Avatar::from_record(&record, &candle_core::Device::Cpu)
            .map_err(|e| NodeError::file(file::tensor_path(path), e))?;
        if inputs.get("face_model").is_some() {
            let face = face_identity(inputs.record("face_model", PortType::FaceModel)?)
                .map_err(|e| NodeError::input("face_model", e))?;
            avatar
                .check_face(&face)
                .map_err(|e| NodeError::input("face_model", e))?;
        }
        let c = &avatar.config;
        ctx.info(&format!(
            "{}: {} Gaussians on face model `{}` ({} mouth triangles), colour MLP {:?} with {} latents",
            path.display(),
            avatar.len(),
            c.face.name,
            avatar.mouth_triangles.len(),
            c.color.inputs,
            c.color.latent
        ));
        Ok(Outputs::new().with("avatar", Value::data(record)))
    }
}
