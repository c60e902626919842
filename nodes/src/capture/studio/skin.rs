//! Procedural appearance, evaluated at a surface point's rest-pose position
//! so that the texture sticks to the skin as it moves: skin tone with
//! mottling, redness, freckles and pores; lips; eyebrows and lashes; eyes;
//! teeth, gums and tongue, and the mouth socket.
//!
//! Features are placed from the 68 Multi-PIE landmarks of the identity's rest
//! shape ([`Layout`]) and sized in centimetres of face: one "face centimetre"
//! is a ninth of the distance between the outer eye corners (about 9 cm on
//! adults; ours), so FLAME (metres) and ICT-FaceKit (cm) look alike. The
//! face looks along +z with y up, as both models do. Every colour, size and
//! threshold here is ours, tuned by eye on the ICT-FaceKit head.
//!
//! Each point is shaded once per pixel: detail finer than the pixel seeing
//! it ([`Point::footprint`]) fades to its average ([`resolved`]), as a
//! supersampled pixel would average it, so pores and hair strands neither
//! alias at a distance nor vanish in a close-up. The slowly varying mottling
//! ([`Mottle`]) is evaluated at the vertices once and interpolated.

use crate::face::FaceRig;
use crate::math::{Vec3, dot, length, normalize, scale, sub};

use super::Appearance;
use super::noise::{Noise, resolved};

/// What a triangle is made of, from its region's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Material {
    /// Face, head and neck, and any region of a model we do not know.
    Skin,
    /// The inside of the mouth behind the lips.
    MouthSocket,
    /// Gums and tongue.
    GumsTongue,
    /// Teeth.
    Teeth,
    /// An eyeball: 0 for the subject's right eye (−x), 1 for the left (+x).
    Eye(u8),
    /// The cavity behind an eyeball.
    EyeSocket,
}

impl Material {
    /// The material of a region named `name` (ICT-FaceKit's names).
    pub fn of_region(name: &str) -> Material {
        match name {
            "mouth_socket" => Material::MouthSocket,
            "gums_tongue" => Material::GumsTongue,
            "teeth" => Material::Teeth,
            "eyeball_right" => Material::Eye(0),
            "eyeball_left" => Material::Eye(1),
            "eye_socket_left" | "eye_socket_right" => Material::EyeSocket,
            _ => Material::Skin,
        }
    }

    /// Per triangle, its material ([`Material::Skin`] outside every region).
    pub fn per_triangle(rig: &FaceRig) -> Vec<Material> {
        let mut out = vec![Material::Skin; rig.triangle_count()];
        for region in &rig.regions {
            let material = Material::of_region(&region.name);
            for range in &region.triangles {
                for t in range.clone() {
                    if let Some(slot) = out.get_mut(t as usize) {
                        *slot = material;
                    }
                }
            }
        }
        out
    }
}

/// An eyeball in the rest pose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eyeball {
    /// The centre of its sphere.
    pub centre: Vec3,
    /// Where it looks (unit).
    pub axis: Vec3,
    /// The radius of its sphere (model units).
    pub radius: f32,
}

impl Eyeball {
    /// The eyeball of the vertices `indices` of `rest`: the centre of their
    /// box in x and y, one half-width behind the back in z (the cornea bulges
    /// in front), looking at the farthest vertex.
    fn of(rest: &[f32], indices: impl Iterator<Item = u32>) -> Option<Eyeball> {
        let points: Vec<Vec3> = indices
            .map(|v| v as usize * 3)
            .filter(|&i| i + 2 < rest.len())
            .map(|i| [rest[i], rest[i + 1], rest[i + 2]])
            .collect();
        let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
        for p in &points {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let radius = (hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0;
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0, lo[2] + radius];
        let apex = points
            .iter()
            .copied()
            .max_by(|a, b| length(sub(*a, centre)).total_cmp(&length(sub(*b, centre))))?;
        Some(Eyeball {
            centre,
            axis: normalize(sub(apex, centre))?,
            radius,
        })
    }
}

/// Where the features of one face are, in its rest shape (model units).
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Model units per face centimetre.
    pub cm: f32,
    /// The eyebrows, inner end first: the subject's right (landmarks 21…17), left (22…26).
    pub brows: [[Vec3; 5]; 2],
    /// The upper lid margins, outer corner first (36…39, 45…42).
    pub upper_lids: [[Vec3; 4]; 2],
    /// The lower lid margins, outer corner first (36, 41, 40, 39 and 45, 46, 47, 42).
    pub lower_lids: [[Vec3; 4]; 2],
    /// The outer lip contour (48…59).
    pub lips: [Vec3; 12],
    /// The nose: bridge top (27), tip (30), right and left wings (31, 35).
    pub nose: [Vec3; 4],
    /// The mouth corners, right and left (48, 54).
    pub mouth_corners: [Vec3; 2],
    /// The apples of the cheeks, right and left.
    pub cheeks: [Vec3; 2],
    /// The eyeballs, right and left, when the model has them as regions.
    pub eyes: [Option<Eyeball>; 2],
    /// The outer lip contour in face cm ([`Layout::local`]).
    lip_contour: [Vec3; 12],
    /// Its box in x and y, grown by the lip's fading edge: `[x0, y0, x1, y1]`.
    lip_box: [f32; 4],
}

impl Layout {
    /// The layout of `rig` on the rest shape `rest` (`[V * 3]`); `None` without the 68 landmarks.
    pub fn new(rig: &FaceRig, rest: &[f32]) -> Option<Layout> {
        if rig.landmarks.len() < 68 || rig.landmarks.iter().any(|&v| v as usize * 3 + 2 >= rest.len()) {
            return None;
        }
        let lm = |i: usize| {
            let v = rig.landmarks[i] as usize * 3;
            [rest[v], rest[v + 1], rest[v + 2]]
        };
        let cm = length(sub(lm(36), lm(45))) / 9.0;
        if cm.is_nan() || cm <= 0.0 {
            return None;
        }
        let eye = |name: &str| rig.region(name).and_then(|r| Eyeball::of(rest, r.vertex_indices()));
        let lerp = |a: Vec3, b: Vec3, t: f32| -> Vec3 { std::array::from_fn(|k| a[k] + (b[k] - a[k]) * t) };
        let cheek = |under_eye: Vec3, corner: Vec3, side: f32| {
            let c = lerp(under_eye, corner, 0.45);
            [c[0] + side * 1.0 * cm, c[1], c[2]]
        };
        let local = |p: Vec3| scale(sub(p, lm(30)), 1.0 / cm);
        let lip_contour: [Vec3; 12] = std::array::from_fn(|i| local(lm(48 + i)));
        let lip_box = lip_contour.iter().fold(
            [f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY],
            |b, q| {
                [
                    b[0].min(q[0] - LIP_EDGE),
                    b[1].min(q[1] - LIP_EDGE),
                    b[2].max(q[0] + LIP_EDGE),
                    b[3].max(q[1] + LIP_EDGE),
                ]
            },
        );
        Some(Layout {
            lip_contour,
            lip_box,
            cm,
            brows: [[21, 20, 19, 18, 17].map(lm), [22, 23, 24, 25, 26].map(lm)],
            upper_lids: [[36, 37, 38, 39].map(lm), [45, 44, 43, 42].map(lm)],
            lower_lids: [[36, 41, 40, 39].map(lm), [45, 46, 47, 42].map(lm)],
            lips: std::array::from_fn(|i| lm(48 + i)),
            nose: [27, 30, 31, 35].map(lm),
            mouth_corners: [lm(48), lm(54)],
            cheeks: [cheek(lm(41), lm(48), -1.0), cheek(lm(46), lm(54), 1.0)],
            eyes: [eye("eyeball_right"), eye("eyeball_left")],
        })
    }

    /// `p` in face centimetres relative to the nose tip.
    pub fn local(&self, p: Vec3) -> Vec3 {
        scale(sub(p, self.nose[1]), 1.0 / self.cm)
    }

    /// A landmark point in the same frame as [`Layout::local`].
    pub fn at(&self, p: Vec3) -> Vec3 {
        self.local(p)
    }

    /// How much `p` (face cm, [`Layout::local`]) is lip: 1 inside the outer lip
    /// contour seen from the front, fading over 1.5 mm outside it; 0 more
    /// than 1 cm behind the mouth corners.
    pub fn lip(&self, p: Vec3) -> f32 {
        let [x0, y0, x1, y1] = self.lip_box;
        if p[0] <= x0 || p[0] >= x1 || p[1] <= y0 || p[1] >= y1 {
            return 0.0;
        }
        let back = self.at(self.mouth_corners[0])[2].min(self.at(self.mouth_corners[1])[2]) - 1.0;
        if p[2] < back - 0.5 {
            return 0.0;
        }
        let depth = smoothstep(back - 0.5, back, p[2]);
        let (inside, distance) = polygon_distance(&self.lip_contour, [p[0], p[1]]);
        let edge = if inside {
            1.0
        } else {
            1.0 - smoothstep(0.0, LIP_EDGE, distance)
        };
        edge * depth
    }
}

/// How far outside the outer lip contour the lip fades out, face cm.
const LIP_EDGE: f32 = 0.15;

/// Whether a 2D point is inside a polygon (even–odd) and its distance to the outline.
fn polygon_distance(polygon: &[Vec3], p: [f32; 2]) -> (bool, f32) {
    let mut inside = false;
    let mut best = f32::INFINITY;
    for (i, a) in polygon.iter().enumerate() {
        let b = polygon[(i + 1) % polygon.len()];
        if (a[1] > p[1]) != (b[1] > p[1]) {
            let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
            if p[0] < x {
                inside = !inside;
            }
        }
        best = best.min(segment(*a, b, p).1);
    }
    (inside, best)
}

/// The parameter along `a → b` (clamped to [0, 1]) nearest to `p` in x–y and the distance to it.
pub fn segment(a: Vec3, b: Vec3, p: [f32; 2]) -> (f32, f32) {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = (dx * dx + dy * dy).max(1e-12);
    let t = (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0);
    let (ex, ey) = (p[0] - a[0] - t * dx, p[1] - a[1] - t * dy);
    (t, (ex * ex + ey * ey).sqrt())
}

/// The nearest point of a polyline to `p` in x–y: (arc-length fraction from
/// its start, signed distance (+ above: y greater), the segment's direction).
fn polyline(points: &[Vec3], p: [f32; 2]) -> (f32, f32, [f32; 2]) {
    let span = |w: &[Vec3]| ((w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1])).max(1e-6);
    let total: f32 = points.windows(2).map(span).sum();
    let mut best = (0.0, f32::INFINITY, [1.0, 0.0]);
    let mut along = 0.0;
    for w in points.windows(2) {
        let (t, d) = segment(w[0], w[1], p);
        let length = span(w);
        if d < best.1.abs() {
            let dir = [(w[1][0] - w[0][0]) / length, (w[1][1] - w[0][1]) / length];
            let cy = w[0][1] + t * (w[1][1] - w[0][1]);
            let sign = if p[1] >= cy { 1.0 } else { -1.0 };
            best = ((along + t * length) / total, sign * d, dir);
        }
        along += length;
    }
    best
}

/// Hermite smoothstep of `x` from `a` to `b`.
pub fn smoothstep(a: f32, b: f32, x: f32) -> f32 {
    let t = ((x - a) / (b - a)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn mix3(a: Vec3, b: Vec3, t: f32) -> Vec3 {
    std::array::from_fn(|k| a[k] + (b[k] - a[k]) * t)
}

fn mul3(a: Vec3, b: Vec3) -> Vec3 {
    [a[0] * b[0], a[1] * b[1], a[2] * b[2]]
}

/// The noise fields of one appearance.
#[derive(Clone, Copy, Debug)]
pub struct Fields {
    tone: Noise,
    freckles: Noise,
    hair: Noise,
    iris: Noise,
}

impl Fields {
    /// The fields of a seed.
    pub fn new(seed: u64) -> Fields {
        Fields {
            tone: Noise::new(seed, 1),
            freckles: Noise::new(seed, 2),
            hair: Noise::new(seed, 4),
            iris: Noise::new(seed, 5),
        }
    }
}

/// The skin's slowly varying fields at a rest point, each in about [-1, 1]:
/// smooth enough (under 1.5 cycles per face cm) to evaluate at the vertices
/// once and interpolate across triangles.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Mottle {
    /// Large soft patches of lighter and darker skin.
    pub patches: f32,
    /// Redder and less red patches.
    pub flush: f32,
    /// Variation of the roughness.
    pub sheen: f32,
}

impl Mottle {
    /// The fields at rest point `p` (face cm).
    pub fn at(p: Vec3, fields: &Fields) -> Mottle {
        Mottle {
            patches: fields.tone.fractal(p, 0.35, 3),
            flush: fields.tone.fractal([p[0] + 31.0, p[1], p[2]], 0.6, 2),
            sheen: fields.tone.at([p[0] * 0.8, p[1] * 0.8, p[2] * 0.8 + 9.0]),
        }
    }

    /// The blend of three with barycentric weights `w`.
    pub fn blend(m: [Mottle; 3], w: [f32; 3]) -> Mottle {
        let mix = |f: fn(&Mottle) -> f32| w[0] * f(&m[0]) + w[1] * f(&m[1]) + w[2] * f(&m[2]);
        Mottle {
            patches: mix(|m| m.patches),
            flush: mix(|m| m.flush),
            sheen: mix(|m| m.sheen),
        }
    }
}

/// A surface point as one pixel sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Its rest position, face cm ([`Layout::local`]).
    pub p: Vec3,
    /// The skin's slowly varying fields there.
    pub mottle: Mottle,
    /// The width of the pixel there, face cm: detail finer than this fades.
    pub footprint: f32,
}

impl Point {
    /// How much of a noise field of `scale` lattice cells per face cm the pixel shows ([`resolved`]).
    pub fn detail(&self, scale: f32) -> f32 {
        resolved(scale, self.footprint)
    }
}

/// The material properties of a surface point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Surface {
    /// Diffuse albedo, linear RGB.
    pub albedo: Vec3,
    /// Specular roughness (GGX α = roughness²).
    pub roughness: f32,
    /// Specular reflectance at normal incidence.
    pub f0: f32,
    /// Diffuse light wrap per channel (light bleeding past the terminator, as
    /// under skin, reddest in red).
    pub wrap: Vec3,
    /// How much of the vertex occlusion also shadows direct light (cavities).
    pub cavity: f32,
    /// The least occlusion kept: the teeth's, computed with the lips closed,
    /// would otherwise black out the teeth an open mouth shows (ours).
    pub open: f32,
}

impl Surface {
    /// Skin of `albedo`: its reflectance and its red-most light wrap.
    fn skin(albedo: Vec3, roughness: f32, cavity: f32) -> Surface {
        Surface {
            albedo,
            roughness,
            f0: 0.028,
            wrap: [0.45, 0.25, 0.2],
            cavity,
            open: 0.0,
        }
    }
}

/// The skin tone of an appearance, linear RGB: light to dark by melanin.
pub fn skin_tone(appearance: &Appearance) -> Vec3 {
    let light = [0.76, 0.53, 0.43];
    let medium = [0.47, 0.27, 0.18];
    let dark = [0.09, 0.045, 0.028];
    let m = appearance.melanin.clamp(0.0, 1.0);
    if m < 0.5 {
        mix3(light, medium, m * 2.0)
    } else {
        mix3(medium, dark, m * 2.0 - 1.0)
    }
}

/// The surface of a material at a point.
pub fn surface(
    material: Material,
    point: &Point,
    layout: Option<&Layout>,
    appearance: &Appearance,
    fields: &Fields,
) -> Surface {
    let p = point.p;
    let plain = |albedo: Vec3, roughness: f32, cavity: f32| Surface {
        albedo,
        roughness,
        f0: 0.03,
        wrap: [0.2, 0.15, 0.12],
        cavity,
        open: 0.0,
    };
    match material {
        Material::Skin => skin(point, layout, appearance, fields),
        Material::MouthSocket => plain([0.16, 0.035, 0.03], 0.3, 1.0),
        Material::GumsTongue => {
            let n = fields.tone.fractal(p, 2.0, 2);
            plain(mul3([0.62, 0.17, 0.17], [1.0 + 0.15 * n; 3]), 0.3, 1.0)
        }
        Material::Teeth => {
            let n = fields.tone.fractal(p, 3.0, 2);
            Surface {
                open: 0.45,
                ..plain([0.72 + 0.05 * n, 0.66 + 0.05 * n, 0.52 + 0.04 * n], 0.25, 0.6)
            }
        }
        Material::EyeSocket => plain([0.35, 0.12, 0.1], 0.3, 1.0),
        Material::Eye(side) => eye(p, side as usize, layout, appearance, fields),
    }
}

fn skin(point: &Point, layout: Option<&Layout>, appearance: &Appearance, fields: &Fields) -> Surface {
    let (p, Mottle { patches, flush, sheen }) = (point.p, point.mottle);
    let tone = skin_tone(appearance);
    // Mottling: large soft patches of lighter and darker, redder and less red skin.
    let mut albedo = mul3(
        tone,
        [
            (1.0 + 0.10 * patches + 0.06 * flush).max(0.0),
            1.0 + 0.10 * patches - 0.03 * flush,
            1.0 + 0.08 * patches - 0.04 * flush,
        ],
    );
    let mut roughness = 0.48 + 0.06 * sheen;
    let mut cavity = 0.5;
    let Some(layout) = layout else {
        return Surface::skin(albedo, roughness, cavity);
    };
    let reddish = |albedo: Vec3, amount: f32| mix3(albedo, mul3(albedo, [1.12, 0.72, 0.72]), amount.clamp(0.0, 1.0));
    // Redness on the nose and the apples of the cheeks.
    let near = |q: Vec3, radius: f32| {
        let d = length(sub(p, layout.at(q)));
        (-(d / radius) * (d / radius)).exp()
    };
    let red = near(layout.nose[1], 1.3)
        + 0.6 * (near(layout.nose[2], 0.8) + near(layout.nose[3], 0.8))
        + 0.8 * (near(layout.cheeks[0], 2.2) + near(layout.cheeks[1], 2.2));
    albedo = reddish(albedo, appearance.redness * red * (0.75 + 0.25 * flush));
    // Freckles: small spots over the nose and upper cheeks.
    let bridge = mix3(layout.at(layout.nose[0]), layout.at(layout.nose[1]), 0.6);
    let spread = {
        let (dx, dy) = (p[0] - bridge[0], (p[1] - bridge[1]) * 1.6);
        (-(dx * dx + dy * dy) / (4.0 * 4.0)).exp() * smoothstep(-4.0, -1.0, p[2] - bridge[2])
    };
    if appearance.freckles > 0.0 && spread > 0.01 {
        let spots = fields.freckles.at(scale(p, 3.3)) + 0.35 * fields.freckles.at(scale(p, 7.1));
        let threshold = 0.62 - 0.3 * appearance.freckles * spread;
        // A spot's edge is as soft as the pixel is wide: `spots` changes by
        // about 4 per face cm, so half a pixel spans 2 × footprint of it.
        let blur = 2.0 * point.footprint;
        let freckle = smoothstep(threshold - blur, threshold + 0.08 + blur, spots) * spread.sqrt();
        albedo = mix3(albedo, mul3(albedo, [0.72, 0.56, 0.46]), freckle);
    }
    // Under the eyes: a little darker and bluer, thin skin over veins.
    for side in 0..2 {
        let lid = layout.at(layout.lower_lids[side][2]);
        let (dx, dy) = (p[0] - lid[0], p[1] - (lid[1] - 0.55));
        let shadow = (-(dx * dx / 1.2 + dy * dy / 0.15)).exp() * smoothstep(lid[2] - 2.0, lid[2] - 0.5, p[2]);
        albedo = mix3(albedo, mul3(albedo, [0.8, 0.78, 0.86]), 0.6 * shadow);
    }
    let lip = layout.lip(p);
    // Beard shadow: shaved stubble over the upper lip, chin and jaw, not on the lips.
    if appearance.stubble > 0.0 {
        // From the nose wings down and out to the sideburns, over the jaw, fading under it.
        let wing = layout.at(layout.nose[2])[1];
        let corner = layout.at(layout.mouth_corners[0]);
        let top = wing - 0.4 - 0.55 * p[0].abs();
        let region = smoothstep(corner[1] - 7.0, corner[1] - 4.5, p[1])
            * (1.0 - smoothstep(5.5, 7.0, p[0].abs()))
            * smoothstep(corner[2] - 9.0, corner[2] - 6.0, p[2])
            * (1.0 - lip);
        // The ragged upper edge moves it by up to 0.4 cm.
        if region > 0.0 && p[1] - 0.4 < top + 0.3 {
            let ragged = 0.4 * fields.hair.at([p[0] * 0.8, p[1] * 0.8, p[2] * 0.8 + 50.0]);
            let beard = (1.0 - smoothstep(top - 1.5, top + 0.3, p[1] + ragged)) * region;
            let dots = point.detail(25.0) * fields.hair.at(scale([p[0], p[1], p[2] + 90.0], 25.0));
            let dots = smoothstep(0.0, 0.5, dots);
            let shade = 0.6 * appearance.stubble * beard * (0.5 + 0.5 * dots);
            albedo = mix3(albedo, mul3(albedo, [0.62, 0.64, 0.7]), shade);
        }
    }
    // Lips: darker and redder, smoother and glossier.
    if lip > 0.0 {
        let lines = fields.tone.at([p[0] * 9.0, p[1] * 1.5, p[2] * 9.0]);
        let colour = mul3(tone, [0.72 + 0.05 * lines, 0.33, 0.36]);
        albedo = mix3(albedo, colour, lip * (0.6 + 0.4 * appearance.lips));
        roughness = mix(roughness, 0.34, lip);
    }
    // Cropped scalp hair, eyebrows and lashes: hair over skin.
    let hair = hair_cover(point, layout, fields).max(scalp_cover(point, layout, fields));
    if hair > 0.0 {
        albedo = mix3(albedo, appearance.hair, hair);
        roughness = mix(roughness, 0.6, hair);
        cavity = mix(cavity, 0.8, hair);
    }
    Surface::skin(albedo, roughness, cavity)
}

fn mix(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

/// How much hair (eyebrow or lash) covers `p` (face cm), in [0, 1].
fn hair_cover(point: &Point, layout: &Layout, fields: &Fields) -> f32 {
    let p = point.p;
    let mut cover = 0f32;
    for side in 0..2 {
        let outward = if side == 0 { -1.0 } else { 1.0 };
        // Eyebrows: the landmarks run along their upper edge, inner end first.
        let brow = layout.brows[side].map(|q| layout.at(q));
        if p[2] > brow[4][2] - 1.5 {
            let (s, d, _) = polyline(&brow, [p[0], p[1]]);
            let beyond = (p[0] - brow[0][0]) * outward < -0.3 || (p[0] - brow[4][0]) * outward > 0.2;
            let half = mix(0.5, 0.16, s);
            let centre = -mix(0.35, 0.12, s);
            if !beyond && (d - centre).abs() < half + 0.2 {
                let body = 1.0 - smoothstep(half * 0.6, half + 0.15, (d - centre).abs());
                // Hairs grow up at the inner end and along the brow, outwards, further out.
                let dir = normalize([outward * s.min(0.7) * 1.4, 1.0 - 0.6 * s, 0.0]).unwrap_or([0.0, 1.0, 0.0]);
                let (u, v) = (p[0] * dir[0] + p[1] * dir[1], p[0] * dir[1] - p[1] * dir[0]);
                let strands = point.detail(28.0) * fields.hair.at([u * 2.5, v * 28.0, side as f32 * 7.0])
                    + 0.5 * point.detail(55.0) * fields.hair.at([u * 5.0, v * 55.0, 3.0]);
                let hairs = smoothstep(-0.15, 0.35, strands);
                let density = body * (0.5 + 0.5 * hairs) * (1.0 - 0.2 * s);
                cover = cover.max(density.clamp(0.0, 0.95));
            }
        }
        // Lashes: a dark fringe along the upper lid margin, a sparser one below.
        let lids = [
            (&layout.upper_lids[side], 0.14, 0.95, 1.0),
            (&layout.lower_lids[side], 0.07, 0.45, -1.0),
        ];
        for (lid, width, strength, upwards) in lids {
            let line = lid.map(|q| layout.at(q));
            if p[2] < line[1][2] - 0.8 {
                continue;
            }
            let (s, d, _) = polyline(&line, [p[0], p[1]]);
            let offset = upwards * d;
            if offset > -0.04 && offset < width + 0.05 && s > 0.04 && s < 0.97 {
                let fringe = 1.0 - smoothstep(width * 0.4, width + 0.05, offset);
                let strands = point.detail(30.0) * fields.hair.at([p[0] * 30.0, p[1] * 4.0, 11.0 + side as f32]);
                let hairs = smoothstep(-0.2, 0.3, strands);
                let taper = smoothstep(0.0, 0.25, s) * smoothstep(1.0, 0.8, s);
                cover = cover.max(fringe * taper * strength * (0.45 + 0.55 * hairs));
            }
        }
    }
    cover
}

/// How much cropped hair covers `p` (face cm) on the scalp. The hairline,
/// as a height, follows a short haircut's profile going back from the
/// forehead: 5 cm over the brows at the front, receding a little at the
/// temples, down in front of the ear as a sideburn, in an arc over the ear,
/// and down behind it to the nape (2.5 cm under the nose tip).
fn scalp_cover(point: &Point, layout: &Layout, fields: &Fields) -> f32 {
    let p = point.p;
    let brow_top = layout.at(layout.brows[0][2])[1].max(layout.at(layout.brows[1][2])[1]);
    let front = layout.at(layout.brows[0][0])[2] - 2.0;
    // Centimetres behind the forehead, and how far round onto the side of the head.
    let (back, side) = (front - p[2], smoothstep(5.2, 6.4, p[0].abs()));
    let temples = smoothstep(2.0, 4.5, back) * smoothstep(3.0, 5.0, p[0].abs());
    let mut line = brow_top + 5.0 + 0.5 * temples;
    line = mix(line, brow_top - 5.5, smoothstep(3.3, 4.3, back) * side);
    let over_ear = (back - 7.8) / 2.0;
    let ear = smoothstep(5.4, 6.0, back) * side;
    line = mix(line, brow_top - 2.0 - 1.2 * over_ear * over_ear, ear);
    line = mix(line, -2.5, smoothstep(9.6, 10.8, back));
    // The ragged edge moves the line by up to 0.35 cm.
    if p[1] + 0.35 <= line - 0.2 {
        return 0.0;
    }
    let ragged = 0.35 * fields.hair.fractal([p[0], p[1], p[2] + 40.0], 1.2, 2);
    let edge = smoothstep(line - 0.2, line + 0.7, p[1] + ragged);
    if edge <= 0.0 {
        return 0.0;
    }
    let strands = point.detail(18.0) * fields.hair.at(scale([p[0], p[1], p[2] + 70.0], 18.0))
        + 0.5 * point.detail(41.0) * fields.hair.at(scale(p, 41.0));
    edge * (0.7 + 0.25 * smoothstep(-0.3, 0.3, strands))
}

/// The eye at rest point `p` (face cm): sclera, a coloured iris with radial
/// fibres and a dark limbal ring, the pupil. The glossy cornea gives the
/// highlight (low roughness).
fn eye(p: Vec3, side: usize, layout: Option<&Layout>, appearance: &Appearance, fields: &Fields) -> Surface {
    let sclera = [0.68, 0.62, 0.57];
    let mut surface = Surface {
        albedo: sclera,
        roughness: 0.12,
        f0: 0.04,
        wrap: [0.15, 0.12, 0.1],
        cavity: 0.7,
        open: 0.0,
    };
    let Some((eyeball, layout)) = layout.and_then(|l| l.eyes[side].map(|e| (e, l))) else {
        return surface;
    };
    let centre = layout.local(eyeball.centre);
    let radius = eyeball.radius / layout.cm;
    let q = sub(p, centre);
    let along = dot(q, eyeball.axis);
    let across = sub(q, scale(eyeball.axis, along));
    let r = length(across) / radius;
    // Pink towards the back of the visible white.
    surface.albedo = mix3(sclera, [0.62, 0.42, 0.38], smoothstep(0.55, 0.95, r));
    if along <= 0.0 {
        return surface;
    }
    let (iris_r, pupil_r) = (0.42, 0.42 * appearance.pupil.clamp(0.15, 0.7));
    if r < iris_r + 0.03 {
        let helper = if eyeball.axis[1].abs() < 0.9 {
            [0.0, 1.0, 0.0]
        } else {
            [1.0, 0.0, 0.0]
        };
        let e1 = normalize(crate::math::cross(helper, eyeball.axis)).unwrap_or([1.0, 0.0, 0.0]);
        let e2 = crate::math::cross(eyeball.axis, e1);
        let angle = dot(across, e2).atan2(dot(across, e1));
        let fibres = fields.iris.at([angle.cos() * 6.0, angle.sin() * 6.0, r * 9.0])
            + 0.5 * fields.iris.at([angle.cos() * 14.0, angle.sin() * 14.0, r * 3.0]);
        let t = (r - pupil_r) / (iris_r - pupil_r);
        let ring = smoothstep(0.7, 1.0, t);
        let collarette = (-((t - 0.3) / 0.12).powi(2)).exp();
        let iris = mul3(
            appearance.iris,
            [(1.0 + 0.45 * fibres + 0.3 * collarette) * (1.0 - 0.65 * ring); 3],
        );
        let iris = mix3(sclera, iris, 1.0 - smoothstep(iris_r - 0.02, iris_r + 0.03, r));
        let pupil = 1.0 - smoothstep(pupil_r - 0.015, pupil_r + 0.015, r);
        surface.albedo = mix3(iris, [0.01, 0.01, 0.012], pupil);
        surface.roughness = 0.06;
    }
    surface
}
