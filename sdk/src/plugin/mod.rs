//! Plugins: node types in shared libraries, loaded by the host at run time.
//!
//! [`abi`] mirrors the C header `sdk/include/gspeech_plugin.h`. A Rust plugin
//! implements [`Node`](crate::Node) like a built-in node and exports its nodes
//! with one [`export_plugin!`](crate::export_plugin) line; [`export`] holds the
//! glue that turns the C calls into `Node::run` calls.
//!
//! Memory crosses the boundary without copies: a tensor lent to the other side
//! carries an `owner` handle and the `release` function of the side that
//! allocated it, and [`ForeignStorage`] calls that function when the last
//! tensor using the memory is dropped.

pub mod abi;
pub mod export;

use std::ffi::c_void;
use std::sync::Arc;

use crate::Storage;

pub use export::{Exported, destroy_instance, run_instance};

/// Memory allocated on the other side of the plugin boundary, released through
/// the owner's function when dropped.
pub struct ForeignStorage {
    data: *const u8,
    len: usize,
    owner: *mut c_void,
    release: Option<unsafe extern "C" fn(*mut c_void)>,
}

// The memory is immutable while shared and released exactly once; the other
// side's release function is thread-safe by the ABI's contract.
unsafe impl Send for ForeignStorage {}
unsafe impl Sync for ForeignStorage {}

impl ForeignStorage {
    /// Wraps `len` bytes at `data`, kept alive by `owner` until `release(owner)`.
    ///
    /// # Safety
    /// `data` must point to `len` readable bytes that stay valid and unchanged
    /// until `release(owner)` is called.
    pub unsafe fn new(
        data: *const u8,
        len: usize,
        owner: *mut c_void,
        release: Option<unsafe extern "C" fn(*mut c_void)>,
    ) -> ForeignStorage {
        ForeignStorage {
            data,
            len,
            owner,
            release,
        }
    }

    /// The owner handle and its release function.
    pub fn owner(&self) -> (*mut c_void, Option<unsafe extern "C" fn(*mut c_void)>) {
        (self.owner, self.release)
    }
}

impl Storage for ForeignStorage {
    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: guaranteed by the contract of `ForeignStorage::new`.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl Drop for ForeignStorage {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: the owner is released once, here.
            unsafe { release(self.owner) }
        }
    }
}

/// Lends storage to the other side: an owner handle keeping it alive, and the
/// function that releases that handle.
pub fn lend(storage: &Arc<dyn Storage>) -> (*mut c_void, unsafe extern "C" fn(*mut c_void)) {
    (Box::into_raw(Box::new(storage.clone())) as *mut c_void, release_lent)
}

/// The storage behind a handle lent by [`lend`] in this same library, if
/// `release` is this library's own release function; the handle stays valid.
///
/// # Safety
/// `owner` must be live when `release` is this library's [`release_lent`].
pub unsafe fn clone_lent(
    owner: *mut c_void,
    release: Option<unsafe extern "C" fn(*mut c_void)>,
) -> Option<Arc<dyn Storage>> {
    let own = release.is_some_and(|r| std::ptr::fn_addr_eq(r, release_lent as unsafe extern "C" fn(*mut c_void)));
    // SAFETY: made by `lend` in this library, and still live by contract.
    own.then(|| unsafe { &*(owner as *const Arc<dyn Storage>) }.clone())
}

/// A second owner handle for storage lent by [`lend`].
///
/// # Safety
/// `owner` must be a live handle made by [`lend`] in this library.
pub unsafe extern "C" fn retain_lent(owner: *mut c_void) -> *mut c_void {
    // SAFETY: by contract.
    let storage = unsafe { &*(owner as *const Arc<dyn Storage>) };
    Box::into_raw(Box::new(storage.clone())) as *mut c_void
}

/// Releases a handle made by [`lend`] or [`retain_lent`].
///
/// # Safety
/// `owner` must be a live handle made in this library, released once.
pub unsafe extern "C" fn release_lent(owner: *mut c_void) {
    if !owner.is_null() {
        // SAFETY: by contract.
        drop(unsafe { Box::from_raw(owner as *mut Arc<dyn Storage>) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tensor;

    #[test]
    fn lent_storage_comes_back_without_a_copy() {
        let t = Tensor::from_f32(&[4], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let (owner, release) = lend(t.storage());
        let back = unsafe { clone_lent(owner, Some(release)) }.unwrap();
        let again = Tensor::from_storage(t.dtype(), t.shape(), back).unwrap();
        assert!(again.shares_storage_with(&t));
        unsafe { release_lent(owner) };
        assert!(
            unsafe { clone_lent(owner, None) }.is_none(),
            "another library's handle is not ours"
        );
    }

    #[test]
    fn foreign_storage_releases_its_owner_once() {
        let t = Tensor::from_u8(&[3], vec![7, 8, 9]).unwrap();
        let (owner, release) = lend(t.storage());
        let before = Arc::strong_count(t.storage());
        let foreign = unsafe { ForeignStorage::new(t.as_bytes().as_ptr(), 3, owner, Some(release)) };
        assert_eq!(foreign.bytes(), &[7, 8, 9]);
        drop(foreign);
        assert_eq!(Arc::strong_count(t.storage()), before - 1);
    }
}
