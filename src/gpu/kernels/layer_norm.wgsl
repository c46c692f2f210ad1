// LayerNorm over the last axis: one workgroup per row of x [rows, c] (reduce.wgsl).

struct Params { c: u32, eps: f32, _p0: u32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let base = wg.x * p.c;
    var s = 0.0;
    for (var i = li; i < p.c; i += WG) { s += x[base + i]; }
    let mean = reduce_sum(s, li) / f32(p.c);
    var v = 0.0;
    for (var i = li; i < p.c; i += WG) { let d = x[base + i] - mean; v += d * d; }
    let inv = inverseSqrt(reduce_sum(v, li) / f32(p.c) + p.eps);
    for (var i = li; i < p.c; i += WG) { y[base + i] = (x[base + i] - mean) * inv * gamma[i] + beta[i]; }
}
