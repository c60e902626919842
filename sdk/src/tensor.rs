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

/// Memory holding a tensor's elements: native-endian bytes, aligned for the
/// element type. A `Vec` of elements is storage; so is memory owned by a plugin
/// or the host, released when the last tensor using it is dropped.
pub trait Storage: std::any::Any + Send + Sync {
    /// The bytes.
    fn bytes(&self) -> &[u8];
}

impl<T: Element + 'static> Storage for Vec<T> {
    fn bytes(&self) -> &[u8] {
        bytemuck::cast_slice(self)
    }
}

/// A tensor element type.
pub trait Element: bytemuck::Pod + Send + Sync + 'static {
    /// Its [`DType`].
    const DTYPE: DType;
}

macro_rules! elements {
    ($($t:ty => $d:ident, $from:ident, $as:ident;)*) => {
        $(impl Element for $t {
            const DTYPE: DType = DType::$d;
        })*

        impl Tensor {
            $(
                #[doc = concat!("A `", stringify!($t), "` tensor of the given shape.")]
                pub fn $from(shape: &[usize], data: Vec<$t>) -> Result<Tensor, ShapeError> {
                    Tensor::from_vec(shape, data)
                }

                #[doc = concat!("The elements, if this is a `", stringify!($t), "` tensor.")]
                pub fn $as(&self) -> Option<&[$t]> {
                    self.as_slice()
                }
            )*
        }
    };
}

elements! {
    u8 => U8, from_u8, as_u8;
    u32 => U32, from_u32, as_u32;
    i32 => I32, from_i32, as_i32;
    i64 => I64, from_i64, as_i64;
    f32 => F32, from_f32, as_f32;
    f64 => F64, from_f64, as_f64;
}

/// A dense row-major tensor. Cloning shares the storage; nothing mutates it.
#[derive(Clone)]
pub struct Tensor {
    dtype: DType,
    shape: Arc<[usize]>,
    storage: Arc<dyn Storage>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor({}{:?})", self.dtype, self.shape)
    }
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

impl Tensor {
    /// A tensor owning a vector of elements.
    pub fn from_vec<T: Element>(shape: &[usize], data: Vec<T>) -> Result<Tensor, ShapeError> {
        Tensor::from_storage(T::DTYPE, shape, Arc::new(data))
    }

    /// A tensor over existing storage, without copying. Fails when the byte count
    /// does not match the shape, or the bytes are not aligned for the element type.
    pub fn from_storage(dtype: DType, shape: &[usize], storage: Arc<dyn Storage>) -> Result<Tensor, ShapeError> {
        let bytes = storage.bytes();
        let elements = bytes.len() / dtype.size();
        let aligned = (bytes.as_ptr() as usize).is_multiple_of(dtype.size()) || bytes.is_empty();
        if !aligned || !bytes.len().is_multiple_of(dtype.size()) || shape.iter().product::<usize>() != elements {
            return Err(ShapeError {
                shape: shape.to_vec(),
                elements,
            });
        }
        Ok(Tensor {
            dtype,
            shape: shape.into(),
            storage,
        })
    }

    /// A scalar `f32` tensor of shape `[]`.
    pub fn scalar_f32(value: f32) -> Tensor {
        Tensor {
            dtype: DType::F32,
            shape: Arc::new([]),
            storage: Arc::new(vec![value]),
        }
    }

    /// Decodes little-endian bytes (as stored in safetensors files) into a tensor.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<Tensor, ShapeError> {
        let elements = bytes.len() / dtype.size();
        if !bytes.len().is_multiple_of(dtype.size()) || shape.iter().product::<usize>() != elements {
            return Err(ShapeError {
                shape: shape.to_vec(),
                elements,
            });
        }
        fn decode<T: Element, const N: usize>(bytes: &[u8], f: fn([u8; N]) -> T) -> Arc<dyn Storage> {
            Arc::new(
                bytes
                    .chunks_exact(N)
                    .map(|c| f(c.try_into().expect("exact chunk")))
                    .collect::<Vec<T>>(),
            )
        }
        let storage = match dtype {
            DType::U8 => Arc::new(bytes.to_vec()),
            DType::U32 => decode(bytes, u32::from_le_bytes),
            DType::I32 => decode(bytes, i32::from_le_bytes),
            DType::I64 => decode(bytes, i64::from_le_bytes),
            DType::F32 => decode(bytes, f32::from_le_bytes),
            DType::F64 => decode(bytes, f64::from_le_bytes),
        };
        Tensor::from_storage(dtype, shape, storage)
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The elements as a typed slice, if `T` is the element type.
    pub fn as_slice<T: Element>(&self) -> Option<&[T]> {
        (T::DTYPE == self.dtype).then(|| bytemuck::cast_slice(self.storage.bytes()))
    }

    /// The shared storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Every element widened to `f64`, in order.
    pub fn values_f64(&self) -> Box<dyn Iterator<Item = f64> + '_> {
        fn widen<'a, T: Element>(t: &'a Tensor, f: fn(T) -> f64) -> Box<dyn Iterator<Item = f64> + 'a> {
            Box::new(t.as_slice::<T>().unwrap_or_default().iter().map(move |&v| f(v)))
        }
        match self.dtype {
            DType::U8 => widen(self, |v: u8| v as f64),
            DType::U32 => widen(self, |v: u32| v as f64),
            DType::I32 => widen(self, |v: i32| v as f64),
            DType::I64 => widen(self, |v: i64| v as f64),
            DType::F32 => widen(self, |v: f32| v as f64),
            DType::F64 => widen(self, |v: f64| v),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.byte_len() / self.dtype.size()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the elements in bytes.
    pub fn byte_len(&self) -> usize {
        self.storage.bytes().len()
    }

    /// The elements as native-endian bytes, without copying.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Whether two tensors share the same storage (no copy was made between them).
    pub fn shares_storage_with(&self, other: &Tensor) -> bool {
        std::ptr::eq(self.as_bytes().as_ptr(), other.as_bytes().as_ptr()) && self.byte_len() == other.byte_len()
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
