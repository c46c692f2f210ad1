// y[m, n] = act(x[m, k] · W[n, k]ᵀ + bias[n]) with int8 weights dequantized on the fly, for
// many rows (feature maps). W is Q8_0 repacked for 32-bit loads: `wq` [n, kp/4] (four int8 per
// u32, little-endian), `ws` [n, kp/32] one f32 scale per 32 weights; kp is k rounded up to 32
// (zero padded).
// Tiles of 64×64 outputs per workgroup of 16×16 threads; each thread owns a 4×4 block (rows
// 4·l.y.., columns 4·l.x..) in four vec4 accumulators. k goes in steps of 32; both tiles sit in
// workgroup memory k-major as vec4s ([kk][64/4]), so the inner loop reads one vec4 of x (the
// same for a row of threads) and one of W (consecutive across threads). 16 KiB in all: WebGPU's
// default limit.

struct Params { m: u32, n: u32, k: u32, kp: u32, act: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read> ws: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const TILE: u32 = 64u;
const TK: u32 = 32u;

var<workgroup> xs: array<vec4<f32>, 512>; // [TK][TILE / 4]
var<workgroup> wt: array<vec4<f32>, 512>; // [TK][TILE / 4]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    var acc0 = vec4<f32>();
    var acc1 = vec4<f32>();
    var acc2 = vec4<f32>();
    var acc3 = vec4<f32>();
    for (var k0 = 0u; k0 < p.kp; k0 += TK) {
        // x tile: 64 rows × 32 k, read along k (coalesced).
        for (var i = 0u; i < 8u; i++) {
            let e = li + i * 256u;
            let r = e / TK;
            let c = e % TK;
            var v = 0.0;
            if (row0 + r < p.m && k0 + c < p.k) { v = x[(row0 + r) * p.k + k0 + c]; }
            xs[c * 16u + r / 4u][r % 4u] = v;
        }
        // W tile: 64 columns × 8 words of four int8.
        for (var i = 0u; i < 2u; i++) {
            let word_id = li + i * 256u;
            let r = word_id / 8u;
            let c4 = word_id % 8u;
            let gn = col0 + r;
            var word = 0u;
            var s = 0.0;
            if (gn < p.n) {
                word = wq[gn * (p.kp / 4u) + k0 / 4u + c4];
                s = ws[gn * (p.kp / TK) + k0 / TK];
            }
            for (var b = 0u; b < 4u; b++) {
                let q = i32(word << (24u - 8u * b)) >> 24u;
                wt[(c4 * 4u + b) * 16u + r / 4u][r % 4u] = f32(q) * s;
            }
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let a = xs[kk * 16u + l.y];
            let wv = wt[kk * 16u + l.x];
            acc0 = fma(vec4<f32>(a.x), wv, acc0);
            acc1 = fma(vec4<f32>(a.y), wv, acc1);
            acc2 = fma(vec4<f32>(a.z), wv, acc2);
            acc3 = fma(vec4<f32>(a.w), wv, acc3);
        }
        workgroupBarrier();
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + 4u * l.y + i;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + 4u * l.x + j;
            if (r < p.m && c < p.n) { y[r * p.n + c] = act(accs[i][j] + bias[c], p.act); }
        }
    }
}
