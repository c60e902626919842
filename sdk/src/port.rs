//! Port types: what may flow along an edge between two sockets.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The type of a socket. Data types carry a [`Record`](crate::Record); scalar
/// types carry a plain value and may also drive a node's parameter of the same
/// kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortType {
    /// Sampled sound: `samples` f32 `[channels, frames]`, `sample_rate`.
    Audio,
    /// A feature sequence at a fixed rate: `values` f32 `[frames, dims]`, `rate`.
    Features,
    /// Face motion at a frame rate: vertex offsets and/or blendshape weights.
    Motion,
    /// A face mesh rig: neutral, triangles, expression and identity shapes.
    FaceModel,
    /// Gaussians, optionally bound to the triangles of a face model.
    Avatar,
    /// The weights and configuration of a learned speech-to-motion model.
    MotionModel,
    /// One or more pinhole cameras with a shared image size.
    Camera,
    /// A sequence of RGBA images at a frame rate.
    Frames,
    /// A folder of paired speech and motion sequences with splits.
    Dataset,
    /// A file on disk, identified by path and content hash.
    File,
    /// A whole number.
    Int,
    /// A real number.
    Float,
    /// True or false.
    Bool,
    /// A line of text.
    Text,
    /// A path on disk.
    Path,
    /// Accepts any value; only valid on inputs (for generic nodes such as `io.save`).
    Any,
}

impl PortType {
    /// Every port type, in a stable order.
    pub const ALL: [PortType; 16] = [
        PortType::Audio,
        PortType::Features,
        PortType::Motion,
        PortType::FaceModel,
        PortType::Avatar,
        PortType::MotionModel,
        PortType::Camera,
        PortType::Frames,
        PortType::Dataset,
        PortType::File,
        PortType::Int,
        PortType::Float,
        PortType::Bool,
        PortType::Text,
        PortType::Path,
        PortType::Any,
    ];

    /// The name used in graph files, events and messages (`face_model`).
    pub fn name(self) -> &'static str {
        match self {
            PortType::Audio => "audio",
            PortType::Features => "features",
            PortType::Motion => "motion",
            PortType::FaceModel => "face_model",
            PortType::Avatar => "avatar",
            PortType::MotionModel => "motion_model",
            PortType::Camera => "camera",
            PortType::Frames => "frames",
            PortType::Dataset => "dataset",
            PortType::File => "file",
            PortType::Int => "int",
            PortType::Float => "float",
            PortType::Bool => "bool",
            PortType::Text => "text",
            PortType::Path => "path",
            PortType::Any => "any",
        }
    }

    /// Parses a name produced by [`PortType::name`].
    pub fn from_name(name: &str) -> Option<PortType> {
        PortType::ALL.into_iter().find(|t| t.name() == name)
    }

    /// Whether values of this type are records of named tensors and attributes.
    pub fn is_data(self) -> bool {
        !matches!(
            self,
            PortType::Int | PortType::Float | PortType::Bool | PortType::Text | PortType::Path | PortType::Any
        )
    }

    /// Whether an output of type `from` may be connected to an input of this type.
    /// `Any` accepts everything and an `Int` widens to a `Float`.
    pub fn accepts(self, from: PortType) -> bool {
        self == from || self == PortType::Any || (self == PortType::Float && from == PortType::Int)
    }
}

impl fmt::Display for PortType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in PortType::ALL {
            assert_eq!(PortType::from_name(t.name()), Some(t));
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.name()));
        }
    }

    #[test]
    fn compatibility_is_exact_except_any_and_widening() {
        assert!(PortType::Audio.accepts(PortType::Audio));
        assert!(!PortType::Audio.accepts(PortType::Features));
        assert!(PortType::Any.accepts(PortType::Avatar));
        assert!(PortType::Float.accepts(PortType::Int));
        assert!(!PortType::Int.accepts(PortType::Float));
    }
}
