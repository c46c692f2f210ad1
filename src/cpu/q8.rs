//! Integer matrix products: int8 weights for a few rows at a time (token states against BERT's
//! weights), and int16 weights for feature maps (EfficientNet and the OCR detector from their
//! Q8_0 blocks, the OCR recogniser's backbone from f16: int8 there dropped the spaces between
//! words) and for the recogniser's block-padded 120-wide neck and head.
//!
//! Weights are integers with one f32 scale per row. MiniLM's Q8_0 matrices already have one scale
//! per row when they get here (`quant::q8_0_one_scale_per_row`, applied by the BERT loader for
//! every backend), so taking them is exact; e5's Q4_0 blocks are re-quantized to one scale per
//! row (a second rounding, CPU only: worst cosine to the C engine 0.99994 → 0.99982). An int16
//! matrix's rows are rounded to ±8191 (`WIDE_W_MAX`). Each activation row is quantized on the
//! fly to i16 with one scale per row, as finely as i16 allows but so that the row's Σ|q| times
//! the weights' limit fits an i32: a whole row's dot product is then an exact i32 sum, and a
//! feature map's pixel (few large channels) keeps 11–15 bits. So the inner loop has no float
//! work at all: y[t, o] = s_w[o] · s_x[t] · Σ_i w[o, i] · x[t, i], every kernel gives the same
//! i32 sums, and the portable loop is an exact oracle for the SIMD ones.
//!
//! The product runs in tiles of four activation rows × two weight rows, so each loaded (and
//! widened) weight vector serves four rows and each activation vector two; a question's last
//! one to three rows take three or four weight rows per tile instead. On wasm32 the
//! tile uses simd128 (`v128.load8x8_s` widens eight int8 weights as it loads them, int16 ones
//! are loaded as they are; `i32x4.dot_i16x8_s` multiplies and adds pairs, eight products per
//! instruction against four per multiply and add in f32; the accumulators are folded into one
//! vector per weight row by shuffles and scaled four rows at a time); natively AVX2 where the
//! CPU has it (`vpmaddwd`), else the portable loop. Many rows (a feature map) are taken in
//! chunks whose quantized activations stay in cache while every block of weights passes.

use crate::error::{Error, Result};
use crate::weights::quant::{q8_0_values, Q8_0_BLOCK, Q8_0_BLOCK_BYTES};

/// An integer weight matrix `[rows, cols]` with one f32 scale per row.
pub struct Q8Matrix {
    pub rows: usize,
    pub cols: usize,
    /// `cols` rounded up to a whole number of SIMD steps (zero weights and activations after).
    k: usize,
    q: Store,        // [rows, k]
    scale: Vec<f32>, // [rows]
    /// The largest Σ|q| a row of activations is quantized to.
    budget: f32,
}

/// The weights: int8 (|w| ≤ 127) or int16 (|w| ≤ the matrix's `w_max`).
enum Store {
    Narrow(Vec<i8>),
    Wide(Vec<i16>),
}

impl Store {
    fn wide(&self) -> bool {
        matches!(self, Store::Wide(_))
    }

    /// Row `o` of `k` weights, as a byte pointer for the tiles (which know the width).
    fn row(&self, o: usize, k: usize) -> *const u8 {
        match self {
            Store::Narrow(q) => q[o * k..(o + 1) * k].as_ptr() as *const u8,
            Store::Wide(q) => q[o * k..(o + 1) * k].as_ptr() as *const u8,
        }
    }
}

/// Activation rows quantized to i16, one scale per row.
struct QRows {
    q: Vec<i16>, // [n, cols]
    scale: Vec<f32>,
}

/// The largest Σ|q| a row of activations may be quantized to against weights up to `w_max`: every
/// partial and total sum of `w_max` · |q| over the row then fits an i32.
fn budget(w_max: usize) -> f32 {
    (i32::MAX as usize / w_max) as f32
}

/// The int16 weight limit: fourteen bits. Chosen on the OCR detector's maps for three golden
/// images against the same network multiplied in f32: the worst pixel differs by 0.19 with
/// twelve-bit weights and activations limited by the row length, 0.05 with twelve-bit weights
/// and activations limited by their sum (see [`quantize_rows`]), 0.022 with fourteen bits,
/// 0.03 with fifteen and 0.055 with sixteen (the activations' share shrinks).
const WIDE_W_MAX: usize = 8191;

/// SIMD steps are sixteen values (AVX2) or eight (simd128): rows are padded to sixteen.
const K_STEP: usize = 16;

/// Largest absolute value and sum of absolute values of `x`, eight lanes at a time.
fn max_and_sum_abs(x: &[f32]) -> (f32, f32) {
    let (mut m, mut t) = ([0f32; 8], [0f32; 8]);
    let mut chunks = x.chunks_exact(8);
    for c in &mut chunks {
        for ((m, t), v) in m.iter_mut().zip(&mut t).zip(c) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
            *t += a;
        }
    }
    let rest = chunks.remainder();
    let max = rest.iter().chain(&m).fold(0f32, |m, v| if v.abs() > m { v.abs() } else { m });
    (max, rest.iter().map(|v| v.abs()).sum::<f32>() + t.iter().sum::<f32>())
}

/// Rows of `cols` values quantized into rows of `k ≥ cols` (zeros after), one scale per row:
/// as fine as i16 allows, and coarse enough that Σ|q| ≤ `budget` (so the products cannot
/// overflow: |q_i| ≤ |x_i|/s + ½, with a margin for the rounding of the f32 sums). A row's
/// Σ|x| / max|x| is far below its length where few channels are large, as in feature maps.
fn quantize_rows(x: &[f32], cols: usize, k: usize, budget: f32) -> QRows {
    let n = x.len() / cols.max(1);
    let mut q = vec![0i16; n * k];
    let mut scale = Vec::with_capacity(n);
    let room = budget * (1.0 - 1e-3) - cols as f32;
    for (row, out) in x.chunks_exact(cols).zip(q.chunks_exact_mut(k)) {
        let out = &mut out[..cols];
        let (max, l1) = max_and_sum_abs(row);
        let s = (max / i16::MAX as f32).max(l1 / room);
        let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
        quantize_row(row, inv, out);
        scale.push(s);
    }
    QRows { q, scale }
}

/// `out[i] = round_ties_even(row[i] · inv)`, every value within ±`x_max` (≤ i16::MAX) by construction.
fn quantize_row(row: &[f32], inv: f32, out: &mut [i16]) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let done = {
        // Eight at a time: the scalar `as i16` is a saturating float-to-int per value (~3 ns each
        // in V8, 0.5 ms of MiniLM's 5 ms); here it is nearest, trunc_sat and narrow, same results.
        use core::arch::wasm32::*;
        let s = f32x4_splat(inv);
        let n = row.len() / 8 * 8;
        for (o, r) in out[..n].chunks_exact_mut(8).zip(row[..n].chunks_exact(8)) {
            // SAFETY: both chunks hold eight values; unaligned v128 loads and stores are allowed.
            unsafe {
                let a = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v128_load(r.as_ptr() as *const v128), s)));
                let b = i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v128_load(r.as_ptr().add(4) as *const v128), s)));
                v128_store(o.as_mut_ptr() as *mut v128, i16x8_narrow_i32x4(a, b));
            }
        }
        n
    };
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    let done = 0;
    for (o, v) in out[done..].iter_mut().zip(&row[done..]) {
        *o = (v * inv).round_ties_even() as i16;
    }
}

/// Activation rows per full tile.
const TILE_ROWS: usize = 4;
/// Weight rows per block (a multiple of every tile width: 2, 3 and 4).
const WEIGHT_BLOCK: usize = 12;
/// Quantized activation rows per pass over the weights (see [`Q8Matrix::matmul`]).
const CHUNK_BYTES: usize = 64 * 1024;

/// The exact i32 sums of one tile: `R` activation rows against `C` weight rows, `k` values each
/// (natively; wasm has [`tile_simd128`]).
///
/// `WIDE`: the weights are i16, else i8 (`w` points at them either way).
///
/// # Safety
/// Every pointer must be valid for `k` elements, and `k` a multiple of 16.
#[inline(always)]
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
unsafe fn tile<const R: usize, const C: usize, const WIDE: bool>(w: [*const u8; C], x: [*const i16; R], k: usize) -> [[i32; C]; R] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        return tile_avx2::<R, C, WIDE>(w, x, k);
    }
    #[allow(unreachable_code)]
    tile_portable::<R, C, WIDE>(w, x, k)
}

/// Weight `i` of a row of i8 or i16 weights.
#[inline(always)]
unsafe fn weight<const WIDE: bool>(w: *const u8, i: usize) -> i32 {
    if WIDE {
        *(w as *const i16).add(i) as i32
    } else {
        *(w as *const i8).add(i) as i32
    }
}

/// The plain loop: the oracle for the SIMD kernels (same exact sums).
#[cfg_attr(all(target_arch = "wasm32", target_feature = "simd128"), allow(dead_code))]
unsafe fn tile_portable<const R: usize, const C: usize, const WIDE: bool>(w: [*const u8; C], x: [*const i16; R], k: usize) -> [[i32; C]; R] {
    let mut acc = [[0i32; C]; R];
    for (r, acc) in acc.iter_mut().enumerate() {
        let x = std::slice::from_raw_parts(x[r], k);
        for (c, acc) in acc.iter_mut().enumerate() {
            *acc = x.iter().enumerate().map(|(i, &b)| weight::<WIDE>(w[c], i) * b as i32).sum();
        }
    }
    acc
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
unsafe fn tile_simd128<const R: usize, const C: usize, const WIDE: bool>(w: [*const u8; C], x: [*const i16; R], k: usize) -> [core::arch::wasm32::v128; C] {
    use core::arch::wasm32::*;
    let mut acc = [[i32x4_splat(0); C]; R];
    let mut i = 0;
    while i < k {
        // Eight weights per row: int16 as they are, int8 sign-extended by the load itself.
        let wv: [v128; C] = core::array::from_fn(|c| if WIDE { v128_load((w[c] as *const i16).add(i) as *const v128) } else { i16x8_load_extend_i8x8((w[c] as *const i8).add(i)) });
        for r in 0..R {
            let xv = v128_load(x[r].add(i) as *const v128);
            for c in 0..C {
                acc[r][c] = i32x4_add(acc[r][c], i32x4_dot_i16x8(wv[c], xv));
            }
        }
        i += 8;
    }
    // Each weight row's sums for the R activation rows in one vector (lane r; zero past R): four
    // accumulators folded in two shuffle-and-add steps instead of a dozen lane extractions.
    core::array::from_fn(|c| {
        let a = |r: usize| if r < R { acc[r][c] } else { i32x4_splat(0) };
        let (ab, cd) = (fold_pairs(a(0), a(1)), fold_pairs(a(2), a(3)));
        i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(ab, cd), i32x4_shuffle::<2, 3, 6, 7>(ab, cd))
    })
}

/// `[a0+a2, b0+b2, a1+a3, b1+b3]`: half of the lane sums of `a` and `b`, side by side.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn fold_pairs(a: core::arch::wasm32::v128, b: core::arch::wasm32::v128) -> core::arch::wasm32::v128 {
    use core::arch::wasm32::*;
    i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(a, b), i32x4_shuffle::<2, 6, 3, 7>(a, b))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn tile_avx2<const R: usize, const C: usize, const WIDE: bool>(w: [*const u8; C], x: [*const i16; R], k: usize) -> [[i32; C]; R] {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_si256(); C]; R];
    let mut i = 0;
    while i < k {
        let wv: [__m256i; C] = core::array::from_fn(|c| {
            if WIDE {
                _mm256_loadu_si256((w[c] as *const i16).add(i) as *const __m256i)
            } else {
                _mm256_cvtepi8_epi16(_mm_loadu_si128((w[c] as *const i8).add(i) as *const __m128i))
            }
        });
        for r in 0..R {
            let xv = _mm256_loadu_si256(x[r].add(i) as *const __m256i);
            for c in 0..C {
                acc[r][c] = _mm256_add_epi32(acc[r][c], _mm256_madd_epi16(wv[c], xv));
            }
        }
        i += 16;
    }
    // The lane sums of the R·C accumulators, eight at a time (row-major).
    let flat: [__m256i; 16] = core::array::from_fn(|n| if n < R * C { acc[n / C][n % C] } else { _mm256_setzero_si256() });
    let mut sums = [0i32; 16];
    for g in 0..(R * C).div_ceil(8) {
        sums[g * 8..][..8].copy_from_slice(&sums8(flat[g * 8..][..8].try_into().unwrap()));
    }
    core::array::from_fn(|r| core::array::from_fn(|c| sums[r * C + c]))
}

/// The lane sums of eight vectors: two rounds of horizontal adds leave each vector's two
/// half-sums in the two 128-bit halves, which one swap and add combine.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sums8(a: [std::arch::x86_64::__m256i; 8]) -> [i32; 8] {
    use std::arch::x86_64::*;
    let q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[0], a[1]), _mm256_hadd_epi32(a[2], a[3]));
    let q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(a[4], a[5]), _mm256_hadd_epi32(a[6], a[7]));
    let s = _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(q0, q1), _mm256_permute2x128_si256::<0x31>(q0, q1));
    let mut out = [0i32; 8];
    _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, s);
    out
}

impl Q8Matrix {
    /// From GGML Q8_0 bytes of a `[rows, cols]` matrix (`cols` a multiple of 32): each row's
    /// blocks are dequantized and the row re-quantized to int8 with one scale.
    pub fn from_q8_0(bytes: &[u8], rows: usize, cols: usize) -> Result<Self> {
        let blocks = cols / Q8_0_BLOCK;
        if !cols.is_multiple_of(Q8_0_BLOCK) || bytes.len() != rows * blocks * Q8_0_BLOCK_BYTES {
            return Err(Error::Model(format!("{} Q8_0 bytes for [{rows}, {cols}]", bytes.len())));
        }
        let mut q = Vec::with_capacity(rows * cols);
        let mut scale = Vec::with_capacity(rows);
        let mut row = Vec::with_capacity(cols);
        for row_bytes in bytes.chunks_exact(blocks * Q8_0_BLOCK_BYTES) {
            if row_bytes.chunks_exact(Q8_0_BLOCK_BYTES).all(|b| b[..2] == row_bytes[..2]) {
                // One scale for the whole row already (MiniLM's files): taken as it is.
                scale.push(q8_0_values(row_bytes).0);
                for b in row_bytes.chunks_exact(Q8_0_BLOCK_BYTES) {
                    q.extend_from_slice(q8_0_values(b).1);
                }
                continue;
            }
            row.clear();
            for block in row_bytes.chunks_exact(Q8_0_BLOCK_BYTES) {
                let (d, q) = q8_0_values(block);
                row.extend(q.iter().map(|&b| d * b as f32));
            }
            let s = max_and_sum_abs(&row).0 / 127.0;
            let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
            q.extend(row.iter().map(|v| (v * inv).round_ties_even() as i8));
            scale.push(s);
        }
        Ok(Q8Matrix { rows, cols, k: cols, q: Store::Narrow(q), scale, budget: budget(127) })
    }

    /// An int16 matrix from f32 weights `[rows, cols]`: each row rounded to ±`WIDE_W_MAX`
    /// with one scale, rows padded with zeros to a multiple of sixteen.
    pub fn wide(w: &[f32], rows: usize, cols: usize) -> Result<Self> {
        if cols == 0 || w.len() != rows * cols {
            return Err(Error::Model(format!("{} weights for [{rows}, {cols}]", w.len())));
        }
        let k = cols.div_ceil(K_STEP) * K_STEP;
        let w_max = WIDE_W_MAX;
        let mut q = vec![0i16; rows * k];
        let mut scale = Vec::with_capacity(rows);
        for (row, out) in w.chunks_exact(cols).zip(q.chunks_exact_mut(k)) {
            let s = max_and_sum_abs(row).0 / w_max as f32;
            let inv = if s > 0.0 { 1.0 / s } else { 0.0 };
            out.iter_mut().zip(row).for_each(|(o, v)| *o = (v * inv).round_ties_even() as i16);
            scale.push(s);
        }
        Ok(Q8Matrix { rows, cols, k, q: Store::Wide(q), scale, budget: budget(w_max) })
    }

    /// Whether the weights are int16.
    pub fn is_wide(&self) -> bool {
        self.q.wide()
    }

    /// Activation rows per chunk: their quantized values (i16) fit in 64 KB, a multiple of four.
    fn chunk_rows(&self) -> usize {
        (CHUNK_BYTES / (2 * self.k)).max(TILE_ROWS) / TILE_ROWS * TILE_ROWS
    }

    /// `x [n, cols]` → `x · Wᵀ` `[n, rows]`.
    pub fn matmul(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut y = vec![0f32; n * self.rows];
        let chunk = self.chunk_rows();
        for (xc, yc) in x[..n * self.cols].chunks(chunk * self.cols).zip(y.chunks_mut(chunk * self.rows)) {
            self.chunk(xc, yc);
        }
        y
    }

    /// `n` rows made a chunk at a time by `fill(first row, rows [m, cols])` (a convolution's
    /// patches: no im2col copy of the whole map) → `[n, rows]`.
    pub fn matmul_with(&self, n: usize, mut fill: impl FnMut(usize, &mut [f32])) -> Vec<f32> {
        let mut y = vec![0f32; n * self.rows];
        let chunk = self.chunk_rows();
        let mut buf = vec![0f32; chunk.min(n) * self.cols];
        for (i, yc) in y.chunks_mut(chunk * self.rows).enumerate() {
            let xc = &mut buf[..yc.len() / self.rows * self.cols];
            fill(i * chunk, xc);
            self.chunk(xc, yc);
        }
        y
    }

    /// One chunk of rows `x [m, cols]` into `y [m, rows]`.
    fn chunk(&self, x: &[f32], y: &mut [f32]) {
        let xs = quantize_rows(x, self.cols, self.k, self.budget);
        let n = x.len() / self.cols;
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe {
                match self.q.wide() {
                    true => self.product_avx2::<true>(&xs, y, n),
                    false => self.product_avx2::<false>(&xs, y, n),
                }
            };
        }
        match self.q.wide() {
            true => self.product::<true>(&xs, y, n),
            false => self.product::<false>(&xs, y, n),
        }
    }

    /// [`Q8Matrix::product`] compiled for AVX2, so that the tiles inline into its loops.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn product_avx2<const WIDE: bool>(&self, xs: &QRows, y: &mut [f32], n: usize) {
        self.product::<WIDE>(xs, y, n)
    }

    /// `n` quantized rows into `y [n, rows]`.
    #[inline(always)]
    fn product<const WIDE: bool>(&self, xs: &QRows, y: &mut [f32], n: usize) {
        // Twelve weight rows at a time (18 KB of BERT's widest rows: they stay in L1 while every
        // activation row passes): bands of four activation rows against two weight rows, and the
        // last one, two or three rows against three or four weight rows, so that each loaded
        // vector still serves several products (a 2×2 tile runs at two thirds of a 4×2's speed).
        let full = n / TILE_ROWS * TILE_ROWS;
        for o in (0..self.rows).step_by(WEIGHT_BLOCK) {
            let os = o..(o + WEIGHT_BLOCK).min(self.rows);
            for t in (0..full).step_by(TILE_ROWS) {
                self.band::<4, 2, WIDE>(xs, y, t, os.clone());
            }
            match n - full {
                3 => self.band::<3, 3, WIDE>(xs, y, full, os),
                2 => self.band::<2, 4, WIDE>(xs, y, full, os),
                1 => self.band::<1, 4, WIDE>(xs, y, full, os),
                _ => {}
            }
        }
    }

    /// Output rows `t..t+R`, columns `os`: tiles of `C` weight rows, then single ones.
    #[inline(always)]
    fn band<const R: usize, const C: usize, const WIDE: bool>(&self, xs: &QRows, y: &mut [f32], t: usize, os: std::ops::Range<usize>) {
        let mut o = os.start;
        while o + C <= os.end {
            self.tile_into::<R, C, WIDE>(xs, y, t, o);
            o += C;
        }
        for o in o..os.end {
            self.tile_into::<R, 1, WIDE>(xs, y, t, o);
        }
    }

    /// Rows `t..t+R` of the output, columns `o..o+C`.
    #[inline(always)]
    fn tile_into<const R: usize, const C: usize, const WIDE: bool>(&self, xs: &QRows, y: &mut [f32], t: usize, o: usize) {
        let k = self.k;
        let w = core::array::from_fn(|j| self.q.row(o + j, k));
        let x = core::array::from_fn(|j| xs.q[(t + j) * k..(t + j + 1) * k].as_ptr());
        // SAFETY: `row` and the slices above checked that each row holds `k` values; `k` is a
        // multiple of 16 (checked or padded at construction).
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        self.store_simd128::<R, C>(unsafe { tile_simd128::<R, C, WIDE>(w, x, k) }, xs, y, t, o);
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        self.store::<R, C>(unsafe { tile::<R, C, WIDE>(w, x, k) }, xs, y, t, o);
    }

    /// Writes a tile's sums, scaled, into rows `t..t+R`, columns `o..o+C` of `y`.
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[inline(always)]
    fn store<const R: usize, const C: usize>(&self, sums: [[i32; C]; R], xs: &QRows, y: &mut [f32], t: usize, o: usize) {
        for (j, s) in sums.iter().enumerate() {
            let out = &mut y[(t + j) * self.rows + o..][..C];
            for ((out, &v), &sw) in out.iter_mut().zip(s).zip(&self.scale[o..o + C]) {
                *out = v as f32 * (sw * xs.scale[t + j]);
            }
        }
    }

    /// [`Q8Matrix::store`] for [`tile_simd128`]'s vectors (lane r of `sums[c]` is row t + r): the
    /// same products, four rows at a time.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn store_simd128<const R: usize, const C: usize>(&self, sums: [core::arch::wasm32::v128; C], xs: &QRows, y: &mut [f32], t: usize, o: usize) {
        use core::arch::wasm32::*;
        let mut sx = [0f32; 4];
        sx[..R].copy_from_slice(&xs.scale[t..t + R]);
        // SAFETY: `sx` and `v` hold four values; unaligned v128 loads and stores are allowed.
        let sx = unsafe { v128_load(sx.as_ptr() as *const v128) };
        for (c, &s) in sums.iter().enumerate() {
            let mut v = [0f32; 4];
            let scaled = f32x4_mul(f32x4_convert_i32x4(s), f32x4_mul(f32x4_splat(self.scale[o + c]), sx));
            unsafe { v128_store(v.as_mut_ptr() as *mut v128, scaled) };
            for (r, &v) in v[..R].iter().enumerate() {
                y[(t + r) * self.rows + o + c] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::quant::{quantize_matrix, Precision};

    #[test]
    fn matches_f32_product_within_int8_error() {
        // 49 weight rows: four blocks of twelve and a single row; 1 to 9 activation rows: every
        // band (4×2, and a last 3×3, 2×4 or 1×4) with and without full ones before it.
        let (rows, cols) = (49, 96);
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 211) as f32 - 105.0) / 90.0).collect();
        let q = quantize_matrix(&w, rows, cols, Precision::Int8).unwrap();
        let m = Q8Matrix::from_q8_0(&q.data().unwrap(), rows, cols).unwrap();
        for n in 1..=9 {
            let x: Vec<f32> = (0..n * cols).map(|i| ((i * 104729 % 97) as f32 - 48.0) / 30.0).collect();
            let y = m.matmul(&x, n);
            for t in 0..n {
                for o in 0..rows {
                    let exact: f32 = (0..cols).map(|i| w[o * cols + i] * x[t * cols + i]).sum();
                    let got = y[t * rows + o];
                    assert!((got - exact).abs() < 0.02 * (1.0 + exact.abs()) + 0.15, "n {n}: y[{t}, {o}] = {got}, exact {exact}");
                }
            }
        }
        assert!(Q8Matrix::from_q8_0(&[0; 33], 1, 32).is_err());
    }

    #[test]
    fn wide_matrix_matches_f32_product_within_int16_error() {
        // 30 columns (padded to 32), 26 rows: every band and chunking, and a feature map of
        // 3000 rows (more than one chunk).
        let (rows, cols) = (26, 30);
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919 % 211) as f32 - 105.0) / 90.0).collect();
        let m = Q8Matrix::wide(&w, rows, cols).unwrap();
        for n in [1, 2, 3, 4, 7, 3000] {
            let x: Vec<f32> = (0..n * cols).map(|i| ((i * 104729 % 97) as f32 - 48.0) / 30.0).collect();
            let y = m.matmul(&x, n);
            for t in 0..n {
                for o in 0..rows {
                    let exact: f32 = (0..cols).map(|i| w[o * cols + i] * x[t * cols + i]).sum();
                    let got = y[t * rows + o];
                    // Fourteen-bit weights, activations at the i16 range or the budget: well within a
                    // thousandth of the row's scale.
                    assert!((got - exact).abs() < 2e-3 * (1.0 + exact.abs()) + 5e-3, "n {n}: y[{t}, {o}] = {got}, exact {exact}");
                }
            }
        }
        assert!(Q8Matrix::wide(&w, rows, cols + 1).is_err());
    }

    /// The wasm kernel's per-weight-row vectors (lane r = activation row r) as `[[i32; C]; R]`,
    /// so one test compares each target's kernel with the plain loop.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    unsafe fn tile<const R: usize, const C: usize, const WIDE: bool>(w: [*const u8; C], x: [*const i16; R], k: usize) -> [[i32; C]; R] {
        use core::arch::wasm32::*;
        let v = tile_simd128::<R, C, WIDE>(w, x, k);
        let lanes: [[i32; 4]; C] = v.map(|v| [i32x4_extract_lane::<0>(v), i32x4_extract_lane::<1>(v), i32x4_extract_lane::<2>(v), i32x4_extract_lane::<3>(v)]);
        core::array::from_fn(|r| core::array::from_fn(|c| lanes[c][r]))
    }

    /// The kernel's sums for 4×2, 3×3 and 1×1 tiles over two weight rows and four activation
    /// rows of `k` values each, asserted equal to the plain loop's; the 4×2 sums.
    fn same_as_plain<const WIDE: bool>(w: [*const u8; 2], x: [*const i16; 4], k: usize) -> [[i32; 2]; 4] {
        // SAFETY: the callers' rows hold `k` values, `k` a multiple of 16.
        unsafe {
            let plain = tile_portable::<4, 2, WIDE>(w, x, k);
            assert_eq!(plain, tile::<4, 2, WIDE>(w, x, k));
            let (w3, x3) = ([w[0], w[1], w[0]], [x[0], x[1], x[2]]);
            assert_eq!(tile_portable::<3, 3, WIDE>(w3, x3, k), tile::<3, 3, WIDE>(w3, x3, k));
            assert_eq!(tile_portable::<1, 1, WIDE>([w[1]], [x[2]], k), tile::<1, 1, WIDE>([w[1]], [x[2]], k));
            plain
        }
    }

    // Natively a plain test; on wasm32 run by wasm-bindgen-test-runner in node (`./build.sh test`).
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn simd_kernel_matches_the_plain_loop() {
        // Exact i32 sums in both, at the extremes of the ranges (|w| = w_max, rows of
        // activations at the budget), for int8 and int16 weights.
        let k = 1536;
        let x_lim = (budget(127) / k as f32) as i16;
        let w: Vec<Vec<i8>> = (0..2).map(|c| (0..k).map(|i| if (i + c) % 3 == 0 { -127 } else { ((i * 7919 + c) % 255) as i8 }).collect()).collect();
        let x: Vec<Vec<i16>> = (0..4).map(|r| (0..k).map(|i| if (i + r) % 2 == 0 { x_lim } else { -(((i * 104729 + r) % x_lim as usize) as i16) }).collect()).collect();
        let (wp, xp) = ([w[0].as_ptr() as *const u8, w[1].as_ptr() as *const u8], [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr()]);
        let plain = same_as_plain::<false>(wp, xp, k);
        let exact: i64 = w[1].iter().zip(&x[3]).map(|(&a, &b)| a as i64 * b as i64).sum();
        assert_eq!(plain[3][1] as i64, exact);
        // The worst case (all at the limits) still fits an i32.
        assert!(127 * x_lim as i64 * k as i64 <= i32::MAX as i64);

        let w_lim = WIDE_W_MAX as i16;
        let x_lim = (budget(WIDE_W_MAX) / k as f32) as i16;
        let w: Vec<Vec<i16>> = (0..2).map(|c| (0..k).map(|i| if (i + c) % 3 == 0 { -w_lim } else { ((i * 7919 + c) % (2 * w_lim as usize)) as i16 - w_lim }).collect()).collect();
        let x: Vec<Vec<i16>> = (0..4).map(|r| (0..k).map(|i| if (i + r) % 2 == 0 { -x_lim } else { ((i * 104729 + r) % x_lim as usize) as i16 }).collect()).collect();
        let (wp, xp) = ([w[0].as_ptr() as *const u8, w[1].as_ptr() as *const u8], [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr(), x[3].as_ptr()]);
        let plain = same_as_plain::<true>(wp, xp, k);
        let exact: i64 = w[0].iter().zip(&x[0]).map(|(&a, &b)| a as i64 * b as i64).sum();
        assert_eq!(plain[0][0] as i64, exact);
        assert!(w_lim as i64 * x_lim as i64 * k as i64 <= i32::MAX as i64);
    }

    #[test]
    fn activations_stay_within_the_budget() {
        // A flat row (the worst case for the sum), a row with one large value (gets the whole
        // i16 range) and rows of mixed signs, against both weight widths.
        let cols = 1500;
        let rows: Vec<Vec<f32>> =
            vec![vec![3.7; cols], (0..cols).map(|i| if i == 7 { 50.0 } else { 1e-3 }).collect(), (0..cols).map(|i| ((i * 7919 % 211) as f32 - 105.0) / 9.0).collect()];
        for w_max in [127, WIDE_W_MAX] {
            for row in &rows {
                let q = quantize_rows(row, cols, cols.div_ceil(K_STEP) * K_STEP, budget(w_max));
                let l1: i64 = q.q.iter().map(|&v| (v as i64).abs()).sum();
                assert!(l1 * w_max as i64 <= i32::MAX as i64, "w_max {w_max}: sum {l1}");
                let back: Vec<f32> = q.q[..cols].iter().map(|&v| v as f32 * q.scale[0]).collect();
                let err = row.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(err <= q.scale[0] * 0.5 + 1e-6, "w_max {w_max}: error {err}, scale {}", q.scale[0]);
            }
            let peaky = quantize_rows(&rows[1], cols, cols, budget(w_max));
            assert_eq!(peaky.q[7], i16::MAX, "w_max {w_max}: a single large value gets the whole range");
        }
    }
}
