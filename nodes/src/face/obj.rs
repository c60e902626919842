//! Reading Wavefront OBJ meshes: positions, texture coordinates, polygons and
//! the group (`g`/`o`) and material (`usemtl`) each polygon belongs to.
//! Normals, smoothing groups and everything else are skipped.

use std::path::Path;

use gspeech_sdk::NodeError;

/// One polygon: its corners' vertex indices and, when the file gives them,
/// texture-coordinate indices (both 0-based).
#[derive(Clone, Debug, PartialEq)]
pub struct ObjFace {
    /// Vertex index of each corner.
    pub vertices: Vec<u32>,
    /// Texture-coordinate index of each corner, when every corner has one.
    pub texcoords: Option<Vec<u32>>,
    /// Index into [`ObjMesh::groups`] of the `g`/`o` group the face is in, if any.
    pub group: Option<usize>,
    /// Index into [`ObjMesh::materials`] of the face's `usemtl` material, if any.
    pub material: Option<usize>,
    /// The 1-based line the face is on, for messages.
    pub line: usize,
}

/// A mesh as an OBJ file describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObjMesh {
    /// Vertex positions.
    pub positions: Vec<[f32; 3]>,
    /// Texture coordinates.
    pub texcoords: Vec<[f32; 2]>,
    /// Polygons in file order.
    pub faces: Vec<ObjFace>,
    /// Group names (`g` and `o` statements), in order of first use.
    pub groups: Vec<String>,
    /// Material names (`usemtl` statements), in order of first use.
    pub materials: Vec<String>,
}

impl ObjMesh {
    /// Whether two meshes have the same polygons over the same vertices.
    pub fn same_topology(&self, other: &ObjMesh) -> Result<(), String> {
        if self.positions.len() != other.positions.len() {
            return Err(format!(
                "has {} vertices but the neutral mesh has {}",
                other.positions.len(),
                self.positions.len()
            ));
        }
        if self.faces.len() != other.faces.len() {
            return Err(format!(
                "has {} faces but the neutral mesh has {}",
                other.faces.len(),
                self.faces.len()
            ));
        }
        if let Some((a, b)) = self
            .faces
            .iter()
            .zip(&other.faces)
            .find(|(a, b)| a.vertices != b.vertices)
        {
            return Err(format!(
                "has a face at line {} joining vertices {:?} where the neutral mesh's face (line {}) joins {:?}",
                b.line,
                one_based(&b.vertices),
                a.line,
                one_based(&a.vertices)
            ));
        }
        Ok(())
    }
}

fn one_based(indices: &[u32]) -> Vec<u64> {
    indices.iter().map(|&i| i as u64 + 1).collect()
}

/// Reads an OBJ file; errors name the file and line.
pub fn read_obj(path: &Path) -> Result<ObjMesh, NodeError> {
    let text = std::fs::read_to_string(path).map_err(|e| NodeError::file(path, e))?;
    parse_obj(&text).map_err(|e| NodeError::file(path, e))
}

/// Parses OBJ text. Negative (relative) indices are resolved; errors say the line.
pub fn parse_obj(text: &str) -> Result<ObjMesh, String> {
    let mut mesh = ObjMesh::default();
    let mut group = None;
    let mut material = None;
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        let at = |message: String| format!("line {number}: {message}");
        let mut words = line.split_ascii_whitespace();
        let Some(keyword) = words.next() else { continue };
        match keyword {
            "v" => {
                let p = numbers::<3>(&mut words).map_err(at)?;
                mesh.positions.push(p);
            }
            "vt" => {
                let uv = numbers::<2>(&mut words).map_err(at)?;
                mesh.texcoords.push(uv);
            }
            "f" => {
                let face = parse_face(words, &mesh, number).map_err(at)?;
                mesh.faces.push(ObjFace {
                    group,
                    material,
                    ..face
                });
            }
            "g" | "o" => {
                let name = words.collect::<Vec<_>>().join(" ");
                group = (!name.is_empty()).then(|| intern(&mut mesh.groups, name));
            }
            "usemtl" => {
                let name = words.collect::<Vec<_>>().join(" ");
                material = (!name.is_empty()).then(|| intern(&mut mesh.materials, name));
            }
            _ => {}
        }
    }
    if mesh.positions.is_empty() {
        return Err("has no vertices (`v` lines): is it an OBJ mesh?".into());
    }
    Ok(mesh)
}

fn intern(names: &mut Vec<String>, name: String) -> usize {
    match names.iter().position(|n| *n == name) {
        Some(i) => i,
        None => {
            names.push(name);
            names.len() - 1
        }
    }
}

fn numbers<'a, const N: usize>(words: &mut impl Iterator<Item = &'a str>) -> Result<[f32; N], String> {
    let mut out = [0f32; N];
    for v in out.iter_mut() {
        let word = words.next().ok_or_else(|| format!("expected {N} numbers"))?;
        *v = word.parse().map_err(|_| format!("`{word}` is not a number"))?;
        if !v.is_finite() {
            return Err(format!("`{word}` is not a finite number"));
        }
    }
    Ok(out)
}

/// Resolves a 1-based (or negative, counted from the end) OBJ index.
fn resolve(word: &str, count: usize, what: &str) -> Result<u32, String> {
    let i: i64 = word.parse().map_err(|_| format!("`{word}` is not a {what} index"))?;
    let resolved = if i < 0 { count as i64 + i } else { i - 1 };
    if i == 0 || resolved < 0 || resolved >= count as i64 {
        return Err(format!(
            "{what} index {i} is out of range (the file has {count} so far)"
        ));
    }
    Ok(resolved as u32)
}

fn parse_face<'a>(words: impl Iterator<Item = &'a str>, mesh: &ObjMesh, line: usize) -> Result<ObjFace, String> {
    let mut vertices = Vec::with_capacity(4);
    let mut texcoords = Vec::with_capacity(4);
    let mut all_textured = true;
    for corner in words {
        let mut parts = corner.split('/');
        let v = parts.next().unwrap_or_default();
        vertices.push(resolve(v, mesh.positions.len(), "vertex")?);
        match parts.next().filter(|t| !t.is_empty()) {
            Some(t) => texcoords.push(resolve(t, mesh.texcoords.len(), "texture coordinate")?),
            None => all_textured = false,
        }
    }
    if vertices.len() < 3 {
        return Err(format!("a face needs at least 3 corners, found {}", vertices.len()));
    }
    Ok(ObjFace {
        vertices,
        texcoords: all_textured.then_some(texcoords),
        group: None,
        material: None,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_positions_uvs_faces_and_groups() {
        let text = "# a quad and a triangle\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n\
                    vn 0 0 1\ng front\nusemtl skin\nf 1/1/1 2/2/1 3/3/1 4/4/1\ng back\nf -1 -2 -3\n";
        let mesh = parse_obj(text).unwrap();
        assert_eq!(mesh.positions.len(), 4);
        assert_eq!(mesh.texcoords[2], [1.0, 1.0]);
        assert_eq!(mesh.faces[0].vertices, vec![0, 1, 2, 3]);
        assert_eq!(mesh.faces[0].texcoords, Some(vec![0, 1, 2, 3]));
        assert_eq!(
            mesh.faces[1].vertices,
            vec![3, 2, 1],
            "negative indices count from the end"
        );
        assert_eq!(mesh.faces[1].texcoords, None);
        assert_eq!(mesh.groups, vec!["front", "back"]);
        assert_eq!((mesh.faces[0].group, mesh.faces[1].group), (Some(0), Some(1)));
        assert_eq!(mesh.faces[1].material, Some(0), "the material carries over groups");
        assert_eq!(mesh.faces[1].line, 15);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse_obj("v 0 0 0\nv 1 x 0\n").unwrap_err(),
            "line 2: `x` is not a number"
        );
        assert_eq!(
            parse_obj("v 0 0 0\nf 1 2 3\n").unwrap_err(),
            "line 2: vertex index 2 is out of range (the file has 1 so far)"
        );
        assert_eq!(
            parse_obj("v 0 0 0\nf 1 1\n").unwrap_err(),
            "line 2: a face needs at least 3 corners, found 2"
        );
        assert!(parse_obj("# nothing\n").unwrap_err().contains("has no vertices"));
    }
}
