//! Looking at values while building a graph.

mod inspect;

use std::sync::Arc;

use gspeech_sdk::Node;

pub use inspect::Inspect;

/// The debug nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(Inspect)]
}
