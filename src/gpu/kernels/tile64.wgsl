// The 64×64 output tile shared by linear_q8.wgsl and linear_f32.wgsl (prepended to both): a
// workgroup of 16×16 threads, each owning a 4×4 block (rows 4·l.y.., columns 4·l.x..) in four
// vec4 accumulators. Per step of TK = 32 along k the kernel fills `xs` (x) and `wt` (weights,
// dequantized), both k-major as vec4s ([kk][64/4]) so the inner loop reads one vec4 of x (the
// same across a row of threads) and one of W (consecutive across threads). 16 KiB of workgroup
// memory in all: WebGPU's default limit. The kernel declares `y`, `bias` and `p` (m, n, act).

const TILE: u32 = 64u;
const TK: u32 = 32u;

var<workgroup> xs: array<vec4<f32>, 512>; // [TK][TILE / 4]
var<workgroup> wt: array<vec4<f32>, 512>; // [TK][TILE / 4]
var<private> acc: array<vec4<f32>, 4>;    // acc[i][j]: row 4·l.y + i, column 4·l.x + j

// Stores x[row0 + r, k] (0 outside the matrix) at tile row r, step column c.
fn put_x(r: u32, c: u32, v: f32) {
    xs[c * 16u + r / 4u][r % 4u] = v;
}

// Stores W[col0 + r, k] at tile column r, step column c.
fn put_w(r: u32, c: u32, v: f32) {
    wt[c * 16u + r / 4u][r % 4u] = v;
}

// Accumulates one filled step (between the two barriers).
fn mac_step(l: vec3<u32>) {
    for (var kk = 0u; kk < TK; kk++) {
        let a = xs[kk * 16u + l.y];
        let wv = wt[kk * 16u + l.x];
        acc[0] = fma(vec4<f32>(a.x), wv, acc[0]);
        acc[1] = fma(vec4<f32>(a.y), wv, acc[1]);
        acc[2] = fma(vec4<f32>(a.z), wv, acc[2]);
        acc[3] = fma(vec4<f32>(a.w), wv, acc[3]);
    }
}

// Writes act(acc + bias) for the thread's 4×4 block.
fn store_tile(row0: u32, col0: u32, l: vec3<u32>) {
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + 4u * l.y + i;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + 4u * l.x + j;
            if (r < p.m && c < p.n) { y[r * p.n + c] = act(acc[i][j] + bias[c], p.act); }
        }
    }
}
