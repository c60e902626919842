//! `splats.load_ply`: a 3D Gaussian Splatting `.ply` file as an avatar value.

use gspeech_sdk::{
    Caching, FileFilter, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType,
    RunContext,
};

use super::ply;

/// Loads the Gaussians of a splat `.ply` file (as written by 3D Gaussian
/// Splatting, gsplat, brush, SuperSplat's uncompressed export and others).
pub struct LoadPly;

impl Node for LoadPly {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("splats.load_ply", 1, "Load Splat PLY")
            .doc(
                "Reads the Gaussians of a 3D Gaussian Splatting .ply file (binary or ASCII, any spherical-harmonic \
                 degree from 0 to 3, extra properties ignored) as an avatar without a mesh binding: scales and \
                 opacities are activated (exp, sigmoid) and rotations normalised.",
            )
            .output(PortSpec::new(
                "gaussians",
                PortType::Avatar,
                "The Gaussians, in world space.",
            ))
            .param(ParamSpec::path(
                "path",
                PathRole::InputFile,
                vec![FileFilter::new("Gaussian splats", &["ply"])],
                "",
                "The .ply file, relative to the graph file.",
            ))
            .caching(Caching::Memory)
    }

    fn run(&self, ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let path = params.path("path")?;
        let gaussians = ply::read(path, ctx.cancel_token())?;
        ctx.info(&format!(
            "{}: {} Gaussians, spherical harmonics of degree {}",
            path.display(),
            gaussians.len(),
            gaussians.sh_degree
        ));
        Ok(Outputs::new().with("gaussians", gaussians.to_value()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::splats::{Gaussians, SavePly, synthetic::random};
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{Inputs, Value};
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn saved_gaussians_load_back_and_bound_ones_are_refused() {
        let run = TestRun::new();
        let path = run.dir().join("scene.ply");
        let original = random(40, 3, 1.0, 2);
        let inputs = |record| Inputs::new(BTreeMap::from([("gaussians".to_string(), Value::data(record))]));
        run.run(&SavePly, inputs(original.to_record(None)), json!({"path": path}))
            .unwrap();
        let out = run.run(&LoadPly, Inputs::default(), json!({"path": path})).unwrap();
        let loaded = Gaussians::from_record(out.get("gaussians").and_then(Value::as_record).unwrap()).unwrap();
        assert_eq!((loaded.len(), loaded.sh_degree), (40, 3));
        assert_eq!(loaded.means, original.means);
        assert!(
            run.logs()
                .iter()
                .any(|(_, m)| m.contains("40 Gaussians, spherical harmonics of degree 3"))
        );

        let bound = original.to_record(Some(&[0; 40]));
        let err = run
            .run(&SavePly, inputs(bound), json!({"path": run.dir().join("bound.ply")}))
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("input `face_model`: is needed: these Gaussians are bound"),
            "{err}"
        );
        assert!(!run.dir().join("bound.ply").exists());

        std::fs::write(
            run.dir().join("notes.ply"),
            "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n1\n",
        )
        .unwrap();
        let err = run
            .run(
                &LoadPly,
                Inputs::default(),
                json!({"path": run.dir().join("notes.ply")}),
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("notes.ply: the `vertex` element has no `y` property: it is not a Gaussian splat file"),
            "{err}"
        );
    }
}
