//! `.npy` files of 32- or 64-bit floats, and the number decoding the pickle
//! reader shares (floats, and the integers of region masks).
//!
//! Hand-written rather than `candle_core::Tensor::read_npy`: the layout check
//! must read only each file's header (all of BIWI's vertices are tens of
//! gigabytes), candle keeps its header parser private, takes every file as
//! little-endian, and allocates what a header claims before checking the
//! file holds that much.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use gspeech_sdk::NodeError;

/// What an element is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    /// IEEE floating point.
    Float,
    /// Two's-complement integer (vertex indices in region masks).
    Signed,
    /// Unsigned integer.
    Unsigned,
}

/// A numeric element type with its byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dtype {
    /// What each element is.
    pub element: Element,
    /// Bytes per element: 4 or 8.
    pub size: usize,
    /// Most significant byte first.
    pub big_endian: bool,
}

impl Dtype {
    /// Parses a numpy type string of a 32- or 64-bit float or integer:
    /// `f4`, `<f8`, `>i8`, `=u4`, `float32`, `int64`, `uint32`, ….
    pub fn parse(descr: &str) -> Option<Dtype> {
        let (big_endian, rest) = match descr.as_bytes().first() {
            Some(b'>') => (true, &descr[1..]),
            Some(b'<' | b'=' | b'|') => (false, &descr[1..]),
            _ => (false, descr),
        };
        let (element, size) = match rest {
            "f4" | "float32" => (Element::Float, 4),
            "f8" | "float64" => (Element::Float, 8),
            "i4" | "int32" => (Element::Signed, 4),
            "i8" | "int64" => (Element::Signed, 8),
            "u4" | "uint32" => (Element::Unsigned, 4),
            "u8" | "uint64" => (Element::Unsigned, 8),
            _ => return None,
        };
        Some(Dtype {
            element,
            size,
            big_endian,
        })
    }

    /// The same element type in the byte order numpy names by `order`
    /// (`<`, `>`, `=` or `|`); `None` for any other character.
    pub fn with_order(self, order: &str) -> Option<Dtype> {
        match order {
            "<" | "=" | "|" => Some(Dtype {
                big_endian: false,
                ..self
            }),
            ">" => Some(Dtype {
                big_endian: true,
                ..self
            }),
            _ => None,
        }
    }
}

/// Elements in `shape`, or `None` when the product overflows.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// Decodes `raw` (exactly `element_count(shape) · dtype.size` bytes, as the
/// caller checks) into row-major values, reordering column-major data.
pub fn decode_values(raw: &[u8], dtype: Dtype, shape: &[usize], fortran: bool) -> Vec<f64> {
    let value = |chunk: &[u8]| -> f64 {
        let mut bytes = [0u8; 8];
        bytes[..dtype.size].copy_from_slice(chunk);
        if dtype.big_endian {
            bytes[..dtype.size].reverse();
        }
        let four = [bytes[0], bytes[1], bytes[2], bytes[3]];
        match (dtype.element, dtype.size) {
            (Element::Float, 4) => f32::from_le_bytes(four) as f64,
            (Element::Float, _) => f64::from_le_bytes(bytes),
            (Element::Signed, 4) => i32::from_le_bytes(four) as f64,
            (Element::Signed, _) => i64::from_le_bytes(bytes) as f64,
            (Element::Unsigned, 4) => u32::from_le_bytes(four) as f64,
            (Element::Unsigned, _) => u64::from_le_bytes(bytes) as f64,
        }
    };
    let stored: Vec<f64> = raw.chunks_exact(dtype.size).map(value).collect();
    if !fortran || shape.len() < 2 {
        return stored;
    }
    // Column-major: the first index varies fastest. Walk the stored order and
    // put each value at its row-major place.
    let mut strides = vec![1usize; shape.len()];
    for k in (0..shape.len() - 1).rev() {
        strides[k] = strides[k + 1] * shape[k + 1];
    }
    let mut values = vec![0.0; stored.len()];
    for (f, &v) in stored.iter().enumerate() {
        let (mut rest, mut c) = (f, 0);
        for (k, &d) in shape.iter().enumerate() {
            c += (rest % d) * strides[k];
            rest /= d;
        }
        values[c] = v;
    }
    values
}

/// What a `.npy` header says.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Element type.
    pub dtype: Dtype,
    /// Column-major data.
    pub fortran_order: bool,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Where the data starts.
    pub data_offset: usize,
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Reads only the header of the `.npy` file at `path`.
pub fn read_header(path: &Path) -> Result<Header, NodeError> {
    let mut file = File::open(path).map_err(|e| NodeError::file(path, e))?;
    let mut start = [0u8; 12];
    let got = read_up_to(&mut file, &mut start).map_err(|e| NodeError::file(path, e))?;
    let (length, offset) = header_length(&start[..got]).map_err(|e| NodeError::file(path, e))?;
    let size = file.metadata().map_err(|e| NodeError::file(path, e))?.len();
    if (offset + length) as u64 > size {
        return Err(NodeError::file(
            path,
            format!("is not a .npy file: its header claims {length} bytes, beyond the file's {size}"),
        ));
    }
    let mut text = vec![0u8; offset + length];
    text[..got].copy_from_slice(&start[..got]);
    file.read_exact(&mut text[got..])
        .map_err(|e| NodeError::file(path, e))?;
    parse_header(&text[offset..], offset + length).map_err(|e| NodeError::file(path, e))
}

/// Reads the whole `.npy` file at `path`: its shape and row-major values.
pub fn read(path: &Path) -> Result<(Vec<usize>, Vec<f32>), NodeError> {
    let header = read_header(path)?;
    let size = std::fs::metadata(path).map_err(|e| NodeError::file(path, e))?.len();
    check_data(&header, size - header.data_offset as u64).map_err(|e| NodeError::file(path, e))?;
    let bytes = std::fs::read(path).map_err(|e| NodeError::file(path, e))?;
    Ok(values(&header, &bytes))
}

/// The shape and row-major values of a `.npy` file's bytes (an entry of an
/// `.npz` archive); the error says what is wrong, for the caller to name the file.
pub fn parse(bytes: &[u8]) -> Result<(Vec<usize>, Vec<f32>), String> {
    let (length, offset) = header_length(bytes)?;
    let text = bytes.get(offset..offset + length).ok_or_else(|| {
        format!(
            "is not a .npy file: its header claims {length} bytes, beyond its {}",
            bytes.len()
        )
    })?;
    let header = parse_header(text, offset + length)?;
    check_data(&header, (bytes.len() - header.data_offset) as u64)?;
    Ok(values(&header, bytes))
}

/// Whether `stored` bytes of data are what the header's shape needs.
fn check_data(header: &Header, stored: u64) -> Result<(), String> {
    let needed = element_count(&header.shape).and_then(|n| n.checked_mul(header.dtype.size));
    if needed.map(|n| n as u64) == Some(stored) {
        return Ok(());
    }
    Err(format!(
        "holds {stored} bytes of data, but its header's shape {:?} of {}-byte floats needs {}",
        header.shape,
        header.dtype.size,
        needed.map_or("more than can be addressed".into(), |n| n.to_string())
    ))
}

/// The values of a file whose data [`check_data`] accepted, as f32.
fn values(header: &Header, bytes: &[u8]) -> (Vec<usize>, Vec<f32>) {
    let values = decode_values(
        &bytes[header.data_offset..],
        header.dtype,
        &header.shape,
        header.fortran_order,
    );
    (header.shape.clone(), values.into_iter().map(|v| v as f32).collect())
}

fn read_up_to(file: &mut File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buffer.len() {
        match file.read(&mut buffer[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The header text's length and where it starts, from the file's first bytes.
fn header_length(start: &[u8]) -> Result<(usize, usize), String> {
    if start.len() < 10 || !start.starts_with(MAGIC) {
        return Err("is not a .npy file (no \\x93NUMPY magic)".into());
    }
    match start[6] {
        1 => Ok((u16::from_le_bytes([start[8], start[9]]) as usize, 10)),
        2 | 3 if start.len() >= 12 => Ok((u32::from_le_bytes(start[8..12].try_into().unwrap()) as usize, 12)),
        v => Err(format!(
            "is a .npy file of format version {v}, which this reader does not know"
        )),
    }
}

/// Parses the header's Python dict literal, e.g.
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (10, 36), }`.
fn parse_header(text: &[u8], data_offset: usize) -> Result<Header, String> {
    let text = std::str::from_utf8(text).map_err(|_| "has a .npy header that is not text".to_string())?;
    let value = |key: &str| -> Result<&str, String> {
        let at = text
            .find(&format!("'{key}'"))
            .ok_or_else(|| format!("has a .npy header without '{key}': {text}"))?;
        let rest = text[at + key.len() + 2..].trim_start();
        Ok(rest.strip_prefix(':').unwrap_or(rest).trim_start())
    };
    let descr = value("descr")?;
    let descr = descr.get(1..).and_then(|d| d.split(['\'', '"']).next()).unwrap_or("");
    let dtype = Dtype::parse(descr)
        .filter(|d| d.element == Element::Float)
        .ok_or_else(|| format!("holds elements of type '{descr}'; only 32- and 64-bit floats are read"))?;
    let fortran_order = value("fortran_order")?.starts_with("True");
    let shape = value("shape")?;
    let inside = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| format!("has a .npy header whose shape is not a tuple: {text}"))?;
    let shape = inside
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("has a .npy header with a bad shape: {text}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Header {
        dtype,
        fortran_order,
        shape,
        data_offset,
    })
}

/// Writes a version-1 `.npy` file of little-endian f4 values.
#[cfg(test)]
pub(crate) fn write_f32(path: &Path, shape: &[usize], values: &[f32]) {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d},")).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
        dims.join(" ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = MAGIC.to_vec();
    bytes.extend([1, 0]);
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faceformer_npy_reads_back_what_was_written_and_names_a_short_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        write_f32(&path, &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.5]);
        assert_eq!(read(&path).unwrap(), (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.5]));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let message = read(&path).unwrap_err().to_string();
        assert!(
            message.contains("a.npy") && message.contains("holds 20 bytes"),
            "{message}"
        );
    }

    #[test]
    fn faceformer_npy_reorders_column_major_and_big_endian_data() {
        // [[0, 1, 2], [3, 4, 5]] stored column-major: 0 3 1 4 2 5.
        let raw: Vec<u8> = [0.0f64, 3.0, 1.0, 4.0, 2.0, 5.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let dtype = Dtype::parse(">f8").unwrap();
        assert_eq!(
            decode_values(&raw, dtype, &[2, 3], true),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
        );
        assert_eq!(Dtype::parse("f4").unwrap().with_order(">"), Dtype::parse(">f4"));
        let big_int = Dtype::parse(">i4").unwrap();
        assert_eq!((big_int.element, big_int.size), (Element::Signed, 4));
        assert_eq!(decode_values(&(-7i32).to_be_bytes(), big_int, &[1], false), vec![-7.0]);
        assert_eq!(Dtype::parse("<U10"), None);
    }
}
