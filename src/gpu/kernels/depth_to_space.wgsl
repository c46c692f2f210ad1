// Depth to space by a factor f: x [b, h, w, f·f·c] → y [b, f·h, f·w, c], the channels of each
// input pixel in (dy, dx, c) order: y[n, f·iy + dy, f·ix + dx, ch] = x[n, iy, ix, (dy·f + dx)·c + ch].
// One thread per output value; `c` is the output's channel count.

struct Params { b: u32, h: u32, w: u32, c: u32, f: u32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 256u;
    let ow = p.w * p.f;
    let pixels = p.h * p.f * ow;
    if (i >= p.b * pixels * p.c) { return; }
    let ch = i % p.c;
    let pos = (i / p.c) % pixels;
    let n = i / (pixels * p.c);
    let oy = pos / ow;
    let ox = pos % ow;
    let part = (oy % p.f) * p.f + ox % p.f;
    y[i] = x[((n * p.h + oy / p.f) * p.w + ox / p.f) * (p.f * p.f * p.c) + part * p.c + ch];
}
