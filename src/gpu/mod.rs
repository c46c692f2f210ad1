//! The GPU backend on wgpu: the same [`Backend`](crate::tensor::Backend) interface as the CPU,
//! with every op a WGSL compute kernel (`kernels/`, one file per op). The same code runs on the
//! browser's WebGPU (wasm32) and natively on Vulkan, Metal or DX12 (lavapipe in tests).
//!
//! - Weights are uploaded once when a model loads (`weights.rs`); Q8_0 matrices stay int8 and
//!   Q4_0 ones (e5) 4-bit on the device (`repack.rs`), and are dequantized inside the matmul
//!   kernels.
//! - Ops (`ops.rs`) only record work: every kernel of a forward pass goes into one compute pass
//!   of one command encoder (`record.rs`), and nothing comes back to the CPU until
//!   `read_async` (or `read`, natively) submits it and maps the result (`readback.rs`).
//! - Each kernel's uniform parameters are a `#[repr(C)]` struct laid out as its WGSL
//!   `struct Params` (`params.rs`).
//! - Intermediate buffers come from a pool keyed by size (`pool.rs`) and return to it when their
//!   tensor is dropped, so a second forward pass allocates nothing. Reusing a buffer inside one
//!   command buffer is safe: WebGPU orders dispatches that touch the same buffer.
//! - Opening the backend (`device.rs`) compiles the kernels and runs a self-test against the
//!   CPU; shapes are checked on the host before each dispatch; the CPU backend is the oracle
//!   (`tests/parity/`).

mod context;
mod device;
mod kernels;
mod ops;
mod params;
mod pool;
mod readback;
mod record;
mod repack;
mod weights;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

pub use context::Adapter;
pub use ops::{MAX_ATTENTION_TOKENS, MAX_CONSE_TOP};
pub use repack::{repack_q4_0, repack_q8_0};
pub use weights::{GpuMatrix, GpuRows};

use kernels::Kernels;
use pool::{Pool, PooledBuffer};

/// The GPU backend: one device and queue, the compiled kernels, the open command encoder.
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    adapter: Adapter,
    kernels: Kernels,
    /// The open command encoder and its one compute pass, which every dispatch of a forward
    /// pass goes into (dispatches inside a pass are ordered by their buffer use).
    recording: RefCell<Option<(wgpu::CommandEncoder, wgpu::ComputePass<'static>)>>,
    pool: Rc<RefCell<Pool>>,
    lost: Arc<AtomicBool>,
    error: Arc<Mutex<Option<(bool, String)>>>,
    /// The device's `max_compute_workgroups_per_dimension`.
    max_groups: u32,
}

/// A tensor in a device buffer.
#[derive(Clone)]
pub struct GpuTensor {
    buf: Rc<PooledBuffer>,
    shape: Vec<usize>,
}

impl GpuTensor {
    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    fn buffer(&self) -> &wgpu::Buffer {
        self.buf.buffer()
    }
}
