//! `avatar.save`: an avatar value to `AVATAR.json` + `AVATAR.safetensors`.

use gspeech_sdk::{
    Caching, FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext,
};

use super::file;
use super::model::Avatar;

/// Writes an avatar with a colour model to its two files, atomically.
pub struct SaveAvatar;

impl Node for SaveAvatar {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("avatar.save", 1, "Save Avatar")
            .doc(
                "Writes an avatar (Gaussians bound to the face model, latents and colour MLP) as a manifest \
                 (.json: sizes, face model, colour MLP, the command that made it) and the .safetensors beside it. \
                 Both files are replaced atomically. Plain Gaussians without a colour model are saved with \
                 splats.save_ply instead.",
            )
            .input(PortSpec::new("avatar", PortType::Avatar, "The avatar."))
            .param(ParamSpec::path(
                "path",
                PathRole::OutputFile,
                vec![FileFilter::new("Avatar", &["json"])],
                "",
                "Where to write the manifest, relative to the graph file; the tensors go beside it.",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let record = inputs.record("avatar", PortType::Avatar)?;
        let avatar =
            Avatar::from_record(record, &candle_core::Device::Cpu).map_err(|e| NodeError::input("avatar", e))?;
        let path = params.path("path")?;
        file::save(&avatar, path, ctx.cancel_token())?;
        ctx.info(&format!(
            "wrote an avatar of {} Gaussians to {}",
            avatar.len(),
            path.display()
        ));
        Ok(Outputs::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avatar::LoadAvatar;
    use crate::avatar::color::ColorInputs;
    use crate::avatar::model::tests::{mesh, tiny};
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{Record, Tensor, Value};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn face(triangles: Vec<u32>) -> Record {
        let (vertices, _) = mesh();
        let flat: Vec<f32> = vertices.iter().flatten().copied().collect();
        Record::new(PortType::FaceModel)
            .with_tensor("neutral", Tensor::from_f32(&[5, 3], flat).unwrap())
            .with_tensor(
                "triangles",
                Tensor::from_u32(&[triangles.len() / 3, 3], triangles).unwrap(),
            )
            .with_tensor("expressions", Tensor::from_f32(&[0, 5, 3], vec![]).unwrap())
            .with_attr("expression_names", json!([]))
            .with_attr("name", "tiny")
    }

    #[test]
    fn saved_avatars_load_and_are_checked_against_the_face_model() {
        let run = TestRun::new();
        let path = run.dir().join("AVATAR.json");
        let avatar = tiny(ColorInputs::ExpressionAndView);
        let record = avatar.to_record().unwrap();
        let inputs = |pairs: Vec<(&str, Record)>| {
            Inputs::new(
                pairs
                    .into_iter()
                    .map(|(k, r)| (k.to_string(), Value::data(r)))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        run.run(
            &SaveAvatar,
            inputs(vec![("avatar", record.clone())]),
            json!({"path": path}),
        )
        .unwrap();
        let triangles: Vec<u32> = mesh().1.iter().flatten().copied().collect();
        let out = run
            .run(
                &LoadAvatar,
                inputs(vec![("face_model", face(triangles.clone()))]),
                json!({"path": path}),
            )
            .unwrap();
        assert_eq!(**out.get("avatar").and_then(Value::as_record).unwrap(), record);
        let err = run
            .run(
                &LoadAvatar,
                inputs(vec![("face_model", face(triangles[3..].to_vec()))]),
                json!({"path": path}),
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("made for the face model `tiny` (5 vertices, 4 triangles"),
            "{err}"
        );
        let plain = avatar.gaussians.to_record(Some(&avatar.binding));
        let err = run
            .run(&SaveAvatar, inputs(vec![("avatar", plain)]), json!({"path": path}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no `config`"), "{err}");
    }
}
