//! `.npz` archives of float arrays, as `numpy.savez` writes them, read with
//! bounds: the archive's size is capped, and each entry's declared size and
//! `.npy` header are checked against the bytes it holds before anything is
//! allocated for it (`candle_core::Tensor::read_npz` allocates what a header
//! claims first).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::Path;

use gspeech_sdk::NodeError;

use super::read_bounded;
use crate::dataset::faceformer::npy;

/// One array: its shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// The `wanted` float arrays of the archive at `path` (at most `max_bytes`),
/// by name (without `.npy`); those it lacks are left out.
pub fn read(path: &Path, max_bytes: u64, wanted: &[&str]) -> Result<BTreeMap<String, Array>, NodeError> {
    let bytes = read_bounded(path, max_bytes)?;
    let total = bytes.len() as u64;
    let bad = |message: String| NodeError::file(path, message);
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| bad(format!("is not an .npz archive (numpy.savez's zip of .npy files): {e}")))?;
    let mut arrays = BTreeMap::new();
    for &key in wanted {
        let name = format!("{key}.npy");
        let mut entry = match archive.by_name(&name) {
            Ok(entry) => entry,
            Err(zip::result::ZipError::FileNotFound) => continue,
            Err(e) => {
                return Err(bad(format!(
                    "`{name}` cannot be read: {e} (numpy.savez_compressed archives are not read; save with numpy.savez)"
                )));
            }
        };
        // A stored entry is no larger than the archive: the declared size is
        // checked before anything is allocated for it.
        let size = entry.size();
        if size > total {
            return Err(bad(format!(
                "`{name}` claims {size} bytes, more than the archive's {total}"
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(size)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("`{name}` cannot be read: {e}")))?;
        let (shape, values) = npy::parse(&data).map_err(|e| bad(format!("`{key}` {e}")))?;
        arrays.insert(key.to_string(), Array { shape, values });
    }
    Ok(arrays)
}
