//! The synthetic studio: renders a face model, posed frame by frame, from
//! calibrated cameras with a procedural skin, expression wrinkles and soft
//! studio light, so avatar fitting has multi-view images of something that
//! looks like a person.
//!
//! - [`raster`]: the supersampled visibility buffer for a pinhole camera;
//! - [`skin`]: materials and the procedural appearance in rest-pose space;
//! - [`wrinkles`]: expression-driven creases;
//! - [`light`]: lights, shading, tone map and sRGB;
//! - [`occlusion`]: per-vertex ambient occlusion of the rest shape;
//! - [`noise`]: seeded gradient noise;
//! - [`ring`]: [`StudioRing`], calibrated cameras around the front of the head.
//!
//! A [`Subject`] holds what is computed once per face (rest shape, materials,
//! landmark layout, occlusion), a [`Scene`] what is computed once per take
//! (the subject's appearance: the skin's slowly varying fields at each
//! vertex), a [`Pose`] what is computed once per frame (posed normals,
//! wrinkle drive); [`render_view`] turns a pose into RGBA8 pixels for one
//! camera ([`render_frame`] does it all for one view).
//! Everything is deterministic: the same inputs give the same bytes.

pub mod light;
pub mod noise;
pub mod occlusion;
pub mod raster;
pub mod ring;
pub mod skin;
pub mod wrinkles;

use std::cell::RefCell;

use rayon::prelude::*;

use crate::camera::Camera;
use crate::face::{FaceRig, vertex_normals};
use crate::math::{Vec3, cross, dot, normalize, scale, sub};

pub use light::Lights;
use noise::{Noise, unit};
use raster::{EMPTY, Raster, Sample};
pub use ring::StudioRing;
use skin::{Fields, Layout, Material, Mottle, Point};
use wrinkles::Drive;

/// How one person looks: what the seed does not fix by itself. The seed
/// drives every noise field (pores, freckles, mottling, brow hairs, iris
/// fibres); [`Appearance::from_seed`] also draws the rest from it.
#[derive(Clone, Debug, PartialEq)]
pub struct Appearance {
    /// Seeds every noise field.
    pub seed: u64,
    /// Skin tone from light (0) to dark (1).
    pub melanin: f32,
    /// Redness of the nose and cheeks, 0 to 1.
    pub redness: f32,
    /// Freckle density, 0 (none) to 1.
    pub freckles: f32,
    /// How strongly the lips differ from the skin, 0 to 1.
    pub lips: f32,
    /// Eyebrow and lash colour, linear RGB.
    pub hair: Vec3,
    /// Iris colour, linear RGB.
    pub iris: Vec3,
    /// Pupil radius as a share of the iris radius.
    pub pupil: f32,
    /// Shaved beard shadow over the upper lip, chin and jaw, 0 (none) to 1.
    pub stubble: f32,
}

impl Appearance {
    /// An appearance drawn from a seed (skin tones, freckles, eye and hair colours; our palettes).
    pub fn from_seed(seed: u64) -> Appearance {
        let u = |label: u64| unit(seed, label);
        let irises = [
            [0.11, 0.05, 0.02],
            [0.2, 0.11, 0.04],
            [0.09, 0.13, 0.06],
            [0.1, 0.19, 0.3],
            [0.16, 0.19, 0.22],
        ];
        let melanin = u(1).powf(1.3);
        let hair_shade = 0.02 + 0.12 * u(6) * (1.0 - melanin);
        Appearance {
            seed,
            melanin,
            redness: 0.2 + 0.5 * u(2) * (1.0 - melanin),
            freckles: if u(3) < 0.5 { 0.0 } else { u(4) * (1.0 - melanin) },
            lips: 0.4 + 0.5 * u(5),
            hair: [hair_shade, hair_shade * 0.6, hair_shade * 0.4],
            iris: irises[((u(7) * irises.len() as f32) as usize).min(irises.len() - 1)],
            pupil: 0.3 + 0.12 * u(8),
            stubble: if u(9) < 0.5 { 0.0 } else { u(10) },
        }
    }
}

impl Default for Appearance {
    /// A light-skinned, freckled person with brown eyes, dark brows and a light beard shadow.
    fn default() -> Appearance {
        Appearance {
            seed: 1,
            melanin: 0.15,
            redness: 0.45,
            freckles: 0.5,
            lips: 0.7,
            hair: [0.05, 0.03, 0.02],
            iris: [0.14, 0.07, 0.025],
            pupil: 0.36,
            stubble: 0.3,
        }
    }
}

/// How the studio shoots: lights, backdrop and anti-aliasing.
#[derive(Clone, Debug, PartialEq)]
pub struct Studio {
    /// The lights.
    pub lights: Lights,
    /// The backdrop, linear RGB (after tone mapping).
    pub background: Vec3,
    /// Visibility samples per pixel along each axis (2: 2×2, 3: 3×3); each
    /// surface a pixel sees is shaded once ([`render_view`]).
    pub supersample: usize,
}

impl Default for Studio {
    fn default() -> Studio {
        Studio {
            lights: Lights::default(),
            background: [0.18, 0.18, 0.19],
            supersample: 3,
        }
    }
}

/// One face prepared for the studio: its rest shape, per-triangle materials,
/// landmark layout and per-vertex occlusion. Made once per identity.
pub struct Subject<'a> {
    /// The face model.
    pub rig: &'a FaceRig,
    /// The identity's rest shape, `[V * 3]`: where the texture lives.
    pub rest: Vec<f32>,
    /// Per triangle, its material.
    pub materials: Vec<Material>,
    /// Where the features are, when the model has the 68 landmarks.
    pub layout: Option<Layout>,
    /// Per vertex, ambient occlusion of the rest shape in [0, 1].
    pub occlusion: Vec<f32>,
    /// Model units per face centimetre.
    cm: f32,
    /// The origin of the face-centimetre frame (the nose tip, or the model's origin).
    origin: Vec3,
}

/// Occlusion rays per vertex.
const OCCLUSION_RAYS: usize = 24;
/// How far occluders count, in face centimetres.
const OCCLUSION_REACH: f32 = 2.5;

impl<'a> Subject<'a> {
    /// Prepares the identity with coefficients `identity` (one per identity
    /// shape, fewer is fine; a one-hot vector picks one identity) of `rig`.
    pub fn new(rig: &'a FaceRig, identity: &[f32]) -> Subject<'a> {
        let rest = rig.identity_shape(identity);
        let layout = Layout::new(rig, &rest);
        let cm = layout.as_ref().map_or_else(|| units_per_cm(rig), |l| l.cm);
        let origin = layout.as_ref().map_or([0.0; 3], |l| l.nose[1]);
        let normals = vertex_normals(&rest, &rig.triangles);
        let occlusion =
            occlusion::vertex_occlusion(&rest, &rig.triangles, &normals, OCCLUSION_RAYS, OCCLUSION_REACH * cm);
        Subject {
            rig,
            materials: Material::per_triangle(rig),
            rest,
            layout,
            occlusion,
            cm,
            origin,
        }
    }

    /// A rest-shape point in face centimetres (see [`skin::Layout::local`]).
    pub fn local(&self, p: Vec3) -> Vec3 {
        scale(sub(p, self.origin), 1.0 / self.cm)
    }

    /// Model units per face centimetre.
    pub fn cm(&self) -> f32 {
        self.cm
    }
}

/// Model units per centimetre from the model's `units` (1 unless it says metres or millimetres).
pub fn units_per_cm(rig: &FaceRig) -> f32 {
    match rig.units.as_str() {
        "m" => 0.01,
        "mm" => 10.0,
        _ => 1.0,
    }
}

/// An 8-bit RGBA image, row by row: sRGB colour over the studio backdrop,
/// and in alpha the share of the pixel the head covers (the mask).
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub rgba: Vec<u8>,
}

impl Image {
    /// The colour as RGB and the alpha as a mask, each row by row.
    pub fn split(&self) -> (Vec<u8>, Vec<u8>) {
        let rgb = self.rgba.chunks_exact(4).flat_map(|px| [px[0], px[1], px[2]]).collect();
        let mask = self.rgba.chunks_exact(4).map(|px| px[3]).collect();
        (rgb, mask)
    }
}

/// One frame of a subject, prepared once for every camera that films it:
/// the posed mesh, its vertex and face normals and the wrinkle drive of its weights.
pub struct Pose<'a> {
    posed: &'a [f32],
    normals: Vec<[f32; 3]>,
    /// Per triangle, its unit normal (zero when degenerate).
    faces: Vec<[f32; 3]>,
    drive: Drive,
}

impl<'a> Pose<'a> {
    /// A frame of `subject`: `weights` are its blendshape weights (one per
    /// expression of the rig; they drive the wrinkles), `posed` its vertex
    /// positions `[V * 3]` in world space (the expression, head motion and
    /// all, as the tracked mesh of a capture).
    pub fn new(subject: &Subject, weights: &[f32], posed: &'a [f32]) -> Result<Pose<'a>, String> {
        let rig = subject.rig;
        if posed.len() != subject.rest.len() {
            return Err(format!(
                "the posed mesh has {} values; the face model has {} vertices ({} values)",
                posed.len(),
                rig.vertex_count(),
                subject.rest.len()
            ));
        }
        if weights.len() > rig.expression_names.len() {
            return Err(format!(
                "{} weights for a face model of {} expressions",
                weights.len(),
                rig.expression_names.len()
            ));
        }
        let at = |v: u32| {
            let i = v as usize * 3;
            [posed[i], posed[i + 1], posed[i + 2]]
        };
        let faces = rig
            .triangles
            .chunks_exact(3)
            .map(|t| {
                let (a, b, c) = (at(t[0]), at(t[1]), at(t[2]));
                normalize(cross(sub(b, a), sub(c, a))).unwrap_or([0.0; 3])
            })
            .collect();
        Ok(Pose {
            posed,
            normals: vertex_normals(posed, &rig.triangles),
            faces,
            drive: Drive::new(&rig.expression_names, weights),
        })
    }
}

/// A subject in an appearance under a studio's light: what every frame and
/// camera of a take share, the skin's slowly varying fields at each vertex
/// included. Made once per take.
pub struct Scene<'a> {
    subject: &'a Subject<'a>,
    appearance: &'a Appearance,
    studio: &'a Studio,
    fields: Fields,
    pores: Noise,
    creases: Noise,
    /// Per vertex, the skin's slowly varying fields at its rest position.
    mottle: Vec<Mottle>,
}

impl<'a> Scene<'a> {
    /// The scene of `subject` looking like `appearance` in `studio`.
    pub fn new(subject: &'a Subject<'a>, appearance: &'a Appearance, studio: &'a Studio) -> Scene<'a> {
        let fields = Fields::new(appearance.seed);
        let mottle = subject
            .rest
            .par_chunks_exact(3)
            .map(|p| Mottle::at(subject.local([p[0], p[1], p[2]]), &fields))
            .collect();
        Scene {
            subject,
            appearance,
            studio,
            fields,
            pores: Noise::new(appearance.seed, 6),
            creases: Noise::new(appearance.seed, 7),
            mottle,
        }
    }

    /// The subject.
    pub fn subject(&self) -> &'a Subject<'a> {
        self.subject
    }
}

/// Renders one frame of `subject` seen by `camera`: `weights` and `posed`
/// as for [`Pose::new`]. To film a take, make its [`Scene`] once, each
/// frame's [`Pose`] once, and [`render_view`] the pose from each camera.
pub fn render_frame(
    subject: &Subject,
    appearance: &Appearance,
    studio: &Studio,
    weights: &[f32],
    posed: &[f32],
    camera: &Camera,
) -> Result<Image, String> {
    let scene = Scene::new(subject, appearance, studio);
    render_view(&scene, &Pose::new(subject, weights, posed)?, camera)
}

/// Samples of one material within a pixel closer than this in depth, face
/// cm, and on triangles facing alike ([`SURFACE_FACING`]) are one surface,
/// shaded once.
const SURFACE_DEPTH: f32 = 0.5;
/// The least cosine between two triangles' normals on one surface: folds
/// such as the seam between the lips are two.
const SURFACE_FACING: f32 = 0.5;

/// Renders a pose of the scene's subject seen by `camera`.
///
/// Visibility is supersampled (`studio.supersample`² samples per pixel), but
/// each surface a pixel sees is shaded once: its samples of one material
/// within [`SURFACE_DEPTH`] of each other on triangles facing alike form a group shaded at the sample
/// nearest the pixel centre, weighted by the group's share of the pixel, so
/// silhouettes and material edges keep their antialiasing while detail
/// within a surface is filtered by the shader ([`skin::Point::footprint`]).
pub fn render_view(scene: &Scene, pose: &Pose, camera: &Camera) -> Result<Image, String> {
    let subject = scene.subject;
    camera.check()?;
    let factor = scene.studio.supersample.clamp(1, 4);
    let raster = Raster::new(camera, pose.posed, &subject.rig.triangles, factor);
    // The samples of a pixel, nearest its centre first.
    let mut order: Vec<(usize, usize)> = (0..factor * factor).map(|k| (k / factor, k % factor)).collect();
    let centre = (factor as f32 - 1.0) / 2.0;
    order.sort_by(|a, b| {
        let d = |(r, c): (usize, usize)| (r as f32 - centre).powi(2) + (c as f32 - centre).powi(2);
        d(*a).total_cmp(&d(*b))
    });
    let shader = Shader {
        scene,
        pose,
        eye: camera.position(),
        footprint: 1.0 / (camera.fx * subject.cm),
        factor,
        order,
    };
    let (w, h) = (camera.width as usize, camera.height as usize);
    let mut rgba = vec![0u8; w * h * 4];
    let row_samples = w * factor * factor;
    rgba.par_chunks_mut(w * 4 * raster::BAND_PIXELS)
        .enumerate()
        .for_each(|(band, pixels)| {
            BAND.with_borrow_mut(|samples| {
                raster.band(band, samples);
                for (row, samples) in pixels.chunks_exact_mut(w * 4).zip(samples.chunks_exact(row_samples)) {
                    for (x, px) in row.chunks_exact_mut(4).enumerate() {
                        px.copy_from_slice(&shader.pixel(samples, x));
                    }
                }
            })
        });
    Ok(Image {
        width: camera.width,
        height: camera.height,
        rgba,
    })
}

thread_local! {
    /// Each thread's band of samples, kept from band to band and view to
    /// view: allocating it anew each time (hundreds of kB) costs page faults.
    static BAND: RefCell<Vec<Sample>> = const { RefCell::new(Vec::new()) };
}

/// Everything one view's surfaces are shaded with.
struct Shader<'a> {
    scene: &'a Scene<'a>,
    pose: &'a Pose<'a>,
    eye: Vec3,
    /// A pixel's width in face cm per unit of depth.
    footprint: f32,
    /// Samples per pixel along each axis.
    factor: usize,
    /// A pixel's samples (row, column), nearest its centre first.
    order: Vec<(usize, usize)>,
}

/// Finite-difference step for wrinkle bump gradients, face cm.
const BUMP_STEP: f32 = 0.01;

impl Shader<'_> {
    /// Pixel `x` of a row of pixels whose `factor` rows of samples are
    /// `samples`, as sRGB and coverage: each surface it sees shaded once.
    fn pixel(&self, samples: &[Sample], x: usize) -> [u8; 4] {
        let (subject, faces) = (self.scene.subject, &self.pose.faces);
        let (factor, stride) = (self.factor, samples.len() / self.factor);
        let tolerance = SURFACE_DEPTH * subject.cm;
        let mut groups = [(Sample::empty(), 0u32); 16];
        let (mut count, mut empty) = (0, 0u32);
        for &(r, c) in &self.order {
            let sample = &samples[r * stride + x * factor + c];
            if sample.triangle == EMPTY {
                empty += 1;
                continue;
            }
            let t = sample.triangle as usize;
            let same = groups[..count].iter_mut().find(|(first, _)| {
                let f = first.triangle as usize;
                subject.materials[f] == subject.materials[t]
                    && (first.depth - sample.depth).abs() < tolerance
                    && dot(faces[f], faces[t]) > SURFACE_FACING
            });
            match same {
                Some((_, n)) => *n += 1,
                None => {
                    groups[count] = (*sample, 1);
                    count += 1;
                }
            }
        }
        let mut sum = self.scene.studio.background.map(|c| c * empty as f32);
        for (sample, n) in &groups[..count] {
            let colour = self.shade(sample).map(light::tone_map);
            (0..3).for_each(|k| sum[k] += colour[k] * *n as f32);
        }
        let per_pixel = (factor * factor) as f32;
        let srgb = |v: f32| (light::linear_to_srgb(v / per_pixel) * 255.0).round() as u8;
        [
            srgb(sum[0]),
            srgb(sum[1]),
            srgb(sum[2]),
            ((per_pixel - empty as f32) / per_pixel * 255.0).round() as u8,
        ]
    }

    /// The tone-mapped-ready linear colour of a covered sample.
    fn shade(&self, sample: &Sample) -> Vec3 {
        let scene = self.scene;
        let subject = scene.subject;
        let posed = self.pose.posed;
        let t = sample.triangle as usize;
        let corners: [usize; 3] = std::array::from_fn(|i| subject.rig.triangles[t * 3 + i] as usize);
        let w = sample.weights();
        let at = |values: &[f32], i: usize| {
            let v = corners[i] * 3;
            [values[v], values[v + 1], values[v + 2]]
        };
        let interpolate = |f: &dyn Fn(usize) -> Vec3| -> Vec3 {
            let (a, b, c) = (f(0), f(1), f(2));
            std::array::from_fn(|k| w[0] * a[k] + w[1] * b[k] + w[2] * c[k])
        };
        let rest = subject.local(interpolate(&|i| at(&subject.rest, i)));
        let position = interpolate(&|i| at(posed, i));
        let view = normalize(sub(self.eye, position)).unwrap_or([0.0, 0.0, 1.0]);
        let mut normal = normalize(interpolate(&|i| self.pose.normals[corners[i]])).unwrap_or(view);
        // Two-sided: a triangle seen from behind (the inside of the mouth or
        // of an eye socket) is shaded on the side that faces the camera.
        let geometric = cross(sub(at(posed, 1), at(posed, 0)), sub(at(posed, 2), at(posed, 0)));
        if dot(geometric, view) < 0.0 {
            normal = scale(normal, -1.0);
        }
        let occlusion: f32 = (0..3).map(|i| w[i] * subject.occlusion[corners[i]]).sum();
        let material = subject.materials[t];
        let layout = subject.layout.as_ref();
        let point = Point {
            p: rest,
            mottle: Mottle::blend(corners.map(|v| scene.mottle[v]), w),
            footprint: sample.depth * self.footprint,
        };
        let mut surface = skin::surface(material, &point, layout, scene.appearance, &scene.fields);
        if material == Material::Skin {
            let (pit, mut gradient) = self.pores(&point);
            let mut crease = 0.0;
            let drive = &self.pose.drive;
            if let Some(layout) = layout
                && !drive.is_calm()
            {
                let relief = |p: Vec3| wrinkles::wrinkles(p, layout, drive, &scene.creases, point.footprint);
                let (h0, c) = relief(rest);
                crease = c;
                // Outside every wrinkle's mask the relief is flat.
                if h0 != 0.0 {
                    for (k, g) in gradient.iter_mut().enumerate() {
                        let mut p = rest;
                        p[k] += BUMP_STEP;
                        *g += (relief(p).0 - h0) / BUMP_STEP;
                    }
                }
            }
            let tangential = sub(gradient, scale(normal, dot(gradient, normal)));
            normal = normalize(sub(normal, tangential)).unwrap_or(normal);
            surface.albedo = surface.albedo.map(|c| c * (1.0 - 0.25 * crease) * (1.0 - 0.12 * pit));
        }
        // Keep the shading normal on the camera's side (smooth normals bend
        // past silhouettes; bumps can tip them over).
        let facing = dot(normal, view);
        if facing < 0.05 {
            normal = normalize(scale_add(normal, view, 0.05 - facing)).unwrap_or(view);
        }
        light::shade(&scene.studio.lights, &surface, normal, view, occlusion)
    }

    /// The skin's micro-relief at a point, as much as its pixel resolves:
    /// how deep into a pore it is (in [0, about 1]) and the gradient of the
    /// relief's height (face cm per face cm) from pores as pits and a finer grain.
    fn pores(&self, point: &Point) -> (f32, Vec3) {
        let pores = &self.scene.pores;
        let (mut pit, mut gradient) = (0.0, [0.0; 3]);
        let pits = point.detail(13.0);
        if pits > 0.0 {
            let (n, g) = pores.with_gradient(scale(point.p, 13.0));
            if n > 0.15 {
                pit = pits * (n - 0.15) * 2.0;
                gradient = scale(g, -0.005 * pits * 2.0 * 13.0);
            }
        }
        let grain = point.detail(2.0 * 37.0);
        if grain > 0.0 {
            let (_, g) = pores.with_gradient(scale(point.p, 37.0));
            gradient = scale_add(gradient, g, 0.0012 * grain * 37.0);
        }
        (pit, gradient)
    }
}

fn scale_add(a: Vec3, b: Vec3, s: f32) -> Vec3 {
    [a[0] + b[0] * s, a[1] + b[1] * s, a[2] + b[2] * s]
}

#[cfg(test)]
mod tests;
