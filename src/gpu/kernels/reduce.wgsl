// Workgroup reductions for kernels that run one workgroup of WG threads per row.

const WG: u32 = 128u;
var<workgroup> part: array<f32, 128>;

// The sum of `v` over the workgroup; every thread gets it.
fn reduce_sum(v: f32, li: u32) -> f32 {
    part[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { part[li] += part[li + s]; }
        workgroupBarrier();
    }
    let total = part[0];
    workgroupBarrier();
    return total;
}

// The maximum of `v` over the workgroup; every thread gets it.
fn reduce_max(v: f32, li: u32) -> f32 {
    part[li] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (li < s) { part[li] = max(part[li], part[li + s]); }
        workgroupBarrier();
    }
    let m = part[0];
    workgroupBarrier();
    return m;
}
