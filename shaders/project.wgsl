// Projection: each invocation takes one 3D Gaussian to the image. It culls it
// (outside the near/far range, too transparent, or off-screen), projects its
// covariance with the EWA approximation (the Jacobian of the perspective
// projection at its centre) and the low-pass dilation, evaluates its colour
// from spherical harmonics for the view direction, and finds the rectangle of
// tiles its 1/255 alpha contour touches. Its depth becomes its sort key.

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<storage, read> splats: array<Splat>;
// Per splat: its coefficients of degree 1 and up, three per coefficient,
// as half-precision pairs (low half first), rounded up to a whole word.
@group(0) @binding(2) var<storage, read> sh: array<u32>;
@group(0) @binding(3) var<storage, read_write> projected: array<Projected>;
@group(0) @binding(4) var<storage, read_write> tile_rects: array<vec4<u32>>;
@group(0) @binding(5) var<storage, read_write> tile_counts: array<u32>;
@group(0) @binding(6) var<storage, read_write> depth_keys: array<u32>;
@group(0) @binding(7) var<storage, read_write> depth_ids: array<u32>;

const SH_C0: f32 = 0.28209479177387814;
const SH_C1: f32 = 0.4886025119029199;
const SH_C2: array<f32, 5> = array<f32, 5>(1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
                                           -1.0925484305920792, 0.5462742152960396);
const SH_C3: array<f32, 7> = array<f32, 7>(-0.5900435899266435, 2.890611442640554, -0.4570457994644658,
                                           0.3731763325901154, -0.4570457994644658, 1.445305721320277,
                                           -0.5900435899266435);

// Higher-order coefficient k ≥ 1 of the splat whose packed coefficients start at word `base`.
fn coefficient(base: u32, k: u32) -> vec3<f32> {
    let first = 3u * (k - 1u);
    return vec3<f32>(half_at(base, first), half_at(base, first + 1u), half_at(base, first + 2u));
}

fn half_at(base: u32, index: u32) -> f32 {
    let pair = unpack2x16float(sh[base + index / 2u]);
    return select(pair.x, pair.y, (index & 1u) == 1u);
}

// The colour seen along unit direction d: 0.5 + Σ c_k Y_k(d), clamped at 0.
fn sh_color(dc: vec3<f32>, base: u32, degree: u32, d: vec3<f32>) -> vec3<f32> {
    var c = SH_C0 * dc;
    if degree >= 1u {
        let x = d.x;
        let y = d.y;
        let z = d.z;
        c += -SH_C1 * y * coefficient(base, 1u) + SH_C1 * z * coefficient(base, 2u) - SH_C1 * x * coefficient(base, 3u);
        if degree >= 2u {
            let xx = x * x;
            let yy = y * y;
            let zz = z * z;
            c += SH_C2[0] * (x * y) * coefficient(base, 4u)
                + SH_C2[1] * (y * z) * coefficient(base, 5u)
                + SH_C2[2] * (2.0 * zz - xx - yy) * coefficient(base, 6u)
                + SH_C2[3] * (x * z) * coefficient(base, 7u)
                + SH_C2[4] * (xx - yy) * coefficient(base, 8u);
            if degree >= 3u {
                c += SH_C3[0] * y * (3.0 * xx - yy) * coefficient(base, 9u)
                    + SH_C3[1] * (x * y) * z * coefficient(base, 10u)
                    + SH_C3[2] * y * (4.0 * zz - xx - yy) * coefficient(base, 11u)
                    + SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy) * coefficient(base, 12u)
                    + SH_C3[4] * x * (4.0 * zz - xx - yy) * coefficient(base, 13u)
                    + SH_C3[5] * z * (xx - yy) * coefficient(base, 14u)
                    + SH_C3[6] * x * (xx - 3.0 * yy) * coefficient(base, 15u);
            }
        }
    }
    return max(c + 0.5, vec3<f32>(0.0));
}

@compute @workgroup_size(256)
fn project(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(id, groups);
    if i >= frame.count {
        return;
    }
    depth_ids[i] = i;
    depth_keys[i] = CULLED;
    tile_counts[i] = 0u;

    let s = splats[i];
    let p = (frame.world_to_camera * vec4<f32>(s.mean, 1.0)).xyz;
    if !(p.z > frame.near && p.z < frame.far) || !(s.opacity >= ALPHA_MIN) {
        return;
    }

    // The Gaussian's axes scaled by its standard deviations, in camera space: the
    // columns of W·R·S, whose outer product is the camera-space covariance.
    let q = s.rotation;
    let w = q.x;
    let x = q.y;
    let y = q.z;
    let z = q.w;
    let r0 = vec3<f32>(1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y + w * z), 2.0 * (x * z - w * y));
    let r1 = vec3<f32>(2.0 * (x * y - w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z + w * x));
    let r2 = vec3<f32>(2.0 * (x * z + w * y), 2.0 * (y * z - w * x), 1.0 - 2.0 * (x * x + y * y));
    let view = mat3x3<f32>(frame.world_to_camera[0].xyz, frame.world_to_camera[1].xyz, frame.world_to_camera[2].xyz);
    let a0 = view * (r0 * s.scale.x);
    let a1 = view * (r1 * s.scale.y);
    let a2 = view * (r2 * s.scale.z);

    // The Jacobian of the projection at the centre. The centre's direction is
    // clamped to 15% of the image size beyond its edges, so that splats far
    // outside the view do not get absurdly stretched footprints.
    let size = vec2<f32>(frame.image_size);
    let margin = 0.15 * size / frame.focal;
    let lo = -frame.principal / frame.focal - margin;
    let hi = (size - frame.principal) / frame.focal + margin;
    let t = clamp(p.xy / p.z, lo, hi);
    let jx = frame.focal.x / p.z;
    let jy = frame.focal.y / p.z;
    let jxz = -frame.focal.x * t.x / p.z;
    let jyz = -frame.focal.y * t.y / p.z;
    let t0 = jx * vec3<f32>(a0.x, a1.x, a2.x) + jxz * vec3<f32>(a0.z, a1.z, a2.z);
    let t1 = jy * vec3<f32>(a0.y, a1.y, a2.y) + jyz * vec3<f32>(a0.z, a1.z, a2.z);
    let ca = dot(t0, t0) + DILATION;
    let cb = dot(t0, t1);
    let cc = dot(t1, t1) + DILATION;
    let det = ca * cc - cb * cb;
    if !(det > 0.0) {
        return;
    }
    let mean = frame.focal * (p.xy / p.z) + frame.principal;

    // The axis-aligned box of the contour where alpha falls to 1/255.
    let contour = 2.0 * log(255.0 * s.opacity);
    let extent = sqrt(contour * vec2<f32>(ca, cc));
    let tiles = vec2<f32>(frame.tiles);
    let first = clamp(floor((mean - extent) / f32(TILE_SIZE)), vec2<f32>(0.0), tiles);
    let last = clamp(floor((mean + extent) / f32(TILE_SIZE)) + 1.0, vec2<f32>(0.0), tiles);
    if !(first.x < last.x && first.y < last.y) {
        return;
    }
    let rect = vec4<u32>(vec2<u32>(first), vec2<u32>(last));

    let direction = normalize(s.mean - frame.camera_position.xyz);
    let words = (3u * ((frame.sh_degree + 1u) * (frame.sh_degree + 1u) - 1u) + 1u) / 2u;
    let color = sh_color(s.color.rgb, i * words, frame.sh_degree, direction);

    projected[i] = Projected(
        vec4<f32>(mean, p.z, s.opacity),
        vec4<f32>(cc / det, -cb / det, ca / det, -0.5 * contour),
        vec4<f32>(color, 1.0),
    );
    tile_rects[i] = rect;
    tile_counts[i] = (rect.z - rect.x) * (rect.w - rect.y);
    depth_keys[i] = bitcast<u32>(p.z);
}
