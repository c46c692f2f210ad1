//! The uniform parameters of every kernel: one `#[repr(C)]` struct of 32-bit words per WGSL
//! `struct Params`, field for field and in the same order, each a multiple of 16 bytes (a
//! uniform buffer is read in 16-byte rows). A unit test reads every kernel's WGSL and checks
//! its `Params` against these.

use super::kernels::Kernel;

/// A kernel's uniform parameters, laid out as its WGSL `struct Params`.
pub trait Params: bytemuck::Pod {
    /// The kernels that read this layout ([`Gpu::dispatch`](super::Gpu) refuses others).
    const KERNELS: &'static [Kernel];
}

/// The scalar types a parameter field may have: WGSL's `u32` and `f32`, four bytes each.
trait Word {}
impl Word for u32 {}
impl Word for f32 {}
const fn word<T: Word>() {}

/// Declares parameter structs: `Name for [kernels] { field: u32 | f32, … }`.
macro_rules! params {
    ($($(#[doc = $doc:literal])* $name:ident for [$($kernel:ident),+] { $($field:ident: $ty:ident),+ $(,)? })+) => {
        $(
            $(#[doc = $doc])*
            #[repr(C)]
            #[derive(Debug, Clone, Copy, Default)]
            pub struct $name {
                $(pub $field: $ty),+
            }

            // SAFETY: `repr(C)` with only u32 and f32 fields (checked below): no padding, every
            // bit pattern is a valid value, all zeros included.
            unsafe impl bytemuck::Zeroable for $name {}
            unsafe impl bytemuck::Pod for $name {}

            impl Params for $name {
                const KERNELS: &'static [Kernel] = &[$(Kernel::$kernel),+];
            }

            const _: () = {
                $(word::<$ty>();)+
                assert!(std::mem::size_of::<$name>() == 4 * [$(stringify!($field)),+].len());
                assert!(std::mem::size_of::<$name>() % 16 == 0, "a uniform buffer is read in 16-byte rows");
            };
        )+

        /// Every struct's name, kernels and fields (name, type), for the layout test.
        #[cfg(test)]
        const LAYOUTS: &[(&str, &[Kernel], &[(&str, &str)])] =
            &[$((stringify!($name), &[$(Kernel::$kernel),+], &[$((stringify!($field), stringify!($ty))),+])),+];
    };
}

params! {
    /// A matmul with quantized weights, tiled or few-rows: x `[m, k]`, weights `[n, kp]` (rows
    /// padded to `kp`), then `scale · act(·) + shift` (`act`: act.wgsl's activation code).
    LinearParams for [LinearQ8, LinearQ8H, LinearQ8Rows, LinearQ4, LinearQ4H, LinearQ4Rows] {
        m: u32, n: u32, k: u32, kp: u32, act: u32, scale: f32, shift: f32, _p0: u32,
    }
    /// A matmul with dense f32 weights `[n, k]`, then the epilogue.
    LinearF32Params for [LinearF32, LinearF32H] {
        m: u32, n: u32, k: u32, _p0: u32, act: u32, scale: f32, shift: f32, _p1: u32,
    }
    /// An elementwise op over `n` values.
    AddParams for [Add] { n: u32, _p0: u32, _p1: u32, _p2: u32 }
    /// One workgroup per row of `c` values.
    RowParams for [L2Norm, Softmax] { c: u32, _p0: u32, _p1: u32, _p2: u32 }
    /// LayerNorm over rows of `c` values.
    LayerNormParams for [LayerNorm] { c: u32, eps: f32, _p0: u32, _p1: u32 }
    /// Attention over `t` tokens, `heads` heads of `d` values.
    AttentionParams for [Attention] { t: u32, heads: u32, d: u32, _p0: u32 }
    /// A depthwise convolution over a window (see [`WindowParams`]), then the epilogue.
    DepthwiseParams for [Depthwise] {
        h: u32, w: u32, c: u32, kh: u32, kw: u32, sh: u32, sw: u32, oh: u32, ow: u32, pad_t: u32, pad_l: u32,
        act: u32, b: u32, scale: f32, shift: f32, _p0: u32,
    }
    /// A window sliding over `b` feature maps `[h, w, c]`: kernel kh×kw, strides (sh, sw),
    /// padding before (pad_t, pad_l), output oh×ow.
    WindowParams for [Im2col, AvgPool] {
        h: u32, w: u32, c: u32, kh: u32, kw: u32, sh: u32, sw: u32, oh: u32, ow: u32, pad_t: u32, pad_l: u32, b: u32,
    }
    /// Means over `n` rows of `c` values, per batch item of `b`.
    MeanRowsParams for [MeanRows] { n: u32, c: u32, b: u32, _p0: u32 }
    /// `m` queries against `n` int8 rows of `dim` values in `words` u32s.
    ScoresParams for [Scores] { n: u32, dim: u32, words: u32, m: u32 }
    /// The `top` most probable of `classes` int8 rows of `dim` values in `words` u32s.
    ConseParams for [Conse] { classes: u32, dim: u32, words: u32, top: u32 }
    /// `b` feature maps of `hw` pixels and `c` channels times per-image channel weights (`residual`:
    /// 1 adds the input again).
    ScaleChannelsParams for [ScaleChannels] { b: u32, hw: u32, c: u32, residual: u32 }
    /// `b` feature maps `[h, w, ·]` (the input's size) growing by `f` on both axes to `c` output
    /// channels.
    FactorParams for [Upsample, DepthToSpace] { b: u32, h: u32, w: u32, c: u32, f: u32, _p0: u32, _p1: u32, _p2: u32 }
    /// One input of a concatenation: `rows` rows of `c` values into rows of `total` at `offset`.
    ConcatParams for [Concat] { rows: u32, c: u32, total: u32, offset: u32 }
}

#[cfg(test)]
mod tests {
    use super::LAYOUTS;
    use crate::gpu::kernels::Kernel;

    /// The fields (name, type) of the `struct Params` in a kernel's WGSL.
    fn wgsl_params(src: &str) -> Vec<(String, String)> {
        let start = src.find("struct Params {").expect("a kernel declares struct Params") + "struct Params {".len();
        let body = &src[start..start + src[start..].find('}').unwrap()];
        body.split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (name, ty) = f.split_once(':').unwrap_or_else(|| panic!("field {f:?}"));
                (name.trim().to_string(), ty.trim().to_string())
            })
            .collect()
    }

    #[test]
    fn every_kernel_has_a_params_struct_matching_its_wgsl() {
        for k in Kernel::ALL {
            let owners: Vec<_> = LAYOUTS.iter().filter(|(_, ks, _)| ks.contains(&k)).collect();
            assert_eq!(owners.len(), 1, "{k:?} must be read by exactly one params struct");
            let (name, _, fields) = owners[0];
            let want: Vec<(String, String)> = fields.iter().map(|(f, t)| (f.to_string(), t.to_string())).collect();
            assert_eq!(wgsl_params(&k.source()), want, "{k:?}: WGSL struct Params against {name}");
        }
    }
}
