//! The studio on the committed ICT-FaceKit asset, at thumbnail sizes.

use std::sync::OnceLock;

use super::raster::{EMPTY, Sample, rasterize};
use super::skin::Material;
use super::*;
use crate::face::asset::read_asset;

fn ict() -> &'static FaceRig {
    static RIG: OnceLock<FaceRig> = OnceLock::new();
    RIG.get_or_init(|| read_asset(&crate::testing::repo_path("projects/assets/face/ict-facekit.json")).unwrap())
}

/// The neutral identity, prepared once (occlusion is the slow part).
fn subject() -> &'static Subject<'static> {
    static SUBJECT: OnceLock<Subject<'static>> = OnceLock::new();
    SUBJECT.get_or_init(|| Subject::new(ict(), &[]))
}

fn weights(pairs: &[(&str, f32)]) -> Vec<f32> {
    let rig = ict();
    let mut w = vec![0.0; rig.expression_names.len()];
    for (name, value) in pairs {
        w[rig
            .expression_index(name)
            .unwrap_or_else(|| panic!("no expression {name}"))] = *value;
    }
    w
}

/// A camera straight in front of the face, looking at `target` (cm) with a field of view.
fn frontal(size: u32, target: Vec3, fov: f32) -> Camera {
    Camera::new(size, size, fov)
        .looking_at([target[0], target[1], target[2] + 100.0], target, [0.0, 1.0, 0.0])
        .unwrap()
}

/// Per pixel, the sample at its centre (one sample per pixel).
fn centres(camera: &Camera, posed: &[f32]) -> Vec<Sample> {
    rasterize(camera, posed, &ict().triangles, 1).samples
}

/// A sample's rest point in face centimetres.
fn rest_point(sample: &Sample) -> Vec3 {
    let s = subject();
    let t = sample.triangle as usize * 3;
    let w = sample.weights();
    let p: Vec3 = std::array::from_fn(|k| {
        (0..3)
            .map(|i| w[i] * s.rest[s.rig.triangles[t + i] as usize * 3 + k])
            .sum()
    });
    s.local(p)
}

fn luminance(image: &Image, i: usize) -> f32 {
    let px = &image.rgba[i * 4..i * 4 + 3];
    0.2126 * px[0] as f32 + 0.7152 * px[1] as f32 + 0.0722 * px[2] as f32
}

fn mean(values: impl Iterator<Item = f32>) -> f32 {
    let (sum, n) = values.fold((0.0, 0), |(s, n), v| (s + v, n + 1));
    assert!(n > 0, "no values");
    sum / n as f32
}

#[test]
fn studio_ring_cameras_see_known_vertices_where_they_project() {
    let rig = ict();
    let ring = StudioRing {
        count: 5,
        width: 96,
        height: 96,
        ..StudioRing::default()
    };
    let cameras = ring.cameras(rig, &rig.neutral).unwrap();
    assert_eq!(cameras.len(), 5);
    assert_eq!(cameras.iter().filter(|c| c.held_out).count(), 2);
    assert!(
        !cameras[0].held_out && !cameras[4].held_out,
        "the ends of the arc are kept for fitting"
    );
    for capture_camera in &cameras {
        let camera = capture_camera.to_camera();
        camera.check().unwrap();
        let samples = rasterize(&camera, &rig.neutral, &rig.triangles, 3);
        let mut checked = 0;
        for landmark in 0..68 {
            let v = rig.landmarks[landmark];
            let p = [0, 1, 2].map(|k| rig.neutral[v as usize * 3 + k]);
            let [u, w] = capture_camera.project(p).unwrap();
            assert!(
                u >= 0.0 && w >= 0.0 && u < 96.0 && w < 96.0,
                "{}: landmark {landmark} at ({u}, {w})",
                capture_camera.name
            );
            // The sample nearest the projection: hidden vertices (the far eye corner) are skipped.
            let (sx, sy) = ((u * 3.0) as usize, (w * 3.0) as usize);
            let nearest = samples.samples[sy * 96 * 3 + sx];
            // Hidden behind something nearer (the nose, from the side).
            if nearest.triangle != EMPTY && nearest.depth < camera.to_camera(p)[2] - 1.0 {
                continue;
            }
            // The samples its triangles cover: where the rasteriser drew it.
            let touches = |t: u32| t != EMPTY && rig.triangles[t as usize * 3..t as usize * 3 + 3].contains(&v);
            let nearest_drawn = (0..samples.samples.len())
                .filter(|&i| touches(samples.samples[i].triangle))
                .map(|i| {
                    let (sx, sy) = ((i % (96 * 3)) as f32 + 0.5, (i / (96 * 3)) as f32 + 0.5);
                    (sx / 3.0 - u).hypot(sy / 3.0 - w)
                })
                .fold(f32::INFINITY, f32::min);
            if nearest_drawn.is_infinite() {
                continue; // its triangles are all hidden (the eye corners' folds) or edge-on
            }
            assert!(
                nearest_drawn < 0.75,
                "{}: landmark {landmark} ({v}) projects to ({u}, {w}) but its triangles are drawn {nearest_drawn} px away",
                capture_camera.name
            );
            checked += 1;
        }
        assert!(
            checked >= 20,
            "{}: only {checked} landmarks visible",
            capture_camera.name
        );
    }
}

#[test]
fn studio_raised_brows_wrinkle_the_forehead_and_nothing_else() {
    let s = subject();
    let layout = s.layout.as_ref().unwrap();
    let brow_top = layout.at(layout.brows[0][2])[1].max(layout.at(layout.brows[1][2])[1]);
    // Geometry held fixed: the same (neutral) vertices, only the weights the shading sees differ.
    let camera = frontal(96, [0.0, 6.0, 10.0], 10.0);
    let studio = Studio {
        supersample: 2,
        ..Studio::default()
    };
    let appearance = Appearance::default();
    let calm = render_frame(s, &appearance, &studio, &weights(&[]), &s.rest, &camera).unwrap();
    let raised = weights(&[
        ("browInnerUp_L", 1.0),
        ("browInnerUp_R", 1.0),
        ("browOuterUp_L", 1.0),
        ("browOuterUp_R", 1.0),
    ]);
    let raised = render_frame(s, &appearance, &studio, &raised, &s.rest, &camera).unwrap();
    let pixels = centres(&camera, &s.rest);
    let (mut forehead, mut elsewhere) = (Vec::new(), 0);
    for y in 1..95 {
        for x in 1..95 {
            let i = y * 96 + x;
            if pixels[i].triangle == EMPTY {
                assert_eq!(calm.rgba[i * 4..i * 4 + 4], raised.rgba[i * 4..i * 4 + 4]);
                continue;
            }
            let p = rest_point(&pixels[i]);
            let above = p[1] - brow_top;
            if (1.3..4.0).contains(&above) && p[0].abs() < 3.0 {
                forehead.push(i);
            } else if above < -0.3 || p[0].abs() > 6.0 {
                elsewhere += 1;
                let (a, b) = (&calm.rgba[i * 4..i * 4 + 4], &raised.rgba[i * 4..i * 4 + 4]);
                assert_eq!(a, b, "pixel ({x}, {y}) at rest {p:?} changed");
            }
        }
    }
    assert!(
        forehead.len() > 300 && elsewhere > 1000,
        "{} forehead, {elsewhere} elsewhere",
        forehead.len()
    );
    let laplacian = |image: &Image| {
        mean(forehead.iter().map(|&i| {
            (4.0 * luminance(image, i)
                - luminance(image, i - 1)
                - luminance(image, i + 1)
                - luminance(image, i - 96)
                - luminance(image, i + 96))
            .abs()
        }))
    };
    let (before, after) = (laplacian(&calm), laplacian(&raised));
    assert!(after > 1.3 * before, "forehead detail {before} → {after}");
}

#[test]
fn studio_same_seed_same_bytes_other_seed_other_freckles() {
    let s = subject();
    let camera = frontal(64, [0.0, 1.0, 10.0], 16.0);
    let studio = Studio {
        supersample: 2,
        ..Studio::default()
    };
    let w = weights(&[("mouthSmile_L", 0.5)]);
    let render = |seed| {
        let appearance = Appearance {
            seed,
            freckles: 1.0,
            ..Appearance::default()
        };
        render_frame(s, &appearance, &studio, &w, &s.rest, &camera).unwrap()
    };
    let a = render(7);
    assert_eq!(a, render(7));
    let b = render(8);
    assert_eq!(a.rgba.len(), 64 * 64 * 4);
    // Freckles sit on the nose and cheeks: there the two seeds differ visibly.
    let pixels = centres(&camera, &s.rest);
    let layout = s.layout.as_ref().unwrap();
    let bridge = layout.at(layout.nose[0]);
    let (mut cheeks, mut changed) = (0, 0);
    for (i, sample) in pixels.iter().enumerate() {
        if sample.triangle == EMPTY || s.materials[sample.triangle as usize] != Material::Skin {
            continue;
        }
        let p = rest_point(sample);
        if (p[0] - bridge[0]).abs() < 3.5 && p[1] > -1.0 && p[1] < bridge[1] {
            cheeks += 1;
            if (luminance(&a, i) - luminance(&b, i)).abs() > 4.0 {
                changed += 1;
            }
        }
    }
    assert!(
        cheeks > 100 && changed * 10 > cheeks,
        "{changed} of {cheeks} nose and cheek pixels changed"
    );
    assert_eq!(a.rgba[3], 0, "the corner is backdrop: alpha 0");
    assert_eq!(a.rgba[(32 * 64 + 32) * 4 + 3], 255, "the nose covers its pixel");
}

#[test]
fn studio_open_mouth_is_dark_inside_and_irises_are_darker_than_whites() {
    let s = subject();
    let rig = ict();
    let studio = Studio {
        supersample: 2,
        ..Studio::default()
    };
    let appearance = Appearance::default();
    let open = weights(&[("jawOpen", 0.8)]);
    let posed = rig.pose(&s.rest, &open);
    let camera = frontal(96, [0.0, -3.5, 10.0], 8.0);
    let image = render_frame(s, &appearance, &studio, &open, &posed, &camera).unwrap();
    let pixels = centres(&camera, &posed);
    let material = |i: usize| (pixels[i].triangle != EMPTY).then(|| s.materials[pixels[i].triangle as usize]);
    let inside: Vec<usize> = (0..96 * 96)
        .filter(|&i| matches!(material(i), Some(Material::MouthSocket | Material::GumsTongue)))
        .collect();
    let skin: Vec<usize> = (0..96 * 96).filter(|&i| material(i) == Some(Material::Skin)).collect();
    assert!(inside.len() > 100, "{} mouth interior pixels", inside.len());
    let (dark, light) = (
        mean(inside.iter().map(|&i| luminance(&image, i))),
        mean(skin.iter().map(|&i| luminance(&image, i))),
    );
    assert!(dark < 0.6 * light, "mouth interior {dark} vs skin {light}");

    // The subject's left eye, close up.
    let layout = s.layout.as_ref().unwrap();
    let eyeball = layout.eyes[1].unwrap();
    let camera = frontal(96, eyeball.centre, 4.0);
    let image = render_frame(s, &appearance, &studio, &weights(&[]), &s.rest, &camera).unwrap();
    let pixels = centres(&camera, &s.rest);
    let (centre, radius) = (s.local(eyeball.centre), eyeball.radius / s.cm());
    let (mut iris, mut sclera) = (Vec::new(), Vec::new());
    for (i, sample) in pixels.iter().enumerate() {
        if sample.triangle == EMPTY || s.materials[sample.triangle as usize] != Material::Eye(1) {
            continue;
        }
        let q = sub(rest_point(sample), centre);
        let along = dot(q, eyeball.axis);
        let r = crate::math::length(sub(q, scale(eyeball.axis, along))) / radius;
        if r < 0.3 {
            iris.push(luminance(&image, i));
        } else if r > 0.5 {
            sclera.push(luminance(&image, i));
        }
    }
    assert!(
        iris.len() > 30 && sclera.len() > 30,
        "{} iris and {} sclera pixels",
        iris.len(),
        sclera.len()
    );
    let (iris, sclera) = (mean(iris.into_iter()), mean(sclera.into_iter()));
    assert!(iris < 0.6 * sclera, "iris {iris} vs sclera {sclera}");
}

fn mix_points(a: Vec3, b: Vec3) -> Vec3 {
    std::array::from_fn(|k| (a[k] + b[k]) / 2.0)
}

/// Writes a contact sheet, `studio-contact.png` in the temporary folder: four
/// ring cameras at 256², neutral above, smiling with raised brows and an open
/// jaw below, and close-ups of the mouth, an eye, a cheek and the raised brows. `cargo test … studio_contact_sheet -- --ignored` to look.
#[test]
#[ignore]
fn studio_contact_sheet() {
    let s = subject();
    let rig = ict();
    let size = 256u32;
    let ring = StudioRing {
        count: 4,
        width: size,
        height: size,
        arc_degrees: 120.0,
        ..StudioRing::default()
    };
    let cameras = ring.cameras(rig, &s.rest).unwrap();
    let appearance = Appearance::from_seed(
        std::env::var("STUDIO_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    );
    let expressive = weights(&[
        ("mouthSmile_L", 0.8),
        ("mouthSmile_R", 0.8),
        ("browInnerUp_L", 0.9),
        ("browInnerUp_R", 0.9),
        ("browOuterUp_L", 0.7),
        ("browOuterUp_R", 0.7),
        ("jawOpen", 0.45),
        ("eyeSquint_L", 0.3),
        ("eyeSquint_R", 0.3),
    ]);
    let rows = [
        (weights(&[]), s.rest.clone()),
        (expressive.clone(), rig.pose(&s.rest, &expressive)),
    ];
    let (w, h) = (size as usize * cameras.len(), size as usize * (rows.len() + 1));
    let mut sheet = vec![0u8; w * h * 4];
    for (r, (weights, posed)) in rows.iter().enumerate() {
        for (c, camera) in cameras.iter().enumerate() {
            let image = render_frame(s, &appearance, &Studio::default(), weights, posed, &camera.to_camera()).unwrap();
            for y in 0..size as usize {
                let from = &image.rgba[y * size as usize * 4..(y + 1) * size as usize * 4];
                let at = ((r * size as usize + y) * w + c * size as usize) * 4;
                sheet[at..at + from.len()].copy_from_slice(from);
            }
        }
    }
    // Close-ups from the front: the expressive mouth and the neutral left eye.
    let layout = s.layout.as_ref().unwrap();
    let mouth = mix_points(layout.mouth_corners[0], layout.mouth_corners[1]);
    let eye = layout.eyes[1].unwrap().centre;
    let shots = [
        (mouth, 9.0, &rows[1]),
        (eye, 5.0, &rows[0]),
        (layout.cheeks[1], 3.0, &rows[0]),
        (layout.nose[0], 6.0, &rows[1]),
    ];
    for (c, (target, fov, (weights, posed))) in shots.into_iter().enumerate() {
        let image = render_frame(
            s,
            &appearance,
            &Studio::default(),
            weights,
            posed,
            &frontal(size, target, fov),
        )
        .unwrap();
        for y in 0..size as usize {
            let from = &image.rgba[y * size as usize * 4..(y + 1) * size as usize * 4];
            let at = ((2 * size as usize + y) * w + c * size as usize) * 4;
            sheet[at..at + from.len()].copy_from_slice(from);
        }
    }
    // Opaque, to see the backdrop.
    sheet.iter_mut().skip(3).step_by(4).for_each(|a| *a = 255);
    let path = std::env::temp_dir().join("studio-contact.png");
    image::RgbaImage::from_raw(w as u32, h as u32, sheet)
        .unwrap()
        .save(&path)
        .unwrap();
    eprintln!("wrote {} ({appearance:?})", path.display());
}
