//! A face rig in memory: the typed form of a `face_model` value, and blendshape
//! evaluation.

use std::ops::Range;

use gspeech_sdk::{PortType, Record, Tensor};
use serde_json::{Value as Json, json};

/// A named part of the mesh, as half-open ranges of vertex and triangle indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// The region's name (`face`, `teeth`, …).
    pub name: String,
    /// Its vertices.
    pub vertices: Vec<Range<u32>>,
    /// Its triangles.
    pub triangles: Vec<Range<u32>>,
}

impl Region {
    /// Every vertex index of the region, ascending.
    pub fn vertex_indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.vertices.iter().flat_map(|r| r.clone())
    }

    /// Whether the region holds a vertex.
    pub fn contains_vertex(&self, v: u32) -> bool {
        self.vertices.iter().any(|r| r.contains(&v))
    }
}

/// Face-varying texture coordinates: a table of UVs and, per triangle, its
/// three corners' entries in it.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceUvs {
    /// UV pairs, flattened `[U * 2]`.
    pub coords: Vec<f32>,
    /// Per triangle corner, an index into `coords` pairs, flattened `[F * 3]`.
    pub triangles: Vec<u32>,
}

/// A blendshape face rig: a neutral mesh, expression and identity shapes as
/// per-vertex deltas, texture coordinates, named regions and the vertex sets
/// used by the lip and upper-face metrics. Positions are flattened `[V * 3]`.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceRig {
    /// A human name for the model.
    pub name: String,
    /// Length unit of the positions (`cm`, `m`).
    pub units: String,
    /// Rest positions, `[V * 3]`.
    pub neutral: Vec<f32>,
    /// Triangles as vertex index triples, `[F * 3]`.
    pub triangles: Vec<u32>,
    /// Expression names, one per shape.
    pub expression_names: Vec<String>,
    /// Expression deltas, `[K * V * 3]`.
    pub expressions: Vec<f32>,
    /// Identity names, one per shape.
    pub identity_names: Vec<String>,
    /// Identity deltas, `[I * V * 3]`.
    pub identities: Vec<f32>,
    /// Face-varying texture coordinates, when the source has them.
    pub uvs: Option<FaceUvs>,
    /// Named parts of the mesh.
    pub regions: Vec<Region>,
    /// The lip vertices (for the lip vertex error).
    pub lip_vertices: Vec<u32>,
    /// The upper-face vertices (for the upper-face dynamics deviation).
    pub upper_face_vertices: Vec<u32>,
    /// Landmark vertices in the 68-point Multi-PIE order (empty when unknown).
    pub landmarks: Vec<u32>,
}

/// `base + Σ wₖ·shapeₖ` for shapes stored back to back (`[K * base.len()]`):
/// blendshape evaluation. Zero weights cost nothing.
pub fn blend(base: &[f32], shapes: &[f32], weights: &[f32]) -> Vec<f32> {
    let mut out = base.to_vec();
    add_shapes(&mut out, shapes, weights);
    out
}

/// Adds `Σ wₖ·shapeₖ` to `out` in place (see [`blend`]).
pub fn add_shapes(out: &mut [f32], shapes: &[f32], weights: &[f32]) {
    let n = out.len();
    assert_eq!(shapes.len(), weights.len() * n, "one shape of {n} values per weight");
    for (shape, &w) in shapes.chunks_exact(n).zip(weights) {
        if w != 0.0 {
            out.iter_mut().zip(shape).for_each(|(o, s)| *o += w * s);
        }
    }
}

/// Smooth vertex normals of a mesh (`positions` `[V * 3]`, `triangles`
/// `[F * 3]`): the area-weighted mean of the normals of the triangles around
/// each vertex; a vertex on no triangle faces +Z.
pub fn vertex_normals(positions: &[f32], triangles: &[u32]) -> Vec<[f32; 3]> {
    let at = |v: u32| {
        let i = v as usize * 3;
        [positions[i], positions[i + 1], positions[i + 2]]
    };
    let mut sums = vec![[0f32; 3]; positions.len() / 3];
    for tri in triangles.chunks_exact(3) {
        let [a, b, c] = [0, 1, 2].map(|i| at(tri[i]));
        let (u, v) = ([0, 1, 2].map(|i| b[i] - a[i]), [0, 1, 2].map(|i| c[i] - a[i]));
        let n = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        for &i in tri {
            (0..3).for_each(|k| sums[i as usize][k] += n[k]);
        }
    }
    sums.into_iter()
        .map(|n| {
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            if len > 1e-20 {
                n.map(|c| c / len)
            } else {
                [0.0, 0.0, 1.0]
            }
        })
        .collect()
}

impl FaceRig {
    /// A rig that is only a mesh: no expressions, identities, texture
    /// coordinates, vertex sets or landmarks, and one region named `region`
    /// holding every vertex and triangle.
    pub fn mesh(name: &str, units: &str, neutral: Vec<f32>, triangles: Vec<u32>, region: &str) -> FaceRig {
        let (v, t) = ((neutral.len() / 3) as u32, (triangles.len() / 3) as u32);
        FaceRig {
            name: name.to_string(),
            units: units.to_string(),
            neutral,
            triangles,
            expression_names: Vec::new(),
            expressions: Vec::new(),
            identity_names: Vec::new(),
            identities: Vec::new(),
            uvs: None,
            regions: vec![Region {
                name: region.to_string(),
                vertices: to_ranges(0..v),
                triangles: to_ranges(0..t),
            }],
            lip_vertices: Vec::new(),
            upper_face_vertices: Vec::new(),
            landmarks: Vec::new(),
        }
    }

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.neutral.len() / 3
    }

    /// Number of triangles.
    pub fn triangle_count(&self) -> usize {
        self.triangles.len() / 3
    }

    /// The index of an expression by name.
    pub fn expression_index(&self, name: &str) -> Option<usize> {
        self.expression_names.iter().position(|n| n == name)
    }

    /// A region by name.
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// The rest shape of an identity: the neutral plus `Σ cᵢ·identityᵢ`
    /// (`coefficients` may be shorter than the identity count).
    pub fn identity_shape(&self, coefficients: &[f32]) -> Vec<f32> {
        let n = self.neutral.len();
        let used = coefficients.len().min(self.identity_names.len());
        blend(&self.neutral, &self.identities[..used * n], &coefficients[..used])
    }

    /// Positions of the mesh with expression `weights` (one per expression) on
    /// top of a rest shape (the neutral or an identity).
    pub fn pose(&self, rest: &[f32], weights: &[f32]) -> Vec<f32> {
        blend(rest, &self.expressions, weights)
    }

    /// A BLAKE3 digest of the shapes and expression names: what a motion
    /// depends on, so data and models made on one rig can be matched to it.
    pub fn digest(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        for values in [&self.neutral, &self.expressions, &self.identities] {
            hasher.update(bytemuck::cast_slice(values));
        }
        for name in &self.expression_names {
            hasher.update(name.as_bytes());
        }
        hasher.finalize().to_hex().to_string()
    }

    /// The canonical `face_model` record.
    pub fn to_record(&self) -> Record {
        let v = self.vertex_count();
        let f = self.triangle_count();
        let tensor = |shape: &[usize], data: Vec<f32>| Tensor::from_f32(shape, data).expect("consistent rig");
        let indices = |data: &[u32]| Tensor::from_u32(&[data.len()], data.to_vec()).expect("1-D");
        let mut record = Record::new(PortType::FaceModel)
            .with_tensor("neutral", tensor(&[v, 3], self.neutral.clone()))
            .with_tensor(
                "triangles",
                Tensor::from_u32(&[f, 3], self.triangles.clone()).expect("consistent rig"),
            )
            .with_tensor(
                "expressions",
                tensor(&[self.expression_names.len(), v, 3], self.expressions.clone()),
            )
            .with_attr("name", self.name.clone())
            .with_attr("units", self.units.clone())
            .with_attr("expression_names", self.expression_names.clone())
            .with_attr("regions", regions_json(&self.regions));
        if !self.identity_names.is_empty() {
            record = record
                .with_tensor(
                    "identities",
                    tensor(&[self.identity_names.len(), v, 3], self.identities.clone()),
                )
                .with_attr("identity_names", self.identity_names.clone());
        }
        if let Some(uvs) = &self.uvs {
            record = record
                .with_tensor("uvs", tensor(&[v, 2], per_vertex_uvs(uvs, &self.triangles, v)))
                .with_tensor("uv_coords", tensor(&[uvs.coords.len() / 2, 2], uvs.coords.clone()))
                .with_tensor(
                    "uv_triangles",
                    Tensor::from_u32(&[f, 3], uvs.triangles.clone()).expect("one UV triple per triangle"),
                );
        }
        for (name, set) in [
            ("lip_vertices", &self.lip_vertices),
            ("upper_face_vertices", &self.upper_face_vertices),
            ("landmarks", &self.landmarks),
        ] {
            if !set.is_empty() {
                record = record.with_tensor(name, indices(set));
            }
        }
        record
    }

    /// Reads a `face_model` record, checking that every index is in range.
    pub fn from_record(record: &Record) -> Result<FaceRig, String> {
        record.validate()?;
        let f32s = |name: &str| -> Vec<f32> {
            record
                .tensor(name)
                .and_then(|t| t.as_f32())
                .map(<[f32]>::to_vec)
                .unwrap_or_default()
        };
        let u32s = |name: &str| -> Vec<u32> {
            record
                .tensor(name)
                .and_then(|t| t.as_u32())
                .map(<[u32]>::to_vec)
                .unwrap_or_default()
        };
        let names = |attr: &str| -> Vec<String> {
            record
                .attr(attr)
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        let text = |attr: &str, default: &str| -> String {
            record.attr(attr).and_then(Json::as_str).unwrap_or(default).to_string()
        };
        let uv_coords = f32s("uv_coords");
        let rig = FaceRig {
            name: text("name", "face model"),
            units: text("units", ""),
            neutral: f32s("neutral"),
            triangles: u32s("triangles"),
            expression_names: names("expression_names"),
            expressions: f32s("expressions"),
            identity_names: names("identity_names"),
            identities: f32s("identities"),
            uvs: (!uv_coords.is_empty()).then(|| FaceUvs {
                coords: uv_coords,
                triangles: u32s("uv_triangles"),
            }),
            regions: record
                .attr("regions")
                .map(regions_from_json)
                .transpose()?
                .unwrap_or_default(),
            lip_vertices: u32s("lip_vertices"),
            upper_face_vertices: u32s("upper_face_vertices"),
            landmarks: u32s("landmarks"),
        };
        let shape = |name: &str| record.tensor(name).map(|t| t.shape().to_vec()).unwrap_or_default();
        let expressions = shape("expressions");
        if expressions[0] != rig.expression_names.len() {
            return Err(format!(
                "face_model has {} expression shapes but {} expression names",
                expressions[0],
                rig.expression_names.len()
            ));
        }
        let identities = shape("identities");
        if !identities.is_empty() && identities[0] != rig.identity_names.len() {
            return Err(format!(
                "face_model has {} identity shapes but {} identity names",
                identities[0],
                rig.identity_names.len()
            ));
        }
        rig.check()?;
        Ok(rig)
    }

    /// Checks the rig's internal consistency; the message names what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let v = self.vertex_count();
        let per_shape = v * 3;
        if v == 0 || !self.neutral.len().is_multiple_of(3) {
            return Err("face_model has no vertices".into());
        }
        if !self.triangles.len().is_multiple_of(3) || self.triangles.is_empty() {
            return Err("face_model has no triangles".into());
        }
        if self.expressions.len() != self.expression_names.len() * per_shape {
            return Err(format!(
                "face_model expressions hold {} values, not {} shapes of {v} vertices",
                self.expressions.len(),
                self.expression_names.len()
            ));
        }
        if self.identities.len() != self.identity_names.len() * per_shape {
            return Err(format!(
                "face_model identities hold {} values, not {} shapes of {v} vertices",
                self.identities.len(),
                self.identity_names.len()
            ));
        }
        let in_range = |name: &str, indices: &[u32], count: usize| match indices.iter().find(|&&i| i as usize >= count)
        {
            Some(i) => Err(format!(
                "face_model {name} refer to index {i}, but there are only {count}"
            )),
            None => Ok(()),
        };
        in_range("triangles", &self.triangles, v)?;
        in_range("lip vertices", &self.lip_vertices, v)?;
        in_range("upper-face vertices", &self.upper_face_vertices, v)?;
        in_range("landmarks", &self.landmarks, v)?;
        if let Some(uvs) = &self.uvs {
            if uvs.triangles.len() != self.triangles.len() {
                return Err("face_model uv_triangles must have one row per triangle".into());
            }
            in_range("uv triangles", &uvs.triangles, uvs.coords.len() / 2)?;
        }
        for region in &self.regions {
            let bad_vertex = region.vertices.iter().any(|r| r.end as usize > v || r.start > r.end);
            let bad_triangle = region
                .triangles
                .iter()
                .any(|r| r.end as usize > self.triangle_count() || r.start > r.end);
            if bad_vertex || bad_triangle {
                return Err(format!(
                    "face_model region `{}` has an index range outside the mesh",
                    region.name
                ));
            }
        }
        Ok(())
    }
}

/// One UV per vertex: the first a triangle corner gives it (vertices split by
/// UV seams keep one side's coordinate).
fn per_vertex_uvs(uvs: &FaceUvs, triangles: &[u32], vertices: usize) -> Vec<f32> {
    let mut out = vec![0f32; vertices * 2];
    let mut seen = vec![false; vertices];
    for (&v, &t) in triangles.iter().zip(&uvs.triangles) {
        let v = v as usize;
        if !seen[v] {
            seen[v] = true;
            out[v * 2..v * 2 + 2].copy_from_slice(&uvs.coords[t as usize * 2..t as usize * 2 + 2]);
        }
    }
    out
}

fn ranges_json(ranges: &[Range<u32>]) -> Json {
    ranges.iter().map(|r| json!([r.start, r.end])).collect()
}

/// Regions as the `regions` attribute: `{name: {"vertices": [[a, b], …], "triangles": […]}}`.
pub fn regions_json(regions: &[Region]) -> Json {
    let map: serde_json::Map<String, Json> = regions
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                json!({"vertices": ranges_json(&r.vertices), "triangles": ranges_json(&r.triangles)}),
            )
        })
        .collect();
    Json::Object(map)
}

/// Regions from the `regions` attribute.
pub fn regions_from_json(json: &Json) -> Result<Vec<Region>, String> {
    let map = json.as_object().ok_or("face_model `regions` must be an object")?;
    let ranges = |name: &str, value: Option<&Json>| -> Result<Vec<Range<u32>>, String> {
        let bad = || format!("face_model region `{name}` must list [start, end] ranges");
        value
            .and_then(Json::as_array)
            .ok_or_else(bad)?
            .iter()
            .map(|pair| {
                let pair = pair.as_array().filter(|p| p.len() == 2).ok_or_else(bad)?;
                let at = |i: usize| pair[i].as_u64().filter(|&x| x <= u32::MAX as u64).ok_or_else(bad);
                Ok(at(0)? as u32..at(1)? as u32)
            })
            .collect()
    };
    map.iter()
        .map(|(name, value)| {
            Ok(Region {
                name: name.clone(),
                vertices: ranges(name, value.get("vertices"))?,
                triangles: ranges(name, value.get("triangles"))?,
            })
        })
        .collect()
}

/// Sorted indices as half-open ranges of consecutive values.
pub fn to_ranges(sorted: impl IntoIterator<Item = u32>) -> Vec<Range<u32>> {
    let mut out: Vec<Range<u32>> = Vec::new();
    for i in sorted {
        match out.last_mut() {
            Some(last) if last.end == i => last.end += 1,
            _ => out.push(i..i + 1),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A two-triangle square with two expressions and one identity.
    pub(crate) fn square() -> FaceRig {
        FaceRig {
            name: "square".into(),
            units: "cm".into(),
            neutral: vec![0., 0., 0., 1., 0., 0., 1., 1., 0., 0., 1., 0.],
            triangles: vec![0, 1, 2, 0, 2, 3],
            expression_names: vec!["up".into(), "out".into()],
            expressions: [[0., 1., 0.]; 4]
                .concat()
                .into_iter()
                .chain([0., 0., 0., 0., 0., 0., 0., 0., 2., 0., 0., 0.])
                .collect(),
            identity_names: vec!["wide".into()],
            identities: vec![-1., 0., 0., 1., 0., 0., 1., 0., 0., -1., 0., 0.],
            uvs: Some(FaceUvs {
                coords: vec![0., 0., 1., 0., 1., 1., 0., 1., 0.5, 0.5],
                triangles: vec![0, 1, 2, 4, 2, 3],
            }),
            regions: vec![Region {
                name: "all".into(),
                vertices: to_ranges(0..4),
                triangles: to_ranges(0..2),
            }],
            lip_vertices: vec![1, 2],
            upper_face_vertices: vec![2, 3],
            landmarks: vec![],
        }
    }

    #[test]
    fn blendshapes_add_weighted_deltas() {
        let rig = square();
        let posed = rig.pose(&rig.neutral, &[0.5, 2.0]);
        // Every vertex moves up by 0.5; vertex 2 also moves out by 2 × 2.
        let expected = [0., 0.5, 0., 1., 0.5, 0., 1., 1.5, 4., 0., 1.5, 0.];
        assert_eq!(posed, expected);
        let wide = rig.identity_shape(&[0.5]);
        assert_eq!(&wide[..3], &[-0.5, 0., 0.]);
        assert_eq!(rig.pose(&rig.neutral, &[0.0, 0.0]), rig.neutral);
    }

    #[test]
    fn records_round_trip_with_per_vertex_uvs() {
        let rig = square();
        let record = rig.to_record();
        record.validate().unwrap();
        assert_eq!(FaceRig::from_record(&record).unwrap(), rig);
        // Vertex 0 takes its first corner's UV (0, 0), not the seam's (0.5, 0.5).
        let uvs = record.tensor("uvs").unwrap().as_f32().unwrap();
        assert_eq!(uvs, &[0., 0., 1., 0., 1., 1., 0., 1.]);
    }

    #[test]
    fn inconsistent_rigs_are_refused() {
        let mut rig = square();
        rig.triangles[5] = 9;
        assert_eq!(
            rig.check().unwrap_err(),
            "face_model triangles refer to index 9, but there are only 4"
        );
        let mut rig = square();
        rig.regions[0].vertices = to_ranges(0..5);
        assert!(rig.check().unwrap_err().contains("region `all`"));
    }

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(to_ranges([1, 2, 3, 7, 8, 10]), vec![1..4, 7..9, 10..11]);
        assert!(to_ranges([]).is_empty());
    }
}
