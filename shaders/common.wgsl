// Declarations shared by the splat renderer's kernels (project.wgsl, bin.wgsl,
// rasterize.wgsl); the host prepends this file to each of them. The CPU
// reference renderer (nodes/src/render/cpu.rs) implements the same maths.

// Tiles are TILE_SIZE × TILE_SIZE pixels; one workgroup rasterises one tile.
const TILE_SIZE: u32 = 16u;
// A splat contributes to a pixel only where its alpha reaches 1/255.
const ALPHA_MIN: f32 = 1.0 / 255.0;
// Alpha never reaches 1, so a single splat never makes a pixel fully opaque.
const ALPHA_MAX: f32 = 0.99;
// A pixel stops blending once its transmittance would drop below this.
const TRANSMITTANCE_MIN: f32 = 1.0e-4;
// Added to the 2D covariance's diagonal (pixels²): the low-pass filter that
// keeps every splat at least about a pixel wide.
const DILATION: f32 = 0.3;
// The depth key of a splat that is not drawn: it sorts after every real depth.
const CULLED: u32 = 0xffffffffu;

// The camera and image of one frame.
struct Frame {
    // World to camera (OpenCV axes: x right, y down, z forward), column-major.
    world_to_camera: mat4x4<f32>,
    // The camera centre in world space (w unused).
    camera_position: vec4<f32>,
    // fx, fy in pixels.
    focal: vec2<f32>,
    // cx, cy in pixels.
    principal: vec2<f32>,
    // Width and height in pixels.
    image_size: vec2<u32>,
    // Tiles across and down.
    tiles: vec2<u32>,
    // Straight-alpha RGBA shown where splats leave the pixel transparent.
    background: vec4<f32>,
    near: f32,
    far: f32,
    // Number of splats.
    count: u32,
    // Spherical-harmonic degree, 0 to 3.
    sh_degree: u32,
}

// One 3D Gaussian as uploaded (its higher-order colour coefficients live in a
// separate array, as half-precision pairs).
struct Splat {
    mean: vec3<f32>,
    opacity: f32,
    // Standard deviations along the Gaussian's own axes (w unused).
    scale: vec4<f32>,
    // Unit quaternion w, x, y, z.
    rotation: vec4<f32>,
    // The degree-0 colour coefficients (w unused).
    color: vec4<f32>,
}

// A splat as seen by the camera.
struct Projected {
    // Centre in pixels (x, y), camera-space depth, opacity.
    mean_depth_opacity: vec4<f32>,
    // The inverse 2D covariance [[a, b], [b, c]] as (a, b, c), and the
    // exponent below which alpha is under 1/255, −ln(255 · opacity).
    conic: vec4<f32>,
    // View-dependent colour (a unused).
    color: vec4<f32>,
}

// A linear invocation index for kernels dispatched over a 2D grid of 256-wide workgroups
// (one dimension cannot hold more than 65,535 workgroups).
fn linear_index(id: vec3<u32>, groups: vec3<u32>) -> u32 {
    return id.x + id.y * groups.x * 256u;
}
