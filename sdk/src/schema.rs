//! The canonical form of each data kind: which tensors and attributes a record
//! must have. Checked on plugin outputs, `io.load` and the disk cache.
//!
//! Forms grow only by adding optional entries, so files and plugins written
//! against an older SDK stay valid.

use crate::{DType, PortType, Record};

/// One dimension of a tensor rule.
#[derive(Clone, Copy, Debug)]
pub enum Dim {
    /// Any size.
    Any,
    /// Exactly this size.
    Is(usize),
}

/// What a named tensor must look like.
#[derive(Clone, Copy, Debug)]
pub struct TensorRule {
    /// Tensor name in the record.
    pub name: &'static str,
    /// Allowed element types.
    pub dtypes: &'static [DType],
    /// The dimensions, outermost first.
    pub dims: &'static [Dim],
    /// Whether the tensor must be present.
    pub required: bool,
}

/// The JSON type an attribute must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    /// An integer greater than zero.
    PositiveInt,
    /// A number greater than zero.
    PositiveNumber,
    /// A string.
    Text,
    /// An array of strings.
    TextList,
    /// A JSON object.
    Object,
}

/// What a named attribute must look like.
#[derive(Clone, Copy, Debug)]
pub struct AttrRule {
    /// Attribute name.
    pub name: &'static str,
    /// Its JSON type.
    pub ty: AttrType,
    /// Whether it must be present.
    pub required: bool,
}

/// The canonical form of one data kind.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// Tensor rules; tensors not listed are allowed (extensions).
    pub tensors: &'static [TensorRule],
    /// Attribute rules; attributes not listed are allowed.
    pub attrs: &'static [AttrRule],
    /// At least one of these tensors must be present (empty: no such rule).
    pub one_of: &'static [&'static str],
}

const F32: &[DType] = &[DType::F32];
const U32: &[DType] = &[DType::U32];
const IMAGE: &[DType] = &[DType::U8, DType::F32];
const A: Dim = Dim::Any;

const fn t(name: &'static str, dtypes: &'static [DType], dims: &'static [Dim], required: bool) -> TensorRule {
    TensorRule {
        name,
        dtypes,
        dims,
        required,
    }
}

const fn a(name: &'static str, ty: AttrType, required: bool) -> AttrRule {
    AttrRule { name, ty, required }
}

impl Schema {
    /// The canonical form of a data kind; scalar kinds have an empty form.
    pub fn of(kind: PortType) -> Schema {
        use AttrType::*;
        match kind {
            PortType::Audio => {
                const {
                    Schema {
                        tensors: &[t("samples", F32, &[A, A], true)],
                        attrs: &[a("sample_rate", PositiveInt, true)],
                        one_of: &[],
                    }
                }
            }
            PortType::Features => {
                const {
                    Schema {
                        tensors: &[t("values", F32, &[A, A], true)],
                        attrs: &[a("rate", PositiveNumber, true), a("source", Text, false)],
                        one_of: &[],
                    }
                }
            }
            PortType::Motion => {
                const {
                    Schema {
                        tensors: &[
                            t("vertex_offsets", F32, &[A, A, Dim::Is(3)], false),
                            t("weights", F32, &[A, A], false),
                            // The face-model vertices the offsets are for, when not all of them.
                            t("vertex_indices", U32, &[A], false),
                        ],
                        attrs: &[a("fps", PositiveNumber, true), a("weight_names", TextList, false)],
                        one_of: &["vertex_offsets", "weights"],
                    }
                }
            }
            PortType::FaceModel => {
                const {
                    Schema {
                        tensors: &[
                            // Rest positions [V, 3] and triangles [F, 3] (vertex indices).
                            t("neutral", F32, &[A, Dim::Is(3)], true),
                            t("triangles", U32, &[A, Dim::Is(3)], true),
                            // Blendshape deltas from the neutral [K, V, 3]: neutral + Σ wₖ·exprₖ.
                            t("expressions", F32, &[A, A, Dim::Is(3)], true),
                            // Identity shape deltas [I, V, 3], added the same way.
                            t("identities", F32, &[A, A, Dim::Is(3)], false),
                            // One texture coordinate per vertex [V, 2] (the first one where UV seams split a vertex).
                            t("uvs", F32, &[A, Dim::Is(2)], false),
                            // Exact face-varying texture coordinates: a UV table [U, 2] and each triangle's
                            // corners in it [F, 3].
                            t("uv_coords", F32, &[A, Dim::Is(2)], false),
                            t("uv_triangles", U32, &[A, Dim::Is(3)], false),
                            // Vertex sets for metrics: the lips (lip vertex error) and the upper face
                            // (upper-face dynamics deviation).
                            t("lip_vertices", U32, &[A], false),
                            t("upper_face_vertices", U32, &[A], false),
                            // Facial landmark vertices in the 68-point Multi-PIE order.
                            t("landmarks", U32, &[A], false),
                        ],
                        attrs: &[
                            a("expression_names", TextList, true),
                            a("units", Text, false),
                            a("identity_names", TextList, false),
                            // Named parts of the mesh: {"face": {"vertices": [[start, end], …],
                            // "triangles": [[start, end], …]}, …}, half-open index ranges.
                            a("regions", Object, false),
                            a("name", Text, false),
                        ],
                        one_of: &[],
                    }
                }
            }
            PortType::Avatar => {
                const {
                    Schema {
                        tensors: &[
                            t("means", F32, &[A, Dim::Is(3)], true),
                            t("scales", F32, &[A, Dim::Is(3)], true),
                            t("rotations", F32, &[A, Dim::Is(4)], true),
                            t("opacities", F32, &[A], true),
                            t("colors", F32, &[A, A], true),
                            t("binding", U32, &[A], false),
                            // An avatar with a colour MLP (nodes/src/avatar/model.rs) adds: a latent per
                            // Gaussian [N, L], extra mouth triangles [M, 3] (face-model vertex indices, bound
                            // to after the face's own), and the MLP's weights as `mlp.*` tensors (unlisted,
                            // named by its `config`).
                            t("latents", F32, &[A, A], false),
                            t("mouth_triangles", U32, &[A, Dim::Is(3)], false),
                        ],
                        // The colour MLP's sizes, the face model it is bound to, and what made it.
                        attrs: &[a("config", Object, false)],
                        one_of: &[],
                    }
                }
            }
            PortType::MotionModel => {
                const {
                    Schema {
                        tensors: &[],
                        attrs: &[a("architecture", Text, true), a("config", Object, true)],
                        one_of: &[],
                    }
                }
            }
            PortType::Camera => {
                const {
                    Schema {
                        tensors: &[
                            t("intrinsics", F32, &[A, Dim::Is(3), Dim::Is(3)], true),
                            t("world_to_camera", F32, &[A, Dim::Is(4), Dim::Is(4)], true),
                        ],
                        attrs: &[
                            a("width", PositiveInt, true),
                            a("height", PositiveInt, true),
                            a("near", PositiveNumber, false),
                            a("far", PositiveNumber, false),
                        ],
                        one_of: &[],
                    }
                }
            }
            PortType::Frames => {
                const {
                    Schema {
                        tensors: &[t("rgba", IMAGE, &[A, A, A, Dim::Is(4)], true)],
                        attrs: &[a("fps", PositiveNumber, true)],
                        one_of: &[],
                    }
                }
            }
            PortType::Dataset => {
                const {
                    Schema {
                        tensors: &[],
                        attrs: &[a("root", Text, true), a("splits", Object, false)],
                        one_of: &[],
                    }
                }
            }
            PortType::File => {
                const {
                    Schema {
                        tensors: &[],
                        attrs: &[a("path", Text, true), a("content_hash", Text, false)],
                        one_of: &[],
                    }
                }
            }
            _ => Schema {
                tensors: &[],
                attrs: &[],
                one_of: &[],
            },
        }
    }

    /// Checks a record; the message names the kind and the offending entry.
    pub fn check(&self, record: &Record) -> Result<(), String> {
        let kind = record.kind();
        for rule in self.tensors {
            let Some(tensor) = record.tensor(rule.name) else {
                if rule.required {
                    return Err(format!("{kind} needs a tensor `{}`", rule.name));
                }
                continue;
            };
            if !rule.dtypes.contains(&tensor.dtype()) {
                let allowed: Vec<&str> = rule.dtypes.iter().map(|d| d.name()).collect();
                return Err(format!(
                    "{kind} tensor `{}` is {} but must be {}",
                    rule.name,
                    tensor.dtype(),
                    allowed.join(" or ")
                ));
            }
            let shape = tensor.shape();
            let fits = shape.len() == rule.dims.len()
                && shape.iter().zip(rule.dims).all(|(&n, d)| match d {
                    Dim::Any => true,
                    Dim::Is(m) => n == *m,
                });
            if !fits {
                return Err(format!(
                    "{kind} tensor `{}` has shape {:?} but must be {}",
                    rule.name,
                    shape,
                    describe_dims(rule.dims)
                ));
            }
        }
        if !self.one_of.is_empty() && !self.one_of.iter().any(|n| record.tensor(n).is_some()) {
            return Err(format!(
                "{kind} needs at least one of the tensors {}",
                self.one_of.join(", ")
            ));
        }
        for rule in self.attrs {
            let Some(value) = record.attr(rule.name) else {
                if rule.required {
                    return Err(format!("{kind} needs an attribute `{}`", rule.name));
                }
                continue;
            };
            let ok = match rule.ty {
                AttrType::PositiveInt => value.as_u64().is_some_and(|v| v > 0),
                AttrType::PositiveNumber => value.as_f64().is_some_and(|v| v > 0.0 && v.is_finite()),
                AttrType::Text => value.is_string(),
                AttrType::TextList => value.as_array().is_some_and(|a| a.iter().all(|v| v.is_string())),
                AttrType::Object => value.is_object(),
            };
            if !ok {
                return Err(format!(
                    "{kind} attribute `{}` is {value} but must be {}",
                    rule.name,
                    match rule.ty {
                        AttrType::PositiveInt => "a positive integer",
                        AttrType::PositiveNumber => "a positive number",
                        AttrType::Text => "text",
                        AttrType::TextList => "a list of text",
                        AttrType::Object => "an object",
                    }
                ));
            }
        }
        Ok(())
    }
}

fn describe_dims(dims: &[Dim]) -> String {
    let parts: Vec<String> = dims
        .iter()
        .map(|d| match d {
            Dim::Any => "N".to_string(),
            Dim::Is(n) => n.to_string(),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    fn audio(samples: Tensor) -> Record {
        Record::new(PortType::Audio)
            .with_tensor("samples", samples)
            .with_attr("sample_rate", 16000)
    }

    #[test]
    fn accepts_the_canonical_form() {
        audio(Tensor::from_f32(&[1, 3], vec![0.0; 3]).unwrap())
            .validate()
            .unwrap();
    }

    #[test]
    fn names_wrong_rank_dtype_and_missing_attr() {
        let err = audio(Tensor::from_f32(&[3], vec![0.0; 3]).unwrap())
            .validate()
            .unwrap_err();
        assert_eq!(err, "audio tensor `samples` has shape [3] but must be [N, N]");
        let err = audio(Tensor::from_u8(&[1, 3], vec![0; 3]).unwrap())
            .validate()
            .unwrap_err();
        assert_eq!(err, "audio tensor `samples` is u8 but must be f32");
        let err = Record::new(PortType::Audio)
            .with_tensor("samples", Tensor::from_f32(&[1, 1], vec![0.0]).unwrap())
            .validate()
            .unwrap_err();
        assert_eq!(err, "audio needs an attribute `sample_rate`");
    }

    #[test]
    fn avatars_may_add_a_colour_model() {
        let f32s = |shape: &[usize]| Tensor::from_f32(shape, vec![0.0; shape.iter().product()]).unwrap();
        let plain = Record::new(PortType::Avatar)
            .with_tensor("means", f32s(&[2, 3]))
            .with_tensor("scales", f32s(&[2, 3]))
            .with_tensor("rotations", f32s(&[2, 4]))
            .with_tensor("opacities", f32s(&[2]))
            .with_tensor("colors", f32s(&[2, 3]));
        plain.validate().unwrap();
        let with_mlp = plain
            .clone()
            .with_tensor("latents", f32s(&[2, 8]))
            .with_tensor("mouth_triangles", Tensor::from_u32(&[1, 3], vec![0, 1, 2]).unwrap())
            .with_tensor("mlp.out.bias", f32s(&[3]))
            .with_attr("config", serde_json::json!({}));
        with_mlp.validate().unwrap();
        let err = plain
            .clone()
            .with_tensor("latents", f32s(&[16]))
            .validate()
            .unwrap_err();
        assert_eq!(err, "avatar tensor `latents` has shape [16] but must be [N, N]");
        let err = plain.with_attr("config", "mlp").validate().unwrap_err();
        assert!(err.contains("`config` is \"mlp\" but must be an object"), "{err}");
    }

    #[test]
    fn motion_needs_offsets_or_weights() {
        let err = Record::new(PortType::Motion)
            .with_attr("fps", 25)
            .validate()
            .unwrap_err();
        assert!(err.contains("at least one of"), "{err}");
        Record::new(PortType::Motion)
            .with_attr("fps", 25)
            .with_tensor("weights", Tensor::from_f32(&[2, 1], vec![0.0; 2]).unwrap())
            .validate()
            .unwrap();
    }
}
