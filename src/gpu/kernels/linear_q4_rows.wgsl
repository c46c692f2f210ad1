// y[m, n] = act(x[m, k] · W[n, k]ᵀ + bias[n]) for few rows with 4-bit weights: the GEMV-like
// case of linear_q8_rows.wgsl, reading half the bytes. W is repacked as in linear_q4.wgsl; one
// 32-weight block is one vec4<u32> load.

struct Params { m: u32, n: u32, k: u32, kp: u32, act: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> ws: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// Weights 4h .. 4h + 3 of a word of eight (h = 0: low half, 1: high half).
fn nibbles4(w: u32, h: u32) -> vec4<f32> {
    let v = w >> (16u * h);
    return vec4<f32>(vec4<u32>(v & 15u, (v >> 4u) & 15u, (v >> 8u) & 15u, (v >> 12u) & 15u)) - vec4<f32>(8.0);
}

// x[r, kk..kk+4], zero outside the matrix.
fn x4(r: u32, kk: u32) -> vec4<f32> {
    if (r >= p.m) { return vec4<f32>(); }
    let base = r * p.k + kk;
    if (kk + 4u <= p.k) { return vec4<f32>(x[base], x[base + 1u], x[base + 2u], x[base + 3u]); }
    var v = vec4<f32>();
    for (var i = 0u; i < 4u; i++) {
        if (kk + i < p.k) { v[i] = x[base + i]; }
    }
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let r0 = gid.y * 4u;
    if (col >= p.n) { return; }
    let blocks = p.kp / 32u;
    var acc = vec4<f32>(); // rows r0 .. r0 + 3
    for (var b = 0u; b < blocks; b++) {
        let wv = wq[col * blocks + b];
        var part = vec4<f32>();
        for (var j = 0u; j < 8u; j++) {
            let w = nibbles4(wv[j / 2u], j % 2u);
            let kk = b * 32u + j * 4u;
            part += vec4<f32>(dot(w, x4(r0, kk)), dot(w, x4(r0 + 1u, kk)), dot(w, x4(r0 + 2u, kk)), dot(w, x4(r0 + 3u, kk)));
        }
        acc = fma(part, vec4<f32>(ws[col * blocks + b]), acc);
    }
    for (var i = 0u; i < 4u; i++) {
        if (r0 + i < p.m) { y[(r0 + i) * p.n + col] = act(acc[i] + bias[col], p.act); }
    }
}
