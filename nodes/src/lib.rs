//! # gspeech-nodes
//!
//! The built-in node library, one module per family and one file per node, each
//! with its spec beside its compute. [`builtin`] lists every node for the host.

use std::sync::Arc;

use gspeech_sdk::Node;

pub mod audio;
pub mod avatar;
pub mod camera;
pub mod capture;
pub mod dataset;
pub mod debug;
pub mod export;
pub mod face;
pub mod features;
pub mod io;
pub mod math;
pub mod motion;
pub mod render;
pub mod splats;
pub mod value;

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers for this crate's unit tests.
    use std::path::{Path, PathBuf};

    /// A path in the repository, found when the test runs: a shared build folder reuses
    /// compiled tests across clones, so paths baked in at compile time go stale.
    pub fn repo_path(relative: &str) -> PathBuf {
        let nodes = std::env::var_os("CARGO_MANIFEST_DIR").expect("tests run under cargo");
        Path::new(&nodes).join("..").join(relative)
    }
}

/// The candle device a model node's `device` parameter names: `cpu`, or
/// `cuda` and `metal` in builds with those features.
pub fn model_device(name: &str) -> Result<candle_core::Device, gspeech_sdk::NodeError> {
    use candle_core::Device;
    use gspeech_sdk::NodeError;
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Device::new_cuda(0).map_err(|e| NodeError::param("device", format!("CUDA is not available: {e}"))),
        "metal" => Device::new_metal(0).map_err(|e| NodeError::param("device", format!("Metal is not available: {e}"))),
        other => Err(NodeError::param("device", format!("unknown device {other}"))),
    }
}

/// Every built-in node type, in palette order.
pub fn builtin() -> Vec<Arc<dyn Node>> {
    let mut nodes: Vec<Arc<dyn Node>> = Vec::new();
    nodes.extend(value::nodes());
    nodes.extend(io::nodes());
    nodes.extend(audio::nodes());
    nodes.extend(features::nodes());
    nodes.extend(face::nodes());
    nodes.extend(dataset::nodes());
    nodes.extend(capture::nodes());
    nodes.extend(motion::nodes());
    nodes.extend(splats::nodes());
    nodes.extend(avatar::nodes());
    nodes.extend(camera::nodes());
    nodes.extend(render::nodes());
    nodes.extend(export::nodes());
    nodes.extend(debug::nodes());
    nodes
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_builtin_spec_is_well_formed_and_unique() {
        let mut ids = Vec::new();
        for node in super::builtin() {
            let spec = node.spec();
            spec.check().unwrap();
            assert!(!spec.doc.is_empty(), "{} has no doc", spec.type_id);
            ids.push(spec.type_id);
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "type ids are unique");
    }
}
