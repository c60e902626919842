//! The 3D Gaussian Splatting `.ply` layout: one `vertex` element with `x, y, z`,
//! `nx, ny, nz`, `f_dc_0..2`, `f_rest_*`, `opacity` (a logit), `scale_0..2`
//! (logarithms) and `rot_0..3` (a quaternion `w, x, y, z`, not necessarily
//! normalised).
//!
//! Reading accepts what other tools write: binary little- or big-endian or
//! ASCII, any property order, any scalar type, extra properties and elements
//! (ignored), and 0, 9, 24 or 45 `f_rest_*` properties (degree 0 to 3). The
//! `f_rest_*` coefficients are channel-major (all of red's, then green's, then
//! blue's), as the original implementation writes them. Writing produces
//! binary little-endian in the original property order.
//!
//! The same reader takes plain polygon meshes ([`parse_mesh`]): the `vertex`
//! element's positions and the `face` element's vertex index lists, as mesh
//! trackers export them.

use std::path::Path;

use gspeech_sdk::{CancelToken, NodeError, fs::write_atomic};

use super::{Gaussians, sh_coefficients};

/// Reads a splat `.ply` file; errors name the file and, for the header, the line.
pub fn read(path: &Path, cancel: &CancelToken) -> Result<Gaussians, NodeError> {
    let bytes = std::fs::read(path).map_err(|e| NodeError::file(path, e))?;
    parse(&bytes, cancel).map_err(|e| match e {
        ParseError::Cancelled => NodeError::Cancelled,
        ParseError::Invalid(message) => NodeError::file(path, message),
    })
}

/// Writes Gaussians as a binary little-endian splat `.ply`, atomically.
pub fn write(path: &Path, gaussians: &Gaussians, cancel: &CancelToken) -> Result<(), NodeError> {
    gaussians.check().map_err(NodeError::other)?;
    write_atomic(path, &encode(gaussians), cancel)
}

/// Why a file could not be parsed.
#[derive(Debug, PartialEq)]
pub enum ParseError {
    /// The cancel token was set while reading.
    Cancelled,
    /// What is wrong with the file.
    Invalid(String),
}

impl From<String> for ParseError {
    fn from(message: String) -> ParseError {
        ParseError::Invalid(message)
    }
}

/// The file's bytes as Gaussians.
pub fn parse(bytes: &[u8], cancel: &CancelToken) -> Result<Gaussians, ParseError> {
    let header = Header::parse(bytes)?;
    let mut data = Data {
        bytes: &bytes[header.data_start..],
        at: 0,
        format: header.format,
    };
    let mut vertex = None;
    for element in &header.elements {
        if element.name == "vertex" {
            vertex = Some(element);
            break;
        }
        for row in 0..element.count {
            for property in &element.properties {
                data.skip(property)
                    .map_err(|e| format!("element `{}` row {row}: {e}", element.name))?;
            }
        }
    }
    let vertex = vertex.ok_or_else(|| "has no `vertex` element: it is not a Gaussian splat file".to_string())?;
    let fields = Fields::find(vertex)?;
    let coefficients = sh_coefficients(fields.sh_degree);
    let n = vertex.count;
    let mut g = Gaussians::empty(fields.sh_degree);
    g.means.reserve(n);
    g.scales.reserve(n);
    g.rotations.reserve(n);
    g.opacities.reserve(n);
    let mut sh = Vec::with_capacity(n * 3 * coefficients);
    let mut row = vec![0f64; vertex.properties.len()];
    for i in 0..n {
        if i % 65536 == 0 && cancel.is_cancelled() {
            return Err(ParseError::Cancelled);
        }
        for (value, property) in row.iter_mut().zip(&vertex.properties) {
            *value = data
                .read(property)
                .map_err(|e| format!("vertex {i} of {n}, property `{}`: {e}", property.name))?;
        }
        let get = |index: usize| -> Result<f32, String> {
            let v = row[index] as f32;
            if v.is_finite() {
                Ok(v)
            } else {
                Err(format!(
                    "vertex {i}: property `{}` is {}, not a finite number",
                    vertex.properties[index].name, row[index]
                ))
            }
        };
        g.means.push([
            get(fields.position[0])?,
            get(fields.position[1])?,
            get(fields.position[2])?,
        ]);
        let log_scale = [get(fields.scale[0])?, get(fields.scale[1])?, get(fields.scale[2])?];
        g.scales.push(log_scale.map(f32::exp));
        let q = [
            get(fields.rotation[0])?,
            get(fields.rotation[1])?,
            get(fields.rotation[2])?,
            get(fields.rotation[3])?,
        ];
        g.rotations.push(normalise_quaternion(q));
        g.opacities.push(sigmoid(get(fields.opacity)?));
        let rest = coefficients - 1;
        for k in 0..coefficients {
            for channel in 0..3 {
                let index = if k == 0 {
                    fields.dc[channel]
                } else {
                    fields.rest[channel * rest + k - 1]
                };
                sh.push(get(index)?);
            }
        }
    }
    g.sh = sh.into();
    Ok(g)
}

/// A polygon mesh read from a PLY file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlyMesh {
    /// Vertex positions (`x`, `y`, `z` of the `vertex` element).
    pub positions: Vec<[f32; 3]>,
    /// Polygons as 0-based vertex indices (the `face` element's `vertex_indices` or `vertex_index` lists).
    pub polygons: Vec<Vec<u32>>,
}

/// The file's bytes as a polygon mesh; other elements and properties are
/// skipped. Errors say which element, row and property is wrong.
pub fn parse_mesh(bytes: &[u8]) -> Result<PlyMesh, String> {
    let header = Header::parse(bytes)?;
    let mut data = Data {
        bytes: &bytes[header.data_start..],
        at: 0,
        format: header.format,
    };
    let mut mesh = PlyMesh::default();
    let mut has_vertices = false;
    for element in &header.elements {
        // Every row of an element with properties takes at least a byte, so a
        // count beyond the data is a damaged header, refused before looping.
        if element.count > data.bytes.len() {
            return Err(format!(
                "element `{}` claims {} rows, more than the {} bytes of data after the header hold",
                element.name,
                element.count,
                data.bytes.len()
            ));
        }
        let at = |row: usize, property: &Property, e: String| {
            format!(
                "element `{}` row {row}, property `{}`: {e}",
                element.name, property.name
            )
        };
        match element.name.as_str() {
            "vertex" => {
                let axis = |name: &str| {
                    element
                        .properties
                        .iter()
                        .position(|p| p.name == name && p.list_count.is_none())
                        .ok_or_else(|| format!("the `vertex` element has no `{name}` property"))
                };
                let axes = [axis("x")?, axis("y")?, axis("z")?];
                has_vertices = true;
                for row in 0..element.count {
                    let mut position = [0f32; 3];
                    for (k, property) in element.properties.iter().enumerate() {
                        let value = data.read(property).map_err(|e| at(row, property, e))?;
                        if let Some(a) = axes.iter().position(|&i| i == k) {
                            position[a] = value as f32;
                            if !position[a].is_finite() {
                                return Err(at(row, property, format!("{value} is not a finite number")));
                            }
                        }
                    }
                    mesh.positions.push(position);
                }
            }
            "face" => {
                let indices = element
                    .properties
                    .iter()
                    .position(|p| {
                        matches!(p.name.as_str(), "vertex_indices" | "vertex_index") && p.list_count.is_some()
                    })
                    .ok_or("the `face` element has no `vertex_indices` list")?;
                for row in 0..element.count {
                    for (k, property) in element.properties.iter().enumerate() {
                        if k != indices {
                            data.skip(property).map_err(|e| at(row, property, e))?;
                            continue;
                        }
                        let polygon = data
                            .list(property)
                            .map_err(|e| at(row, property, e))?
                            .into_iter()
                            .map(|v| {
                                u32::try_from(v as i64)
                                    .ok()
                                    .filter(|_| v.fract() == 0.0)
                                    .ok_or_else(|| format!("{v} is not a vertex index"))
                            })
                            .collect::<Result<Vec<u32>, String>>()
                            .map_err(|e| at(row, property, e))?;
                        if polygon.len() < 3 {
                            return Err(at(
                                row,
                                property,
                                format!("a polygon needs 3 corners, not {}", polygon.len()),
                            ));
                        }
                        mesh.polygons.push(polygon);
                    }
                }
            }
            _ => {
                for row in 0..element.count {
                    for property in &element.properties {
                        data.skip(property).map_err(|e| at(row, property, e))?;
                    }
                }
            }
        }
    }
    if !has_vertices {
        return Err("has no `vertex` element: it is not a mesh".into());
    }
    let count = mesh.positions.len();
    if let Some((row, v)) = mesh
        .polygons
        .iter()
        .enumerate()
        .find_map(|(row, p)| p.iter().find(|&&v| v as usize >= count).map(|&v| (row, v)))
    {
        return Err(format!(
            "element `face` row {row}: vertex index {v} is out of range (the file has {count} vertices)"
        ));
    }
    Ok(mesh)
}

/// The file's bytes for a set of Gaussians (binary little-endian, original property order).
pub fn encode(g: &Gaussians) -> Vec<u8> {
    let coefficients = sh_coefficients(g.sh_degree);
    let rest = coefficients - 1;
    let mut header = String::from("ply\nformat binary_little_endian 1.0\n");
    header += "comment written by GaussianSpeech Studio\n";
    header += &format!("element vertex {}\n", g.len());
    let mut names: Vec<String> = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
        .map(String::from)
        .to_vec();
    names.extend((0..3 * rest).map(|i| format!("f_rest_{i}")));
    names.push("opacity".into());
    names.extend((0..3).map(|i| format!("scale_{i}")));
    names.extend((0..4).map(|i| format!("rot_{i}")));
    for name in &names {
        header += &format!("property float {name}\n");
    }
    header += "end_header\n";
    let mut out = header.into_bytes();
    out.reserve(g.len() * names.len() * 4);
    let mut push = |v: f32| out.extend_from_slice(&v.to_le_bytes());
    for i in 0..g.len() {
        g.means[i].into_iter().for_each(&mut push);
        [0.0; 3].into_iter().for_each(&mut push);
        let sh = g.sh_of(i);
        (0..3).for_each(|c| push(sh[c]));
        for c in 0..3 {
            (1..coefficients).for_each(|k| push(sh[k * 3 + c]));
        }
        push(logit(g.opacities[i]));
        g.scales[i]
            .map(|s| s.max(f32::MIN_POSITIVE).ln())
            .into_iter()
            .for_each(&mut push);
        g.rotations[i].into_iter().for_each(&mut push);
    }
    out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn logit(p: f32) -> f32 {
    let p = p.clamp(1e-7, 1.0 - 1e-7);
    (p / (1.0 - p)).ln()
}

/// A unit quaternion; a zero one (written by some tools for pruned splats) becomes the identity.
fn normalise_quaternion(q: [f32; 4]) -> [f32; 4] {
    let norm = q.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        q.map(|v| v / norm)
    } else {
        [1.0, 0.0, 0.0, 0.0]
    }
}

/// How the body is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Ascii,
    LittleEndian,
    BigEndian,
}

/// A PLY scalar type.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scalar {
    I8,
    U8,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
}

impl Scalar {
    fn parse(name: &str) -> Option<Scalar> {
        Some(match name {
            "char" | "int8" => Scalar::I8,
            "uchar" | "uint8" => Scalar::U8,
            "short" | "int16" => Scalar::I16,
            "ushort" | "uint16" => Scalar::U16,
            "int" | "int32" => Scalar::I32,
            "uint" | "uint32" => Scalar::U32,
            "float" | "float32" => Scalar::F32,
            "double" | "float64" => Scalar::F64,
            _ => return None,
        })
    }

    fn size(self) -> usize {
        match self {
            Scalar::I8 | Scalar::U8 => 1,
            Scalar::I16 | Scalar::U16 => 2,
            Scalar::I32 | Scalar::U32 | Scalar::F32 => 4,
            Scalar::F64 => 8,
        }
    }
}

/// One property: a scalar, or a list with a count type.
#[derive(Debug)]
struct Property {
    name: String,
    value: Scalar,
    list_count: Option<Scalar>,
}

#[derive(Debug)]
struct Element {
    name: String,
    count: usize,
    properties: Vec<Property>,
}

#[derive(Debug)]
struct Header {
    format: Format,
    elements: Vec<Element>,
    data_start: usize,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Header, String> {
        if !bytes.starts_with(b"ply") {
            return Err("is not a PLY file: it does not start with `ply`".into());
        }
        const END: &[u8] = b"end_header";
        let end = bytes
            .windows(END.len())
            .position(|w| w == END)
            .ok_or("the PLY header has no `end_header` line")?;
        let newline = bytes[end..]
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("the PLY header's `end_header` is not followed by a line break")?;
        let text = std::str::from_utf8(&bytes[..end]).map_err(|_| "the PLY header is not text".to_string())?;
        let mut format = None;
        let mut elements: Vec<Element> = Vec::new();
        for (number, line) in text.lines().enumerate().skip(1) {
            let line_no = number + 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            let bad = |what: &str| format!("PLY header line {line_no} (`{}`): {what}", line.trim());
            match words.as_slice() {
                [] | ["comment", ..] | ["obj_info", ..] => {}
                ["format", kind, version] => {
                    if !version.starts_with('1') {
                        return Err(bad("only PLY version 1.0 is known"));
                    }
                    format = Some(match *kind {
                        "ascii" => Format::Ascii,
                        "binary_little_endian" => Format::LittleEndian,
                        "binary_big_endian" => Format::BigEndian,
                        _ => {
                            return Err(bad(
                                "unknown format; expected ascii, binary_little_endian or binary_big_endian",
                            ));
                        }
                    });
                }
                ["element", name, count] => elements.push(Element {
                    name: name.to_string(),
                    count: count
                        .parse()
                        .map_err(|_| bad("the element count is not a whole number"))?,
                    properties: Vec::new(),
                }),
                ["property", "list", count, value, name] => {
                    let element = elements
                        .last_mut()
                        .ok_or_else(|| bad("a property before any element"))?;
                    let count = Scalar::parse(count)
                        .filter(|s| !matches!(s, Scalar::F32 | Scalar::F64))
                        .ok_or_else(|| bad("unknown list count type"))?;
                    element.properties.push(Property {
                        name: name.to_string(),
                        value: Scalar::parse(value).ok_or_else(|| bad("unknown property type"))?,
                        list_count: Some(count),
                    });
                }
                ["property", ty, name] => {
                    let element = elements
                        .last_mut()
                        .ok_or_else(|| bad("a property before any element"))?;
                    element.properties.push(Property {
                        name: name.to_string(),
                        value: Scalar::parse(ty).ok_or_else(|| bad("unknown property type"))?,
                        list_count: None,
                    });
                }
                _ => return Err(bad("not a PLY header line")),
            }
        }
        Ok(Header {
            format: format.ok_or("the PLY header has no `format` line")?,
            elements,
            data_start: end + newline + 1,
        })
    }
}

/// Where each splat attribute is among the vertex properties.
struct Fields {
    position: [usize; 3],
    dc: [usize; 3],
    rest: Vec<usize>,
    opacity: usize,
    scale: [usize; 3],
    rotation: [usize; 4],
    sh_degree: u32,
}

impl Fields {
    fn find(vertex: &Element) -> Result<Fields, String> {
        let index = |name: &str| -> Result<usize, String> {
            let i = vertex.properties.iter().position(|p| p.name == name).ok_or_else(|| {
                format!("the `vertex` element has no `{name}` property: it is not a Gaussian splat file")
            })?;
            if vertex.properties[i].list_count.is_some() {
                return Err(format!("the vertex property `{name}` is a list, not a number"));
            }
            Ok(i)
        };
        let rest_count = vertex
            .properties
            .iter()
            .filter(|p| p.name.starts_with("f_rest_"))
            .count();
        let sh_degree = (0..=3u32)
            .find(|&d| 3 * (sh_coefficients(d) - 1) == rest_count)
            .ok_or_else(|| {
                format!(
                    "has {rest_count} `f_rest_*` properties; spherical harmonics of degree 0 to 3 need 0, 9, 24 or 45"
                )
            })?;
        Ok(Fields {
            position: [index("x")?, index("y")?, index("z")?],
            dc: [index("f_dc_0")?, index("f_dc_1")?, index("f_dc_2")?],
            rest: (0..rest_count)
                .map(|i| index(&format!("f_rest_{i}")))
                .collect::<Result<_, _>>()?,
            opacity: index("opacity")?,
            scale: [index("scale_0")?, index("scale_1")?, index("scale_2")?],
            rotation: [index("rot_0")?, index("rot_1")?, index("rot_2")?, index("rot_3")?],
            sh_degree,
        })
    }
}

/// A cursor over the body.
struct Data<'a> {
    bytes: &'a [u8],
    at: usize,
    format: Format,
}

impl Data<'_> {
    /// One scalar property's value (a list property reads as its item count and skips its items).
    fn read(&mut self, property: &Property) -> Result<f64, String> {
        match property.list_count {
            None => self.scalar(property.value),
            Some(count_type) => {
                let count = self.scalar(count_type)?;
                for _ in 0..count as usize {
                    self.scalar(property.value)?;
                }
                Ok(count)
            }
        }
    }

    fn skip(&mut self, property: &Property) -> Result<(), String> {
        self.read(property).map(|_| ())
    }

    /// A list property's items.
    fn list(&mut self, property: &Property) -> Result<Vec<f64>, String> {
        let count_type = property
            .list_count
            .ok_or_else(|| format!("the property `{}` is a number, not a list", property.name))?;
        let count = self.scalar(count_type)? as usize;
        // Each item takes at least a byte: a longer list is a damaged file.
        if count > self.bytes.len() - self.at.min(self.bytes.len()) {
            return Err(format!("a list of {count} items runs past the end of the file"));
        }
        (0..count).map(|_| self.scalar(property.value)).collect()
    }

    fn scalar(&mut self, ty: Scalar) -> Result<f64, String> {
        if self.format == Format::Ascii {
            return self.token(ty);
        }
        let size = ty.size();
        let Some(raw) = self.bytes.get(self.at..self.at + size) else {
            return Err(format!(
                "the file ends early ({} bytes of data after the header)",
                self.bytes.len()
            ));
        };
        self.at += size;
        let mut buf = [0u8; 8];
        buf[..size].copy_from_slice(raw);
        if self.format == Format::BigEndian {
            buf[..size].reverse();
        }
        // Big-endian bytes were reversed above, so every value decodes as little-endian.
        let bytes = buf;
        Ok(match ty {
            Scalar::I8 => bytes[0] as i8 as f64,
            Scalar::U8 => bytes[0] as f64,
            Scalar::I16 => i16::from_le_bytes([bytes[0], bytes[1]]) as f64,
            Scalar::U16 => u16::from_le_bytes([bytes[0], bytes[1]]) as f64,
            Scalar::I32 => i32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as f64,
            Scalar::U32 => u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as f64,
            Scalar::F32 => f32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as f64,
            Scalar::F64 => f64::from_le_bytes(bytes),
        })
    }

    fn token(&mut self, ty: Scalar) -> Result<f64, String> {
        let rest = &self.bytes[self.at..];
        let start = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .ok_or("the file ends early")?;
        let len = rest[start..]
            .iter()
            .position(|b| b.is_ascii_whitespace())
            .unwrap_or(rest.len() - start);
        self.at += start + len;
        let text = std::str::from_utf8(&rest[start..start + len]).map_err(|_| "a value is not text".to_string())?;
        let value: f64 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
        if !matches!(ty, Scalar::F32 | Scalar::F64) && value.fract() != 0.0 {
            return Err(format!("`{text}` is not a whole number"));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::splats::synthetic::random;

    fn parse_ok(bytes: &[u8]) -> Gaussians {
        parse(bytes, &CancelToken::new()).unwrap()
    }

    fn parse_err(bytes: &[u8]) -> String {
        match parse(bytes, &CancelToken::new()) {
            Err(ParseError::Invalid(message)) => message,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-5 * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn written_files_read_back_for_every_degree() {
        for degree in 0..=3 {
            let original = random(17, degree, 2.0, degree as u64);
            let bytes = encode(&original);
            let header = String::from_utf8_lossy(&bytes[..bytes.windows(10).position(|w| w == b"end_header").unwrap()]);
            assert_eq!(
                header.matches("property float f_rest_").count(),
                3 * (sh_coefficients(degree) - 1)
            );
            let back = parse_ok(&bytes);
            assert_eq!(back.sh_degree, degree);
            assert_eq!(back.means, original.means);
            assert_eq!(
                back.sh, original.sh,
                "coefficients survive the channel-major f_rest layout"
            );
            for i in 0..original.len() {
                assert!(close(back.opacities[i], original.opacities[i]));
                assert!((0..3).all(|k| close(back.scales[i][k], original.scales[i][k])));
                assert!((0..4).all(|k| close(back.rotations[i][k], original.rotations[i][k])));
            }
        }
    }

    /// A file as another tool might write it: an element before the vertices, properties in
    /// another order, doubles and bytes, extra properties, un-normalised quaternions.
    fn foreign_file(format: &str) -> Vec<u8> {
        let properties: [(&str, &str); 20] = [
            ("double", "z"),
            ("float", "y"),
            ("float", "x"),
            ("uchar", "red"),
            ("float", "opacity"),
            ("float", "rot_0"),
            ("float", "rot_1"),
            ("float", "rot_2"),
            ("float", "rot_3"),
            ("float", "scale_2"),
            ("float", "scale_1"),
            ("float", "scale_0"),
            ("float", "f_dc_2"),
            ("float", "f_dc_1"),
            ("float", "f_dc_0"),
            ("int", "segment"),
            ("float", "nz"),
            ("float", "ny"),
            ("float", "nx"),
            ("short", "flags"),
        ];
        let rows: [[f64; 20]; 2] = [
            [
                3.0, 2.0, 1.0, 200.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, 0.3, 0.2, 0.1, 7.0, 0.0, 0.0, 1.0, -5.0,
            ],
            [
                -3.5, 0.25, 4.0, 9.0, 2.0, 0.0, 0.0, 3.0, 4.0, 1.0, 1.0, 1.0, -0.3, -0.2, -0.1, -1.0, 1.0, 0.0, 0.0,
                3.0,
            ],
        ];
        let mut header = format!("ply\nformat {format} 1.0\ncomment made by another tool\nelement camera 1\n");
        header += "property float focal\nproperty list uchar int ids\nelement vertex 2\n";
        for (ty, name) in properties {
            header += &format!("property {ty} {name}\n");
        }
        header += "element face 0\nproperty list uchar int vertex_indices\nend_header\n";
        let mut out = header.into_bytes();
        let big = format == "binary_big_endian";
        let mut put = |ty: &str, v: f64| {
            if format == "ascii" {
                out.extend(format!("{v} ").bytes());
                return;
            }
            let mut bytes = match ty {
                "double" => v.to_le_bytes().to_vec(),
                "float" => (v as f32).to_le_bytes().to_vec(),
                "uchar" => vec![v as u8],
                "short" => (v as i16).to_le_bytes().to_vec(),
                "int" => (v as i32).to_le_bytes().to_vec(),
                _ => unreachable!(),
            };
            if big {
                bytes.reverse();
            }
            out.extend(bytes);
        };
        // The camera element: a focal length and a list of three ids.
        put("float", 500.0);
        put("uchar", 3.0);
        [1.0, 2.0, 3.0].into_iter().for_each(|v| put("int", v));
        for row in rows {
            for ((ty, _), v) in properties.iter().zip(row) {
                put(ty, v);
            }
        }
        out
    }

    #[test]
    fn files_in_other_tools_layouts_are_read_by_property_name() {
        for format in ["binary_little_endian", "binary_big_endian", "ascii"] {
            let g = parse_ok(&foreign_file(format));
            assert_eq!(g.len(), 2, "{format}");
            assert_eq!(g.sh_degree, 0);
            assert_eq!(g.means, vec![[1.0, 2.0, 3.0], [4.0, 0.25, -3.5]], "{format}");
            assert_eq!(&*g.sh, &[0.1, 0.2, 0.3, -0.1, -0.2, -0.3], "{format}");
            assert!(close(g.opacities[0], 0.5) && close(g.opacities[1], 1.0 / (1.0 + (-2f32).exp())));
            assert!(close(g.scales[0][0], (-2f32).exp()) && close(g.scales[0][2], 1.0));
            assert_eq!(g.rotations[0], [1.0, 0.0, 0.0, 0.0], "normalised");
            assert_eq!(g.rotations[1], [0.0, 0.0, 0.6, 0.8]);
        }
    }

    #[test]
    fn meshes_are_read_in_every_format_with_their_polygons() {
        let header = |format: &str| {
            format!(
                "ply\nformat {format} 1.0\nelement vertex 4\nproperty double z\nproperty float x\n\
                 property uchar red\nproperty float y\nelement face 2\nproperty uchar flags\n\
                 property list uchar uint vertex_indices\nend_header\n"
            )
        };
        let rows: [[f64; 4]; 4] = [
            [0.5, 0.0, 9.0, 1.0],
            [0.0, 1.0, 9.0, 0.0],
            [0.0, 1.0, 9.0, 1.0],
            [-0.25, 0.0, 9.0, 0.0],
        ];
        let ascii = header("ascii")
            + &rows.map(|r| format!("{} {} {} {}\n", r[0], r[1], r[2], r[3])).concat()
            + "7 4 0 1 2 3\n7 3 3 2 1\n";
        let mut binary = header("binary_little_endian").into_bytes();
        for r in rows {
            binary.extend(r[0].to_le_bytes());
            binary.extend((r[1] as f32).to_le_bytes());
            binary.push(r[2] as u8);
            binary.extend((r[3] as f32).to_le_bytes());
        }
        for polygon in [&[0u32, 1, 2, 3][..], &[3, 2, 1]] {
            binary.extend([7, polygon.len() as u8]);
            polygon.iter().for_each(|v| binary.extend(v.to_le_bytes()));
        }
        for bytes in [ascii.as_bytes(), &binary] {
            let mesh = parse_mesh(bytes).unwrap();
            assert_eq!(
                mesh.positions,
                [[0.0, 1.0, 0.5], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, -0.25]]
            );
            assert_eq!(mesh.polygons, [vec![0, 1, 2, 3], vec![3, 2, 1]]);
        }
        let bad = |from: &str, to: &str| parse_mesh(ascii.replace(from, to).as_bytes()).unwrap_err();
        assert_eq!(
            bad("7 3 3 2 1", "7 3 3 2 4"),
            "element `face` row 1: vertex index 4 is out of range (the file has 4 vertices)"
        );
        assert_eq!(
            bad("7 3 3 2 1", "7 2 3 2"),
            "element `face` row 1, property `vertex_indices`: a polygon needs 3 corners, not 2"
        );
        assert_eq!(
            bad("7 3 3 2 1", "7 3 3 2.5 1"),
            "element `face` row 1, property `vertex_indices`: `2.5` is not a whole number"
        );
        assert_eq!(
            bad("property float y\n", ""),
            "the `vertex` element has no `y` property"
        );
        assert_eq!(
            bad("element face 2", "element face 900"),
            "element `face` claims 900 rows, more than the 60 bytes of data after the header hold"
        );
        let mut cut = binary.clone();
        cut[binary.len() - 13] = 200;
        assert_eq!(
            parse_mesh(&cut).unwrap_err(),
            "element `face` row 1, property `vertex_indices`: a list of 200 items runs past the end of the file"
        );
    }

    #[test]
    fn malformed_files_get_errors_saying_what_is_wrong() {
        let bytes = encode(&random(2, 1, 1.0, 1));
        let end = bytes.windows(11).position(|w| w == b"end_header\n").unwrap() + 11;
        let header = std::str::from_utf8(&bytes[..end]).unwrap().to_string();
        let body = &bytes[end..];
        let with = |header: &str| [header.as_bytes(), body].concat();

        assert_eq!(
            parse_err(b"PK\x03\x04"),
            "is not a PLY file: it does not start with `ply`"
        );
        assert_eq!(
            parse_err(b"ply\nformat ascii 1.0\n"),
            "the PLY header has no `end_header` line"
        );
        assert_eq!(
            parse_err(&with(&header.replace("format binary_little_endian 1.0\n", ""))),
            "the PLY header has no `format` line"
        );
        assert_eq!(
            parse_err(&with(&header.replace("binary_little_endian", "binary_middle_endian"))),
            "PLY header line 2 (`format binary_middle_endian 1.0`): unknown format; expected ascii, \
             binary_little_endian or binary_big_endian"
        );
        assert_eq!(
            parse_err(&with(&header.replace("property float y\n", "property half y\n"))),
            "PLY header line 6 (`property half y`): unknown property type"
        );
        assert_eq!(
            parse_err(&with(&header.replace("element vertex 2", "element vertex two"))),
            "PLY header line 4 (`element vertex two`): the element count is not a whole number"
        );
        assert_eq!(
            parse_err(&with(&header.replace("property float opacity\n", ""))),
            "the `vertex` element has no `opacity` property: it is not a Gaussian splat file"
        );
        assert_eq!(
            parse_err(&with(&header.replace("property float f_rest_8\n", ""))),
            "has 8 `f_rest_*` properties; spherical harmonics of degree 0 to 3 need 0, 9, 24 or 45"
        );
        assert_eq!(
            parse_err(&with(&header.replace("element vertex 2", "element vertex 3"))),
            "vertex 2 of 3, property `x`: the file ends early (208 bytes of data after the header)"
        );
        assert_eq!(
            parse_err(&with(&header.replace("element vertex", "element point"))),
            "has no `vertex` element: it is not a Gaussian splat file"
        );
        let mut nan = bytes.clone();
        nan[end + 4..end + 8].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(parse_err(&nan), "vertex 0: property `y` is NaN, not a finite number");
        let cancelled = CancelToken::new();
        cancelled.cancel();
        assert_eq!(parse(&bytes, &cancelled), Err(ParseError::Cancelled));
    }
}
