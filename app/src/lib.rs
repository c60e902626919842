//! # gspeech
//!
//! The GaussianSpeech Studio host: graph documents ([`graph`]), the node
//! [`registry`], validation ([`validate`]), the caching parallel executor
//! ([`exec`]) and the command line ([`cli`]).

pub mod cli;
pub mod exec;
pub mod graph;
pub mod plugins;
pub mod registry;
pub mod validate;
