//! The reference renderer: the GPU renderer's pipeline, step by step, on the
//! CPU with rayon. It is the oracle the GPU renderer is tested against and
//! the fallback where no GPU adapter exists. [`forward`] also keeps what the
//! backward pass ([`super::backward`]) replays.

use std::time::Instant;

use rayon::prelude::*;

use super::project::{Colors, Projected, TILE_SIZE, blend, project, resolve, tile_grid};
use super::{Image, StageTimes};
use crate::camera::Camera;
use crate::splats::Gaussians;

/// A rendered frame with what differentiating it needs, as 3D Gaussian
/// Splatting and gsplat record it.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// The frame.
    pub image: Image,
    /// Every Gaussian as the camera sees it (`None` where it is not drawn).
    pub projected: Vec<Option<Projected>>,
    /// Tile `t`'s splats are `tile_splats[tile_starts[t]..tile_starts[t + 1]]`
    /// (tiles row-major, one entry more than there are tiles).
    pub tile_starts: Vec<usize>,
    /// Every tile's splat indices, nearest first.
    pub tile_splats: Vec<u32>,
    /// Per pixel, the transmittance left after blending.
    pub transmittance: Vec<f32>,
    /// Per pixel, how many entries of its tile's list blending looked at up
    /// to and including the last splat that contributed (0 where none did).
    pub ends: Vec<u32>,
}

impl Forward {
    /// Tile `t`'s splats, nearest first.
    pub fn tile(&self, t: usize) -> &[u32] {
        &self.tile_splats[self.tile_starts[t]..self.tile_starts[t + 1]]
    }
}

/// Renders Gaussians seen by a camera over a straight-alpha RGBA background,
/// coloured by their spherical harmonics.
pub fn render(gaussians: &Gaussians, camera: &Camera, background: [f32; 4]) -> Image {
    render_timed(gaussians, camera, background).0
}

/// [`render`], with the time each stage took.
pub fn render_timed(gaussians: &Gaussians, camera: &Camera, background: [f32; 4]) -> (Image, StageTimes) {
    let (forward, times) = forward_timed(gaussians, Colors::Sh, camera, background);
    (forward.image, times)
}

/// Renders Gaussians with the given colours and keeps what the backward pass needs.
pub fn forward(gaussians: &Gaussians, colors: Colors, camera: &Camera, background: [f32; 4]) -> Forward {
    forward_timed(gaussians, colors, camera, background).0
}

/// [`forward`], with the time each stage took.
pub fn forward_timed(
    gaussians: &Gaussians,
    colors: Colors,
    camera: &Camera,
    background: [f32; 4],
) -> (Forward, StageTimes) {
    let mut times = StageTimes::default();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, times: &mut StageTimes| {
        times.push(name, clock.elapsed());
        clock = Instant::now();
    };

    let position = camera.position();
    let projected: Vec<_> = (0..gaussians.len())
        .into_par_iter()
        .map(|i| project(gaussians, i, colors, camera, position))
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
    let mut transmittance = vec![0.0; image.rgba.len()];
    let mut ends = vec![0; image.rgba.len()];
    image
        .rgba
        .par_chunks_mut(width)
        .zip(image.depth.par_chunks_mut(width))
        .zip(transmittance.par_chunks_mut(width).zip(ends.par_chunks_mut(width)))
        .enumerate()
        .for_each(|(y, ((rgba_row, depth_row), (transmittance_row, end_row)))| {
            let tile_row = y as u32 / TILE_SIZE * tiles_x;
            for x in 0..width {
                let tile = (tile_row + x as u32 / TILE_SIZE) as usize;
                let splats = lists[starts[tile]..starts[tile + 1]]
                    .iter()
                    .map(|&i| projected[i as usize].as_ref().expect("visible"));
                let blended = blend([x as f32 + 0.5, y as f32 + 0.5], splats);
                (rgba_row[x], depth_row[x]) = resolve(&blended, background);
                (transmittance_row[x], end_row[x]) = (blended.transmittance, blended.end);
            }
        });
    lap("rasterize", &mut times);
    let forward = Forward {
        image,
        projected,
        tile_starts: starts,
        tile_splats: lists,
        transmittance,
        ends,
    };
    (forward, times)
}
