//! Dense, immutable, shared tensors: the payload of every data value.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Element type of a [`Tensor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// Unsigned 8-bit integer (images).
    U8,
    /// Unsigned 32-bit integer (indices).
    U32,
    /// Signed 32-bit integer.
    I32,
    /// Signed 64-bit integer.
    I64,
    /// 32-bit float (almost everything).
    F32,
    /// 64-bit float.
    F64,
}

impl DType {
    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::U8 => 1,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::I64 | DType::F64 => 8,
        }
    }

    /// Lower-case name (`f32`).
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::U32 => "u32",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Typed element storage, shared between every clone of a tensor.
#[derive(Clone, Debug)]
pub enum TensorData {
    /// `u8` elements.
    U8(Arc<[u8]>),
    /// `u32` elements.
    U32(Arc<[u32]>),
    /// `i32` elements.
    I32(Arc<[i32]>),
    /// `i64` elements.
    I64(Arc<[i64]>),
    /// `f32` elements.
    F32(Arc<[f32]>),
    /// `f64` elements.
    F64(Arc<[f64]>),
}

/// A dense row-major tensor. Cloning shares the data; nothing mutates it.
#[derive(Clone, Debug)]
pub struct Tensor {
    shape: Arc<[usize]>,
    data: TensorData,
}

/// A tensor whose element count does not match its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    /// The requested shape.
    pub shape: Vec<usize>,
    /// How many elements were supplied.
    pub elements: usize,
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "shape {:?} needs {} elements but {} were given",
            self.shape,
            self.shape.iter().product::<usize>(),
            self.elements
        )
    }
}

impl std::error::Error for ShapeError {}

macro_rules! typed_constructors {
    ($($ctor:ident, $view:ident, $t:ty, $variant:ident;)*) => {
        impl Tensor {
            $(
                #[doc = concat!("A `", stringify!($t), "` tensor of the given shape.")]
                pub fn $ctor(shape: &[usize], data: impl Into<Arc<[$t]>>) -> Result<Tensor, ShapeError> {
                    let data: Arc<[$t]> = data.into();
                    Tensor::new(shape, TensorData::$variant(data))
                }

                #[doc = concat!("The elements, if this is a `", stringify!($t), "` tensor.")]
                pub fn $view(&self) -> Option<&[$t]> {
                    match &self.data {
                        TensorData::$variant(d) => Some(d),
                        _ => None,
                    }
                }
            )*
        }
    };
}

typed_constructors! {
    from_u8, as_u8, u8, U8;
    from_u32, as_u32, u32, U32;
    from_i32, as_i32, i32, I32;
    from_i64, as_i64, i64, I64;
    from_f32, as_f32, f32, F32;
    from_f64, as_f64, f64, F64;
}

impl Tensor {
    /// A tensor over existing storage; fails when the element count differs from the shape's.
    pub fn new(shape: &[usize], data: TensorData) -> Result<Tensor, ShapeError> {
        let elements = data_len(&data);
        if shape.iter().product::<usize>() != elements {
            return Err(ShapeError {
                shape: shape.to_vec(),
                elements,
            });
        }
        Ok(Tensor {
            shape: shape.into(),
            data,
        })
    }

    /// A scalar `f32` tensor of shape `[]`.
    pub fn scalar_f32(value: f32) -> Tensor {
        Tensor {
            shape: Arc::new([]),
            data: TensorData::F32(Arc::new([value])),
        }
    }

    /// Decodes little-endian bytes (as stored in safetensors files) into a tensor.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor, ShapeError> {
        let elements = bytes.len() / dtype.size();
        if bytes.len() % dtype.size() != 0 || shape.iter().product::<usize>() != elements {
            return Err(ShapeError {
                shape: shape.to_vec(),
                elements,
            });
        }
        fn decode<T: bytemuck::Pod, const N: usize>(bytes: &[u8], f: fn([u8; N]) -> T) -> Arc<[T]> {
            bytes
                .chunks_exact(N)
                .map(|c| f(c.try_into().expect("exact chunk")))
                .collect()
        }
        let data = match dtype {
            DType::U8 => TensorData::U8(bytes.into()),
            DType::U32 => TensorData::U32(decode(bytes, u32::from_le_bytes)),
            DType::I32 => TensorData::I32(decode(bytes, i32::from_le_bytes)),
            DType::I64 => TensorData::I64(decode(bytes, i64::from_le_bytes)),
            DType::F32 => TensorData::F32(decode(bytes, f32::from_le_bytes)),
            DType::F64 => TensorData::F64(decode(bytes, f64::from_le_bytes)),
        };
        Tensor::new(shape, data)
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        match self.data {
            TensorData::U8(_) => DType::U8,
            TensorData::U32(_) => DType::U32,
            TensorData::I32(_) => DType::I32,
            TensorData::I64(_) => DType::I64,
            TensorData::F32(_) => DType::F32,
            TensorData::F64(_) => DType::F64,
        }
    }

    /// The shared storage.
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        data_len(&self.data)
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the elements in bytes.
    pub fn byte_len(&self) -> usize {
        self.len() * self.dtype().size()
    }

    /// The elements as native-endian bytes, without copying.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.data {
            TensorData::U8(d) => d,
            TensorData::U32(d) => bytemuck::cast_slice(d),
            TensorData::I32(d) => bytemuck::cast_slice(d),
            TensorData::I64(d) => bytemuck::cast_slice(d),
            TensorData::F32(d) => bytemuck::cast_slice(d),
            TensorData::F64(d) => bytemuck::cast_slice(d),
        }
    }

    /// Whether two tensors share the same storage (no copy was made between them).
    pub fn shares_storage_with(&self, other: &Tensor) -> bool {
        std::ptr::eq(self.as_bytes().as_ptr(), other.as_bytes().as_ptr()) && self.byte_len() == other.byte_len()
    }
}

fn data_len(data: &TensorData) -> usize {
    match data {
        TensorData::U8(d) => d.len(),
        TensorData::U32(d) => d.len(),
        TensorData::I32(d) => d.len(),
        TensorData::I64(d) => d.len(),
        TensorData::F32(d) => d.len(),
        TensorData::F64(d) => d.len(),
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Tensor) -> bool {
        self.shape == other.shape && self.dtype() == other.dtype() && self.as_bytes() == other.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_must_match_elements() {
        assert!(Tensor::from_f32(&[2, 3], vec![0.0; 6]).is_ok());
        let err = Tensor::from_f32(&[2, 3], vec![0.0; 5]).unwrap_err();
        assert_eq!(err.elements, 5);
        assert!(err.to_string().contains("needs 6 elements"));
    }

    #[test]
    fn little_endian_bytes_round_trip() {
        let t = Tensor::from_f64(&[3], vec![1.5, -2.0, 1e-300]).unwrap();
        let bytes: Vec<u8> = t.as_f64().unwrap().iter().flat_map(|v| v.to_le_bytes()).collect();
        let back = Tensor::from_le_bytes(DType::F64, &[3], &bytes).unwrap();
        assert_eq!(back, t);
        assert!(Tensor::from_le_bytes(DType::F32, &[2], &bytes[..7]).is_err());
    }

    #[test]
    fn clones_share_storage() {
        let t = Tensor::from_u32(&[2, 2], vec![1, 2, 3, 4]).unwrap();
        let c = t.clone();
        assert!(c.shares_storage_with(&t));
        let copy = Tensor::from_u32(&[2, 2], vec![1, 2, 3, 4]).unwrap();
        assert_eq!(copy, t);
        assert!(!copy.shares_storage_with(&t));
    }
}
