//! The WGSL kernels, one file per op under `kernels/`, compiled once per device.

use crate::error::{Error, Result};

/// Every kernel the backend dispatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    LinearQ8,
    LinearQ8Rows,
    LinearF32,
    /// `LinearQ8` with f16 tiles (devices with shader-f16).
    LinearQ8H,
    /// `LinearF32` with f16 tiles (devices with shader-f16).
    LinearF32H,
    /// 4-bit weights (Q4_0): tiled, tiled with f16 tiles, and few rows.
    LinearQ4,
    LinearQ4H,
    LinearQ4Rows,
    Add,
    LayerNorm,
    Attention,
    Depthwise,
    Im2col,
    MeanRows,
    L2Norm,
    Softmax,
    Scores,
    Conse,
    ScaleChannels,
    Upsample,
    Concat,
    DepthToSpace,
    AvgPool,
}

const ACT: &str = include_str!("kernels/act.wgsl");
const TILE64: &str = include_str!("kernels/tile64.wgsl");
const REDUCE: &str = include_str!("kernels/reduce.wgsl");
const ROWS4: &str = include_str!("kernels/rows4.wgsl");
/// The element type of tile64.wgsl's tiles (`enable` must come first in a module).
const TILE_F32: &str = "alias tile_t = f32;";
const TILE_F16: &str = "enable f16;\nalias tile_t = f16;";

impl Kernel {
    pub(super) const ALL: [Kernel; 23] = [
        Kernel::LinearQ8,
        Kernel::LinearQ8Rows,
        Kernel::LinearF32,
        Kernel::LinearQ8H,
        Kernel::LinearF32H,
        Kernel::LinearQ4,
        Kernel::LinearQ4H,
        Kernel::LinearQ4Rows,
        Kernel::Add,
        Kernel::LayerNorm,
        Kernel::Attention,
        Kernel::Depthwise,
        Kernel::Im2col,
        Kernel::MeanRows,
        Kernel::L2Norm,
        Kernel::Softmax,
        Kernel::Scores,
        Kernel::Conse,
        Kernel::ScaleChannels,
        Kernel::Upsample,
        Kernel::Concat,
        Kernel::DepthToSpace,
        Kernel::AvgPool,
    ];

    /// Whether the kernel needs shader-f16.
    fn needs_f16(self) -> bool {
        matches!(self, Kernel::LinearQ8H | Kernel::LinearF32H | Kernel::LinearQ4H)
    }

    /// The kernel's WGSL, with the shared pieces it uses prepended: the activation functions
    /// where it fuses one, the 64×64 tiling for the tiled matmuls, the few-rows loop for the
    /// GEMV-like ones (rows4.wgsl), the workgroup reductions for the one-workgroup-per-row
    /// kernels.
    pub(super) fn source(self) -> String {
        let (src, parts): (&str, &[&str]) = match self {
            Kernel::LinearQ8 => (include_str!("kernels/linear_q8.wgsl"), &[TILE_F32, ACT, TILE64]),
            Kernel::LinearQ8Rows => (include_str!("kernels/linear_q8_rows.wgsl"), &[ACT, ROWS4]),
            Kernel::LinearF32 => (include_str!("kernels/linear_f32.wgsl"), &[TILE_F32, ACT, TILE64]),
            Kernel::LinearQ8H => (include_str!("kernels/linear_q8.wgsl"), &[TILE_F16, ACT, TILE64]),
            Kernel::LinearF32H => (include_str!("kernels/linear_f32.wgsl"), &[TILE_F16, ACT, TILE64]),
            Kernel::LinearQ4 => (include_str!("kernels/linear_q4.wgsl"), &[TILE_F32, ACT, TILE64]),
            Kernel::LinearQ4H => (include_str!("kernels/linear_q4.wgsl"), &[TILE_F16, ACT, TILE64]),
            Kernel::LinearQ4Rows => (include_str!("kernels/linear_q4_rows.wgsl"), &[ACT, ROWS4]),
            Kernel::Add => (include_str!("kernels/add.wgsl"), &[]),
            Kernel::LayerNorm => (include_str!("kernels/layer_norm.wgsl"), &[REDUCE]),
            Kernel::Attention => (include_str!("kernels/attention.wgsl"), &[]),
            Kernel::Depthwise => (include_str!("kernels/depthwise.wgsl"), &[ACT]),
            Kernel::Im2col => (include_str!("kernels/im2col.wgsl"), &[]),
            Kernel::MeanRows => (include_str!("kernels/mean_rows.wgsl"), &[]),
            Kernel::L2Norm => (include_str!("kernels/l2_norm.wgsl"), &[REDUCE]),
            Kernel::Softmax => (include_str!("kernels/softmax.wgsl"), &[REDUCE]),
            Kernel::Scores => (include_str!("kernels/scores.wgsl"), &[]),
            Kernel::Conse => (include_str!("kernels/conse.wgsl"), &[REDUCE]),
            Kernel::ScaleChannels => (include_str!("kernels/scale_channels.wgsl"), &[]),
            Kernel::Upsample => (include_str!("kernels/upsample.wgsl"), &[]),
            Kernel::Concat => (include_str!("kernels/concat.wgsl"), &[]),
            Kernel::DepthToSpace => (include_str!("kernels/depth_to_space.wgsl"), &[]),
            Kernel::AvgPool => (include_str!("kernels/avg_pool.wgsl"), &[]),
        };
        let mut out = parts.join("\n");
        out.push('\n');
        if matches!(self, Kernel::Attention) {
            out.push_str(&format!("const MAX_T: u32 = {}u;\n", crate::tensor::MAX_ATTENTION_TOKENS));
        }
        out.push_str(src);
        out
    }
}

/// The compiled pipelines, indexed by [`Kernel`] (None: an f16 kernel on a device without it).
pub struct Kernels {
    pipelines: Vec<Option<wgpu::ComputePipeline>>,
}

impl Kernels {
    /// Compiles every kernel (the f16 ones only with `f16`); a shader or pipeline error names
    /// the kernel.
    pub async fn compile(device: &wgpu::Device, f16: bool) -> Result<Kernels> {
        let mut pipelines = Vec::new();
        for k in Kernel::ALL {
            if k.needs_f16() && !f16 {
                pipelines.push(None);
                continue;
            }
            let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor { label: Some(&format!("{k:?}")), source: wgpu::ShaderSource::Wgsl(k.source().into()) });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&format!("{k:?}")),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            if let Some(e) = scope.pop().await {
                return Err(Error::GpuBug(format!("kernel {k:?} failed to compile: {e}")));
            }
            pipelines.push(Some(pipeline));
        }
        Ok(Kernels { pipelines })
    }

    /// The pipeline of a kernel.
    pub fn get(&self, k: Kernel) -> Result<&wgpu::ComputePipeline> {
        self.pipelines[Kernel::ALL.iter().position(|&x| x == k).expect("every kernel is listed")]
            .as_ref()
            .ok_or_else(|| Error::GpuBug(format!("kernel {k:?} needs shader-f16, which this device lacks (the f16 variants are chosen only where it has it)")))
    }
}
