//! # gspeech-sdk
//!
//! The contract between GaussianSpeech Studio and every node, built in or plugin:
//!
//! - [`PortType`]: what may flow along an edge;
//! - [`Value`] and [`Record`]: immutable, shared values, each data value in a
//!   canonical form of named [`Tensor`]s plus attributes ([`schema`] lists the forms);
//! - [`ParamSpec`] / [`Params`]: the parameter schema and resolved values;
//! - [`NodeSpec`] and the [`Node`] trait: what a node type declares and computes;
//! - [`RunContext`]: progress, logging, cancellation, scratch and cache folders and
//!   (with the `gpu` feature) a lazily created GPU;
//! - [`store`] and [`fs`]: values in safetensors files, written atomically.
//!
//! The crate is small and dependency-light on purpose: it is the one crate plugin
//! authors build against, and it follows semantic versioning.

pub mod context;
pub mod fs;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod node;
pub mod param;
pub mod plugin;
pub mod port;
pub mod schema;
pub mod spec;
pub mod store;
pub mod tensor;
pub mod testing;
pub mod value;

pub use context::{CancelToken, LogLevel, Reporter, RunContext};
pub use node::{Inputs, Node, NodeError, Outputs};
pub use param::{FileFilter, ParamKind, ParamSpec, ParamValue, Params, PathRole};
pub use port::PortType;
pub use spec::{Caching, NodeSpec, PortSpec};
pub use tensor::{DType, Element, ShapeError, Storage, Tensor};
pub use value::{Attrs, Record, Value};

/// The author's guide's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct AuthorsGuide;
