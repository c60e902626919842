//! Soft studio lighting: a warm key, a cool fill and a rim light (directional,
//! fixed in world space as in a capture stage), a sky/ground ambient term,
//! wrapped Lambert diffuse (light bleeds past the terminator, reddest in red,
//! a cheap stand-in for subsurface scattering), GGX specular, occlusion from
//! the mesh, a mild filmic tone map and the sRGB encoding. Directions assume
//! a face looking along +z with y up. Light colours, directions and the tone
//! curve are ours.

use crate::math::{Vec3, add, dot, normalize, scale};

use super::skin::Surface;

/// A directional light.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Light {
    /// Towards the light (unit).
    pub direction: Vec3,
    /// Linear RGB radiance.
    pub colour: Vec3,
}

/// The studio's lights.
#[derive(Clone, Debug, PartialEq)]
pub struct Lights {
    /// Key, fill and rim.
    pub lights: Vec<Light>,
    /// Ambient light from above.
    pub sky: Vec3,
    /// Ambient light from below.
    pub ground: Vec3,
    /// Exposure before the tone map.
    pub exposure: f32,
}

impl Default for Lights {
    fn default() -> Lights {
        let dir = |v: Vec3| normalize(v).expect("non-zero");
        Lights {
            lights: vec![
                // Key: up and to the subject's right, warm.
                Light {
                    direction: dir([-0.55, 0.5, 0.75]),
                    colour: [2.1, 1.95, 1.8],
                },
                // Fill: low from the other side, cool and weaker.
                Light {
                    direction: dir([0.75, 0.05, 0.6]),
                    colour: [0.55, 0.62, 0.75],
                },
                // Rim: behind and above, to separate the head from the backdrop.
                Light {
                    direction: dir([0.3, 0.6, -0.75]),
                    colour: [1.0, 1.0, 1.05],
                },
            ],
            sky: [0.32, 0.34, 0.38],
            ground: [0.16, 0.14, 0.13],
            exposure: 1.0,
        }
    }
}

/// The linear radiance leaving a surface point: `n` the shading normal and
/// `v` the direction to the eye (unit, world space), `ao` the ambient occlusion.
pub fn shade(lights: &Lights, surface: &Surface, n: Vec3, v: Vec3, ao: f32) -> Vec3 {
    let ao = surface.open + (1.0 - surface.open) * ao;
    let shadow = 1.0 - surface.cavity * (1.0 - ao);
    let hemi = 0.5 + 0.5 * n[1];
    let ambient: Vec3 = std::array::from_fn(|k| (surface_ambient(lights, k, hemi)) * ao);
    let mut diffuse = ambient;
    let mut specular = [0f32; 3];
    let n_v = dot(n, v).max(1e-3);
    let alpha = (surface.roughness * surface.roughness).max(1e-3);
    for light in &lights.lights {
        let l = light.direction;
        let n_l = dot(n, l);
        for ((d, w), c) in diffuse.iter_mut().zip(surface.wrap).zip(light.colour) {
            *d += c * ((n_l + w) / (1.0 + w)).max(0.0) * shadow;
        }
        if n_l > 0.0 {
            let Some(h) = normalize(add(l, v)) else { continue };
            let n_h = dot(n, h).max(0.0);
            let d = alpha * alpha / (std::f32::consts::PI * (n_h * n_h * (alpha * alpha - 1.0) + 1.0).powi(2));
            let k = alpha / 2.0;
            let g = (n_l / (n_l * (1.0 - k) + k)) * (n_v / (n_v * (1.0 - k) + k));
            let f = surface.f0 + (1.0 - surface.f0) * (1.0 - dot(h, v).max(0.0)).powi(5);
            let amount = d * g * f / (4.0 * n_v) * shadow;
            specular = add(specular, scale(light.colour, amount));
        }
    }
    std::array::from_fn(|k| (surface.albedo[k] * diffuse[k] + specular[k]) * lights.exposure)
}

fn surface_ambient(lights: &Lights, k: usize, hemi: f32) -> f32 {
    lights.ground[k] + (lights.sky[k] - lights.ground[k]) * hemi
}

/// A mild filmic curve: linear through the mid-tones, rolling off highlights towards 1.
pub fn tone_map(x: f32) -> f32 {
    let x = x.max(0.0);
    // Reinhard with a white point: about linear below 0.3, reaching 1 at `WHITE`.
    const WHITE: f32 = 3.0;
    x * (1.0 + x / (WHITE * WHITE)) / (1.0 + x)
}

/// Linear light in [0, 1] to the sRGB encoding.
pub fn linear_to_srgb(c: f32) -> f32 {
    let c = c.clamp(0.0, 1.0);
    if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn studio_light_faces_towards_the_key_are_brighter_and_encoding_is_monotonic() {
        let lights = Lights::default();
        let surface = Surface {
            albedo: [0.5; 3],
            roughness: 0.5,
            f0: 0.03,
            wrap: [0.3; 3],
            cavity: 0.5,
            open: 0.0,
        };
        let key = lights.lights[0].direction;
        let lit = shade(&lights, &surface, key, [0.0, 0.0, 1.0], 1.0);
        let away = shade(&lights, &surface, scale(key, -1.0), [0.0, 0.0, 1.0], 1.0);
        assert!(lit[0] > 2.0 * away[0], "{lit:?} {away:?}");
        let occluded = shade(&lights, &surface, key, [0.0, 0.0, 1.0], 0.2);
        assert!(occluded[1] < lit[1]);
        let mut last = -1.0;
        for i in 0..100 {
            let v = linear_to_srgb(tone_map(i as f32 * 0.03));
            assert!(v > last && v <= 1.0);
            last = v;
        }
        assert!((linear_to_srgb(0.5) - 0.7354).abs() < 1e-3);
    }
}
