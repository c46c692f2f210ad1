// Patches for a dense kh×kw convolution with strides (sh, sw) and zero padding (pad_t, pad_l
// before): x [b, h, w, c] → y [b·oh·ow, kh·kw·c] in (ky, kx, c) order, zeros outside the image.
// One thread per output value.

struct Params { h: u32, w: u32, c: u32, kh: u32, kw: u32, sh: u32, sw: u32, oh: u32, ow: u32, pad_t: u32, pad_l: u32, b: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 256u;
    let cols = p.kh * p.kw * p.c;
    if (i >= p.b * p.oh * p.ow * cols) { return; }
    let col = i % cols;
    let pos = (i / cols) % (p.oh * p.ow);
    let base = (i / cols) / (p.oh * p.ow) * p.h * p.w;
    let ch = col % p.c;
    let kx = (col / p.c) % p.kw;
    let ky = col / (p.c * p.kw);
    let iy = i32((pos / p.ow) * p.sh + ky) - i32(p.pad_t);
    let ix = i32((pos % p.ow) * p.sw + kx) - i32(p.pad_l);
    var v = 0.0;
    if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) { v = x[(base + u32(iy) * p.w + u32(ix)) * p.c + ch]; }
    y[i] = v;
}
