//! Expression wrinkles: creases that perturb the shading normal and darken the
//! skin a little, driven by blendshape weights by name. Each kind is a smooth
//! mask in rest-pose face centimetres ([`Layout::local`]) × an amplitude from
//! the weights × a line pattern:
//!
//! - forehead lines: horizontal, wavy, with `browInnerUp_*` / `browOuterUp_*`;
//! - crow's feet: fanning from the outer eye corners, with `eyeSquint_*`,
//!   `cheekSquint_*` and `mouthSmile_*`;
//! - nasolabial folds: from the nose wings past the mouth corners, with `mouthSmile_*`;
//! - vertical lip lines with `mouthPucker` (and `mouthFunnel`);
//! - glabella lines: two short verticals between the brows, with `browDown_*`.
//!
//! `_L` shapes move the subject's left (+x), `_R` the right. The shapes of
//! the masks, spacings and depths are ours, tuned by eye on ICT-FaceKit.
//! Each crease is a Gaussian valley; seen through a pixel wider than it, it
//! widens and shallows as the pixel's average of it would ([`valley`]).

use crate::math::Vec3;

use super::noise::Noise;
use super::skin::{Layout, segment, smoothstep};

/// Per side (right, left) or for the whole face, how strongly each kind of wrinkle shows, in [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Drive {
    /// Forehead lines, right and left.
    pub forehead: [f32; 2],
    /// Crow's feet, right and left.
    pub crows_feet: [f32; 2],
    /// Nasolabial folds, right and left.
    pub nasolabial: [f32; 2],
    /// Vertical lip lines.
    pub lips: f32,
    /// Glabella lines, right and left.
    pub glabella: [f32; 2],
}

impl Drive {
    /// The drive of blendshape `weights` named `names` (unknown names are ignored).
    pub fn new(names: &[String], weights: &[f32]) -> Drive {
        let w = |name: &str| {
            names
                .iter()
                .position(|n| n == name)
                .and_then(|i| weights.get(i))
                .copied()
                .unwrap_or(0.0)
                .clamp(0.0, 1.0)
        };
        let sides = |f: &dyn Fn(&str) -> f32| [f("R"), f("L")].map(|v| v.clamp(0.0, 1.0));
        Drive {
            forehead: sides(&|s| 0.7 * w(&format!("browInnerUp_{s}")) + 0.5 * w(&format!("browOuterUp_{s}"))),
            crows_feet: sides(&|s| {
                w(&format!("eyeSquint_{s}"))
                    .max(w(&format!("cheekSquint_{s}")))
                    .max(0.8 * w(&format!("mouthSmile_{s}")))
            }),
            nasolabial: sides(&|s| w(&format!("mouthSmile_{s}")).max(0.6 * w(&format!("noseSneer_{s}")))),
            lips: (w("mouthPucker") + 0.5 * w("mouthFunnel")).min(1.0),
            glabella: sides(&|s| w(&format!("browDown_{s}"))),
        }
    }

    /// Whether no wrinkle shows.
    pub fn is_calm(&self) -> bool {
        *self == Drive::default()
    }
}

/// A valley of `width` centred on `x`, seen through a pixel `blur` wide
/// (both in the units of `x`): sharp, 1 at its bottom and 0 away from it;
/// through a wide pixel, the box-filtered valley's Gaussian fit (variances
/// add: w'² = w² + blur²/6, the same area).
fn valley(x: f32, width: f32, blur: f32) -> f32 {
    let wide = (width * width + blur * blur / 6.0).sqrt();
    width / wide * (-(x / wide) * (x / wide)).exp()
}

/// The wrinkles' height (face cm, negative in creases) and crease depth in
/// [0, 1] (for darkening) at rest point `p` (face cm), seen through a pixel
/// `footprint` face cm wide.
pub fn wrinkles(p: Vec3, layout: &Layout, drive: &Drive, noise: &Noise, footprint: f32) -> (f32, f32) {
    let (mut height, mut crease) = (0f32, 0f32);
    let mut add = |depth: f32, c: f32| {
        height -= depth * c;
        crease = crease.max(c * (depth / 0.05).min(1.0));
    };
    let left = smoothstep(-1.0, 1.0, p[0] - layout.at(layout.nose[0])[0]);
    let per_side = |a: [f32; 2]| a[0] * (1.0 - left) + a[1] * left;
    let brows: [Vec3; 2] = [layout.at(layout.brows[0][2]), layout.at(layout.brows[1][2])];
    let brow_top = brows[0][1].max(brows[1][1]);
    let brow_front = layout.at(layout.brows[0][0])[2];
    let outer = layout.at(layout.brows[1][4])[0].abs();

    // Forehead: horizontal lines above the brows, bending down at the temples.
    let amplitude = per_side(drive.forehead);
    if amplitude > 0.0 {
        let y = p[1] - brow_top;
        let mask = smoothstep(0.5, 1.3, y)
            * (1.0 - smoothstep(4.0, 5.5, y))
            * (1.0 - smoothstep(outer * 0.65, outer * 0.95, p[0].abs()))
            * smoothstep(brow_front - 3.5, brow_front - 2.0, p[2]);
        if mask > 0.0 {
            let bent = y + 0.035 * p[0] * p[0] + 0.35 * noise.at([p[0] * 0.35, p[1] * 0.2, 1.0]);
            let phase = bent / 0.95;
            let line = phase.round();
            let strength = smoothstep(-0.35, 0.25, noise.at([p[0] * 0.45, line * 3.1, 5.0]));
            let c = valley(phase - line, 0.11, footprint / 0.95) * strength;
            add(0.06 * amplitude * mask, c);
        }
    }

    for side in 0..2 {
        let out = if side == 0 { -1.0 } else { 1.0 };
        // Crow's feet: a fan of lines from just outside the outer eye corner.
        let amplitude = drive.crows_feet[side];
        if amplitude > 0.0 {
            let corner = layout.at(layout.upper_lids[side][0]);
            let (dx, dy) = ((p[0] - corner[0]) * out - 0.25, p[1] - corner[1]);
            let r = dx.hypot(dy);
            let reach = smoothstep(0.15, 0.6, r)
                * (1.0 - smoothstep(1.6, 2.4, r))
                * smoothstep(corner[2] - 3.5, corner[2] - 2.0, p[2]);
            let angle = if reach > 0.0 { dy.atan2(dx) } else { 0.0 };
            let mask = reach * (1.0 - smoothstep(0.8, 1.15, angle.abs()));
            if mask > 0.0 {
                let phase = angle / 0.2 + 0.5 * noise.at([r * 0.9, angle * 2.0, 7.0 + side as f32]);
                let c = valley(phase - phase.round(), 0.13, footprint / (0.2 * r));
                add(0.045 * amplitude * mask, c);
            }
        }
        // Nasolabial folds: a crease from above the nose wing to beyond the mouth
        // corner, with the cheek bulging over it.
        let amplitude = drive.nasolabial[side];
        if amplitude > 0.0 {
            let wing = layout.at(layout.nose[2 + side]);
            let corner = layout.at(layout.mouth_corners[side]);
            let a = [wing[0] + out * 0.45, wing[1] + 0.3, wing[2]];
            let b = [corner[0] + out * 0.6, corner[1] - 0.8, corner[2]];
            let (t, d) = segment(a, b, [p[0], p[1]]);
            let outside = ((p[0] - a[0]) * (b[1] - a[1]) - (p[1] - a[1]) * (b[0] - a[0])) * -out;
            let mask =
                smoothstep(0.0, 0.15, t) * (1.0 - smoothstep(0.85, 1.0, t)) * smoothstep(a[2] - 3.0, a[2] - 1.5, p[2]);
            if mask > 0.0 && d < 1.2 {
                let bulge = if outside > 0.0 {
                    0.5 * valley(d - 0.35, 0.3, footprint)
                } else {
                    0.0
                };
                add(0.1 * amplitude * mask, valley(d, 0.16, footprint) - bulge);
            }
        }
        // Glabella: two short vertical lines just inside the inner brow ends.
        let amplitude = drive.glabella[side];
        if amplitude > 0.0 {
            let inner = layout.at(layout.brows[side][0]);
            let x = (p[0] - inner[0]) * out + 0.55;
            let y = p[1] - inner[1];
            let mask = smoothstep(-1.0, -0.3, y)
                * (1.0 - smoothstep(1.0, 1.8, y))
                * smoothstep(inner[2] - 2.0, inner[2] - 1.0, p[2]);
            if mask > 0.0 {
                add(
                    0.05 * amplitude * mask,
                    valley(x + 0.08 * noise.at([y * 1.5, 3.0, side as f32]), 0.09, footprint),
                );
            }
        }
    }

    // Vertical lip lines when the lips purse.
    if drive.lips > 0.0 {
        let lip = layout.lip(p);
        if lip > 0.0 {
            let phase = p[0] / 0.16 + 0.6 * noise.at([p[0] * 2.0, p[1] * 3.0, 13.0]);
            let c = valley(phase - phase.round(), 0.18, footprint / 0.16);
            add(0.025 * drive.lips * lip, c);
        }
    }
    (height, crease.clamp(0.0, 1.0))
}
