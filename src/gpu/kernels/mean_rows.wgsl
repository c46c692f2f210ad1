// Mean over rows per batch item: x [b, n, c] → y [b, c] (mean pooling of token states, global
// average pooling). One thread per (column, item).

struct Params { n: u32, c: u32, b: u32, _p0: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let col = g.x;
    let item = g.y;
    if (col >= p.c || item >= p.b) { return; }
    let base = item * p.n * p.c;
    var s = 0.0;
    for (var r = 0u; r < p.n; r++) { s += x[base + r * p.c + col]; }
    y[item * p.c + col] = s / f32(p.n);
}
