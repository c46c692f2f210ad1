// Few rows with 4-bit weights (rows4.wgsl), reading half the bytes of linear_q8_rows.wgsl: W is
// repacked as in linear_q4.wgsl, one vec4<u32> (32 nibbles) per block.

// Weights 4h .. 4h + 3 of a word of eight (h = 0: low half, 1: high half).
fn nibbles4(w: u32, h: u32) -> vec4<f32> {
    let v = w >> (16u * h);
    return vec4<f32>(vec4<u32>(v & 15u, (v >> 4u) & 15u, (v >> 8u) & 15u, (v >> 12u) & 15u)) - vec4<f32>(8.0);
}

fn block(col: u32, b: u32, blocks: u32, r0: u32) -> vec4<f32> {
    let wv = wq[col * blocks + b];
    var part = vec4<f32>();
    for (var j = 0u; j < 8u; j++) {
        part += dot4(nibbles4(wv[j / 2u], j % 2u), r0, b * 32u + j * 4u);
    }
    return part;
}
