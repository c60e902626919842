//! `splats.save_ply`: Gaussians to a 3D Gaussian Splatting `.ply` file.

use gspeech_sdk::{
    Caching, FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext,
};

use super::{Gaussians, binding_of, ply};

/// Writes Gaussians as a binary little-endian splat `.ply`, readable by other splat tools.
pub struct SavePly;

impl Node for SavePly {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("splats.save_ply", 1, "Save Splat PLY")
            .doc(
                "Writes Gaussians as a binary little-endian 3D Gaussian Splatting .ply file (log scales, logit \
                 opacities, channel-major f_rest), which other splat viewers and trainers read. Gaussians bound \
                 to a mesh must be posed first: their triangle-local coordinates mean nothing to other tools. \
                 The file is replaced atomically.",
            )
            .input(PortSpec::new(
                "gaussians",
                PortType::Avatar,
                "Gaussians in world space.",
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
        if binding_of(record).is_some() {
            return Err(NodeError::input(
                "gaussians",
                "these Gaussians are bound to mesh triangles (triangle-local coordinates); render or pose them \
                 with a face model instead of saving them as world-space splats",
            ));
        }
        let gaussians = Gaussians::from_record(record).map_err(|e| NodeError::input("gaussians", e))?;
        let path = params.path("path")?;
        ply::write(path, &gaussians, ctx.cancel_token())?;
        ctx.info(&format!("wrote {} Gaussians to {}", gaussians.len(), path.display()));
        Ok(Outputs::new())
    }
}
