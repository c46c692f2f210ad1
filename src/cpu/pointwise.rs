//! f32 matmul for feature maps (EfficientNet's 1x1 convs, its stem over im2col rows, its head):
//! many rows (pixels) against a weight matrix packed eight outputs wide, so that one step of
//! the inner loop multiplies a tile of `TILE` pixels by eight outputs with every partial sum
//! in a register: per input channel, two vector loads of weights, one broadcast per pixel and
//! `2·TILE` multiply-adds. The tile keeps to 8 + 3 vector registers because V8 leaves 15 of
//! x86's 16 to wasm code (gemm's 12-accumulator kernel spills there). Bias and activation are
//! applied as the tile is stored. Sums run over the input channels in order.

use super::epilogue;
use crate::error::{Error, Result};
#[cfg(test)]
use crate::tensor::Activation;
use crate::tensor::{Epilogue, Window};

/// Outputs per packed block (two f32x4).
pub const WIDTH: usize = 8;
/// Pixels per tile.
const TILE: usize = 4;
/// Pixels per pass over the weight blocks: their inputs stay in cache while each block of
/// weights is used on all of them.
const CHUNK_BYTES: usize = 96 * 1024;

/// A `[out, k]` weight matrix stored as `[out / 8][k][8]`.
#[derive(Debug, Clone)]
pub struct Packed {
    out: usize,
    k: usize,
    w: Vec<f32>,
}

impl Packed {
    /// Packs a row-major `[out, k]` matrix; `None` unless `out` is a multiple of eight.
    pub fn new(w: &[f32], out: usize, k: usize) -> Option<Self> {
        if !out.is_multiple_of(WIDTH) || k == 0 || w.len() != out * k {
            return None;
        }
        let mut p = Vec::with_capacity(out * k);
        for block in w.chunks_exact(WIDTH * k) {
            for i in 0..k {
                p.extend((0..WIDTH).map(|o| block[o * k + i]));
            }
        }
        Some(Packed { out, k, w: p })
    }

    /// `act(x · Wᵀ + bias)` for `x [n, k]` → `[n, out]`.
    pub fn matmul(&self, x: &[f32], n: usize, bias: &[f32], a: Epilogue) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { self.matmul_avx2(x, n, bias, a) };
        }
        self.matmul_any(x, n, bias, a)
    }

    /// The same code compiled for AVX2 (natively: `build-kb`, the tests): eight outputs are
    /// one register.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn matmul_avx2(&self, x: &[f32], n: usize, bias: &[f32], a: Epilogue) -> Vec<f32> {
        self.matmul_any(x, n, bias, a)
    }

    #[inline(always)]
    fn matmul_any(&self, x: &[f32], n: usize, bias: &[f32], a: Epilogue) -> Vec<f32> {
        let (k, out) = (self.k, self.out);
        assert!(x.len() == n * k && bias.len() == out);
        let mut y = vec![0f32; n * out];
        let chunk = (CHUNK_BYTES / (4 * k)).max(TILE) / TILE * TILE;
        for p0 in (0..n).step_by(chunk) {
            let p1 = (p0 + chunk).min(n);
            for (b, wb) in self.w.chunks_exact(WIDTH * k).enumerate() {
                let bias: &[f32; WIDTH] = bias[b * WIDTH..][..WIDTH].try_into().unwrap();
                let mut t = p0;
                while t + TILE <= p1 {
                    tile::<TILE>(x, k, t, wb, bias, a, &mut y, out, b * WIDTH);
                    t += TILE;
                }
                for t in t..p1 {
                    tile::<1>(x, k, t, wb, bias, a, &mut y, out, b * WIDTH);
                }
            }
        }
        y
    }
}

impl Packed {
    /// Dense convolution of one image `x [h, w, c]` over `win`, with the weights packed from
    /// `[out, (ky, kx, c)]` (the im2col order): each tile of output pixels reads its patches
    /// straight from the image (zeros in the padding) instead of from an im2col copy, which
    /// for a 3×3 window is nine times the input. Sums run over taps, then channels, in order.
    pub fn conv(&self, x: &[f32], h: usize, w: usize, c: usize, win: Window, bias: &[f32], a: Epilogue) -> Result<Vec<f32>> {
        let (oh, ow) = win.out(h, w)?;
        if x.len() != h * w * c || self.k != win.kh * win.kw * c || bias.len() != self.out {
            return Err(Error::Shape { op: "conv", detail: format!("x {} for {h}x{w}x{c}, weights [{}, {}], {win:?}", x.len(), self.out, self.k) });
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            return Ok(unsafe { self.conv_avx2(x, h, w, c, win, (oh, ow), bias, a) });
        }
        Ok(self.conv_any(x, h, w, c, win, (oh, ow), bias, a))
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn conv_avx2(&self, x: &[f32], h: usize, w: usize, c: usize, win: Window, o: (usize, usize), bias: &[f32], a: Epilogue) -> Vec<f32> {
        self.conv_any(x, h, w, c, win, o, bias, a)
    }

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn conv_any(&self, x: &[f32], h: usize, w: usize, c: usize, win: Window, (oh, ow): (usize, usize), bias: &[f32], a: Epilogue) -> Vec<f32> {
        let Window { kh, kw, sh, sw, pad: [pt, pl, ..] } = win;
        let out = self.out;
        let zeros = vec![0f32; c];
        let mut y = vec![0f32; oh * ow * out];
        // The input row of output pixel `ox` at tap (ky, kx) of output row `oy`.
        let row = |oy: usize, ox: usize, ky: usize, kx: usize| -> &[f32] {
            let (iy, ix) = ((oy * sh + ky) as isize - pt as isize, (ox * sw + kx) as isize - pl as isize);
            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                &zeros
            } else {
                &x[(iy as usize * w + ix as usize) * c..][..c]
            }
        };
        for oy in 0..oh {
            for (b, wb) in self.w.chunks_exact(WIDTH * self.k).enumerate() {
                let bias: &[f32; WIDTH] = bias[b * WIDTH..][..WIDTH].try_into().unwrap();
                let mut ox = 0;
                while ox < ow {
                    let r = (ow - ox).min(TILE);
                    let mut acc = [[0f32; WIDTH]; TILE];
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let taps = &wb[(ky * kw + kx) * c * WIDTH..][..c * WIDTH];
                            let rows: [&[f32]; TILE] = core::array::from_fn(|t| row(oy, ox + t.min(r - 1), ky, kx));
                            accumulate(rows, taps, &mut acc);
                        }
                    }
                    for (t, acc) in acc.iter().enumerate().take(r) {
                        let dst: &mut [f32; WIDTH] = (&mut y[(oy * ow + ox + t) * out + b * WIDTH..][..WIDTH]).try_into().unwrap();
                        for j in 0..WIDTH {
                            dst[j] = acc[j] + bias[j];
                        }
                        epilogue(dst, a);
                    }
                    ox += r;
                }
            }
        }
        y
    }
}

/// `acc[t] += rows[t] · taps` for each of the `TILE` pixels, `taps` holding eight weights per
/// input channel. The sums are copied into locals for the loop: kept in an array indexed by a
/// loop variable they would live on the stack and be loaded and stored at every step.
#[inline(always)]
fn accumulate(rows: [&[f32]; TILE], taps: &[f32], acc: &mut [[f32; WIDTH]; TILE]) {
    let [mut a0, mut a1, mut a2, mut a3] = *acc;
    let [r0, r1, r2, r3] = rows;
    for ((((w8, v0), v1), v2), v3) in taps.chunks_exact(WIDTH).zip(r0).zip(r1).zip(r2).zip(r3) {
        let w8: &[f32; WIDTH] = w8.try_into().unwrap();
        for j in 0..WIDTH {
            a0[j] += v0 * w8[j];
            a1[j] += v1 * w8[j];
            a2[j] += v2 * w8[j];
            a3[j] += v3 * w8[j];
        }
    }
    *acc = [a0, a1, a2, a3];
}

/// Pixels `t..t+R` by the eight outputs of block `wb` (`[k][8]`), stored at column `o`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const R: usize>(x: &[f32], k: usize, t: usize, wb: &[f32], bias: &[f32; WIDTH], a: Epilogue, y: &mut [f32], out: usize, o: usize) {
    let rows: [&[f32]; R] = core::array::from_fn(|r| &x[(t + r) * k..][..k]);
    let mut acc = [[0f32; WIDTH]; R];
    for (i, w) in wb.chunks_exact(WIDTH).enumerate() {
        let w: &[f32; WIDTH] = w.try_into().unwrap();
        for r in 0..R {
            // SAFETY: `wb` holds `k` groups of eight, so `i < k`, and every row holds `k`.
            let v = unsafe { *rows[r].get_unchecked(i) };
            for j in 0..WIDTH {
                acc[r][j] += v * w[j];
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let dst: &mut [f32; WIDTH] = (&mut y[(t + r) * out + o..][..WIDTH]).try_into().unwrap();
        for j in 0..WIDTH {
            dst[j] = acc[j] + bias[j];
        }
        epilogue(dst, a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_definition() {
        // A chunk boundary, a tile remainder, an odd k; both activations.
        for (n, k, out) in [(4099, 27, 16), (7, 40, 24), (1, 1280, 8)] {
            let x: Vec<f32> = (0..n * k).map(|i| ((i * 7919 % 97) as f32 - 48.0) / 40.0).collect();
            let w: Vec<f32> = (0..out * k).map(|i| ((i * 104729 % 31) as f32 - 15.0) / 30.0).collect();
            let b: Vec<f32> = (0..out).map(|i| i as f32 / 10.0 - 0.5).collect();
            let p = Packed::new(&w, out, k).unwrap();
            for a in [Activation::None, Activation::Relu6] {
                let y = p.matmul(&x, n, &b, a.into());
                for t in (0..n).step_by(37).chain([n - 1]) {
                    for o in 0..out {
                        let mut v = b[o] + (0..k).map(|i| x[t * k + i] * w[o * k + i]).sum::<f32>();
                        if a == Activation::Relu6 {
                            v = v.clamp(0.0, 6.0);
                        }
                        assert!((y[t * out + o] - v).abs() < 1e-4 * (1.0 + v.abs()), "y[{t}, {o}] = {} vs {v}", y[t * out + o]);
                    }
                }
            }
        }
        assert!(Packed::new(&[0.0; 12], 12, 1).is_none());
    }

    #[test]
    fn direct_conv_is_im2col_then_matmul() {
        use crate::tensor::Backend;
        let cpu = crate::cpu::Cpu;
        // Odd sizes, a tile remainder, every window kind, 16 outputs (two blocks).
        let (h, w, c, out) = (7, 9, 5, 16);
        let x: Vec<f32> = (0..h * w * c).map(|i| ((i * 7919 % 97) as f32 - 48.0) / 40.0).collect();
        for win in [Window::square(3, 1, 1), Window::square(3, 2, 1), Window { kh: 1, kw: 3, sh: 1, sw: 1, pad: [0, 1, 0, 1] }, Window::tf_same(h, w, 5, 2)] {
            let k = win.kh * win.kw * c;
            let wt: Vec<f32> = (0..out * k).map(|i| ((i * 104729 % 31) as f32 - 15.0) / 30.0).collect();
            let b: Vec<f32> = (0..out).map(|i| i as f32 / 10.0 - 0.5).collect();
            let p = Packed::new(&wt, out, k).unwrap();
            let e = Epilogue { act: Activation::HardSwish, scale: 0.5, shift: 0.1 };
            let direct = p.conv(&x, h, w, c, win, &b, e).unwrap();
            let cols = cpu.read(&cpu.im2col(&cpu.tensor(&x, &[h, w, c]).unwrap(), win).unwrap()).unwrap();
            let via = p.matmul(&cols, cols.len() / k, &b, e);
            assert_eq!(direct.len(), via.len());
            for (i, (d, v)) in direct.iter().zip(&via).enumerate() {
                assert!((d - v).abs() < 1e-5, "{win:?} [{i}] {d} vs {v}");
            }
        }
    }
}
