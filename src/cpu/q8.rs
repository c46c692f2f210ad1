//! Int8 matrix product for a few rows at a time (token states against BERT's weights).
//!
//! Weights are Q8_0 (32 signed bytes per block) with each block's f16 scale widened to f32 once
//! at load time (wasm has no f16 conversion instruction). Each activation row is quantized the
//! same way on the fly, so a block's dot product is an exact i32 sum scaled once:
//! y[t, o] = Σ_b d_w[o, b] · d_x[t, b] · Σ_{i<32} w[o, 32b + i] · x[t, 32b + i].
//! Each weight block is loaded and widened to i16 once for four activation rows (kept widened).
//! On wasm32 the block dot uses simd128 (`i32x4.dot_i16x8_s` on sign-extended halves); natively
//! AVX2 where the CPU has it, else the portable loop.

use crate::error::{Error, Result};
use crate::weights::quant::{Q8_0_BLOCK, Q8_0_BLOCK_BYTES};

/// A Q8_0 weight matrix `[rows, cols]` with f32 block scales.
pub struct Q8Matrix {
    pub rows: usize,
    pub cols: usize,
    q: Vec<i8>,  // [rows, cols]
    d: Vec<f32>, // [rows, cols / 32]
}

/// One activation row quantized to Q8_0 blocks, its values kept widened to i16 (they are
/// multiplied against many weight rows: widening once here saves it in every dot product).
struct QRow {
    q: Vec<i16>,
    d: Vec<f32>,
}

fn quantize_row(x: &[f32]) -> QRow {
    let mut q = Vec::with_capacity(x.len());
    let mut d = Vec::with_capacity(x.len() / Q8_0_BLOCK);
    for block in x.chunks_exact(Q8_0_BLOCK) {
        let max = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = max / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        q.extend(block.iter().map(|v| (v * inv).round() as i16));
        d.push(scale);
    }
    QRow { q, d }
}

/// Activation rows a weight block is loaded (and widened) once for.
const ROWS_PER_PASS: usize = 4;

/// Dot products of one weight row with `R` activation rows (R ≤ [`ROWS_PER_PASS`]): each
/// 32-weight block is loaded and widened once for all of them.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn dot_rows<const R: usize>(w: &[i8], wd: &[f32], xs: [&QRow; R]) -> [f32; R] {
    use core::arch::wasm32::*;
    let mut acc = [f32x4_splat(0.0); R];
    for (b, &dw) in wd.iter().enumerate() {
        // SAFETY: `w` holds `wd.len()` blocks of 32 i8 and every row `wd.len()` blocks of 32
        // i16 (checked by the caller); v128_load is unaligned.
        unsafe {
            let pw = w.as_ptr().add(b * Q8_0_BLOCK) as *const v128;
            let (w0, w1) = (v128_load(pw), v128_load(pw.add(1)));
            let ws = [i16x8_extend_low_i8x16(w0), i16x8_extend_high_i8x16(w0), i16x8_extend_low_i8x16(w1), i16x8_extend_high_i8x16(w1)];
            for r in 0..R {
                let px = xs[r].q.as_ptr().add(b * Q8_0_BLOCK) as *const v128;
                let s = i32x4_add(
                    i32x4_add(i32x4_dot_i16x8(ws[0], v128_load(px)), i32x4_dot_i16x8(ws[1], v128_load(px.add(1)))),
                    i32x4_add(i32x4_dot_i16x8(ws[2], v128_load(px.add(2))), i32x4_dot_i16x8(ws[3], v128_load(px.add(3)))),
                );
                acc[r] = f32x4_add(acc[r], f32x4_mul(f32x4_convert_i32x4(s), f32x4_splat(dw * xs[r].d[b])));
            }
        }
    }
    acc.map(|a| f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a) + f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a))
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn dot_rows<const R: usize>(w: &[i8], wd: &[f32], xs: [&QRow; R]) -> [f32; R] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked above); lengths as for the portable loop.
        return unsafe { dot_rows_avx2(w, wd, xs) };
    }
    dot_rows_portable(w, wd, xs)
}

/// The plain loop: the oracle for the SIMD kernels.
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
fn dot_rows_portable<const R: usize>(w: &[i8], wd: &[f32], xs: [&QRow; R]) -> [f32; R] {
    let mut acc = [0f32; R];
    for (b, (wb, &dw)) in w.chunks_exact(Q8_0_BLOCK).zip(wd).enumerate() {
        for r in 0..R {
            let xb = &xs[r].q[b * Q8_0_BLOCK..(b + 1) * Q8_0_BLOCK];
            let s: i32 = wb.iter().zip(xb).map(|(&a, &x)| a as i32 * x as i32).sum();
            acc[r] += s as f32 * dw * xs[r].d[b];
        }
    }
    acc
}

/// The native CLI's kernel (building KBs, the tests) on x86-64 with AVX2, detected at run
/// time: the same sums as the wasm simd128 kernel, 16 lanes at a time (`vpmaddwd`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_rows_avx2<const R: usize>(w: &[i8], wd: &[f32], xs: [&QRow; R]) -> [f32; R] {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_setzero_ps(); R];
    for (b, &dw) in wd.iter().enumerate() {
        let pw = w.as_ptr().add(b * Q8_0_BLOCK) as *const __m128i;
        let (w0, w1) = (_mm256_cvtepi8_epi16(_mm_loadu_si128(pw)), _mm256_cvtepi8_epi16(_mm_loadu_si128(pw.add(1))));
        for r in 0..R {
            let px = xs[r].q.as_ptr().add(b * Q8_0_BLOCK) as *const __m256i;
            let s = _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_loadu_si256(px)), _mm256_madd_epi16(w1, _mm256_loadu_si256(px.add(1))));
            acc[r] = _mm256_add_ps(acc[r], _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dw * xs[r].d[b])));
        }
    }
    acc.map(|a| {
        let h = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps::<1>(a));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps::<1>(h, h)))
    })
}

impl Q8Matrix {
    /// From GGML Q8_0 bytes of a `[rows, cols]` matrix (`cols` a multiple of 32).
    pub fn from_q8_0(bytes: &[u8], rows: usize, cols: usize) -> Result<Self> {
        let blocks = cols / Q8_0_BLOCK;
        if cols % Q8_0_BLOCK != 0 || bytes.len() != rows * blocks * Q8_0_BLOCK_BYTES {
            return Err(Error::Model(format!("{} Q8_0 bytes for [{rows}, {cols}]", bytes.len())));
        }
        let mut q = Vec::with_capacity(rows * cols);
        let mut d = Vec::with_capacity(rows * blocks);
        for block in bytes.chunks_exact(Q8_0_BLOCK_BYTES) {
            d.push(half::f16::from_le_bytes([block[0], block[1]]).to_f32());
            q.extend(block[2..].iter().map(|&b| b as i8));
        }
        Ok(Q8Matrix { rows, cols, q, d })
    }

    /// `x [n, cols]` → `x · Wᵀ` `[n, rows]`.
    pub fn matmul(&self, x: &[f32], n: usize) -> Vec<f32> {
        let xs: Vec<QRow> = x.chunks_exact(self.cols).take(n).map(quantize_row).collect();
        let blocks = self.cols / Q8_0_BLOCK;
        let mut y = vec![0f32; xs.len() * self.rows];
        for o in 0..self.rows {
            let w = &self.q[o * self.cols..(o + 1) * self.cols];
            let wd = &self.d[o * blocks..(o + 1) * blocks];
            let mut groups = xs.chunks_exact(ROWS_PER_PASS);
            let mut t = 0;
            for g in &mut groups {
                for v in dot_rows(w, wd, [&g[0], &g[1], &g[2], &g[3]]) {
                    y[t * self.rows + o] = v;
                    t += 1;
                }
            }
            for xr in groups.remainder() {
                y[t * self.rows + o] = dot_rows(w, wd, [xr])[0];
                t += 1;
            }
        }
        y
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::quant::{quantize_matrix, Precision};

    #[test]
    fn matches_f32_product_within_int8_error() {
        let (rows, cols, n) = (48, 96, 7); // a group of four rows and a remainder of three
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 211) as f32 - 105.0) / 90.0).collect();
        let x: Vec<f32> = (0..n * cols).map(|i| ((i * 104729 % 97) as f32 - 48.0) / 30.0).collect();
        let q = quantize_matrix(&w, rows, cols, Precision::Int8).unwrap();
        let m = Q8Matrix::from_q8_0(&q.data().unwrap(), rows, cols).unwrap();
        let y = m.matmul(&x, n);
        for t in 0..n {
            for o in 0..rows {
                let exact: f32 = (0..cols).map(|i| w[o * cols + i] * x[t * cols + i]).sum();
                let got = y[t * rows + o];
                assert!((got - exact).abs() < 0.02 * (1.0 + exact.abs()) + 0.15, "y[{t}, {o}] = {got}, exact {exact}");
            }
        }
        assert!(Q8Matrix::from_q8_0(&[0; 33], 1, 32).is_err());
    }

    #[test]
    fn simd_kernel_matches_the_plain_loop() {
        // Exact i32 block sums in both: only the f32 order of adding the blocks differs.
        let cols = 384;
        let w: Vec<i8> = (0..cols).map(|i| ((i * 7919 % 255) as i32 - 127) as i8).collect();
        let wd: Vec<f32> = (0..cols / 32).map(|b| 0.01 + b as f32 * 0.003).collect();
        let rows: Vec<QRow> = (0..4).map(|r| quantize_row(&(0..cols).map(|i| ((i * 104729 + r * 31) % 97) as f32 / 10.0 - 4.8).collect::<Vec<_>>())).collect();
        let plain = dot_rows_portable(&w, &wd, [&rows[0], &rows[1], &rows[2], &rows[3]]);
        let fast = dot_rows(&w, &wd, [&rows[0], &rows[1], &rows[2], &rows[3]]);
        for (p, f) in plain.iter().zip(&fast) {
            assert!((p - f).abs() <= 1e-5 * p.abs().max(1.0), "{plain:?} vs {fast:?}");
        }
    }
}
