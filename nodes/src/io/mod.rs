//! Values to and from files on disk (the checksummed safetensors store).

mod load;
mod save;

use std::sync::Arc;

use gspeech_sdk::Node;

pub use load::Load;
pub use save::Save;

/// The io nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(Save), Arc::new(Load)]
}
