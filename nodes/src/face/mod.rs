//! Face models: blendshape rigs on a fixed mesh, the topology every avatar and
//! motion in the project lives on.
//!
//! - [`FaceRig`]: the typed form of a `face_model` value, with [`blend`]
//!   (neutral + Σ wₖ·exprₖ), the blendshape evaluation everyone shares;
//! - [`obj`] and [`import`]: OBJ blendshape rigs (ICT-FaceKit's layout or any
//!   folder of same-topology OBJs) into a rig;
//! - [`asset`]: the compact on-disk form (JSON manifest + safetensors) that
//!   `face.model` loads;
//! - [`flame`]: FLAME as a user-supplied model, with linear blend skinning;
//! - [`vertex_sets`]: the lip and upper-face vertices used by the metrics;
//! - [`raster`]: a CPU rasteriser for looking at meshes.

pub mod asset;
pub mod flame;
pub mod ict;
pub mod import;
mod model;
mod names;
pub mod obj;
mod offsets;
pub mod raster;
pub(crate) mod rig;
pub mod vertex_sets;

use std::sync::Arc;

use gspeech_sdk::Node;

pub use model::{FaceModel, FaceModelFile};
pub use names::{canonical_name, find_name};
pub use offsets::Offsets;
pub use rig::{FaceRig, FaceUvs, Region, add_shapes, blend, to_ranges, vertex_normals};

/// The face nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(FaceModel)]
}
