// The KB search: queries q [m, dim] against int8 rows (four per u32, rows padded to whole
// words) with one scale each → y [m, n], y[j, r] = scale[r] · Σ_d row_r[d] · q_j[d].
// One thread per (row, query).

struct Params { n: u32, dim: u32, words: u32, m: u32 }

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3<u32>) {
    let r = g.x;
    let j = g.y;
    if (r >= p.n || j >= p.m) { return; }
    var acc = 0.0;
    for (var w = 0u; w < p.words; w++) {
        let packed = i32(rows[r * p.words + w]);
        for (var b = 0u; b < 4u; b++) {
            let d = w * 4u + b;
            if (d < p.dim) { acc = fma(f32(extractBits(packed, b * 8u, 8u)), q[j * p.dim + d], acc); }
        }
    }
    y[j * p.n + r] = acc * scale[r];
}
