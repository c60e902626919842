//! `io.load`: a value written by `io.save`, with its type checked.

use gspeech_sdk::{
    FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext, store,
};

/// Reads a `.safetensors` file written by `io.save` (or the on-disk cache) and
/// checks that it holds the declared type.
pub struct Load;

impl Node for Load {
    fn spec(&self) -> NodeSpec {
        let types: Vec<&str> = PortType::ALL
            .iter()
            .filter(|t| **t != PortType::Any)
            .map(|t| t.name())
            .collect();
        NodeSpec::new("io.load", 1, "Load")
            .doc(
                "Reads a value written by `io.save`. The `type` parameter sets the output socket's type; a file \
                 holding another type, or a damaged file, is an error.",
            )
            .output(PortSpec::typed_by("value", "type", "The value read from the file."))
            .param(ParamSpec::path(
                "path",
                PathRole::InputFile,
                vec![FileFilter::new("safetensors", &["safetensors"])],
                "",
                "The file to read, relative to the graph file.",
            ))
            .param(ParamSpec::choice(
                "type",
                "audio",
                &types,
                "The type of value the file must hold.",
            ))
    }

    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let path = params.path("path")?;
        let expected = params.text("type")?;
        let mut values = store::load(path)?;
        let value = values
            .remove("value")
            .ok_or_else(|| NodeError::file(path, "holds no value named `value` (it was not written by io.save)"))?;
        if value.port_type().name() != expected {
            return Err(NodeError::file(
                path,
                format!(
                    "holds {} but this node's type is {expected}; set `type` to {}",
                    value.port_type(),
                    value.port_type()
                ),
            ));
        }
        Ok(Outputs::new().with("value", value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Save;
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{Record, Tensor, Value};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn motion() -> Value {
        Value::data(
            Record::new(PortType::Motion)
                .with_tensor("weights", Tensor::from_f32(&[2, 2], vec![0.0, 0.5, 1.0, 0.25]).unwrap())
                .with_attr("fps", 25.0)
                .with_attr("weight_names", json!(["jawOpen", "mouthClose"])),
        )
    }

    #[test]
    fn save_then_load_gives_the_same_value() {
        let run = TestRun::new();
        let inputs = Inputs::new(BTreeMap::from([("value".to_string(), motion())]));
        run.run(&Save, inputs, json!({"path": "m.safetensors"})).unwrap();
        let out = run
            .run(
                &Load,
                Inputs::default(),
                json!({"path": "m.safetensors", "type": "motion"}),
            )
            .unwrap();
        assert_eq!(out.get("value"), Some(&motion()));
    }

    #[test]
    fn load_refuses_another_type_and_names_the_file() {
        let run = TestRun::new();
        let inputs = Inputs::new(BTreeMap::from([("value".to_string(), motion())]));
        run.run(&Save, inputs, json!({"path": "m.safetensors"})).unwrap();
        let err = run
            .run(
                &Load,
                Inputs::default(),
                json!({"path": "m.safetensors", "type": "audio"}),
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("m.safetensors: holds motion but this node's type is audio"),
            "{text}"
        );
    }

    #[test]
    fn save_needs_a_path() {
        let run = TestRun::new();
        let inputs = Inputs::new(BTreeMap::from([("value".to_string(), Value::Int(1))]));
        let err = run.run(&Save, inputs, json!({})).unwrap_err();
        assert_eq!(err.to_string(), "parameter `path`: no path is set");
    }
}
