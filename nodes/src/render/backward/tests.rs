//! The backward pass against central finite differences of the forward, in
//! f32 as the renderer computes (the loss is summed in f64), on tiny scenes
//! chosen away from the forward's thresholds, which the tests check.

use super::{Gradients, backward};
use crate::camera::Camera;
use crate::render::cpu::{Forward, forward, render};
use crate::render::project::{ALPHA_MAX, Colors, blend, project};
use crate::splats::Gaussians;
use crate::splats::synthetic::{Rng, random};

const BACKGROUND: [f32; 4] = [0.2, 0.5, 0.7, 0.5];

/// 40×32 pixels (3×2 tiles), from 4 units in front of the origin.
fn camera() -> Camera {
    Camera::new(40, 32, 40.0)
        .looking_at([0.3, 0.2, 4.0], [0.0; 3], [0.0, 1.0, 0.0])
        .unwrap()
}

/// A scene: Gaussians and, where colours are given directly, their RGB.
#[derive(Clone)]
struct Scene {
    gaussians: Gaussians,
    rgb: Option<Vec<[f32; 3]>>,
}

impl Scene {
    fn colors(&self) -> Colors<'_> {
        self.rgb.as_deref().map_or(Colors::Sh, Colors::Rgb)
    }

    fn forward(&self) -> Forward {
        forward(&self.gaussians, self.colors(), &camera(), BACKGROUND)
    }
}

/// Overlapping, rotated, anisotropic Gaussians near the centre of the view,
/// wide enough that their 1/255 contours stay outside the image; their
/// quaternions are not normalised. With `sh_degree`, colours are spherical
/// harmonics of that degree, otherwise RGB.
fn scene(centres: &[[f32; 3]], sh_degree: Option<u32>, seed: u64) -> Scene {
    let mut rng = Rng::new(seed);
    let mut g = Gaussians::empty(sh_degree.unwrap_or(0));
    let mut sh = Vec::new();
    let mut rgb = Vec::new();
    for &mean in centres {
        g.means.push(mean);
        g.scales.push([0; 3].map(|_| rng.range(1.4, 2.0)));
        g.rotations.push([0; 4].map(|_| rng.range(-1.5, 1.5)));
        g.opacities.push(rng.range(0.4, 0.8));
        rgb.push([0; 3].map(|_| rng.range(0.1, 0.9)));
        for k in 0..g.sh_stride() {
            let spread = if k < 3 { 1.0 } else { 0.2 };
            sh.push(rng.range(-spread, spread));
        }
    }
    g.sh = sh.into();
    Scene {
        gaussians: g,
        rgb: sh_degree.is_none().then_some(rgb),
    }
}

/// Fixed random weights for `Σ w ⊙ RGB + Σ v ⊙ alpha`.
fn weights(pixels: usize) -> (Vec<[f32; 3]>, Vec<f32>) {
    let mut rng = Rng::new(77);
    let rgb = (0..pixels).map(|_| [0; 3].map(|_| rng.range(-1.0, 1.0))).collect();
    let alpha = (0..pixels).map(|_| rng.range(-1.0, 1.0)).collect();
    (rgb, alpha)
}

fn loss(scene: &Scene) -> f64 {
    let image = scene.forward().image;
    let (w, v) = weights(image.rgba.len());
    image
        .rgba
        .iter()
        .zip(w.iter().zip(&v))
        .map(|(p, (w, v))| (0..3).map(|c| (p[c] * w[c]) as f64).sum::<f64>() + (p[3] * v) as f64)
        .sum()
}

fn gradients(scene: &Scene) -> Gradients {
    let forward = scene.forward();
    let (w, v) = weights(forward.image.rgba.len());
    backward(
        &scene.gaussians,
        scene.colors(),
        &camera(),
        BACKGROUND,
        &forward,
        &w,
        Some(&v),
    )
}

/// Whether every pixel is further than `margin` (in the exponent) from every
/// splat's 1/255 contour, every splat is away from the alpha clamp, and
/// blending never comes near the transmittance floor.
fn away_from_thresholds(scene: &Scene, margin: f32) -> bool {
    let camera = camera();
    let forward = scene.forward();
    let clear = (0..scene.gaussians.len()).all(|i| {
        let Some(s) = project(&scene.gaussians, i, scene.colors(), &camera, camera.position()) else {
            return false;
        };
        let pixels = (0..camera.height).flat_map(|y| (0..camera.width).map(move |x| (x, y)));
        s.opacity < ALPHA_MAX - 0.05
            && pixels.into_iter().all(|(x, y)| {
                let d = [x as f32 + 0.5 - s.mean[0], y as f32 + 0.5 - s.mean[1]];
                let power = -0.5 * (s.conic[0] * d[0] * d[0] + s.conic[2] * d[1] * d[1]) - s.conic[1] * d[0] * d[1];
                (power - s.min_power).abs() > margin
            })
    });
    clear && forward.transmittance.iter().all(|&t| t > 1e-3)
}

/// The parameters a test perturbs.
#[derive(Clone, Copy, Debug)]
enum Param {
    Mean(usize, usize),
    Scale(usize, usize),
    Rotation(usize, usize),
    Opacity(usize),
    Rgb(usize, usize),
    Sh(usize, usize),
}

impl Param {
    fn analytic(self, g: &Gradients, sh_stride: usize) -> f32 {
        match self {
            Param::Mean(i, k) => g.means[i][k],
            Param::Scale(i, k) => g.scales[i][k],
            Param::Rotation(i, k) => g.rotations[i][k],
            Param::Opacity(i) => g.opacities[i],
            Param::Rgb(i, k) => g.colors[i][k],
            Param::Sh(i, k) => g.sh[i * sh_stride + k],
        }
    }

    /// The scene with this parameter moved by `delta`, and the change made (as rounded).
    fn moved(self, scene: &Scene, delta: f32) -> (Scene, f32) {
        let mut s = scene.clone();
        let g = &mut s.gaussians;
        let mut sh = g.sh.to_vec();
        let stride = g.sh_stride();
        let value = match self {
            Param::Mean(i, k) => &mut g.means[i][k],
            Param::Scale(i, k) => &mut g.scales[i][k],
            Param::Rotation(i, k) => &mut g.rotations[i][k],
            Param::Opacity(i) => &mut g.opacities[i],
            Param::Rgb(i, k) => &mut s.rgb.as_mut().expect("RGB colours")[i][k],
            Param::Sh(i, k) => &mut sh[i * stride + k],
        };
        let before = *value;
        *value += delta;
        let change = *value - before;
        g.sh = sh.into();
        (s, change)
    }
}

/// Checks each parameter's analytic gradient against a central difference
/// with step `step`: |analytic − numeric| ≤ 2·10⁻² · max(|analytic|,
/// |numeric|) + 2·10⁻³ · (the largest numeric gradient of the list). Steps
/// of 10⁻³ move a splat's exponent by under 0.02 at a pixel, so the scene
/// must keep pixels 0.05 from every contour (0.02 for steps of 10⁻⁴, 0.5
/// for 10⁻²).
fn check(scene: &Scene, params: &[Param], step: f32) {
    let margin = if step < 1e-3 {
        0.02
    } else if step < 1e-2 {
        0.05
    } else {
        0.5
    };
    assert!(
        away_from_thresholds(scene, margin),
        "the scene is away from the thresholds"
    );
    let analytic = gradients(scene);
    let stride = scene.gaussians.sh_stride();
    let numeric: Vec<f32> = params
        .iter()
        .map(|p| {
            let (plus, up) = p.moved(scene, step);
            let (minus, down) = p.moved(scene, -step);
            ((loss(&plus) - loss(&minus)) / (up - down) as f64) as f32
        })
        .collect();
    let scale = numeric.iter().fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-2, "the loss depends on these parameters");
    for (p, n) in params.iter().zip(numeric) {
        let a = p.analytic(&analytic, stride);
        let bound = 2e-2 * a.abs().max(n.abs()) + 2e-3 * scale;
        assert!(
            (a - n).abs() <= bound,
            "{p:?}: analytic {a}, numeric {n} (bound {bound})"
        );
    }
}

const CENTRES: [[f32; 3]; 3] = [[0.1, 0.0, 0.0], [-0.4, 0.3, -0.8], [0.5, -0.2, 0.6]];

fn each(count: usize, components: usize, param: fn(usize, usize) -> Param) -> Vec<Param> {
    (0..count)
        .flat_map(|i| (0..components).map(move |k| param(i, k)))
        .collect()
}

#[test]
fn mean_gradients_match_finite_differences() {
    check(&scene(&CENTRES, None, 1), &each(3, 3, Param::Mean), 1e-3);
}

#[test]
fn scale_gradients_match_finite_differences() {
    check(&scene(&CENTRES, None, 2), &each(3, 3, Param::Scale), 1e-3);
}

#[test]
fn rotation_gradients_match_finite_differences_through_the_normalisation() {
    // Elongated, so that turning them matters; steps of 10⁻² keep the
    // differences above the loss's rounding.
    let mut scene = scene(&CENTRES, None, 3);
    scene.gaussians.scales = vec![[1.4, 2.8, 2.0], [2.6, 1.5, 1.9], [2.0, 1.6, 3.0]];
    let norm = |q: &[f32; 4]| q.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!(scene.gaussians.rotations.iter().all(|q| (norm(q) - 1.0).abs() > 0.1));
    check(&scene, &each(3, 4, Param::Rotation), 1e-2);
}

#[test]
fn opacity_and_colour_gradients_match_finite_differences() {
    let params: Vec<Param> = (0..3).map(Param::Opacity).chain(each(3, 3, Param::Rgb)).collect();
    check(&scene(&CENTRES, None, 4), &params, 1e-3);
}

#[test]
fn spherical_harmonic_gradients_match_finite_differences() {
    for degree in [0, 3] {
        let scene = scene(&CENTRES, Some(degree), 5 + degree as u64);
        let stride = scene.gaussians.sh_stride();
        // Every coefficient, and the centres, which also turn the view direction.
        check(&scene, &each(3, stride, Param::Sh), 5e-3);
        check(&scene, &each(3, 3, Param::Mean), 1e-3);
    }
}

#[test]
fn an_occluded_splat_gets_gradients_through_the_transmittance() {
    // Two splats on one line of sight: the back one seen through the front one.
    let mut scene = scene(&[[0.0, 0.0, 0.5], [0.05, 0.0, -0.5]], None, 6);
    scene.gaussians.opacities = vec![0.75, 0.7];
    let params: Vec<Param> = [Param::Opacity(0), Param::Opacity(1)]
        .into_iter()
        .chain(each(2, 3, Param::Rgb))
        .chain(each(2, 3, Param::Mean))
        .collect();
    check(&scene, &params, 1e-3);
    // The back splat's colour shows through 1 − 0.75 of the front one at most.
    let g = gradients(&scene);
    let (front, back) = (g.colors[0], g.colors[1]);
    assert!((0..3).all(|c| back[c].abs() > 0.0 && back[c].abs() < front[c].abs()));
}

#[test]
fn small_splats_across_tile_seams_match_finite_differences() {
    // Gaussians whose contours lie inside the image, across the tiles' seams:
    // the first seed whose contours pass no pixel centre closely.
    let small = |seed| {
        let mut scene = scene(&[[0.0, 0.0, 0.0], [0.5, 0.5, 0.4]], None, seed);
        scene.gaussians.scales = vec![[0.25, 0.3, 0.2], [0.2, 0.25, 0.3]];
        scene
    };
    let scene = (0..200)
        .map(small)
        .find(|s| away_from_thresholds(s, 0.02))
        .expect("such a scene");
    let image = scene.forward().image;
    assert!(image.rgba[0][3] == BACKGROUND[3], "the splats do not reach the corner");
    let params: Vec<Param> = each(2, 3, Param::Mean)
        .into_iter()
        .chain(each(2, 3, Param::Scale))
        .chain(each(2, 4, Param::Rotation))
        .chain((0..2).map(Param::Opacity))
        .collect();
    check(&scene, &params, 1e-4);
}

#[test]
fn gradients_do_not_depend_on_the_thread_count() {
    let gaussians = random(400, 3, 1.0, 12);
    let camera = Camera::new(72, 56, 50.0)
        .looking_at([0.7, 0.4, 3.0], [0.0, 0.1, 0.0], [0.0, 1.0, 0.0])
        .unwrap();
    let forward = forward(&gaussians, Colors::Sh, &camera, BACKGROUND);
    let (w, v) = weights(forward.image.rgba.len());
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| backward(&gaussians, Colors::Sh, &camera, BACKGROUND, &forward, &w, Some(&v)))
    };
    let bits = |g: &Gradients| {
        let floats = g.means.iter().flatten().chain(g.scales.iter().flatten());
        let floats = floats.chain(g.rotations.iter().flatten()).chain(&g.opacities);
        let floats = floats.chain(g.colors.iter().flatten()).chain(&g.sh);
        floats.map(|v| v.to_bits()).collect::<Vec<_>>()
    };
    let one = on(1);
    assert!(one.means.iter().flatten().any(|&v| v != 0.0));
    assert_eq!(bits(&one), bits(&on(2)));
    assert_eq!(bits(&one), bits(&on(3)));
}

#[test]
fn the_recording_forward_renders_what_render_does() {
    let gaussians = random(500, 2, 1.0, 13);
    let camera = Camera::new(80, 60, 50.0)
        .looking_at([0.7, 0.4, 3.0], [0.0, 0.1, 0.0], [0.0, 1.0, 0.0])
        .unwrap();
    let recorded = forward(&gaussians, Colors::Sh, &camera, BACKGROUND);
    assert_eq!(recorded.image, render(&gaussians, &camera, BACKGROUND));
    // The same colours given as RGB render the same frame.
    let position = camera.position();
    let rgb: Vec<[f32; 3]> = (0..gaussians.len())
        .map(|i| Colors::Sh.of(&gaussians, i, position))
        .collect();
    assert_eq!(forward(&gaussians, Colors::Rgb(&rgb), &camera, BACKGROUND), recorded);
    // Each pixel's record: blending every drawn splat, nearest first, ignoring
    // tiles, leaves the same transmittance, and stopping at the recorded end
    // changes nothing.
    let mut drawn: Vec<_> = recorded.projected.iter().flatten().collect();
    drawn.sort_by(|a, b| a.depth.total_cmp(&b.depth));
    let mut stopped_early = 0;
    for y in 0..camera.height {
        for x in 0..camera.width {
            let pixel = (y * camera.width + x) as usize;
            let centre = [x as f32 + 0.5, y as f32 + 0.5];
            let all = blend(centre, drawn.iter().copied());
            assert_eq!(all.transmittance, recorded.transmittance[pixel]);
            let tiles_x = camera.width.div_ceil(16);
            let list = recorded.tile((y / 16 * tiles_x + x / 16) as usize);
            let end = recorded.ends[pixel] as usize;
            let replay = list[..end]
                .iter()
                .map(|&i| recorded.projected[i as usize].as_ref().unwrap());
            let replayed = blend(centre, replay);
            assert_eq!(replayed.transmittance, recorded.transmittance[pixel]);
            assert_eq!(replayed.end as usize, end);
            stopped_early += (end < list.len()) as usize;
        }
    }
    assert!(stopped_early > 0, "some pixels end before their tile's list does");
}
