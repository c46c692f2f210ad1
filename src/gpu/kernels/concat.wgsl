// One input of a concatenation along the last axis: x [rows, c] into columns
// offset .. offset + c of y [rows, total]. One thread per input value; one dispatch per input.

struct Params { rows: u32, c: u32, total: u32, offset: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
    let i = g.x + g.y * nw.x * 256u;
    if (i >= p.rows * p.c) { return; }
    y[(i / p.c) * p.total + p.offset + i % p.c] = x[i];
}
