// Average pooling over a kh×kw window with strides (sh, sw) and padding before (pad_t, pad_l):
// x [b, h, w, c] → y [b, oh, ow, c], each value the mean of the window's pixels inside the
// image (padding is not counted; a window wholly outside gives 0). Summed row by row, then
// scaled by 1 / count, as the CPU backend does. One thread per output value.

struct Params { h: u32, w: u32, c: u32, kh: u32, kw: u32, sh: u32, sw: u32, oh: u32, ow: u32, pad_t: u32, pad_l: u32, b: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 256u;
    let per_image = p.oh * p.ow * p.c;
    if (i >= p.b * per_image) { return; }
    let ch = i % p.c;
    let pos = (i % per_image) / p.c;
    let base = (i / per_image) * p.h * p.w;
    let y0 = i32((pos / p.ow) * p.sh) - i32(p.pad_t);
    let x0 = i32((pos % p.ow) * p.sw) - i32(p.pad_l);
    let ys = u32(max(y0, 0));
    let ye = u32(clamp(y0 + i32(p.kh), 0, i32(p.h)));
    let xs = u32(max(x0, 0));
    let xe = u32(clamp(x0 + i32(p.kw), 0, i32(p.w)));
    var acc = 0.0;
    for (var iy = ys; iy < ye; iy++) {
        for (var ix = xs; ix < xe; ix++) {
            acc += x[(base + iy * p.w + ix) * p.c + ch];
        }
    }
    let count = select(0u, (ye - ys) * (xe - xs), ye > ys && xe > xs);
    y[i] = acc * (1.0 / f32(max(count, 1u)));
}
