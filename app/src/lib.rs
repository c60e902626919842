//! # gspeech
//!
//! The GaussianSpeech Studio host: graph documents ([`graph`]), the node
//! [`registry`], validation ([`validate`]), the caching parallel executor
//! ([`exec`]), the command line ([`cli`]), the per-user folders ([`dirs`])
//! and, with the `editor` feature, the desktop [`editor`].

pub mod cli;
pub mod dirs;
#[cfg(feature = "editor")]
pub mod editor;
pub mod exec;
pub mod graph;
pub mod plugins;
pub mod registry;
pub mod validate;
