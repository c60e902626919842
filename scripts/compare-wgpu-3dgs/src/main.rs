//! Renders `.ply` scenes with wgpu-3dgs-viewer (another wgpu splat renderer:
//! a compute preprocess and radix sort, then instanced quads through the
//! hardware rasteriser) from the same camera as `cargo bench -p gspeech-nodes
//! --bench render`, and prints its median frame time as a Markdown table.
//!
//! ```sh
//! cargo bench -p gspeech-nodes --bench render -- --write-ply /tmp/heads
//! cargo run --release --manifest-path scripts/compare-wgpu-3dgs/Cargo.toml -- /tmp/heads/head-*.ply
//! ```

use std::time::{Duration, Instant};

use glam::{UVec2, Vec3};
use wgpu_3dgs_viewer as gs;

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    assert!(!paths.is_empty(), "usage: compare-wgpu-3dgs SCENE.ply...");
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        ..Default::default()
    }))
    .expect("an adapter");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        required_limits: adapter.limits(),
        ..Default::default()
    }))
    .expect("a device");
    let info = adapter.get_info();
    println!(
        "wgpu-3dgs-viewer 0.8.0 on {} ({:?}), median frame times in ms.\n",
        info.name, info.backend
    );
    println!("| scene | image | frame | fps | mean colour |");
    println!("|---|---|---:|---:|---:|");
    for path in &paths {
        let gaussians = gs::core::Gaussians::read_from_file(path, gs::core::GaussiansSource::Ply).expect("a .ply file");
        for (width, height) in [(512u32, 512u32), (1920, 1080)] {
            let format = wgpu::TextureFormat::Rgba8Unorm;
            let texture = device.create_texture(&wgpu::TextureDescriptor {
                label: None,
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
                view_formats: &[],
            });
            let view = texture.create_view(&Default::default());
            let name = std::path::Path::new(path).file_name().unwrap().to_string_lossy();
            let mut viewer = match gs::Viewer::<gs::DefaultGaussianPod>::new(&device, format, &gaussians) {
                Ok(viewer) => viewer,
                Err(e) => {
                    println!("| {name} | {width}×{height} | cannot render: {e:?} | | |");
                    continue;
                }
            };
            // The benchmark's camera: at (0, 0, 60) looking at the origin, 30° vertical field of view.
            let mut camera = gs::Camera::new(0.01..1e4, 30f32.to_radians());
            camera.pos = Vec3::new(0.0, 0.0, 60.0);
            camera.yaw = std::f32::consts::PI;
            viewer.update_camera(&queue, &camera, UVec2::new(width, height));
            let frame = || {
                let start = Instant::now();
                let mut encoder = device.create_command_encoder(&Default::default());
                viewer.render(&mut encoder, &view);
                queue.submit([encoder.finish()]);
                device
                    .poll(wgpu::PollType::wait_indefinitely())
                    .expect("the frame finishes");
                start.elapsed()
            };
            frame();
            let mut times: Vec<Duration> = (0..5).map(|_| frame()).collect();
            times.sort();
            let median = times[times.len() / 2];
            println!(
                "| {name} | {width}×{height} | {:.1} | {:.1} | {:.3} |",
                median.as_secs_f64() * 1e3,
                1.0 / median.as_secs_f64(),
                mean_colour(&device, &queue, &texture),
            );
        }
    }
}

/// The mean of the red, green and blue values of an `rgba8unorm` texture, to
/// check that the scene was drawn like the benchmark draws it (over black).
fn mean_colour(device: &wgpu::Device, queue: &wgpu::Queue, texture: &wgpu::Texture) -> f64 {
    let (width, height) = (texture.width(), texture.height());
    let padded = (width * 4).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (padded * height) as u64,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded),
                rows_per_image: Some(height),
            },
        },
        texture.size(),
    );
    queue.submit([encoder.finish()]);
    buffer.slice(..).map_async(wgpu::MapMode::Read, |r| r.expect("mapped"));
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .expect("the copy finishes");
    let data = buffer.slice(..).get_mapped_range().expect("mapped");
    let sum: u64 = data
        .chunks_exact(padded as usize)
        .flat_map(|row| {
            row[..(width * 4) as usize]
                .chunks_exact(4)
                .map(|p| p[0] as u64 + p[1] as u64 + p[2] as u64)
        })
        .sum();
    sum as f64 / 255.0 / 3.0 / (width * height) as f64
}
