//! The importers on the fixtures `scripts/make-capture-fixtures.py` writes,
//! against the values it computed with numpy, and on those fixtures broken
//! one way at a time.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use gspeech_sdk::{CancelToken, LogLevel, NodeError, Reporter};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::nerf::CyOrigin;
use super::{BUNDLED_FACE_MODEL, ImportOptions, Source, import, npz};
use crate::capture::format::{Capture, CaptureCamera, encode_png, image_path, mask_path};
use crate::face::asset::{read_asset, write_asset};
use crate::face::flame::{Flame, FlameConfig};
use crate::face::rig::tests::square;
use crate::testing::repo_path;

/// Calls its function with each progress fraction.
struct Watch<F>(F);

impl<F: Fn(f32) + Send + Sync> Reporter for Watch<F> {
    fn progress(&self, fraction: f32, _message: &str) {
        (self.0)(fraction)
    }
    fn log(&self, _level: LogLevel, _message: &str) {}
}

fn fixture(name: &str) -> PathBuf {
    repo_path("tests/fixtures/capture-import").join(name)
}

#[derive(Deserialize)]
struct Expected {
    cameras: Vec<CaptureCamera>,
    frames: Vec<ExpectedFrame>,
}

#[derive(Deserialize)]
struct ExpectedFrame {
    index: usize,
    time: f64,
    split: String,
    #[serde(default)]
    weights: Option<Vec<f32>>,
    vertices: Vec<[f64; 3]>,
    images: Vec<String>,
    #[serde(default)]
    masks: Vec<String>,
}

fn expected(name: &str) -> Expected {
    let text = std::fs::read_to_string(fixture(&format!("{name}.expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The fixtures' FLAME has 3 identity directions.
fn options() -> ImportOptions {
    ImportOptions {
        flame: FlameConfig { shape_params: 3 },
        ..ImportOptions::default()
    }
}

fn gaussian_avatars() -> Source {
    Source::GaussianAvatars {
        flame: fixture("flame.npz"),
    }
}

fn transforms(meshes: Option<PathBuf>, face: Option<PathBuf>) -> Source {
    Source::Transforms {
        meshes,
        face,
        units: "m".into(),
    }
}

fn run(source: &Source, src: &Path, options: &ImportOptions) -> Result<(tempfile::TempDir, Capture), NodeError> {
    let out = tempfile::tempdir().unwrap();
    let capture = import(
        source,
        src,
        &out.path().join("capture"),
        options,
        &Watch(|_| {}),
        &CancelToken::new(),
    )?;
    Ok((out, capture))
}

fn error(source: &Source, src: &Path) -> String {
    run(source, src, &options()).expect_err("the import fails").to_string()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A writable copy of a fixture folder.
fn copy(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join(name);
    copy_dir(&fixture(name), &src);
    (dir, src)
}

/// Changes a transforms file's JSON in place.
fn edit_json(path: &Path, edit: impl FnOnce(&mut Json)) {
    let mut json: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut json);
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

fn assert_close(got: f64, expected: f64, tolerance: f64, what: &str) {
    assert!((got - expected).abs() <= tolerance, "{what}: {got} vs {expected}");
}

/// The capture holds the expected cameras, frames, meshes and images.
fn check_against(capture: &Capture, src: &Path, expected: &Expected) {
    assert_eq!(capture.problems(), []);
    let index = &capture.index;
    assert_eq!(index.cameras.len(), expected.cameras.len());
    for (got, want) in index.cameras.iter().zip(&expected.cameras) {
        assert_eq!(
            (&got.name, got.width, got.height, got.held_out),
            (&want.name, want.width, want.height, want.held_out)
        );
        for (g, w, what) in [
            (got.fx, want.fx, "fx"),
            (got.fy, want.fy, "fy"),
            (got.cx, want.cx, "cx"),
            (got.cy, want.cy, "cy"),
        ] {
            assert_close(g, w, 1e-9, &format!("camera {} {what}", got.name));
        }
        for (g, w) in got
            .world_to_camera
            .as_flattened()
            .iter()
            .zip(want.world_to_camera.as_flattened())
        {
            assert_close(*g, *w, 1e-5, &format!("camera {} world_to_camera", got.name));
        }
    }
    assert_eq!(index.frames.len(), expected.frames.len());
    let meshes = capture.meshes().unwrap();
    let vertices = meshes.read_all().unwrap();
    let v = meshes.vertices;
    for (got, want) in index.frames.iter().zip(&expected.frames) {
        assert_eq!((got.index, &got.split), (want.index, &want.split));
        assert_close(got.time, want.time, 1e-12, "time");
        assert_eq!(got.weights.is_some(), want.weights.is_some());
        for (g, w) in got.weights.iter().flatten().zip(want.weights.iter().flatten()) {
            assert_close(*g as f64, *w as f64, 1e-6, "weight");
        }
        assert_eq!(want.vertices.len(), v);
        let mesh = &vertices[got.index * v * 3..(got.index + 1) * v * 3];
        for (g, w) in mesh.iter().zip(want.vertices.as_flattened()) {
            assert_close(*g as f64, *w, 1e-5, &format!("frame {} vertex", got.index));
        }
        for (c, camera) in index.cameras.iter().enumerate() {
            let decoded = |path: &Path| image::open(path).unwrap().into_rgb8();
            let imported = decoded(&image_path(&capture.root, &camera.name, got.index));
            assert_eq!(
                imported,
                decoded(&src.join(&want.images[c])),
                "{} frame {}",
                camera.name,
                got.index
            );
            if let Some(mask) = want.masks.get(c) {
                let imported = image::open(mask_path(&capture.root, &camera.name, got.index)).unwrap();
                assert_eq!(imported.into_luma8(), image::open(src.join(mask)).unwrap().into_luma8());
            }
        }
    }
}

#[test]
fn gaussian_avatars_imports_as_numpy_computed_it() {
    let src = fixture("gaussian-avatars");
    let (_out, capture) = run(&gaussian_avatars(), &src, &options()).unwrap();
    check_against(&capture, &src, &expected("gaussian-avatars"));
    let index = &capture.index;
    assert_eq!(index.weight_names, ["expression000", "expression001"]);
    assert_eq!(index.fps, Some(25.0));
    let flame = Flame::from_file(&fixture("flame.npz"), FlameConfig { shape_params: 3 }).unwrap();
    let rig = flame.to_rig().unwrap();
    let face = &index.face_model;
    assert_eq!(
        (
            face.name.as_str(),
            face.path.as_deref(),
            face.vertices,
            face.digest.as_str(),
            face.units.as_str()
        ),
        ("FLAME", None, 8, rig.digest().as_str(), "m")
    );

    // VHAP's cy counts from the bottom; read from the top, it is mirrored.
    let top = ImportOptions {
        cy_origin: Some(CyOrigin::Top),
        ..options()
    };
    let (_out, capture) = run(&gaussian_avatars(), &src, &top).unwrap();
    for (got, want) in capture.index.cameras.iter().zip(&expected("gaussian-avatars").cameras) {
        assert_close(got.cy, got.height as f64 - want.cy, 1e-9, "cy from the top");
    }
}

#[test]
fn transforms_imports_obj_or_ply_meshes_on_their_own_or_a_given_face_model() {
    let src = fixture("transforms");
    let want = expected("transforms");
    let (_out, capture) = run(&transforms(None, None), &src, &options()).unwrap();
    check_against(&capture, &src, &want);
    // The model of the first mesh's topology travels with the capture and checks.
    let face = &capture.index.face_model;
    assert_eq!(
        (
            face.name.as_str(),
            face.path.as_deref(),
            face.vertices,
            face.units.as_str()
        ),
        ("transforms", Some(BUNDLED_FACE_MODEL), 8, "m")
    );
    let rig = read_asset(&capture.root.join(BUNDLED_FACE_MODEL)).unwrap();
    assert_eq!(rig.digest(), face.digest);
    // Two quads and two triangles: six triangles over the first mesh's positions.
    assert_eq!(rig.triangle_count(), 6);
    assert_eq!(rig.neutral, capture.meshes().unwrap().read_frames(0, 1).unwrap());
    assert!(capture.index.weight_names.is_empty());

    let (_out, from_ply) = run(&transforms(Some(src.join("meshes-ply")), None), &src, &options()).unwrap();
    check_against(&from_ply, &src, &want);
    assert_eq!(from_ply.index.face_model.digest, face.digest);

    let (_out, on_flame) = run(&transforms(None, Some(fixture("flame.npz"))), &src, &options()).unwrap();
    check_against(&on_flame, &src, &want);
    let flame = Flame::from_file(&fixture("flame.npz"), FlameConfig { shape_params: 3 }).unwrap();
    assert_eq!(on_flame.index.face_model.digest, flame.to_rig().unwrap().digest());
    assert_eq!(on_flame.index.face_model.path, None);
    assert!(!on_flame.root.join(BUNDLED_FACE_MODEL).exists());
}

#[test]
fn jpeg_images_are_re_encoded_as_png() {
    let (_dir, src) = copy("transforms");
    let png = src.join("images/cam1/00001.png");
    let jpeg = src.join("images/cam1/00001.jpg");
    image::open(&png).unwrap().save(&jpeg).unwrap();
    std::fs::remove_file(&png).unwrap();
    edit_json(&src.join("transforms.json"), |json| {
        json["frames"][3]["file_path"] = json!("images/cam1/00001.jpg")
    });
    let (_out, capture) = run(&transforms(None, None), &src, &options()).unwrap();
    let imported = image::open(image_path(&capture.root, "cam01", 1)).unwrap();
    assert_eq!(imported.into_rgb8(), image::open(&jpeg).unwrap().into_rgb8());
}

#[test]
fn singular_or_unfocused_cameras_are_named_with_their_frame() {
    let (_dir, src) = copy("gaussian-avatars");
    let train = src.join("transforms_train.json");
    let original = std::fs::read_to_string(&train).unwrap();
    edit_json(&train, |json| {
        // Its first column repeats the second: a plane, not a frame.
        let m = &mut json["frames"][2]["transform_matrix"];
        for row in 0..3 {
            m[row][0] = m[row][1].clone();
        }
    });
    let err = error(&gaussian_avatars(), &src);
    let file = train.display();
    assert!(
        err.starts_with(&format!("{file}: frame 2: `transform_matrix` is singular")),
        "{err}"
    );

    std::fs::write(&train, &original).unwrap();
    edit_json(&train, |json| json["frames"][3]["fl_x"] = json!(-13.0));
    let err = error(&gaussian_avatars(), &src);
    assert_eq!(
        err,
        format!("{file}: frame 3: camera \"222200038\": the focal lengths (fx -13, fy 13) must be positive")
    );

    std::fs::write(&train, &original).unwrap();
    edit_json(&train, |json| json["frames"][3]["transform_matrix"][0][3] = json!(9.0));
    let err = error(&gaussian_avatars(), &src);
    assert!(
        err.starts_with(&format!(
            "{file}: frame 3: camera \"222200038\" has other intrinsics or another pose than at \
             transforms_train.json frame 1"
        )),
        "{err}"
    );
}

#[test]
fn wrongly_sized_or_missing_images_and_missing_files_are_named() {
    let (_dir, src) = copy("gaussian-avatars");
    let image = src.join("images/00001_01.png");
    std::fs::write(&image, encode_png(&[90; 10 * 8 * 3], 10, 8).unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("capture");
    let err = import(
        &gaussian_avatars(),
        &src,
        &dest,
        &options(),
        &Watch(|_| {}),
        &CancelToken::new(),
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        err,
        format!(
            "{}: camera \"222200038\", timestep 1 (transforms_train.json frame 3): is 10×8, but the camera's \
             images are 12×8",
            image.display()
        )
    );
    // Nothing is left of the failed import: no capture, no staging folder.
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);

    std::fs::remove_file(&image).unwrap();
    assert!(error(&gaussian_avatars(), &src).ends_with("transforms_train.json frame 3): is missing"));

    std::fs::remove_file(src.join("flame_param/00002.npz")).unwrap();
    assert_eq!(
        error(&gaussian_avatars(), &src),
        format!("{}: is missing", src.join("flame_param/00002.npz").display())
    );
    std::fs::remove_file(src.join("transforms_test.json")).unwrap();
    edit_json(&src.join("transforms_val.json"), |json| {
        json["frames"].as_array_mut().unwrap().remove(1);
    });
    assert_eq!(
        error(&gaussian_avatars(), &src),
        format!(
            "{}: frame 2: timestep 1 has no image from camera \"222200039\" in any transforms file (every \
             camera must see every timestep)",
            src.join("transforms_train.json").display()
        )
    );
}

/// Rewrites a timestep's parameter file with `edit` applied to its arrays.
fn edit_params(path: &Path, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) {
    let keys = [
        "shape",
        "expr",
        "rotation",
        "neck_pose",
        "jaw_pose",
        "eyes_pose",
        "translation",
        "static_offset",
    ];
    let mut arrays: Vec<(String, Tensor)> = npz::read(path, 1 << 20, &keys)
        .unwrap()
        .into_iter()
        .map(|(name, a)| (name, Tensor::from_vec(a.values, a.shape, &Device::Cpu).unwrap()))
        .collect();
    edit(&mut arrays);
    Tensor::write_npz(&arrays, path).unwrap();
}

#[test]
fn flame_parameters_for_another_model_are_named() {
    let (_dir, src) = copy("gaussian-avatars");
    let params = src.join("flame_param/00001.npz");
    let original = std::fs::read(&params).unwrap();
    let flame = fixture("flame.npz");
    edit_params(&params, |arrays| {
        arrays.retain(|(name, _)| name != "shape");
        arrays.push((
            "shape".into(),
            Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap(),
        ));
    });
    assert_eq!(
        error(&gaussian_avatars(), &src),
        format!(
            "{}: holds 4 identity (`shape`) coefficients, but the FLAME model {} has 3: the parameters were \
             tracked on a model of another size (FLAME 2020 and 2023 have 300; set --flame-shape-params to \
             the model's)",
            params.display(),
            flame.display()
        )
    );
    std::fs::write(&params, &original).unwrap();
    edit_params(&params, |arrays| {
        arrays.retain(|(name, _)| name != "static_offset");
        let offsets = Tensor::zeros((1, 9, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        arrays.push(("static_offset".into(), offsets));
    });
    assert_eq!(
        error(&gaussian_avatars(), &src),
        format!(
            "{}: `static_offset` is [1, 9, 3], but the FLAME model {} has 8 vertices: expected [1, 8, 3] (or \
             [1, 128, 3] with GaussianAvatars' teeth)",
            params.display(),
            flame.display()
        )
    );
    std::fs::write(&params, &original).unwrap();
    edit_params(&params, |arrays| arrays.retain(|(name, _)| name != "jaw_pose"));
    assert!(error(&gaussian_avatars(), &src).starts_with(&format!("{}: has no `jaw_pose` array", params.display())));
    // The model itself split for FLAME 2020/2023's 300 identity directions does not fit the fixture's.
    let err = run(&gaussian_avatars(), &src, &ImportOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("above the 300 identity directions"), "{err}");
}

#[test]
fn npz_entries_claiming_more_than_they_hold_are_refused_before_allocating() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.npz");
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 3), }\n";
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend([0u8; 12]);
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    zip.start_file("shape.npy", stored).unwrap();
    zip.write_all(&npy).unwrap();
    zip.finish().unwrap();
    let err = npz::read(&path, 1 << 20, &["shape"]).unwrap_err().to_string();
    assert!(
        err.contains("`shape` holds 12 bytes of data, but its header's shape [1000000000000, 3]"),
        "{err}"
    );
    let err = npz::read(&path, 16, &["shape"]).unwrap_err().to_string();
    assert!(err.contains("more than the 16 an import reads"), "{err}");
}

#[test]
fn compressed_npz_archives_read_as_stored_ones() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
    npy.extend((header.len() as u16).to_le_bytes());
    npy.extend(header.as_bytes());
    npy.extend([0.5f32, -1.0, 2.0, 3.0, 4.0, 1e-3].iter().flat_map(|v| v.to_le_bytes()));
    let mut read = Vec::new();
    for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
        let path = dir.path().join(format!("{method:?}.npz"));
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file(
            "expr.npy",
            zip::write::SimpleFileOptions::default().compression_method(method),
        )
        .unwrap();
        zip.write_all(&npy).unwrap();
        zip.finish().unwrap();
        read.push(npz::read(&path, 1 << 20, &["expr"]).unwrap());
    }
    assert_eq!(read[0]["expr"].shape, [2, 3]);
    assert_eq!(read[0]["expr"].values, [0.5, -1.0, 2.0, 3.0, 4.0, 1e-3]);
    assert_eq!(read[0], read[1]);
}

#[test]
fn short_or_mismatched_mesh_sequences_are_named() {
    let (_dir, src) = copy("transforms");
    let folder = src.join("meshes");
    std::fs::remove_file(folder.join("00002.obj")).unwrap();
    assert_eq!(
        error(&transforms(Some(folder.clone()), None), &src),
        format!(
            "{}: is missing (nor is there a 00002.ply): timestep 2 (transforms.json frame 4) has no mesh",
            folder.join("00002.obj").display()
        )
    );
    // The same file missing under the frames' `mesh_path`.
    assert_eq!(
        error(&transforms(None, None), &src),
        format!("{}: is missing", folder.join("00002.obj").display())
    );

    let (_dir, src) = copy("transforms");
    let mesh = src.join("meshes/00001.obj");
    let text = std::fs::read_to_string(&mesh).unwrap();
    std::fs::write(&mesh, text.replace("f 6 8 7", "f 6 7 8")).unwrap();
    let first = src.join("meshes/00000.obj");
    assert_eq!(
        error(&transforms(None, None), &src),
        format!(
            "{}: has other polygons: polygon 3 joins vertices [5, 6, 7], not [5, 7, 6] as in the first mesh {}",
            mesh.display(),
            first.display()
        )
    );
    // A vertex more.
    let vertices_only: Vec<&str> = text.lines().filter(|l| !l.starts_with('f')).collect();
    std::fs::write(&mesh, vertices_only.join("\n") + "\nv 0 0 0\n").unwrap();
    assert_eq!(
        error(&transforms(None, None), &src),
        format!(
            "{}: has 9 vertices, not the 8 of the first mesh {}",
            mesh.display(),
            first.display()
        )
    );

    // A given face model of another vertex count.
    let (_dir, src) = copy("transforms");
    let manifest = src.join("square.json");
    write_asset(&square(), &manifest, 0.0, json!({}), &CancelToken::new()).unwrap();
    assert_eq!(
        error(&transforms(None, Some(manifest.clone())), &src),
        format!(
            "{}: has 8 vertices, but the face model {} has 4",
            src.join("meshes/00000.obj").display(),
            manifest.display()
        )
    );
}

#[test]
fn an_import_never_overwrites_and_a_cancelled_one_leaves_nothing() {
    let src = fixture("transforms");
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("capture");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("notes.txt"), "mine").unwrap();
    let err = import(
        &transforms(None, None),
        &src,
        &dest,
        &options(),
        &Watch(|_| {}),
        &CancelToken::new(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.ends_with("already exists: an import writes a new capture folder and never overwrites one"));
    assert_eq!(std::fs::read_to_string(dest.join("notes.txt")).unwrap(), "mine");

    // An empty folder is fine.
    std::fs::remove_file(dest.join("notes.txt")).unwrap();
    import(
        &transforms(None, None),
        &src,
        &dest,
        &options(),
        &Watch(|_| {}),
        &CancelToken::new(),
    )
    .unwrap();

    // Cancelled half way through the images: no capture and no staging folder remain.
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("capture");
    let cancel = CancelToken::new();
    let cancelling = Watch(|fraction| {
        if fraction > 0.5 {
            cancel.cancel();
        }
    });
    let result = import(&transforms(None, None), &src, &dest, &options(), &cancelling, &cancel);
    assert_eq!(result.err(), Some(NodeError::Cancelled));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}
