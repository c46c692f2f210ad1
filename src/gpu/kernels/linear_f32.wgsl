// y[m, n] = act(x[m, k] · W[n, k]ᵀ + bias[n]) with f32 weights (the f32 reference models and
// small f32 matrices). Same tiling as linear_q8.wgsl (16 KiB of workgroup memory).

struct Params { m: u32, n: u32, k: u32, _k: u32, act: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

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
    for (var k0 = 0u; k0 < p.k; k0 += TK) {
        for (var i = 0u; i < 8u; i++) {
            let e = li + i * 256u;
            let r = e / TK;
            let c = e % TK;
            let gk = k0 + c;
            var xv = 0.0;
            var wv = 0.0;
            if (row0 + r < p.m && gk < p.k) { xv = x[(row0 + r) * p.k + gk]; }
            if (col0 + r < p.n && gk < p.k) { wv = w[(col0 + r) * p.k + gk]; }
            xs[c * 16u + r / 4u][r % 4u] = xv;
            wt[c * 16u + r / 4u][r % 4u] = wv;
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
