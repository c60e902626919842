// The editor's 3D preview: shaded triangles or coloured points into an
// offscreen colour + depth target, then a blit of that target into egui's pass.

struct Uniforms {
    view_proj: mat4x4<f32>,
    // xyz: direction towards the light (view-aligned), w: 1 for lit triangles, 0 for points.
    light: vec4<f32>,
};

@group(0) @binding(0) var<uniform> u: Uniforms;

struct VertexIn {
    @location(0) position: vec3<f32>,
    @location(1) normal: vec3<f32>,
    @location(2) color: vec3<f32>,
};

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) normal: vec3<f32>,
    @location(1) color: vec3<f32>,
};

@vertex
fn vs_scene(v: VertexIn) -> VertexOut {
    var out: VertexOut;
    out.clip = u.view_proj * vec4<f32>(v.position, 1.0);
    out.normal = v.normal;
    out.color = v.color;
    return out;
}

@fragment
fn fs_scene(v: VertexOut) -> @location(0) vec4<f32> {
    var linear = v.color;
    if (u.light.w > 0.5) {
        let n = normalize(v.normal);
        // Two-sided Lambert with a little ambient light: open meshes (the face
        // region alone) look right from behind too.
        let diffuse = abs(dot(n, normalize(u.light.xyz)));
        linear = v.color * (0.18 + 0.82 * diffuse);
    }
    // egui blends in gamma space: write gamma-encoded colour.
    return vec4<f32>(pow(linear, vec3<f32>(1.0 / 2.2)), 1.0);
}

@group(0) @binding(0) var frame_texture: texture_2d<f32>;
@group(0) @binding(1) var frame_sampler: sampler;

struct BlitOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

// One triangle covering the viewport.
@vertex
fn vs_blit(@builtin(vertex_index) i: u32) -> BlitOut {
    let xy = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    var out: BlitOut;
    out.clip = vec4<f32>(xy * 2.0 - 1.0, 0.0, 1.0);
    out.uv = vec2<f32>(xy.x, 1.0 - xy.y);
    return out;
}

@fragment
fn fs_blit(v: BlitOut) -> @location(0) vec4<f32> {
    return textureSample(frame_texture, frame_sampler, v.uv);
}
