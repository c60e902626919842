// The editor's 3D preview of meshes: shaded triangles into an offscreen
// colour + depth target, which egui then draws as an image.

struct Uniforms {
    view_proj: mat4x4<f32>,
    // xyz: direction towards the light (view-aligned); w unused.
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
fn vs_mesh(v: VertexIn) -> VertexOut {
    var out: VertexOut;
    out.clip = u.view_proj * vec4<f32>(v.position, 1.0);
    out.normal = v.normal;
    out.color = v.color;
    return out;
}

@fragment
fn fs_mesh(v: VertexOut) -> @location(0) vec4<f32> {
    let n = normalize(v.normal);
    // Two-sided Lambert with a little ambient light: open meshes (the face
    // region alone) look right from behind too.
    let diffuse = abs(dot(n, normalize(u.light.xyz)));
    let linear = v.color * (0.18 + 0.82 * diffuse);
    // egui samples its textures as gamma-encoded colour: write that.
    return vec4<f32>(pow(linear, vec3<f32>(1.0 / 2.2)), 1.0);
}
