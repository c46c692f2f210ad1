//! Opening the backend (device, error hooks, kernels, a self-test against the CPU) and its
//! health afterwards (device loss, uncaptured errors).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::context::{self, Adapter};
use super::kernels::Kernels;
use super::pool::Pool;
use super::Gpu;
use crate::error::{Error, Result};
use crate::tensor::{Activation, Backend};

impl Gpu {
    /// [`Gpu::open`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Result<Gpu> {
        pollster::block_on(Gpu::open())
    }

    /// [`Gpu::open_with`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_with(f16: bool) -> Result<Gpu> {
        pollster::block_on(Gpu::open_with(f16))
    }

    /// Opens the GPU with f16 matmul tiles where the device has shader-f16 (see
    /// [`Gpu::open_with`]).
    pub async fn open() -> Result<Gpu> {
        Gpu::open_with(true).await
    }

    /// Opens the adapter wgpu prefers (the browser's WebGPU on wasm32), compiles the kernels
    /// and runs a self-test against the CPU. An error says why no GPU backend is available;
    /// [`Gpu::adapter_exists`] tells "no adapter at all" from "an adapter that failed".
    /// `f16`: run the tiled matmuls (feature maps, long texts) with f16 tiles and f32
    /// accumulators where the device has shader-f16; `false` keeps everything f32.
    pub async fn open_with(f16: bool) -> Result<Gpu> {
        let (device, queue, adapter) = context::open(f16).await?;
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        device.set_device_lost_callback(move |_, _| flag.store(true, Ordering::SeqCst));
        // An error no scope catches (out of memory, an op on a lost device) would panic by
        // default; here it is kept and the next op or read returns it.
        let error = Arc::new(Mutex::new(None));
        let slot = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            // Out of memory: this device cannot run us (any more). Anything else (validation,
            // internal) is a wrong call of ours.
            let oom = matches!(e, wgpu::Error::OutOfMemory { .. });
            slot.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| (oom, e.to_string()));
        }));
        let kernels = Kernels::compile(&device, adapter.f16).await?;
        let max_groups = device.limits().max_compute_workgroups_per_dimension;
        let gpu = Gpu { device, queue, adapter, kernels, recording: RefCell::new(None), pool: Rc::new(RefCell::new(Pool::default())), lost, error, max_groups };
        gpu.self_test().await?;
        Ok(gpu)
    }

    /// Whether this machine (or browser) has any GPU adapter, working or not: where
    /// [`Gpu::open_with`] fails and this is true, the GPU exists but its device, a kernel or
    /// the self-test failed.
    pub async fn adapter_exists() -> bool {
        context::adapter_exists().await
    }

    /// What adapter this backend runs on.
    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    /// Intermediate buffers created so far; a forward pass of a shape seen before adds none.
    pub fn buffers_created(&self) -> usize {
        self.pool.borrow().created()
    }

    /// True once the device has been lost (the caller should switch to the CPU).
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Destroys the device, as a driver reset would (tests of the fallback).
    pub fn simulate_device_loss(&self) {
        self.device.destroy();
        let _ = self.device.poll(wgpu::PollType::Poll);
    }

    /// A 7×50 · 50×40 int8 matmul with GELU, compared with the CPU backend.
    async fn self_test(&self) -> Result<()> {
        let (m, k, n) = (7usize, 50usize, 40usize);
        let x: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let w: Vec<f32> = (0..n * k).map(|i| ((i * 53 % 89) as f32 - 44.0) / 44.0).collect();
        let b: Vec<f32> = (0..n).map(|i| i as f32 / n as f32 - 0.5).collect();
        let cpu = crate::cpu::Cpu;
        let qt = || crate::weights::quant::quantize_matrix(&w, n, k, crate::weights::quant::Precision::Int8);
        let want = cpu.read(&cpu.linear(&cpu.tensor(&x, &[m, k])?, &cpu.matrix(qt()?, &b, n, k, true)?, Activation::Gelu)?)?;
        let got = self.read_async(&self.linear(&self.tensor(&x, &[m, k])?, &self.matrix(qt()?, &b, n, k, false)?, Activation::Gelu)?).await?;
        let worst = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        // `worst` is NaN where the device returned NaNs: that fails too.
        if got.len() != want.len() || worst.is_nan() || worst >= 1e-3 {
            return Err(Error::GpuUnavailable(format!("self-test failed on {}: max error {worst}", self.adapter.name)));
        }
        Ok(())
    }

    /// The device's loss or the first uncaptured error, as an error for the op about to run.
    pub(super) fn check_alive(&self) -> Result<()> {
        if self.is_lost() {
            return Err(Error::GpuLost);
        }
        if let Some((oom, e)) = self.error.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(if oom { Error::GpuUnavailable(e) } else { Error::GpuBug(e) });
        }
        Ok(())
    }
}
