// Softmax over the last axis of x [rows, c]: one workgroup per row (reduce.wgsl). The photo's
// class probabilities, from the classifier's logits.

struct Params { c: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let base = wg.x * p.c;
    var m = -3.0e38;
    for (var i = li; i < p.c; i += WG) { m = max(m, x[base + i]); }
    m = reduce_max(m, li);
    var s = 0.0;
    for (var i = li; i < p.c; i += WG) {
        let e = exp(x[base + i] - m);
        y[base + i] = e;
        s += e;
    }
    let total = reduce_sum(s, li);
    for (var i = li; i < p.c; i += WG) { y[base + i] = y[base + i] / total; }
}
