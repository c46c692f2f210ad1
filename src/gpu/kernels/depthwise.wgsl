// Depthwise kh×kw convolution with strides (sh, sw) and zero padding (pad_t, pad_l before), then
// bias and epilogue, channels last: x [b, h, w, c], weights [kh·kw, c], bias [c] →
// y [b, oh, ow, c]. One thread per output value.

struct Params { h: u32, w: u32, c: u32, kh: u32, kw: u32, sh: u32, sw: u32, oh: u32, ow: u32, pad_t: u32, pad_l: u32, act: u32, b: u32, scale: f32, shift: f32, _p0: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wk: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 256u;
    let per_image = p.oh * p.ow * p.c;
    if (i >= p.b * per_image) { return; }
    let ch = i % p.c;
    let pos = (i % per_image) / p.c;
    let base = (i / per_image) * p.h * p.w;
    let ox = pos % p.ow;
    let oy = pos / p.ow;
    var acc = bias[ch];
    for (var ky = 0u; ky < p.kh; ky++) {
        let iy = i32(oy * p.sh + ky) - i32(p.pad_t);
        if (iy < 0 || iy >= i32(p.h)) { continue; }
        for (var kx = 0u; kx < p.kw; kx++) {
            let ix = i32(ox * p.sw + kx) - i32(p.pad_l);
            if (ix < 0 || ix >= i32(p.w)) { continue; }
            acc = fma(x[(base + u32(iy) * p.w + u32(ix)) * p.c + ch], wk[(ky * p.kw + kx) * p.c + ch], acc);
        }
    }
    y[i] = epi(acc, p.act, p.scale, p.shift);
}
