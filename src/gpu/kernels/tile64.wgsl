// The 64×64 output tile shared by linear_q8.wgsl, linear_q4.wgsl and linear_f32.wgsl (prepended): a
// workgroup of 16×16 threads, each owning a 4×4 block (rows 4·l.y.., columns 4·l.x..) in four
// vec4 accumulators. Per step of TK = 32 along k the kernel fills `xs` (x) and `wt` (weights,
// dequantized), both k-major as vec4s ([kk][64/4]) so the inner loop reads one vec4 of x (the
// same across a row of threads) and one of W (consecutive across threads). 16 KiB of workgroup
// memory in all: WebGPU's default limit. The kernel declares `y`, `bias` and `p` (m, n, act).
// `tile_t`, declared by the prelude the backend adds, is f32, or f16 on devices with
// shader-f16: then the tiles take half the workgroup memory and the multiply-adds of a step run
// in f16 (packed on most GPUs), each step's 32-term partial sums going into f32 accumulators.

const TILE: u32 = 64u;
const TK: u32 = 32u;

var<workgroup> xs: array<vec4<tile_t>, 512>; // [TK][TILE / 4]
var<workgroup> wt: array<vec4<tile_t>, 512>; // [TK][TILE / 4]
var<private> acc: array<vec4<f32>, 4>;    // acc[i][j]: row 4·l.y + i, column 4·l.x + j

// Stores x[row0 + r, k] (0 outside the matrix) at tile row r, step column c.
fn put_x(r: u32, c: u32, v: f32) {
    xs[c * 16u + r / 4u][r % 4u] = tile_t(v);
}

// Fills `xs` with x[row0.., k0..k0+TK] (64 rows × 32 k, read along k: coalesced), for kernels
// that declare `x: array<f32>`.
fn load_x(row0: u32, k0: u32, li: u32) {
    for (var i = 0u; i < 8u; i++) {
        let e = li + i * 256u;
        let r = e / TK;
        let c = e % TK;
        var v = 0.0;
        if (row0 + r < p.m && k0 + c < p.k) { v = x[(row0 + r) * p.k + k0 + c]; }
        put_x(r, c, v);
    }
}

// Stores W[col0 + r, k] at tile column r, step column c.
fn put_w(r: u32, c: u32, v: f32) {
    wt[c * 16u + r / 4u][r % 4u] = tile_t(v);
}

// Accumulates one filled step (between the two barriers).
fn mac_step(l: vec3<u32>) {
    var part = array<vec4<tile_t>, 4>();
    for (var kk = 0u; kk < TK; kk++) {
        let a = xs[kk * 16u + l.y];
        let wv = wt[kk * 16u + l.x];
        part[0] = fma(vec4<tile_t>(a.x), wv, part[0]);
        part[1] = fma(vec4<tile_t>(a.y), wv, part[1]);
        part[2] = fma(vec4<tile_t>(a.z), wv, part[2]);
        part[3] = fma(vec4<tile_t>(a.w), wv, part[3]);
    }
    for (var i = 0u; i < 4u; i++) { acc[i] += vec4<f32>(part[i]); }
}

// Writes act(acc + bias) for the thread's 4×4 block.
fn store_tile(row0: u32, col0: u32, l: vec3<u32>) {
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + 4u * l.y + i;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + 4u * l.x + j;
            if (r < p.m && c < p.n) { y[r * p.n + c] = epi(acc[i][j] + bias[c], p.act, p.scale, p.shift); }
        }
    }
}
