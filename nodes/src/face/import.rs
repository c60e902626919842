//! Importing OBJ blendshape rigs: a neutral mesh plus expression and identity
//! meshes of the same topology. Polygons are triangulated (quads along their
//! shorter diagonal), texture coordinates kept, parts of the mesh named, and a
//! chosen set of parts kept.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use gspeech_sdk::NodeError;

use super::obj::{ObjMesh, read_obj};
use super::rig::{FaceRig, FaceUvs, Region, to_ranges};
use super::{ict, vertex_sets};

/// How the mesh is divided into named regions.
#[derive(Clone, Debug, PartialEq)]
pub enum RegionLayout {
    /// From the OBJ's groups (`g`/`o`), or its materials (`usemtl`) when it has no groups.
    Groups,
    /// Fixed vertex ranges; a polygon belongs to the region of its first corner.
    Ranges(Vec<(String, Range<u32>)>),
}

/// The files of a rig and what is known about their layout.
#[derive(Clone, Debug, PartialEq)]
pub struct RigSources {
    /// A human name for the model.
    pub name: String,
    /// The neutral mesh.
    pub neutral: PathBuf,
    /// Expression meshes, by name.
    pub expressions: Vec<(String, PathBuf)>,
    /// Identity meshes, by name.
    pub identities: Vec<(String, PathBuf)>,
    /// How regions are found.
    pub layout: RegionLayout,
    /// Landmark vertices of the full mesh, 68-point Multi-PIE order (may be empty).
    pub landmarks: Vec<u32>,
    /// Length unit of the positions.
    pub units: String,
}

impl RigSources {
    /// The rig in a folder. ICT-FaceKit's layout (`generic_neutral_mesh.obj` and
    /// `vertex_indices.json`) is recognised; otherwise the neutral is
    /// `neutral.obj`, `identity*.obj` are identities and every other `.obj` an
    /// expression named after its file.
    pub fn from_folder(dir: &Path) -> Result<RigSources, NodeError> {
        let mut objs: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| NodeError::file(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("obj")))
            .collect();
        objs.sort();
        let stem = |p: &Path| p.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let identities: Vec<(String, PathBuf)> = objs
            .iter()
            .filter(|p| stem(p).starts_with("identity"))
            .map(|p| (stem(p), p.clone()))
            .collect();
        let folder_name = dir.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if ict::is_ict(dir) {
            let indices = ict::read_indices(dir)?;
            let expressions = indices
                .expressions
                .iter()
                .map(|name| {
                    let path = dir.join(format!("{name}.obj"));
                    if path.is_file() {
                        Ok((name.clone(), path))
                    } else {
                        Err(NodeError::file(
                            &path,
                            format!("is missing: {} lists the expression `{name}`", ict::INDICES),
                        ))
                    }
                })
                .collect::<Result<_, _>>()?;
            return Ok(RigSources {
                name: "ICT-FaceKit light".into(),
                neutral: dir.join(ict::NEUTRAL),
                expressions,
                identities,
                layout: RegionLayout::Ranges(ict::REGIONS.iter().map(|(n, r)| (n.to_string(), r.clone())).collect()),
                landmarks: indices.landmarks,
                units: "cm".into(),
            });
        }
        let neutral = ["neutral.obj", ict::NEUTRAL]
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                NodeError::file(
                    dir,
                    "has no neutral mesh: expected neutral.obj (or generic_neutral_mesh.obj) beside the expression OBJs",
                )
            })?;
        let expressions = objs
            .iter()
            .filter(|p| **p != neutral && !stem(p).starts_with("identity"))
            .map(|p| (stem(p), p.clone()))
            .collect();
        Ok(RigSources {
            name: folder_name,
            neutral,
            expressions,
            identities,
            layout: RegionLayout::Groups,
            landmarks: Vec::new(),
            units: String::new(),
        })
    }
}

/// What to keep of a rig.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportOptions {
    /// The regions to keep; `None` keeps the whole mesh.
    pub regions: Option<Vec<String>>,
    /// At most this many identity shapes (the first ones); `None` keeps all.
    pub max_identities: Option<usize>,
}

/// Imports a rig: reads every mesh, checks that each has the neutral's
/// topology, and keeps the chosen regions. `progress` gets fractions in [0, 1];
/// `cancelled` is polled between files.
pub fn import(
    sources: &RigSources,
    options: &ImportOptions,
    progress: &dyn Fn(f32, &str),
    cancelled: &dyn Fn() -> bool,
) -> Result<FaceRig, NodeError> {
    let neutral = read_obj(&sources.neutral)?;
    let all_regions = full_regions(&neutral, &sources.layout).map_err(|e| NodeError::file(&sources.neutral, e))?;
    let kept_names: Vec<String> = match &options.regions {
        Some(names) => {
            for name in names {
                if !all_regions.iter().any(|r| r.name == *name) {
                    let known: Vec<&str> = all_regions.iter().map(|r| r.name.as_str()).collect();
                    return Err(NodeError::param(
                        "regions",
                        format!("the mesh has no region `{name}`; it has {}", known.join(", ")),
                    ));
                }
            }
            names.clone()
        }
        None => all_regions.iter().map(|r| r.name.clone()).collect(),
    };
    let kept = Selection::new(&neutral, &all_regions, &kept_names);
    let mesh = kept.triangulate(&neutral, &all_regions);

    let identity_files = &sources.identities[..options
        .max_identities
        .unwrap_or(usize::MAX)
        .min(sources.identities.len())];
    let files = sources.expressions.len() + identity_files.len();
    let deltas = |list: &[(String, PathBuf)], done: usize| -> Result<Vec<f32>, NodeError> {
        let mut out = Vec::with_capacity(list.len() * kept.vertices.len() * 3);
        for (i, (name, path)) in list.iter().enumerate() {
            if cancelled() {
                return Err(NodeError::Cancelled);
            }
            progress((done + i) as f32 / files as f32, name);
            let shape = read_obj(path)?;
            neutral
                .same_topology(&shape)
                .map_err(|e| NodeError::file(path, format!("does not match the neutral mesh: it {e}")))?;
            for &v in &kept.vertices {
                let (p, n) = (shape.positions[v as usize], neutral.positions[v as usize]);
                out.extend([p[0] - n[0], p[1] - n[1], p[2] - n[2]]);
            }
        }
        Ok(out)
    };
    let expressions = deltas(&sources.expressions, 0)?;
    let identities = deltas(identity_files, sources.expressions.len())?;

    let landmarks = sources
        .landmarks
        .iter()
        .map(|&old| {
            kept.new_index(old).ok_or_else(|| {
                NodeError::param(
                    "regions",
                    format!("landmark vertex {old} is in a region that is not kept; keep the `face` region"),
                )
            })
        })
        .collect::<Result<Vec<u32>, _>>()?;
    let neutral_positions: Vec<f32> = kept
        .vertices
        .iter()
        .flat_map(|&v| neutral.positions[v as usize])
        .collect();
    let mut rig = FaceRig {
        name: sources.name.clone(),
        units: sources.units.clone(),
        neutral: neutral_positions,
        triangles: mesh.triangles,
        expression_names: sources.expressions.iter().map(|(n, _)| n.clone()).collect(),
        expressions,
        identity_names: identity_files.iter().map(|(n, _)| n.clone()).collect(),
        identities,
        uvs: mesh.uvs,
        regions: mesh.regions,
        lip_vertices: Vec::new(),
        upper_face_vertices: Vec::new(),
        landmarks,
    };
    if let (Some(face), false) = (rig.region("face"), rig.landmarks.is_empty()) {
        let sets = vertex_sets::from_landmarks(&rig.neutral, &rig.landmarks, face);
        rig.lip_vertices = sets.lips;
        rig.upper_face_vertices = sets.upper_face;
    }
    rig.check().map_err(|e| NodeError::file(&sources.neutral, e))?;
    progress(1.0, "imported");
    Ok(rig)
}

/// A region of the full mesh: its vertices, and the polygons that belong to it.
struct FullRegion {
    name: String,
    vertices: BTreeSet<u32>,
    faces: Vec<usize>,
}

fn full_regions(mesh: &ObjMesh, layout: &RegionLayout) -> Result<Vec<FullRegion>, String> {
    let count = mesh.positions.len() as u32;
    match layout {
        RegionLayout::Ranges(ranges) => {
            if let Some((name, r)) = ranges.iter().find(|(_, r)| r.end > count) {
                return Err(format!(
                    "has {count} vertices, fewer than the layout's region `{name}` ({}..{}) needs",
                    r.start, r.end
                ));
            }
            let mut regions: Vec<FullRegion> = ranges
                .iter()
                .map(|(name, r)| FullRegion {
                    name: name.clone(),
                    vertices: r.clone().collect(),
                    faces: Vec::new(),
                })
                .collect();
            for (i, face) in mesh.faces.iter().enumerate() {
                if let Some(region) = regions.iter_mut().find(|r| r.vertices.contains(&face.vertices[0])) {
                    region.faces.push(i);
                }
            }
            Ok(regions)
        }
        RegionLayout::Groups => {
            let by_group = !mesh.groups.is_empty();
            let names = if by_group { &mesh.groups } else { &mesh.materials };
            let mut regions: Vec<FullRegion> = names
                .iter()
                .map(|n| FullRegion {
                    name: n.clone(),
                    vertices: BTreeSet::new(),
                    faces: Vec::new(),
                })
                .collect();
            let mut ungrouped = FullRegion {
                name: "mesh".into(),
                vertices: BTreeSet::new(),
                faces: Vec::new(),
            };
            for (i, face) in mesh.faces.iter().enumerate() {
                let which = if by_group { face.group } else { face.material };
                let region = which.map_or(&mut ungrouped, |g| &mut regions[g]);
                region.faces.push(i);
                region.vertices.extend(&face.vertices);
            }
            if regions.is_empty() {
                ungrouped.vertices.extend(0..count);
            }
            if !ungrouped.faces.is_empty() || regions.is_empty() {
                regions.insert(0, ungrouped);
            }
            Ok(regions)
        }
    }
}

/// The vertices and polygons kept, with the map from old to new vertex indices.
struct Selection {
    vertices: Vec<u32>,
    remap: Vec<u32>,
    faces: Vec<(usize, usize)>,
}

impl Selection {
    fn new(mesh: &ObjMesh, regions: &[FullRegion], keep: &[String]) -> Selection {
        let kept: Vec<&FullRegion> = regions.iter().filter(|r| keep.contains(&r.name)).collect();
        let vertices: BTreeSet<u32> = kept.iter().flat_map(|r| r.vertices.iter().copied()).collect();
        let mut remap = vec![u32::MAX; mesh.positions.len()];
        for (new, &old) in vertices.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let mut faces: Vec<(usize, usize)> = regions
            .iter()
            .enumerate()
            .filter(|(_, r)| keep.contains(&r.name))
            .flat_map(|(ri, r)| r.faces.iter().map(move |&f| (f, ri)))
            .filter(|&(f, _)| mesh.faces[f].vertices.iter().all(|&v| remap[v as usize] != u32::MAX))
            .collect();
        faces.sort_unstable();
        faces.dedup_by_key(|(f, _)| *f);
        Selection {
            vertices: vertices.into_iter().collect(),
            remap,
            faces,
        }
    }

    fn new_index(&self, old: u32) -> Option<u32> {
        self.remap.get(old as usize).copied().filter(|&i| i != u32::MAX)
    }

    /// Triangles, UVs and regions of the kept polygons, in the new indices.
    fn triangulate(&self, mesh: &ObjMesh, regions: &[FullRegion]) -> TriangleMesh {
        let textured = !self.faces.is_empty() && self.faces.iter().all(|&(f, _)| mesh.faces[f].texcoords.is_some());
        let mut uv_remap = vec![u32::MAX; mesh.texcoords.len()];
        if textured {
            let used: BTreeSet<u32> = self
                .faces
                .iter()
                .flat_map(|&(f, _)| mesh.faces[f].texcoords.as_deref().unwrap_or_default().iter().copied())
                .collect();
            for (new, old) in used.into_iter().enumerate() {
                uv_remap[old as usize] = new as u32;
            }
        }
        let mut triangles = Vec::new();
        let mut uv_triangles = Vec::new();
        let mut triangle_regions = Vec::new();
        for &(f, region) in &self.faces {
            let face = &mesh.faces[f];
            for corners in split_polygon(&face.vertices, &mesh.positions) {
                triangles.extend(corners.map(|c| self.remap[face.vertices[c] as usize]));
                if let Some(t) = face.texcoords.as_ref().filter(|_| textured) {
                    uv_triangles.extend(corners.map(|c| uv_remap[t[c] as usize]));
                }
                triangle_regions.push(region);
            }
        }
        let uvs = textured.then(|| FaceUvs {
            coords: (0..mesh.texcoords.len())
                .filter(|&i| uv_remap[i] != u32::MAX)
                .flat_map(|i| mesh.texcoords[i])
                .collect(),
            triangles: uv_triangles,
        });
        let regions = regions
            .iter()
            .enumerate()
            .filter_map(|(ri, r)| {
                let vertices = to_ranges(r.vertices.iter().filter_map(|&v| self.new_index(v)));
                let in_region = triangle_regions.iter().enumerate().filter(|&(_, &tr)| tr == ri);
                let triangles = to_ranges(in_region.map(|(t, _)| t as u32));
                (!vertices.is_empty()).then(|| Region {
                    name: r.name.clone(),
                    vertices,
                    triangles,
                })
            })
            .collect();
        TriangleMesh {
            triangles,
            uvs,
            regions,
        }
    }
}

struct TriangleMesh {
    triangles: Vec<u32>,
    uvs: Option<FaceUvs>,
    regions: Vec<Region>,
}

/// Corner triples of a polygon: a triangle as is, a quad split along its
/// shorter diagonal (the flatter, better-shaped pair), larger polygons as a fan.
pub(crate) fn split_polygon(corners: &[u32], positions: &[[f32; 3]]) -> Vec<[usize; 3]> {
    match corners.len() {
        3 => vec![[0, 1, 2]],
        4 => {
            let p = |i: usize| positions[corners[i] as usize];
            let d2 = |a: [f32; 3], b: [f32; 3]| (0..3).map(|k| (a[k] - b[k]).powi(2)).sum::<f32>();
            if d2(p(0), p(2)) <= d2(p(1), p(3)) {
                vec![[0, 1, 2], [0, 2, 3]]
            } else {
                vec![[0, 1, 3], [1, 2, 3]]
            }
        }
        n => (1..n - 1).map(|i| [0, i, i + 1]).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    /// Writes a small rig: a 3 × 2 grid of quads (group `skin`, 12 vertices,
    /// with UVs) and a triangle fan of a pentagon (group `teeth`, 6 vertices),
    /// plus expressions and identities that move chosen vertices.
    /// A named shape: the vertices it moves and by how much.
    type Shape<'a> = (&'a str, &'a [(usize, [f32; 3])]);

    fn write_rig(dir: &Path, shapes: &[Shape]) {
        let write = |name: &str, moved: &[(usize, [f32; 3])]| {
            let mut text = String::from("# test rig\n");
            let mut positions: Vec<[f32; 3]> = (0..12).map(|i| [(i % 4) as f32, (i / 4) as f32, 0.0]).collect();
            positions.extend((0..6).map(|i| {
                let a = i as f32 * 1.2566;
                [
                    10.0 + a.cos() * (i > 0) as u8 as f32,
                    a.sin() * (i > 0) as u8 as f32,
                    1.0,
                ]
            }));
            for &(v, d) in moved {
                (0..3).for_each(|k| positions[v][k] += d[k]);
            }
            for p in &positions {
                writeln!(text, "v {} {} {}", p[0], p[1], p[2]).unwrap();
            }
            for i in 0..12 {
                writeln!(text, "vt {} {}", (i % 4) as f32 / 3.0, (i / 4) as f32 / 2.0).unwrap();
            }
            text.push_str("g skin\n");
            for row in 0..2 {
                for col in 0..3 {
                    let a = row * 4 + col + 1;
                    let c = [a, a + 1, a + 5, a + 4];
                    writeln!(text, "f {0}/{0} {1}/{1} {2}/{2} {3}/{3}", c[0], c[1], c[2], c[3]).unwrap();
                }
            }
            text.push_str("g teeth\nf 13 14 15 16 17 18\n");
            std::fs::write(dir.join(format!("{name}.obj")), text).unwrap();
        };
        write("neutral", &[]);
        for (name, moved) in shapes {
            write(name, moved);
        }
    }

    fn quiet(_: f32, _: &str) {}

    fn never() -> bool {
        false
    }

    #[test]
    fn a_generic_rig_imports_with_known_counts() {
        let dir = tempfile::tempdir().unwrap();
        write_rig(
            dir.path(),
            &[
                ("smile", &[(5, [0.0, 0.5, 0.0])]),
                ("blink", &[(14, [0.0, 0.0, -0.25])]),
                ("identity000", &[(0, [1.0, 0.0, 0.0])]),
            ],
        );
        let sources = RigSources::from_folder(dir.path()).unwrap();
        assert_eq!(sources.layout, RegionLayout::Groups);
        let names: Vec<&str> = sources.expressions.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["blink", "smile"],
            "sorted by name; identities and the neutral excluded"
        );
        let rig = import(&sources, &ImportOptions::default(), &quiet, &never).unwrap();
        // 18 vertices; 6 quads → 12 triangles and a hexagon fan → 4 triangles.
        assert_eq!((rig.vertex_count(), rig.triangle_count()), (18, 16));
        assert_eq!(rig.expression_names, ["blink", "smile"]);
        assert_eq!(rig.identity_names, ["identity000"]);
        let delta = |shapes: &[f32], k: usize, v: usize| shapes[(k * 18 + v) * 3..(k * 18 + v) * 3 + 3].to_vec();
        assert_eq!(delta(&rig.expressions, 1, 5), [0.0, 0.5, 0.0]);
        assert_eq!(delta(&rig.expressions, 0, 14), [0.0, 0.0, -0.25]);
        assert_eq!(delta(&rig.expressions, 0, 5), [0.0, 0.0, 0.0]);
        assert_eq!(delta(&rig.identities, 0, 0), [1.0, 0.0, 0.0]);
        let skin = rig.region("skin").unwrap();
        assert_eq!(
            (skin.vertices.clone(), skin.triangles.clone()),
            (to_ranges(0..12), to_ranges(0..12))
        );
        let teeth = rig.region("teeth").unwrap();
        assert_eq!(
            (teeth.vertices.clone(), teeth.triangles.clone()),
            (to_ranges(12..18), to_ranges(12..16))
        );
        // The fan covers the hexagon; the untextured polygon means no UVs for the whole mesh.
        assert_eq!(&rig.triangles[36..], &[12, 13, 14, 12, 14, 15, 12, 15, 16, 12, 16, 17]);
        assert!(rig.uvs.is_none());
    }

    #[test]
    fn kept_regions_are_renumbered_and_keep_their_uvs() {
        let dir = tempfile::tempdir().unwrap();
        write_rig(dir.path(), &[("smile", &[(5, [0.0, 0.5, 0.0]), (14, [1.0, 1.0, 1.0])])]);
        let sources = RigSources::from_folder(dir.path()).unwrap();
        let options = ImportOptions {
            regions: Some(vec!["skin".into()]),
            max_identities: None,
        };
        let rig = import(&sources, &options, &quiet, &never).unwrap();
        assert_eq!((rig.vertex_count(), rig.triangle_count()), (12, 12));
        assert_eq!(rig.expressions.len(), 12 * 3, "the teeth's deltas are dropped");
        let uvs = rig.uvs.as_ref().unwrap();
        assert_eq!(uvs.coords.len(), 12 * 2);
        // A square's diagonals tie and it splits along its first (corners 0-2): the first
        // quad (vertices 0, 1, 5, 4) becomes (0, 1, 5) and (0, 5, 4), with matching UV corners.
        assert_eq!(&rig.triangles[..6], &[0, 1, 5, 0, 5, 4]);
        assert_eq!(&uvs.triangles[..6], &[0, 1, 5, 0, 5, 4]);
        let err = import(
            &sources,
            &ImportOptions {
                regions: Some(vec!["hair".into()]),
                max_identities: None,
            },
            &quiet,
            &never,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "parameter `regions`: the mesh has no region `hair`; it has skin, teeth"
        );
    }

    #[test]
    fn quads_split_along_the_shorter_diagonal() {
        let positions = [[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [3.0, 1.0, 0.0], [0.0, 1.0, 0.0]];
        // Diagonal 0-2 is longer than 1-3: split along 1-3.
        assert_eq!(split_polygon(&[0, 1, 2, 3], &positions), vec![[0, 1, 3], [1, 2, 3]]);
        assert_eq!(split_polygon(&[0, 1, 2], &positions), vec![[0, 1, 2]]);
    }

    #[test]
    fn bad_rigs_get_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        write_rig(dir.path(), &[("smile", &[])]);
        // Same vertex count, different polygons.
        let text = std::fs::read_to_string(dir.path().join("smile.obj")).unwrap();
        std::fs::write(dir.path().join("smile.obj"), text.replace("f 13 14 15", "f 13 15 14")).unwrap();
        let sources = RigSources::from_folder(dir.path()).unwrap();
        let err = import(&sources, &ImportOptions::default(), &quiet, &never)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "smile.obj: does not match the neutral mesh: it has a face at line 40 joining vertices [13, 15, 14"
            ),
            "{err}"
        );
        // One vertex more.
        std::fs::write(dir.path().join("smile.obj"), format!("{text}v 5 5 5\n")).unwrap();
        let err = import(&sources, &ImportOptions::default(), &quiet, &never)
            .unwrap_err()
            .to_string();
        assert!(err.contains("it has 19 vertices but the neutral mesh has 18"), "{err}");
        // No neutral.
        std::fs::remove_file(dir.path().join("neutral.obj")).unwrap();
        let err = RigSources::from_folder(dir.path()).unwrap_err().to_string();
        assert!(err.contains("has no neutral mesh: expected neutral.obj"), "{err}");
    }
}
