//! The reference renderer: the GPU renderer's pipeline, step by step, on the
//! CPU with rayon. It is the oracle the GPU renderer is tested against and
//! the fallback where no GPU adapter exists.

use std::time::Instant;

use rayon::prelude::*;

use super::project::{TILE_SIZE, blend, project, resolve, tile_grid};
use super::{Image, StageTimes};
use crate::camera::Camera;
use crate::splats::Gaussians;

/// Renders Gaussians seen by a camera over a straight-alpha RGBA background.
pub fn render(gaussians: &Gaussians, camera: &Camera, background: [f32; 4]) -> Image {
    render_timed(gaussians, camera, background).0
}

/// [`render`], with the time each stage took.
pub fn render_timed(gaussians: &Gaussians, camera: &Camera, background: [f32; 4]) -> (Image, StageTimes) {
    let mut times = StageTimes::default();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, times: &mut StageTimes| {
        times.push(name, clock.elapsed());
        clock = Instant::now();
    };

    let position = camera.position();
    let projected: Vec<_> = (0..gaussians.len())
        .into_par_iter()
        .map(|i| project(gaussians, i, camera, position))
        .collect();
    lap("project", &mut times);

    // Front to back; equal depths keep their index order, as the GPU's stable sort does.
    let mut order: Vec<u32> = (0..projected.len() as u32)
        .filter(|&i| projected[i as usize].is_some())
        .collect();
    order.par_sort_unstable_by_key(|&i| (projected[i as usize].expect("visible").depth.to_bits(), i));
    lap("depth sort", &mut times);

    // Every tile's splats, front to back.
    let [tiles_x, tiles_y] = tile_grid(camera);
    let mut starts = vec![0usize; (tiles_x * tiles_y) as usize + 1];
    let rect_tiles =
        |r: [u32; 4]| (r[1]..r[3]).flat_map(move |y| (r[0]..r[2]).map(move |x| (y * tiles_x + x) as usize));
    for &i in &order {
        for tile in rect_tiles(projected[i as usize].expect("visible").rect) {
            starts[tile + 1] += 1;
        }
    }
    for t in 1..starts.len() {
        starts[t] += starts[t - 1];
    }
    let mut fill = starts.clone();
    let mut lists = vec![0u32; *starts.last().expect("one entry per tile and one more")];
    for &i in &order {
        for tile in rect_tiles(projected[i as usize].expect("visible").rect) {
            lists[fill[tile]] = i;
            fill[tile] += 1;
        }
    }
    lap("binning", &mut times);

    let width = camera.width as usize;
    let mut image = Image::new(camera.width, camera.height);
    image
        .rgba
        .par_chunks_mut(width)
        .zip(image.depth.par_chunks_mut(width))
        .enumerate()
        .for_each(|(y, (rgba_row, depth_row))| {
            let tile_row = y as u32 / TILE_SIZE * tiles_x;
            for x in 0..width {
                let tile = (tile_row + x as u32 / TILE_SIZE) as usize;
                let splats = lists[starts[tile]..starts[tile + 1]]
                    .iter()
                    .map(|&i| projected[i as usize].as_ref().expect("visible"));
                let blended = blend([x as f32 + 0.5, y as f32 + 0.5], splats);
                (rgba_row[x], depth_row[x]) = resolve(&blended, background);
            }
        });
    lap("rasterize", &mut times);
    (image, times)
}
