// Activations shared by the kernels that fuse one into their epilogue (prepended to them).
// Codes match `act_code` in gpu/ops.rs: 0 none, 1 GELU (exact erf form), 2 ReLU6, 3 ReLU,
// 4 hard swish, 5 sigmoid, 6 swish, 7 clip to [0, 1]. `epi` adds the epilogue's affine part.

// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7); WGSL has no erf.
fn erf_approx(x: f32) -> f32 {
    let s = sign(x);
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * a);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    return s * (1.0 - poly * exp(-a * a));
}

fn act(x: f32, code: u32) -> f32 {
    switch code {
        case 1u: { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }
        case 2u: { return clamp(x, 0.0, 6.0); }
        case 3u: { return max(x, 0.0); }
        case 4u: { return x * clamp(x + 3.0, 0.0, 6.0) / 6.0; }
        case 5u: { return 1.0 / (1.0 + exp(-x)); }
        case 6u: { return x / (1.0 + exp(-x)); }
        case 7u: { return clamp(x, 0.0, 1.0); }
        default: { return x; }
    }
}

// scale · act(x) + shift.
fn epi(x: f32, code: u32, scale: f32, shift: f32) -> f32 {
    return fma(act(x, code), scale, shift);
}
