//! `value.float`, `value.int`, `value.bool`, `value.text`, `value.path`.

use gspeech_sdk::{
    Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, ParamValue, Params, PathRole, PortSpec, PortType,
    RunContext, Value,
};

/// A node with one parameter, `value`, that it outputs unchanged.
pub struct Constant {
    ty: PortType,
}

impl Constant {
    /// The constant node for a scalar port type.
    pub fn new(ty: PortType) -> Constant {
        assert!(!ty.is_data() && ty != PortType::Any, "{ty} is not a scalar type");
        Constant { ty }
    }
}

impl Node for Constant {
    fn spec(&self) -> NodeSpec {
        let doc = "The value, used unless an override (`--set NODE.value=…`) replaces it.";
        let (title, param) = match self.ty {
            PortType::Float => ("Float", ParamSpec::float("value", 0.0, (None, None), doc)),
            PortType::Int => ("Integer", ParamSpec::int("value", 0, (None, None), doc)),
            PortType::Bool => ("Boolean", ParamSpec::bool("value", false, doc)),
            PortType::Text => ("Text", ParamSpec::text("value", "", doc)),
            _ => ("Path", ParamSpec::path("value", PathRole::Any, Vec::new(), ".", doc)),
        };
        NodeSpec::new(&format!("value.{}", self.ty.name()), 1, title)
            .doc(&format!(
                "A constant {} for the graph. Connect it to any {} input or parameter to drive several nodes from one place.",
                self.ty, self.ty
            ))
            .output(PortSpec::new("value", self.ty, "The value."))
            .param(param)
    }

    fn run(&self, _ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let value = match params.get("value")? {
            ParamValue::Float(v) => Value::Float(*v),
            ParamValue::Int(v) => Value::Int(*v),
            ParamValue::Bool(v) => Value::Bool(*v),
            ParamValue::Text(v) => Value::Text(v.as_str().into()),
            ParamValue::Path(v) => Value::Path(v.as_path().into()),
            ParamValue::Color(_) => return Err(NodeError::param("value", "colours are not scalar values")),
        };
        Ok(Outputs::new().with("value", value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::testing::TestRun;
    use serde_json::json;

    #[test]
    fn outputs_its_parameter() {
        let run = TestRun::new();
        let out = run
            .run(
                &Constant::new(PortType::Float),
                Inputs::default(),
                json!({"value": 2.5}),
            )
            .unwrap();
        assert_eq!(out.get("value"), Some(&Value::Float(2.5)));
        let out = run
            .run(&Constant::new(PortType::Int), Inputs::default(), json!({}))
            .unwrap();
        assert_eq!(out.get("value"), Some(&Value::Int(0)));
    }

    #[test]
    fn relative_paths_resolve_against_the_graph_folder() {
        let run = TestRun::new();
        let out = run
            .run(
                &Constant::new(PortType::Path),
                Inputs::default(),
                json!({"value": "a/b.wav"}),
            )
            .unwrap();
        assert_eq!(out.get("value"), Some(&Value::Path(run.dir().join("a/b.wav").into())));
    }

    #[test]
    fn wrong_parameter_type_is_named() {
        let err = TestRun::new().run(&Constant::new(PortType::Int), Inputs::default(), json!({"value": "x"}));
        assert_eq!(
            err.unwrap_err().to_string(),
            "parameter `value`: expected integer, found \"x\""
        );
    }
}
