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
//! landmark layout, occlusion), a [`Pose`] what is computed once per frame
//! (posed normals, wrinkle drive); [`render_view`] turns a pose into RGBA8
//! pixels for one camera ([`render_frame`] does both for one view).
//! Everything is deterministic: the same inputs give the same bytes.

pub mod light;
pub mod noise;
pub mod occlusion;
pub mod raster;
pub mod ring;
pub mod skin;
pub mod wrinkles;

use rayon::prelude::*;

use crate::camera::Camera;
use crate::face::{FaceRig, vertex_normals};
use crate::math::{Vec3, cross, dot, normalize, scale, sub};

pub use light::Lights;
use noise::{Noise, unit};
pub use ring::StudioRing;
use skin::{Fields, Layout, Material};
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
    /// Samples per pixel along each axis (2: 2×2, 3: 3×3).
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
/// the posed mesh, its vertex normals and the wrinkle drive of its weights.
pub struct Pose<'a> {
    posed: &'a [f32],
    normals: Vec<[f32; 3]>,
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
        Ok(Pose {
            posed,
            normals: vertex_normals(posed, &rig.triangles),
            drive: Drive::new(&rig.expression_names, weights),
        })
    }
}

/// Renders one frame of `subject` seen by `camera`: `weights` and `posed`
/// as for [`Pose::new`]. To film a frame from several cameras, prepare its
/// [`Pose`] once and [`render_view`] it from each.
pub fn render_frame(
    subject: &Subject,
    appearance: &Appearance,
    studio: &Studio,
    weights: &[f32],
    posed: &[f32],
    camera: &Camera,
) -> Result<Image, String> {
    render_view(
        subject,
        appearance,
        studio,
        &Pose::new(subject, weights, posed)?,
        camera,
    )
}

/// Renders a prepared frame of `subject` seen by `camera`.
pub fn render_view(
    subject: &Subject,
    appearance: &Appearance,
    studio: &Studio,
    pose: &Pose,
    camera: &Camera,
) -> Result<Image, String> {
    let rig = subject.rig;
    camera.check()?;
    let factor = studio.supersample.clamp(1, 4);
    let samples = raster::rasterize(camera, pose.posed, &rig.triangles, factor);
    let shader = Shader {
        subject,
        appearance,
        studio,
        posed: pose.posed,
        normals: &pose.normals,
        eye: camera.position(),
        drive: pose.drive,
        fields: Fields::new(appearance.seed),
        pores: Noise::new(appearance.seed, 6),
        creases: Noise::new(appearance.seed, 7),
    };
    let (w, h) = (camera.width as usize, camera.height as usize);
    let mut rgba = vec![0u8; w * h * 4];
    let per_pixel = (factor * factor) as f32;
    rgba.par_chunks_mut(w * 4).enumerate().for_each(|(y, row)| {
        for x in 0..w {
            let (mut sum, mut covered) = ([0f32; 3], 0usize);
            for sample in samples.pixel(x, y) {
                let colour = if sample.triangle == raster::EMPTY {
                    studio.background
                } else {
                    covered += 1;
                    shader.shade(sample).map(light::tone_map)
                };
                (0..3).for_each(|k| sum[k] += colour[k]);
            }
            let px = &mut row[x * 4..x * 4 + 4];
            for k in 0..3 {
                px[k] = (light::linear_to_srgb(sum[k] / per_pixel) * 255.0).round() as u8;
            }
            px[3] = (covered as f32 / per_pixel * 255.0).round() as u8;
        }
    });
    Ok(Image {
        width: camera.width,
        height: camera.height,
        rgba,
    })
}

/// Everything one frame's samples are shaded with.
struct Shader<'a> {
    subject: &'a Subject<'a>,
    appearance: &'a Appearance,
    studio: &'a Studio,
    posed: &'a [f32],
    normals: &'a [[f32; 3]],
    eye: Vec3,
    drive: Drive,
    fields: Fields,
    pores: Noise,
    creases: Noise,
}

/// Finite-difference step for bump gradients, face cm.
const BUMP_STEP: f32 = 0.01;

impl Shader<'_> {
    /// The tone-mapped-ready linear colour of a covered sample.
    fn shade(&self, sample: &raster::Sample) -> Vec3 {
        let subject = self.subject;
        let t = sample.triangle as usize;
        let corners = &subject.rig.triangles[t * 3..t * 3 + 3];
        let w = sample.weights();
        let at = |values: &[f32], i: usize| {
            let v = corners[i] as usize * 3;
            [values[v], values[v + 1], values[v + 2]]
        };
        let interpolate = |f: &dyn Fn(usize) -> Vec3| -> Vec3 {
            let (a, b, c) = (f(0), f(1), f(2));
            std::array::from_fn(|k| w[0] * a[k] + w[1] * b[k] + w[2] * c[k])
        };
        let rest = subject.local(interpolate(&|i| at(&subject.rest, i)));
        let position = interpolate(&|i| at(self.posed, i));
        let view = normalize(sub(self.eye, position)).unwrap_or([0.0, 0.0, 1.0]);
        let mut normal = normalize(interpolate(&|i| self.normals[corners[i] as usize])).unwrap_or(view);
        // Two-sided: a triangle seen from behind (the inside of the mouth or
        // of an eye socket) is shaded on the side that faces the camera.
        let geometric = cross(
            sub(at(self.posed, 1), at(self.posed, 0)),
            sub(at(self.posed, 2), at(self.posed, 0)),
        );
        if dot(geometric, view) < 0.0 {
            normal = scale(normal, -1.0);
        }
        let occlusion: f32 = (0..3).map(|i| w[i] * subject.occlusion[corners[i] as usize]).sum();
        let material = subject.materials[t];
        let layout = subject.layout.as_ref();
        let mut surface = skin::surface(material, rest, layout, self.appearance, &self.fields);
        if material == Material::Skin {
            let height = |p: Vec3| {
                let (wrinkle, crease) = match layout {
                    Some(layout) if !self.drive.is_calm() => wrinkles::wrinkles(p, layout, &self.drive, &self.creases),
                    _ => (0.0, 0.0),
                };
                (self.pore_height(p) + wrinkle, crease)
            };
            let (h0, crease) = height(rest);
            let gradient: Vec3 = std::array::from_fn(|k| {
                let mut p = rest;
                p[k] += BUMP_STEP;
                (height(p).0 - h0) / BUMP_STEP
            });
            let tangential = sub(gradient, scale(normal, dot(gradient, normal)));
            normal = normalize(sub(normal, tangential)).unwrap_or(normal);
            let pit = self.pit(rest);
            surface.albedo = surface.albedo.map(|c| c * (1.0 - 0.25 * crease) * (1.0 - 0.12 * pit));
        }
        // Keep the shading normal on the camera's side (smooth normals bend
        // past silhouettes; bumps can tip them over).
        let facing = dot(normal, view);
        if facing < 0.05 {
            normal = normalize(scale_add(normal, view, 0.05 - facing)).unwrap_or(view);
        }
        light::shade(&self.studio.lights, &surface, normal, view, occlusion)
    }

    /// How deep into a pore `p` (face cm) is, in [0, about 1].
    fn pit(&self, p: Vec3) -> f32 {
        ((self.pores.at(scale(p, 13.0)) - 0.15) * 2.0).max(0.0)
    }

    /// Skin micro-relief (face cm): pores as small pits and a finer grain.
    fn pore_height(&self, p: Vec3) -> f32 {
        -0.005 * self.pit(p) + 0.0012 * self.pores.at(scale(p, 37.0))
    }
}

fn scale_add(a: Vec3, b: Vec3, s: f32) -> Vec3 {
    [a[0] + b[0] * s, a[1] + b[1] * s, a[2] + b[2] * s]
}

#[cfg(test)]
mod tests;
