// y[m, n] = act(x[m, k] · W[n, k]ᵀ + bias[n]) with 4-bit weights (e5's Q4_0 blocks) dequantized
// on the fly, for many rows; the tiling is tile64.wgsl. W is Q4_0 repacked for 32-bit loads:
// `wq` [n, kp/8] (eight 4-bit weights per u32, nibble i of word w is weight 8w + i, stored +8),
// `ws` [n, kp/32] one f32 scale per 32 weights; kp is k rounded up to 32 (zero padded).

struct Params { m: u32, n: u32, k: u32, kp: u32, act: u32, scale: f32, shift: f32, _p0: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wq: array<u32>;
@group(0) @binding(2) var<storage, read> ws: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    for (var k0 = 0u; k0 < p.kp; k0 += TK) {
        load_x(row0, k0, li);
        // W: 64 columns × 4 words of eight 4-bit weights: one word per thread.
        let r = li / 4u;
        let c8 = li % 4u;
        let gn = col0 + r;
        var word = 0x88888888u; // zero weights
        var s = 0.0;
        if (gn < p.n) {
            word = wq[gn * (p.kp / 8u) + k0 / 8u + c8];
            s = ws[gn * (p.kp / TK) + k0 / TK];
        }
        for (var b = 0u; b < 8u; b++) {
            put_w(r, c8 * 8u + b, (f32((word >> (4u * b)) & 15u) - 8.0) * s);
        }
        workgroupBarrier();
        mac_step(l);
        workgroupBarrier();
    }
    store_tile(row0, col0, l);
}
