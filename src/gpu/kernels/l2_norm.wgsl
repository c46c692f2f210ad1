// Rows of x [rows, c] scaled to unit length (zero rows stay zero): one workgroup per row
// (reduce.wgsl). Sentence vectors and photo features before the KB search.

struct Params { c: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let base = wg.x * p.c;
    var s = 0.0;
    for (var i = li; i < p.c; i += WG) { s = fma(x[base + i], x[base + i], s); }
    let norm = sqrt(reduce_sum(s, li));
    for (var i = li; i < p.c; i += WG) { y[base + i] = select(x[base + i], x[base + i] / norm, norm > 0.0); }
}
