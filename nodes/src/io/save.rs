//! `io.save`: any value to a safetensors file.

use std::collections::BTreeMap;

use gspeech_sdk::{
    Caching, FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext, store,
};

/// Writes its input to a `.safetensors` file: tensors as tensors, kind and
/// attributes as JSON metadata. Atomic: the file appears complete or not at all.
pub struct Save;

impl Node for Save {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("io.save", 1, "Save")
            .doc(
                "Writes any value to a .safetensors file: tensors as tensors, its kind and attributes as JSON \
                 metadata, with a checksum. `io.load` reads it back. The file is replaced atomically.",
            )
            .input(PortSpec::new("value", PortType::Any, "The value to write."))
            .param(ParamSpec::path(
                "path",
                PathRole::OutputFile,
                vec![FileFilter::new("safetensors", &["safetensors"])],
                "",
                "Where to write, relative to the graph file.",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let value = inputs.value("value")?;
        let path = params.path("path")?;
        store::save(
            path,
            &BTreeMap::from([("value".to_string(), value.clone())]),
            ctx.cancel_token(),
        )?;
        ctx.info(&format!("wrote {} to {}", value.port_type(), path.display()));
        Ok(Outputs::new())
    }
}
