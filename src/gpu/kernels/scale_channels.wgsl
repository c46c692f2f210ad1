// Squeeze-excitation's rescaling: every pixel of x [b, hw, c] times its image's channel weights
// s [b, c]; with `residual` the input is added again, computed as x · (s + 1) →
// y [b, hw, c]. One thread per output value.

struct Params { b: u32, hw: u32, c: u32, residual: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> s: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 256u;
    let per_image = p.hw * p.c;
    if (i >= p.b * per_image) { return; }
    var w = s[(i / per_image) * p.c + i % p.c];
    if (p.residual != 0u) { w += 1.0; }
    y[i] = x[i] * w;
}
