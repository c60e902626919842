//! The `#[repr(C)]` mirror of `sdk/include/gspeech_plugin.h`. Field for field
//! the same; the header is the reference.

#![allow(missing_docs)]

use std::ffi::{c_char, c_void};

use crate::DType;

/// ABI major version: a plugin of another major version is refused.
pub const ABI_MAJOR: u32 = 1;
/// ABI minor version: a plugin of a newer minor version is refused.
pub const ABI_MINOR: u32 = 0;
/// The symbol every plugin exports, NUL-terminated.
pub const ENTRY_SYMBOL: &[u8] = b"gspeech_plugin_entry\0";

/// `enum gsp_status`: everything went well.
pub const STATUS_OK: i32 = 0;
/// `enum gsp_status`: failed; the message was given with `set_error`.
pub const STATUS_ERROR: i32 = 1;
/// `enum gsp_status`: stopped because the run was cancelled.
pub const STATUS_CANCELLED: i32 = 2;

/// `enum gsp_dtype` code of a dtype.
pub fn dtype_code(dtype: DType) -> u32 {
    match dtype {
        DType::U8 => 0,
        DType::U32 => 1,
        DType::I32 => 2,
        DType::I64 => 3,
        DType::F32 => 4,
        DType::F64 => 5,
    }
}

/// The dtype of an `enum gsp_dtype` code.
pub fn dtype_from_code(code: u32) -> Option<DType> {
    Some(match code {
        0 => DType::U8,
        1 => DType::U32,
        2 => DType::I32,
        3 => DType::I64,
        4 => DType::F32,
        5 => DType::F64,
        _ => return None,
    })
}

/// `gsp_tensor`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct GspTensor {
    pub name: *const c_char,
    pub dtype: u32,
    pub ndim: u32,
    pub shape: *const u64,
    pub data: *const c_void,
    pub byte_len: u64,
    pub owner: *mut c_void,
    pub release: Option<unsafe extern "C" fn(owner: *mut c_void)>,
}

impl GspTensor {
    /// A view of `tensor` named `name`, kept alive by `owner`. `shape` must be
    /// [`shape_u64`] of the tensor and outlive the view, as must `name`.
    pub fn view(
        name: *const c_char,
        tensor: &crate::Tensor,
        shape: &[u64],
        owner: *mut c_void,
        release: Option<unsafe extern "C" fn(*mut c_void)>,
    ) -> GspTensor {
        GspTensor {
            name,
            dtype: dtype_code(tensor.dtype()),
            ndim: shape.len() as u32,
            shape: shape.as_ptr(),
            data: tensor.as_bytes().as_ptr() as *const c_void,
            byte_len: tensor.byte_len() as u64,
            owner,
            release,
        }
    }
}

/// A tensor's shape as the ABI's `uint64_t` sizes.
pub fn shape_u64(tensor: &crate::Tensor) -> Vec<u64> {
    tensor.shape().iter().map(|&d| d as u64).collect()
}

/// `gsp_value`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct GspValue {
    pub socket: *const c_char,
    pub kind: *const c_char,
    pub json: *const c_char,
    pub n_tensors: u64,
    pub tensors: *const GspTensor,
}

/// `gsp_host`.
#[repr(C)]
pub struct GspHost {
    pub ctx: *mut c_void,
    pub node_id: *const c_char,
    pub type_id: *const c_char,
    pub params_json: *const c_char,
    pub temp_root: *const c_char,
    pub n_inputs: u64,
    pub inputs: *const GspValue,
    pub progress: unsafe extern "C" fn(ctx: *mut c_void, fraction: f32, message: *const c_char),
    pub log: unsafe extern "C" fn(ctx: *mut c_void, level: u32, message: *const c_char),
    pub is_cancelled: unsafe extern "C" fn(ctx: *mut c_void) -> i32,
    pub set_error: unsafe extern "C" fn(ctx: *mut c_void, message: *const c_char),
    pub set_output: unsafe extern "C" fn(ctx: *mut c_void, socket: *const c_char, json: *const c_char) -> i32,
    pub alloc_tensor: unsafe extern "C" fn(
        ctx: *mut c_void,
        socket: *const c_char,
        name: *const c_char,
        dtype: u32,
        ndim: u32,
        shape: *const u64,
    ) -> *mut c_void,
    pub share_tensor: unsafe extern "C" fn(ctx: *mut c_void, socket: *const c_char, tensor: *const GspTensor) -> i32,
    pub retain: unsafe extern "C" fn(owner: *mut c_void) -> *mut c_void,
}

/// `gsp_plugin`.
#[repr(C)]
pub struct GspPlugin {
    pub abi_major: u32,
    pub abi_minor: u32,
    pub id: *const c_char,
    pub version: *const c_char,
    pub nodes_json: *const c_char,
    pub create: unsafe extern "C" fn(type_id: *const c_char) -> *mut c_void,
    pub run: unsafe extern "C" fn(instance: *mut c_void, host: *const GspHost) -> i32,
    pub destroy: unsafe extern "C" fn(instance: *mut c_void),
}

/// `gsp_entry_fn`.
pub type GspEntry = unsafe extern "C" fn() -> *const GspPlugin;
