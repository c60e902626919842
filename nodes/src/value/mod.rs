//! Constant values: the parameters of a graph, to expose and override (`--set`),
//! and to drive other nodes' parameters through edges.

mod constant;

use std::sync::Arc;

use gspeech_sdk::{Node, PortType};

pub use constant::Constant;

/// The constant nodes, one per scalar port type.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    [
        PortType::Float,
        PortType::Int,
        PortType::Bool,
        PortType::Text,
        PortType::Path,
    ]
    .into_iter()
    .map(|ty| Arc::new(Constant::new(ty)) as Arc<dyn Node>)
    .collect()
}
