//! Depthwise convolution over channels-last feature maps, any window (kernel, stride, zero
//! padding), with the bias and epilogue fused. Each output pixel's channels are taken eight at a time with their sums
//! held in registers across all the taps (the loop bounds already clipped to the image, so no
//! test per tap), then stored once: the input and weights are read once per tap and nothing
//! else touches memory. Sums run in the order of the definition (bias, then taps row by row).

use crate::error::{Error, Result};
use crate::tensor::{Epilogue, Window};

/// Channels summed together in registers (four f32x4 on wasm simd128).
const LANES: usize = 16;

/// The geometry of one depthwise convolution.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub win: Window,
}

/// The taps `0..k` of output position `o` that fall inside an input of `n` (padding `pad`).
fn taps(o: usize, stride: usize, pad: usize, k: usize, n: usize) -> std::ops::Range<usize> {
    let start = o * stride;
    // Input index of tap t is start + t - pad, valid when 0 <= it < n.
    pad.saturating_sub(start)..k.min((n + pad).saturating_sub(start))
}

/// One image: `x [h, w, c]`, weights `[kh·kw, c]`, bias `[c]` → `out [oh, ow, c]`.
pub fn conv(g: Geometry, x: &[f32], wt: &[f32], bias: &[f32], a: Epilogue, out: &mut [f32]) -> Result<()> {
    let Geometry { h, w, c, win } = g;
    let (oh, ow) = win.out(h, w)?;
    let Window { kh, kw: k, sh, sw, pad: [pt, pl, ..] } = win;
    if x.len() != h * w * c || wt.len() != kh * k * c || bias.len() != c || out.len() != oh * ow * c {
        return Err(Error::Shape { op: "depthwise_conv", detail: format!("{g:?}: x {}, w {}, b {}, out {}", x.len(), wt.len(), bias.len(), out.len()) });
    }
    let full = c - c % LANES;
    for oy in 0..oh {
        let ys = taps(oy, sh, pt, kh, h);
        let mut ox = 0;
        while ox < ow {
            let xs = taps(ox, sw, pl, k, w);
            // Two neighbours with the same taps (inside the image) share each weight load.
            if full == c && ox + 1 < ow && !ys.is_empty() && !xs.is_empty() && taps(ox + 1, sw, pl, k, w) == xs {
                pair(g, x, wt, bias, a, [oy, ox], &ys, &xs, &mut out[(oy * ow + ox) * c..][..2 * c]);
                ox += 2;
                continue;
            }
            // A window entirely in the padding (possible only with padding ≥ kernel, which
            // `Window::out` refuses) would have no taps.
            if ys.is_empty() || xs.is_empty() {
                let o = &mut out[(oy * ow + ox) * c..][..c];
                o.copy_from_slice(bias);
                super::epilogue(o, a);
                continue;
            }
            let o = &mut out[(oy * ow + ox) * c..][..c];
            // Tap (ky, kx) reads the input pixel at `base + (ky - ys.start)·w·c + (kx - xs.start)·c`
            // and the weights at `(ky·k + kx)·c`; within a row both step by `c`.
            let base = ((oy * sh + ys.start - pt) * w + ox * sw + xs.start - pl) * c;
            let last = base + (ys.len() - 1) * w * c + (xs.len() - 1) * c + c;
            assert!(!ys.is_empty() && !xs.is_empty() && last <= x.len());
            for ch in (0..full).step_by(LANES) {
                let mut acc: [f32; LANES] = bias[ch..ch + LANES].try_into().unwrap();
                for (row, ky) in ys.clone().enumerate() {
                    // SAFETY: the pixel offsets stay below `last` (asserted above) and the
                    // weight offsets below `kh·kw·c`, each plus `ch + LANES <= c`.
                    unsafe {
                        let mut s = x.as_ptr().add(base + row * w * c + ch);
                        let mut wk = wt.as_ptr().add((ky * k + xs.start) * c + ch);
                        for _ in 0..xs.len() {
                            for i in 0..LANES {
                                acc[i] += *s.add(i) * *wk.add(i);
                            }
                            s = s.add(c);
                            wk = wk.add(c);
                        }
                    }
                }
                super::epilogue(&mut acc, a);
                o[ch..ch + LANES].copy_from_slice(&acc);
            }
            for ch in full..c {
                let mut v = [bias[ch]];
                for (row, ky) in ys.clone().enumerate() {
                    for (col, kx) in xs.clone().enumerate() {
                        v[0] += x[base + row * w * c + col * c + ch] * wt[(ky * k + kx) * c + ch];
                    }
                }
                super::epilogue(&mut v, a);
                o[ch] = v[0];
            }
            ox += 1;
        }
    }
    Ok(())
}

/// Output pixels `(oy, ox)` and `(oy, ox + 1)`, both with taps `ys` × `xs` and `c` a multiple
/// of [`LANES`], into `out [2, c]`: the same sums in the same order as one pixel at a time.
#[allow(clippy::too_many_arguments)]
fn pair(g: Geometry, x: &[f32], wt: &[f32], bias: &[f32], a: Epilogue, [oy, ox]: [usize; 2], ys: &std::ops::Range<usize>, xs: &std::ops::Range<usize>, out: &mut [f32]) {
    let Geometry { w, c, win, .. } = g;
    let Window { kw: k, sh, sw, pad: [pt, pl, ..], .. } = win;
    let base = ((oy * sh + ys.start - pt) * w + ox * sw + xs.start - pl) * c;
    let next = sw * c;
    let last = base + next + (ys.len() - 1) * w * c + (xs.len() - 1) * c + c;
    assert!(last <= x.len() && c.is_multiple_of(LANES) && out.len() == 2 * c);
    for ch in (0..c).step_by(LANES) {
        let mut a0: [f32; LANES] = bias[ch..ch + LANES].try_into().unwrap();
        let mut a1 = a0;
        for (row, ky) in ys.clone().enumerate() {
            // SAFETY: the second pixel's offsets stay below `last` (asserted above), the first's
            // `next` below them, and the weight offsets below `kh·kw·c`, each plus `ch + LANES <= c`.
            unsafe {
                let mut s = x.as_ptr().add(base + row * w * c + ch);
                let mut wk = wt.as_ptr().add((ky * k + xs.start) * c + ch);
                for _ in 0..xs.len() {
                    for i in 0..LANES {
                        let wv = *wk.add(i);
                        a0[i] += *s.add(i) * wv;
                        a1[i] += *s.add(next + i) * wv;
                    }
                    s = s.add(c);
                    wk = wk.add(c);
                }
            }
        }
        super::epilogue(&mut a0, a);
        super::epilogue(&mut a1, a);
        out[ch..ch + LANES].copy_from_slice(&a0);
        out[c + ch..c + ch + LANES].copy_from_slice(&a1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_are_clipped_to_the_image() {
        // k 3, pad 1: the first output sees taps 1..3, an inner one all three, the last 0..2.
        assert_eq!(taps(0, 1, 1, 3, 5), 1..3);
        assert_eq!(taps(2, 1, 1, 3, 5), 0..3);
        assert_eq!(taps(4, 1, 1, 3, 5), 0..2);
        // k 5, stride 2, n 6 (out 3, total pad 3, top 1): last output starts at 4, taps 0..3.
        assert_eq!(taps(2, 2, 1, 5, 6), 0..3);
    }
}
