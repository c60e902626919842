// Rasterisation: one 16×16 workgroup per tile, one invocation per pixel. The
// workgroup walks its tile's splats front to back in batches of 256, loaded
// cooperatively into workgroup memory; each pixel blends them with
// C += c·α·T, T ← T·(1 − α) and stops once T would fall below
// TRANSMITTANCE_MIN. The whole tile stops when every pixel has.

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<storage, read> projected: array<Projected>;
@group(0) @binding(2) var<storage, read> tile_ids: array<u32>;
@group(0) @binding(3) var<storage, read> tile_ranges: array<vec2<u32>>;
@group(0) @binding(4) var color_out: texture_storage_2d<rgba32float, write>;
@group(0) @binding(5) var depth_out: texture_storage_2d<r32float, write>;

const BATCH: u32 = 256u;

var<workgroup> batch_mean_depth_opacity: array<vec4<f32>, BATCH>;
var<workgroup> batch_conic: array<vec4<f32>, BATCH>;
var<workgroup> batch_color: array<vec4<f32>, BATCH>;
var<workgroup> tile_range: vec2<u32>;
var<workgroup> finished_pixels: atomic<u32>;
var<workgroup> finished_snapshot: u32;

@compute @workgroup_size(16, 16)
fn rasterize(
    @builtin(workgroup_id) tile_xy: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
    @builtin(local_invocation_index) lane: u32,
) {
    let pixel = tile_xy.xy * TILE_SIZE + local.xy;
    let inside = pixel.x < frame.image_size.x && pixel.y < frame.image_size.y;
    let centre = vec2<f32>(pixel) + 0.5;
    if lane == 0u {
        tile_range = tile_ranges[tile_xy.y * frame.tiles.x + tile_xy.x];
    }
    let range = workgroupUniformLoad(&tile_range);

    var transmittance = 1.0;
    var color = vec3<f32>(0.0);
    var depth = 0.0;
    var done = !inside;
    for (var start = range.x; start < range.y; start += BATCH) {
        // Stop when every pixel of the tile is done.
        if lane == 0u {
            atomicStore(&finished_pixels, 0u);
        }
        workgroupBarrier();
        if done {
            atomicAdd(&finished_pixels, 1u);
        }
        workgroupBarrier();
        if lane == 0u {
            finished_snapshot = atomicLoad(&finished_pixels);
        }
        if workgroupUniformLoad(&finished_snapshot) == TILE_SIZE * TILE_SIZE {
            break;
        }

        let index = start + lane;
        if index < range.y {
            let splat = projected[tile_ids[index]];
            batch_mean_depth_opacity[lane] = splat.mean_depth_opacity;
            batch_conic[lane] = splat.conic;
            batch_color[lane] = splat.color;
        }
        workgroupBarrier();

        let batch = min(BATCH, range.y - start);
        for (var j = 0u; j < batch && !done; j++) {
            let m = batch_mean_depth_opacity[j];
            let conic = batch_conic[j];
            let d = centre - m.xy;
            let power = -0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) - conic.y * d.x * d.y;
            if power > 0.0 {
                continue;
            }
            let alpha = min(ALPHA_MAX, m.w * exp(power));
            if alpha < ALPHA_MIN {
                continue;
            }
            let next = transmittance * (1.0 - alpha);
            if next < TRANSMITTANCE_MIN {
                done = true;
                break;
            }
            let weight = alpha * transmittance;
            color += batch_color[j].rgb * weight;
            depth += m.z * weight;
            transmittance = next;
        }
    }

    if inside {
        let coverage = 1.0 - transmittance;
        let background = frame.background.rgb * frame.background.a;
        let out_color = color + transmittance * background;
        let out_alpha = coverage + transmittance * frame.background.a;
        let out_depth = select(0.0, depth / coverage, coverage > 0.0);
        textureStore(color_out, pixel, vec4<f32>(out_color, out_alpha));
        textureStore(depth_out, pixel, vec4<f32>(out_depth, 0.0, 0.0, 0.0));
    }
}
