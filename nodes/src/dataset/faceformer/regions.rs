//! The lip and upper-face vertex sets of a research topology, read from the
//! files they are published in: FLAME's `FLAME_masks.pkl` (a dict of region
//! name → vertex indices; the lips are `lips`, the upper face `forehead` and
//! `eye_region`), or a text list such as CodeTalker's BIWI `regions/lve.txt`
//! and `regions/fdd.txt` (indices separated by commas or white space).

use std::path::Path;

use gspeech_sdk::NodeError;

use super::pickle::{self, Value};

/// Which set a file gives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The lip vertices (the lip vertex error).
    Lips,
    /// The upper-face vertices (the upper-face dynamics deviation).
    Upper,
}

impl Role {
    /// The regions of `FLAME_masks.pkl` that make the set.
    pub fn flame_regions(self) -> &'static [&'static str] {
        match self {
            Role::Lips => &["lips"],
            Role::Upper => &["forehead", "eye_region"],
        }
    }
}

/// Reads the vertex set `role` from `path` (a `.pkl` of FLAME's masks, else a
/// text list), sorted and without repeats, every index below `vertex_count`.
/// Errors name the file and the key or item at fault.
pub fn read(path: &Path, role: Role, vertex_count: usize) -> Result<Vec<u32>, NodeError> {
    let indices = if path.extension().is_some_and(|e| e == "pkl") {
        from_masks(path, role)?
    } else {
        let text = std::fs::read_to_string(path).map_err(|e| NodeError::file(path, e))?;
        from_text(&text).map_err(|e| NodeError::file(path, e))?
    };
    if indices.is_empty() {
        return Err(NodeError::file(path, "lists no vertices"));
    }
    if let Some(&past) = indices.iter().find(|&&i| i as usize >= vertex_count) {
        return Err(NodeError::file(
            path,
            format!("lists vertex {past}, but the templates have {vertex_count} vertices"),
        ));
    }
    let mut indices = indices;
    indices.sort_unstable();
    indices.dedup();
    Ok(indices)
}

/// Indices separated by commas and/or white space; `#` starts a comment.
fn from_text(text: &str) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default();
        for item in line.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()) {
            let index = item
                .parse::<u32>()
                .map_err(|_| format!("line {}: '{item}' is not a vertex index", number + 1))?;
            out.push(index);
        }
    }
    Ok(out)
}

/// The union of the role's regions in a FLAME masks pickle.
fn from_masks(path: &Path, role: Role) -> Result<Vec<u32>, NodeError> {
    let Value::Dict(pairs) = pickle::load(path)? else {
        return Err(NodeError::file(path, "is not FLAME's masks layout: it does not hold a dict"));
    };
    let mut out = Vec::new();
    for region in role.flame_regions() {
        let value = pairs
            .iter()
            .find(|(key, _)| key.text().as_deref() == Some(*region))
            .map(|(_, value)| value)
            .ok_or_else(|| {
                let keys: Vec<String> = pairs.iter().filter_map(|(k, _)| k.text()).collect();
                NodeError::file(path, format!("has no region '{region}'; it has {}", keys.join(", ")))
            })?;
        let Value::Array(array) = value else {
            return Err(NodeError::file(
                path,
                format!("key '{region}' holds {}, not an array of vertex indices", value.kind()),
            ));
        };
        for &v in array.values.iter() {
            if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f64 {
                return Err(NodeError::file(path, format!("key '{region}' holds {v}, not a vertex index")));
            }
            out.push(v as u32);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_take_commas_spaces_and_lines() {
        assert_eq!(from_text("3, 1, 2\n7 5\t4  # the rest\n\n9").unwrap(), vec![3, 1, 2, 7, 5, 4, 9]);
        let error = from_text("1, 2\n3, x4").unwrap_err();
        assert!(error.contains("line 2") && error.contains("x4"), "{error}");
    }
}
