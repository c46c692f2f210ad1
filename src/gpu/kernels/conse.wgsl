// ConSE mixing: the `top` most probable classes of probs [classes] (ties: lower index first),
// then y [dim] = Σ p_i · scale_i · row_i over them, rows int8 four per u32 as in scores.wgsl.
// One workgroup (reduce.wgsl's WG threads): `top` rounds of a workgroup arg-max, then one
// thread per output value.

struct Params { classes: u32, dim: u32, words: u32, top: u32 }

@group(0) @binding(0) var<storage, read> probs: array<f32>;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

const MAX_TOP: u32 = 16u;
const NONE: u32 = 0xffffffffu;
var<workgroup> best_i: array<u32, 128>;
var<workgroup> chosen: array<u32, MAX_TOP>;

// Whether (v, i) ranks before (w, j).
fn before(v: f32, i: u32, w: f32, j: u32) -> bool {
    return j == NONE || (i != NONE && (v > w || (v == w && i < j)));
}

@compute @workgroup_size(128)
fn main(@builtin(local_invocation_index) li: u32) {
    for (var t = 0u; t < p.top; t++) {
        var bv = 0.0;
        var bi = NONE;
        for (var i = li; i < p.classes; i += WG) {
            var taken = false;
            for (var u = 0u; u < t; u++) { taken = taken || chosen[u] == i; }
            if (!taken && before(probs[i], i, bv, bi)) { bv = probs[i]; bi = i; }
        }
        part[li] = bv;
        best_i[li] = bi;
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s >>= 1u) {
            if (li < s && before(part[li + s], best_i[li + s], part[li], best_i[li])) {
                part[li] = part[li + s];
                best_i[li] = best_i[li + s];
            }
            workgroupBarrier();
        }
        if (li == 0u) { chosen[t] = best_i[0]; }
        workgroupBarrier();
    }
    for (var d = li; d < p.dim; d += WG) {
        var acc = 0.0;
        for (var t = 0u; t < p.top; t++) {
            let i = chosen[t];
            if (i != NONE) {
                let v = f32(extractBits(i32(rows[i * p.words + d / 4u]), (d % 4u) * 8u, 8u));
                acc += probs[i] * (v * scale[i]);
            }
        }
        y[d] = acc;
    }
}
