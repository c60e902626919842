// Rasterisation: one workgroup per 16×16 tile, 64 invocations, each blending
// a column of four pixels (rows r, r + 4, r + 8, r + 12), so that every splat
// read from workgroup memory serves four pixels. The workgroup walks its
// tile's splats front to back in batches of 64, loaded cooperatively; each
// pixel blends them with C += c·α·T, T ← T·(1 − α) and stops once T would
// fall below TRANSMITTANCE_MIN. The whole tile stops when every pixel has.

@group(0) @binding(0) var<uniform> frame: Frame;
@group(0) @binding(1) var<storage, read> projected: array<Projected>;
@group(0) @binding(2) var<storage, read> tile_ids: array<u32>;
@group(0) @binding(3) var<storage, read> tile_ranges: array<vec2<u32>>;
@group(0) @binding(4) var color_out: texture_storage_2d<rgba32float, write>;
@group(0) @binding(5) var depth_out: texture_storage_2d<r32float, write>;

const LANES: u32 = 64u;
const PIXELS: u32 = 4u;
const BATCH: u32 = 64u;

var<workgroup> batch_mean_depth_opacity: array<vec4<f32>, BATCH>;
var<workgroup> batch_conic: array<vec4<f32>, BATCH>;
var<workgroup> batch_color: array<vec4<f32>, BATCH>;
var<workgroup> tile_range: vec2<u32>;
var<workgroup> finished_pixels: atomic<u32>;
var<workgroup> finished_snapshot: u32;

@compute @workgroup_size(64)
fn rasterize(@builtin(workgroup_id) tile_xy: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let column = tile_xy.x * TILE_SIZE + lane % TILE_SIZE;
    let first_row = tile_xy.y * TILE_SIZE + lane / TILE_SIZE;
    if lane == 0u {
        tile_range = tile_ranges[tile_xy.y * frame.tiles.x + tile_xy.x];
    }
    let range = workgroupUniformLoad(&tile_range);

    var transmittance = array<f32, PIXELS>(1.0, 1.0, 1.0, 1.0);
    var color: array<vec3<f32>, PIXELS>;
    var depth: array<f32, PIXELS>;
    var done: array<bool, PIXELS>;
    var finished = 0u;
    for (var p = 0u; p < PIXELS; p++) {
        done[p] = column >= frame.image_size.x || first_row + 4u * p >= frame.image_size.y;
        finished += u32(done[p]);
    }
    for (var start = range.x; start < range.y; start += BATCH) {
        // Stop when every pixel of the tile is done.
        if lane == 0u {
            atomicStore(&finished_pixels, 0u);
        }
        workgroupBarrier();
        atomicAdd(&finished_pixels, finished);
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

        // The loop has no `break` or `continue`, so its index stays uniform
        // across the workgroup; a finished pixel just does nothing.
        let batch = min(BATCH, range.y - start);
        for (var j = 0u; j < batch; j++) {
            let m = batch_mean_depth_opacity[j];
            let conic = batch_conic[j];
            for (var p = 0u; p < PIXELS; p++) {
                let d = vec2<f32>(f32(column), f32(first_row + 4u * p)) + 0.5 - m.xy;
                let power = -0.5 * (conic.x * d.x * d.x + conic.z * d.y * d.y) - conic.y * d.x * d.y;
                // Inside the 1/255 contour (checked before evaluating the exponential).
                if !done[p] && power <= 0.0 && power >= conic.w {
                    let alpha = min(ALPHA_MAX, m.w * exp(power));
                    if alpha >= ALPHA_MIN {
                        let next = transmittance[p] * (1.0 - alpha);
                        if next < TRANSMITTANCE_MIN {
                            done[p] = true;
                            finished += 1u;
                        } else {
                            let weight = alpha * transmittance[p];
                            color[p] += batch_color[j].rgb * weight;
                            depth[p] += m.z * weight;
                            transmittance[p] = next;
                        }
                    }
                }
            }
        }
    }

    let background = frame.background.rgb * frame.background.a;
    for (var p = 0u; p < PIXELS; p++) {
        let pixel = vec2<u32>(column, first_row + 4u * p);
        if pixel.x < frame.image_size.x && pixel.y < frame.image_size.y {
            let coverage = 1.0 - transmittance[p];
            let out_color = color[p] + transmittance[p] * background;
            let out_alpha = coverage + transmittance[p] * frame.background.a;
            let out_depth = select(0.0, depth[p] / coverage, coverage > 0.0);
            textureStore(color_out, pixel, vec4<f32>(out_color, out_alpha));
            textureStore(depth_out, pixel, vec4<f32>(out_depth, 0.0, 0.0, 0.0));
        }
    }
}
