//! The renderers against analytic results and against each other: every
//! analytic case runs on both the CPU reference and the GPU (lavapipe where
//! there is no GPU), and the GPU must match the CPU on random scenes.

use std::sync::Arc;

use super::gpu::test_gpu;
use super::project::ALPHA_MIN;
use super::{Image, SplatRenderer, cpu};
use crate::camera::Camera;
use crate::splats::synthetic::random;
use crate::splats::{Gaussians, SH_C0};

const TRANSPARENT: [f32; 4] = [0.0; 4];

/// Renders on the CPU and on the GPU.
fn both(gaussians: &Gaussians, camera: &Camera, background: [f32; 4]) -> [(&'static str, Image); 2] {
    let gpu = test_gpu();
    let mut renderer = SplatRenderer::new(&gpu.device, &gpu.queue);
    renderer.render(gaussians, camera, background).unwrap();
    [
        ("cpu", cpu::render(gaussians, camera, background)),
        ("gpu", renderer.read_back().unwrap()),
    ]
}

/// A camera on the +z axis at `distance`, looking at the origin, y up.
fn front_camera(width: u32, height: u32, distance: f32) -> Camera {
    Camera::new(width, height, 40.0)
        .looking_at([0.0, 0.0, distance], [0.0; 3], [0.0, 1.0, 0.0])
        .unwrap()
}

/// Gaussians with a flat colour each (spherical harmonics of degree 0).
fn flat(splats: &[([f32; 3], f32, f32, [f32; 3])]) -> Gaussians {
    let mut g = Gaussians::empty(0);
    let mut sh = Vec::new();
    for &(mean, sigma, opacity, color) in splats {
        g.means.push(mean);
        g.scales.push([sigma; 3]);
        g.rotations.push([1.0, 0.0, 0.0, 0.0]);
        g.opacities.push(opacity);
        sh.extend(color.map(|c| (c - 0.5) / SH_C0));
    }
    g.sh = sh.into();
    g
}

#[test]
fn one_gaussian_has_the_analytic_footprint_and_colour() {
    let (sigma, opacity, color, distance) = (0.1, 0.8, [0.9, 0.4, 0.2], 4.0);
    let gaussians = flat(&[([0.0; 3], sigma, opacity, color)]);
    let camera = front_camera(64, 48, distance);
    // Seen head-on, an isotropic Gaussian is a circle of variance (f·σ/z)² plus the dilation.
    let variance = (camera.fx * sigma / distance).powi(2) + 0.3;
    for (name, image) in both(&gaussians, &camera, TRANSPARENT) {
        let mut covered = 0;
        for y in 0..48 {
            for x in 0..64 {
                let (dx, dy) = (x as f32 + 0.5 - 32.0, y as f32 + 0.5 - 24.0);
                let mut alpha = (opacity * (-(dx * dx + dy * dy) / (2.0 * variance)).exp()).min(0.99);
                if alpha < ALPHA_MIN {
                    alpha = 0.0;
                }
                let got = image.pixel(x, y);
                let expected = [color[0] * alpha, color[1] * alpha, color[2] * alpha, alpha];
                for c in 0..4 {
                    assert!(
                        (got[c] - expected[c]).abs() < 2e-4,
                        "{name}: pixel ({x}, {y}) channel {c}: {} vs {}",
                        got[c],
                        expected[c]
                    );
                }
                let depth = image.depth[(y * 64 + x) as usize];
                if alpha > 0.0 {
                    covered += 1;
                    assert!((depth - distance).abs() < 1e-4, "{name}: depth {depth}");
                } else {
                    assert_eq!(depth, 0.0, "{name}: nothing drawn at ({x}, {y})");
                }
            }
        }
        assert!(covered > 50, "{name}: the splat covers {covered} pixels");
    }
}

#[test]
fn nearer_splats_hide_farther_ones_whatever_their_order() {
    let red = ([0.0, 0.0, 1.0], 0.6, 0.9, [1.0, 0.0, 0.0]);
    let blue = ([0.0, 0.0, -3.0], 0.6, 1.0, [0.0, 0.0, 1.0]);
    // An odd size puts a pixel centre exactly on the splats' centres.
    let camera = front_camera(33, 33, 5.0);
    for order in [[red, blue], [blue, red]] {
        for (name, image) in both(&flat(&order), &camera, TRANSPARENT) {
            let centre = image.pixel(16, 16);
            // Red (in front) takes alpha 0.9; blue (alpha 0.99) shows through the remaining 10%.
            assert!((centre[0] - 0.9).abs() < 1e-4, "{name}: {centre:?}");
            assert!((centre[2] - 0.099).abs() < 1e-4, "{name}: {centre:?}");
            let depth = image.depth[16 * 33 + 16];
            let expected = (4.0 * 0.9 + 8.0 * 0.099) / 0.999;
            assert!((depth - expected).abs() < 1e-3, "{name}: depth {depth} vs {expected}");
        }
    }
}

#[test]
fn overlapping_translucent_splats_composite_front_to_back() {
    // Very wide splats: at the centre their alpha is their opacity.
    let front = ([0.0, 0.0, 0.5], 2000.0, 0.5, [1.0, 0.5, 0.0]);
    let back = ([0.0, 0.0, -0.5], 2000.0, 0.4, [0.0, 0.5, 1.0]);
    let background = [0.2, 0.2, 0.2, 1.0];
    let camera = front_camera(17, 17, 200.0);
    for (name, image) in both(&flat(&[back, front]), &camera, background) {
        let got = image.pixel(8, 8);
        let transmittance = 0.5 * 0.6;
        for c in 0..3 {
            let expected = front.3[c] * 0.5 + back.3[c] * 0.4 * 0.5 + transmittance * 0.2;
            assert!((got[c] - expected).abs() < 1e-3, "{name}: channel {c}: {got:?}");
        }
        assert!((got[3] - 1.0).abs() < 1e-6, "{name}: over an opaque background");
    }
}

#[test]
fn splats_behind_the_camera_or_outside_the_clipping_range_are_culled() {
    let mut camera = front_camera(32, 32, 5.0);
    camera.near = 1.0;
    camera.far = 20.0;
    let culled = flat(&[
        ([0.0, 0.0, 10.0], 0.5, 1.0, [1.0; 3]),  // behind the camera
        ([0.0, 0.0, 4.5], 0.5, 1.0, [1.0; 3]),   // nearer than `near`
        ([0.0, 0.0, -30.0], 0.5, 1.0, [1.0; 3]), // beyond `far`
        ([40.0, 0.0, 0.0], 0.5, 1.0, [1.0; 3]),  // off to the side
    ]);
    let background = [0.1, 0.2, 0.3, 1.0];
    for (name, image) in both(&culled, &camera, background) {
        assert!(
            image.rgba.iter().all(|p| *p == [0.1, 0.2, 0.3, 1.0]),
            "{name}: only the background"
        );
        assert!(image.depth.iter().all(|d| *d == 0.0), "{name}");
    }
    for (name, image) in both(&Gaussians::empty(2), &camera, TRANSPARENT) {
        assert!(
            image.rgba.iter().all(|p| *p == [0.0; 4]),
            "{name}: no Gaussians, nothing drawn"
        );
    }
}

#[test]
fn gpu_matches_the_cpu_reference_on_random_scenes() {
    let gpu = test_gpu();
    let mut renderer = SplatRenderer::new(&gpu.device, &gpu.queue);
    let cases = [
        (64, 64, 0, 300),
        (97, 53, 1, 600),
        (160, 120, 2, 1500),
        (48, 200, 3, 1000),
    ];
    for (seed, (width, height, degree, count)) in cases.into_iter().enumerate() {
        let gaussians = random(count, degree, 1.0, seed as u64);
        let camera = Camera::new(width, height, 50.0)
            .looking_at([0.7, 0.4, 3.0], [0.0, 0.1, 0.0], [0.0, 1.0, 0.0])
            .unwrap();
        let background = [0.1, 0.3, 0.2, 0.5];
        renderer.render(&gaussians, &camera, background).unwrap();
        let gpu_image = renderer.read_back().unwrap();
        let cpu_image = cpu::render(&gaussians, &camera, background);
        let psnr = gpu_image.psnr(&cpu_image);
        assert!(psnr >= 45.0, "{width}×{height}, degree {degree}: PSNR {psnr:.1} dB");
        let covered: Vec<usize> = (0..cpu_image.depth.len())
            .filter(|&i| cpu_image.rgba[i][3] > 0.6)
            .collect();
        assert!(covered.len() > cpu_image.depth.len() / 10, "the scene fills the view");
        let depth_error: f32 = covered
            .iter()
            .map(|&i| (gpu_image.depth[i] - cpu_image.depth[i]).abs())
            .sum::<f32>()
            / covered.len() as f32;
        assert!(depth_error < 1e-3, "{width}×{height}: mean depth error {depth_error}");
    }
}

#[test]
fn a_sequence_of_frames_reuses_the_buffers() {
    let gpu = test_gpu();
    let mut renderer = SplatRenderer::new(&gpu.device, &gpu.queue);
    let gaussians = random(400, 1, 1.0, 9);
    let cameras = crate::camera::orbit_eyes([0.0; 3], [0.0, 1.0, 0.0], 3.0, 10.0, 0.0, 1.0, 6);
    let mut allocations = Vec::new();
    for eye in cameras {
        let camera = Camera::new(48, 48, 50.0)
            .looking_at(eye, [0.0; 3], [0.0, 1.0, 0.0])
            .unwrap();
        renderer.render(&gaussians, &camera, TRANSPARENT).unwrap();
        allocations.push(renderer.allocations());
        let image = renderer.read_back().unwrap();
        assert!(image.psnr(&cpu::render(&gaussians, &camera, TRANSPARENT)) >= 45.0);
    }
    assert!(allocations.iter().all(|&a| a == allocations[0]), "{allocations:?}");
    // A posed copy shares its colour coefficients, so they are not uploaded again; a new set is.
    let mut moved = gaussians.clone();
    moved.means.iter_mut().for_each(|m| m[0] += 0.1);
    assert!(Arc::ptr_eq(&moved.sh, &gaussians.sh));
    let camera = front_camera(48, 48, 3.0);
    renderer.render(&moved, &camera, TRANSPARENT).unwrap();
    assert!(
        renderer
            .read_back()
            .unwrap()
            .psnr(&cpu::render(&moved, &camera, TRANSPARENT))
            >= 45.0
    );
    let recoloured = random(400, 1, 1.0, 10);
    renderer.render(&recoloured, &camera, TRANSPARENT).unwrap();
    assert!(
        renderer
            .read_back()
            .unwrap()
            .psnr(&cpu::render(&recoloured, &camera, TRANSPARENT))
            >= 45.0
    );
}

#[test]
fn frames_draw_into_viewport_textures_of_other_formats() {
    let gpu = test_gpu();
    let mut renderer = SplatRenderer::new(&gpu.device, &gpu.queue);
    let gaussians = random(200, 0, 1.0, 4);
    let camera = front_camera(40, 30, 3.0);
    renderer.render(&gaussians, &camera, [0.0, 0.0, 0.0, 1.0]).unwrap();
    let image = renderer.read_back().unwrap();
    for format in [wgpu::TextureFormat::Rgba8Unorm, wgpu::TextureFormat::Rgba8UnormSrgb] {
        let target = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: None,
            size: wgpu::Extent3d {
                width: 40,
                height: 30,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        renderer.draw_into(&target).unwrap();
        let bytes = super::gpu::read_texture(&gpu.device, &gpu.queue, &target, 4).unwrap();
        // An sRGB target decodes on write what the blit encoded: the stored bytes are the colour either way.
        for (pixel, got) in image.rgba.iter().zip(bytes.chunks_exact(4)) {
            for c in 0..4 {
                let expected = (pixel[c].clamp(0.0, 1.0) * 255.0).round();
                assert!(
                    (got[c] as f32 - expected).abs() <= 1.0,
                    "{format:?}: {got:?} vs {pixel:?}"
                );
            }
        }
    }
}
