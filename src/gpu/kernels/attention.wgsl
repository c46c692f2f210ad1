// Multi-head self-attention without mask, one workgroup per (query row, head):
// qkv [t, 3·h·d] (q, then k, then v) → y [t, h·d]; softmax(q·kᵀ/√d)·v. t ≤ MAX_T.

struct Params { t: u32, heads: u32, d: u32, _p0: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const WG: u32 = 64u;
// MAX_T: prepended from Rust (tensor::MAX_ATTENTION_TOKENS).
var<workgroup> scores: array<f32, MAX_T>;
var<workgroup> part: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let qi = wg.x;
    let h = wg.y;
    let c = p.heads * p.d;
    let row = 3u * c;
    let q0 = qi * row + h * p.d;
    let scale = inverseSqrt(f32(p.d));
    var m = -3.4e38;
    for (var j = li; j < p.t; j += WG) {
        let k0 = j * row + c + h * p.d;
        var s = 0.0;
        for (var e = 0u; e < p.d; e++) { s = fma(qkv[q0 + e], qkv[k0 + e], s); }
        s *= scale;
        scores[j] = s;
        m = max(m, s);
    }
    part[li] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { part[li] = max(part[li], part[li + s]); }
        workgroupBarrier();
    }
    let mx = part[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var j = li; j < p.t; j += WG) { let e = exp(scores[j] - mx); scores[j] = e; sum += e; }
    part[li] = sum;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { part[li] += part[li + s]; }
        workgroupBarrier();
    }
    let inv = 1.0 / part[0];
    for (var e = li; e < p.d; e += WG) {
        var acc = 0.0;
        for (var j = 0u; j < p.t; j++) { acc = fma(scores[j], qkv[j * row + 2u * c + h * p.d + e], acc); }
        y[qi * c + h * p.d + e] = acc * inv;
    }
}
