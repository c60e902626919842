//! `.npz` archives of float arrays, as `numpy.savez` and
//! `numpy.savez_compressed` write them, read with bounds: the archive's size
//! is capped, each entry inflates to at most the same cap whatever its header
//! says, and each `.npy` header is checked against the bytes it holds before
//! anything is allocated for it (`candle_core::Tensor::read_npz` allocates
//! what a header claims first).

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
                return Err(bad(format!("`{name}` cannot be read: {e}")));
            }
        };
        // The declared size is checked before anything is allocated for it,
        // and no more than the cap is inflated whatever it says.
        let size = entry.size();
        if size > max_bytes {
            return Err(bad(format!(
                "`{name}` claims {size} bytes, more than the {max_bytes} an import reads"
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry
            .by_ref()
            .take(max_bytes + 1)
            .read_to_end(&mut data)
            .map_err(|e| bad(format!("`{name}` cannot be read: {e}")))?;
        if data.len() as u64 > max_bytes {
            return Err(bad(format!(
                "`{name}` inflates to more than the {max_bytes} bytes an import reads"
            )));
        }
        let (shape, values) = npy::parse(&data).map_err(|e| bad(format!("`{key}` {e}")))?;
        arrays.insert(key.to_string(), Array { shape, values });
    }
    Ok(arrays)
}
