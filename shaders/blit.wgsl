// Draws the renderer's colour texture (premultiplied RGBA, display-referred
// like the splats' own colours) into any colour target with a full-screen
// triangle, nearest-pixel and stretched to the target's size, for viewports. For sRGB targets the colour is
// decoded to linear first, since the hardware encodes it again on write.

struct Blit {
    // The target's size in pixels.
    target_size: vec2<f32>,
    // 1 when the target format is sRGB-encoded.
    srgb_target: u32,
}

@group(0) @binding(0) var source: texture_2d<f32>;
@group(0) @binding(1) var<uniform> blit: Blit;

@vertex
fn vertex(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((index << 1u) & 2u), f32(index & 2u));
    return vec4<f32>(uv * vec2<f32>(2.0, -2.0) + vec2<f32>(-1.0, 1.0), 0.0, 1.0);
}

fn to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}

@fragment
fn fragment(@builtin(position) position: vec4<f32>) -> @location(0) vec4<f32> {
    let size = textureDimensions(source);
    let pixel = vec2<u32>(position.xy * vec2<f32>(size) / blit.target_size);
    let c = textureLoad(source, min(pixel, size - 1u), 0);
    if blit.srgb_target == 1u && c.a > 0.0 {
        // Un-premultiply, decode, premultiply again.
        let straight = clamp(c.rgb / c.a, vec3<f32>(0.0), vec3<f32>(1.0));
        return vec4<f32>(to_linear(straight) * c.a, c.a);
    }
    return c;
}
