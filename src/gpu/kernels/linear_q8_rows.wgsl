// Few rows with int8 weights (rows4.wgsl): the same Q8_0 repacking as linear_q8.wgsl, two
// vec4<u32> (32 int8) per block.

fn weights4(w: u32) -> vec4<f32> {
    return vec4<f32>(vec4<i32>(i32(w << 24u) >> 24u, i32(w << 16u) >> 24u, i32(w << 8u) >> 24u, i32(w) >> 24u));
}

fn block(col: u32, b: u32, blocks: u32, r0: u32) -> vec4<f32> {
    var part = vec4<f32>();
    for (var h = 0u; h < 2u; h++) {
        let wv = wq[(col * blocks + b) * 2u + h];
        for (var j = 0u; j < 4u; j++) {
            part += dot4(weights4(wv[j]), r0, b * 32u + h * 16u + j * 4u);
        }
    }
    return part;
}
