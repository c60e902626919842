//! A small CPU rasteriser for looking at meshes: flat-shaded triangles, a depth
//! buffer and a perspective camera, supersampled 2 × 2. Meant for previews,
//! not for the avatar (that is the splat renderer's job).

/// A perspective camera looking at a point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Camera {
    /// Where the camera is.
    pub eye: [f32; 3],
    /// What it looks at.
    pub target: [f32; 3],
    /// Which way is up.
    pub up: [f32; 3],
    /// Vertical field of view in degrees.
    pub fov_y: f32,
}

impl Camera {
    /// A camera in front of (+z) a box of positions (`[N * 3]`), framing it
    /// with `margin` (1: edge to edge) for a square image.
    pub fn framing(positions: &[f32], margin: f32) -> Camera {
        let mut lo = [f32::INFINITY; 3];
        let mut hi = [f32::NEG_INFINITY; 3];
        for p in positions.chunks_exact(3) {
            for k in 0..3 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let centre: [f32; 3] = std::array::from_fn(|k| (lo[k] + hi[k]) / 2.0);
        let half = ((hi[0] - lo[0]).max(hi[1] - lo[1]) / 2.0) * margin;
        let fov_y = 30f32;
        let distance = half / (fov_y.to_radians() / 2.0).tan() + (hi[2] - centre[2]);
        Camera {
            eye: [centre[0], centre[1], centre[2] + distance],
            target: centre,
            up: [0.0, 1.0, 0.0],
            fov_y,
        }
    }
}

/// Renders triangles (`positions` `[V * 3]`, `triangles` `[F * 3]`, one RGB
/// colour in [0, 1] per triangle) into an RGB8 image of `width × height`.
/// Triangles facing away are lit from the front too (two-sided lighting).
pub fn render(
    positions: &[f32],
    triangles: &[u32],
    colors: &[[f32; 3]],
    camera: &Camera,
    width: usize,
    height: usize,
) -> Vec<u8> {
    const SS: usize = 2;
    let (w, h) = (width * SS, height * SS);
    let forward = normalize(sub(camera.target, camera.eye));
    let right = normalize(cross(forward, camera.up));
    let up = cross(right, forward);
    let focal = (h as f32 / 2.0) / (camera.fov_y.to_radians() / 2.0).tan();
    // Camera-space points: x right, y up, z = distance along the view direction.
    let projected: Vec<[f32; 3]> = positions
        .chunks_exact(3)
        .map(|p| {
            let d = sub([p[0], p[1], p[2]], camera.eye);
            let (x, y, z) = (dot(d, right), dot(d, up), dot(d, forward));
            [w as f32 / 2.0 + focal * x / z, h as f32 / 2.0 - focal * y / z, z]
        })
        .collect();
    let light = normalize([-0.35, 0.45, 1.0]);
    let mut depth = vec![f32::INFINITY; w * h];
    let mut image = vec![[0.12f32, 0.12, 0.14]; w * h];
    for (t, corners) in triangles.chunks_exact(3).enumerate() {
        let [a, b, c] = [0, 1, 2].map(|i| projected[corners[i] as usize]);
        if a[2] <= 0.0 || b[2] <= 0.0 || c[2] <= 0.0 {
            continue;
        }
        let world = |i: usize| {
            let v = corners[i] as usize * 3;
            [positions[v], positions[v + 1], positions[v + 2]]
        };
        let normal = normalize(cross(sub(world(1), world(0)), sub(world(2), world(0))));
        let facing = if dot(normal, sub(camera.eye, world(0))) < 0.0 {
            -1.0
        } else {
            1.0
        };
        let shade = 0.25 + 0.75 * (facing * dot(normal, light)).max(0.0);
        let color = colors[t].map(|c| c * shade);
        let area = edge(a, b, c);
        if area.abs() < 1e-12 {
            continue;
        }
        let x0 = a[0].min(b[0]).min(c[0]).floor().max(0.0) as usize;
        let x1 = (a[0].max(b[0]).max(c[0]).ceil() as usize).min(w);
        let y0 = a[1].min(b[1]).min(c[1]).floor().max(0.0) as usize;
        let y1 = (a[1].max(b[1]).max(c[1]).ceil() as usize).min(h);
        for y in y0..y1 {
            for x in x0..x1 {
                let p = [x as f32 + 0.5, y as f32 + 0.5, 0.0];
                let (wa, wb, wc) = (edge(b, c, p) / area, edge(c, a, p) / area, edge(a, b, p) / area);
                if wa < 0.0 || wb < 0.0 || wc < 0.0 {
                    continue;
                }
                // Perspective-correct depth: 1/z is linear on screen.
                let z = 1.0 / (wa / a[2] + wb / b[2] + wc / c[2]);
                let i = y * w + x;
                if z < depth[i] {
                    depth[i] = z;
                    image[i] = color;
                }
            }
        }
    }
    let mut out = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let mut sum = [0f32; 3];
            for sy in 0..SS {
                for sx in 0..SS {
                    let px = image[(y * SS + sy) * w + x * SS + sx];
                    (0..3).for_each(|k| sum[k] += px[k]);
                }
            }
            out.extend(sum.map(|s| (s / (SS * SS) as f32 * 255.0).round().clamp(0.0, 255.0) as u8));
        }
    }
    out
}

fn edge(a: [f32; 3], b: [f32; 3], p: [f32; 3]) -> f32 {
    (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f32; 3], b: [f32; 3]) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn normalize(a: [f32; 3]) -> [f32; 3] {
    let n = dot(a, a).sqrt().max(1e-20);
    a.map(|x| x / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_front_facing_square_fills_the_middle_and_the_nearer_triangle_wins() {
        // A unit square at z = 0, and a red triangle in front of its centre at z = 0.5.
        let positions = [
            -1.0, -1.0, 0.0, 1.0, -1.0, 0.0, 1.0, 1.0, 0.0, -1.0, 1.0, 0.0, -0.2, -0.2, 0.5, 0.2, -0.2, 0.5, 0.0, 0.2,
            0.5,
        ];
        let triangles = [0, 1, 2, 0, 2, 3, 4, 5, 6];
        let colors = [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 0.0, 0.0]];
        let camera = Camera {
            eye: [0.0, 0.0, 5.0],
            target: [0.0, 0.0, 0.0],
            up: [0.0, 1.0, 0.0],
            fov_y: 40.0,
        };
        let image = render(&positions, &triangles, &colors, &camera, 64, 64);
        let px = |x: usize, y: usize| &image[(y * 64 + x) * 3..(y * 64 + x) * 3 + 3];
        // Centre: the red triangle, lit (facing the camera), not the white square behind it.
        assert!(px(32, 32)[0] > 150 && px(32, 32)[1] < 20, "{:?}", px(32, 32));
        // Off-centre inside the square: white-ish grey.
        assert!(px(16, 32).iter().all(|&c| c > 150), "{:?}", px(16, 32));
        // The corner is background: the square spans about ±18 pixels at this distance.
        assert_eq!(px(1, 1), &[31, 31, 36]);
    }

    #[test]
    fn framing_puts_the_box_in_view() {
        let camera = Camera::framing(&[0.0, 0.0, 0.0, 2.0, 4.0, 1.0], 1.15);
        assert_eq!(camera.target, [1.0, 2.0, 0.5]);
        assert!(
            camera.eye[2] > 0.5 + 2.0,
            "in front, far enough to see 4 units of height"
        );
    }
}
