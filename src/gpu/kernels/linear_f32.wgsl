// y[m, n] = act(x[m, k] · W[n, k]ᵀ + bias[n]) with f32 weights (the f32 reference models and
// small f32 matrices); the tiling is tile64.wgsl.

struct Params { m: u32, n: u32, k: u32, _p0: u32, act: u32, scale: f32, shift: f32, _p1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
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
            put_x(r, c, xv);
            put_w(r, c, wv);
        }
        workgroupBarrier();
        mac_step(l);
        workgroupBarrier();
    }
    store_tile(row0, col0, l);
}
