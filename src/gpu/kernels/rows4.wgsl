// The few-rows matmul shared by linear_q8_rows.wgsl and linear_q4_rows.wgsl (prepended to
// both): y[m, n] = act(x[m, k] · W[n, k]ᵀ + bias[n]) for a question's tokens or the last feature
// maps, the GEMV-like case bound by reading the weights once. No workgroup memory and no
// barriers: each thread owns one output column for four rows and walks its weight row block by
// block; the kernel defines `block(col, b, blocks, r0)`, the unscaled dot products of one
// 32-weight block with rows r0..r0+3 (its weights read as vec4<u32>), which this scales by
// `ws` and sums.

struct Params { m: u32, n: u32, k: u32, kp: u32, act: u32, scale: f32, shift: f32, _p0: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wq: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> ws: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// x[r, kk..kk+4], zero outside the matrix (k need not be a multiple of 4).
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

// Four weights against x[r0..r0+4, kk..kk+4]: one dot product per row.
fn dot4(w: vec4<f32>, r0: u32, kk: u32) -> vec4<f32> {
    return vec4<f32>(dot(w, x4(r0, kk)), dot(w, x4(r0 + 1u, kk)), dot(w, x4(r0 + 2u, kk)), dot(w, x4(r0 + 3u, kk)));
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let r0 = gid.y * 4u;
    if (col >= p.n) { return; }
    let blocks = p.kp / 32u;
    var acc = vec4<f32>(); // rows r0 .. r0 + 3
    for (var b = 0u; b < blocks; b++) {
        acc = fma(block(col, b, blocks, r0), vec4<f32>(ws[col * blocks + b]), acc);
    }
    for (var i = 0u; i < 4u; i++) {
        if (r0 + i < p.m) { y[(r0 + i) * p.n + col] = epi(acc[i] + bias[col], p.act, p.scale, p.shift); }
    }
}
