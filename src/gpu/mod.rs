//! The GPU backend on wgpu: the same [`Backend`] interface as the CPU, with every op a WGSL
//! compute kernel (`kernels/`, one file per op). The same code runs on the browser's WebGPU
//! (wasm32) and natively on Vulkan, Metal or DX12 (lavapipe in tests).
//!
//! - Weights are uploaded once when a model loads; Q8_0 matrices stay int8 and Q4_0 ones (e5)
//!   4-bit on the device, and are dequantized inside the matmul kernels.
//! - Ops only record work: every kernel of a forward pass goes into one compute pass of one
//!   command encoder, and nothing comes back to the CPU until [`Backend::read_async`] (or
//!   `read`, natively) submits it and maps the result.
//! - Intermediate buffers come from a pool keyed by size and return to it when their tensor is
//!   dropped, so a second forward pass allocates nothing. Reusing a buffer inside one command
//!   buffer is safe: WebGPU orders dispatches that touch the same buffer.
//! - Shapes are checked on the host before each dispatch; the CPU backend is the oracle
//!   (`tests/gpu.rs`).

mod context;
mod kernels;
mod pool;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use candle_core::quantized::{GgmlDType, QTensor};

use crate::error::{Error, Result};
use crate::tensor::{Activation, Backend, Epilogue, Window};
use crate::weights::quant::{dequantize_matrix, q4_0_values, Q4_0_BLOCK_BYTES, Q8_0_BLOCK, Q8_0_BLOCK_BYTES};

pub use context::Adapter;
use kernels::{Kernel, Kernels};
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
    error: Arc<Mutex<Option<String>>>,
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
}

enum MatrixWeights {
    /// Q8_0 repacked: four int8 per u32 `[out, kp/4]` and one f32 scale per 32 `[out, kp/32]`.
    Q8 { q: wgpu::Buffer, scales: wgpu::Buffer, kp: usize },
    /// Q4_0 repacked: eight 4-bit weights (+8) per u32 `[out, kp/8]`, nibble i of word w is
    /// weight 8w + i; one f32 scale per 32 `[out, kp/32]`.
    Q4 { q: wgpu::Buffer, scales: wgpu::Buffer, kp: usize },
    /// Dense f32 `[out, in]`.
    F32(wgpu::Buffer),
}

/// Int8 unit vectors on the device: four values per u32 (rows padded to whole words) and one
/// f32 scale per row.
pub struct GpuRows {
    q: wgpu::Buffer,
    scale: wgpu::Buffer,
    n: usize,
    dim: usize,
}

impl GpuRows {
    fn words(&self) -> usize {
        self.dim.div_ceil(4)
    }
}

/// Most classes [`Backend::conse`] mixes (its kernel keeps them in workgroup memory).
pub const MAX_CONSE_TOP: usize = 16;

/// A weight matrix and its bias on the device.
pub struct GpuMatrix {
    w: MatrixWeights,
    bias: wgpu::Buffer,
    out_dim: usize,
    in_dim: usize,
}

/// Up to this many rows a linear layer runs the barrier-free few-rows kernel instead of the
/// 64×64 tiles, which would mostly multiply padding.
const FEW_ROWS: usize = 32;

/// Largest number of tokens the attention kernel takes (its score row lives in workgroup memory).
pub const MAX_ATTENTION_TOKENS: usize = 512;

/// The activation codes of act.wgsl.
fn act_code(a: Activation) -> u32 {
    match a {
        Activation::None => 0,
        Activation::Gelu => 1,
        Activation::Relu6 => 2,
        Activation::Relu => 3,
        Activation::HardSwish => 4,
        Activation::Sigmoid => 5,
        Activation::Swish => 6,
        Activation::Clip01 => 7,
    }
}

fn shape_err(op: &'static str, detail: String) -> Error {
    Error::Shape { op, detail }
}

/// (batch, height, width, channels) of a `[b, h, w, c]` or `[h, w, c]` tensor.
fn bhwc(x: &GpuTensor, op: &'static str) -> Result<(usize, usize, usize, usize)> {
    match x.shape[..] {
        [b, h, w, c] => Ok((b, h, w, c)),
        [h, w, c] => Ok((1, h, w, c)),
        _ => Err(shape_err(op, format!("expected [b, h, w, c] or [h, w, c], got {:?}", x.shape))),
    }
}

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
    /// and runs a self-test against the CPU. An error says why no GPU backend is available.
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
            slot.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(|| e.to_string());
        }));
        let kernels = Kernels::compile(&device, adapter.f16).await?;
        let max_groups = device.limits().max_compute_workgroups_per_dimension;
        let gpu = Gpu { device, queue, adapter, kernels, recording: RefCell::new(None), pool: Rc::new(RefCell::new(Pool::default())), lost, error, max_groups };
        gpu.self_test().await?;
        Ok(gpu)
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

    /// A 70×50 · 50×40 int8 matmul with GELU, compared with the CPU backend.
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
        if got.len() != want.len() || !(worst < 1e-3) {
            return Err(Error::Gpu(format!("self-test failed on {}: max error {worst}", self.adapter.name)));
        }
        Ok(())
    }

    fn check_alive(&self) -> Result<()> {
        if self.is_lost() {
            return Err(Error::GpuLost);
        }
        if let Some(e) = self.error.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(Error::Gpu(e));
        }
        Ok(())
    }

    fn storage(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        self.upload(label, bytes, wgpu::BufferUsages::STORAGE)
    }

    /// A buffer holding `bytes` (a multiple of 4). Not `create_buffer_init`: that panics on a
    /// lost device, where this records an error for [`Gpu::check_alive`].
    fn upload(&self, label: &str, bytes: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        // Zero-length bindings are invalid; keep at least 4 bytes.
        let contents: &[u8] = if bytes.is_empty() { &[0; 4] } else { bytes };
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: contents.len() as u64,
            usage: usage | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buf, 0, contents);
        buf
    }

    fn output(&self, shape: Vec<usize>) -> GpuTensor {
        let bytes = (shape.iter().product::<usize>().max(1) * 4) as u64;
        GpuTensor { buf: Rc::new(Pool::take(&self.pool, &self.device, bytes)), shape }
    }

    /// Records one dispatch of `kernel` with `bindings` (buffers in binding order, then the
    /// uniform parameters) into the open command encoder.
    fn dispatch(&self, kernel: Kernel, buffers: &[&wgpu::Buffer], params: &[u32], groups: (u32, u32)) -> Result<()> {
        self.check_alive()?;
        let limit = self.max_groups;
        if groups.0 > limit || groups.1 > limit {
            return Err(Error::Gpu(format!("{kernel:?}: {groups:?} workgroups exceed the device limit {limit}")));
        }
        let uniform = self.upload("params", bytemuck::cast_slice(params), wgpu::BufferUsages::UNIFORM);
        let pipeline = self.kernels.get(kernel)?;
        let mut entries: Vec<wgpu::BindGroupEntry> =
            buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
        entries.push(wgpu::BindGroupEntry { binding: buffers.len() as u32, resource: uniform.as_entire_binding() });
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: None, layout: &pipeline.get_bind_group_layout(0), entries: &entries });
        let mut slot = self.recording.borrow_mut();
        let (_, pass) = slot.get_or_insert_with(|| {
            let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("forward") });
            let pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("forward"), timestamp_writes: None }).forget_lifetime();
            (enc, pass)
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, 1);
        Ok(())
    }

    /// A one-workgroup-per-row kernel over the last axis (`x` → same shape).
    fn per_row(&self, kernel: Kernel, x: &GpuTensor) -> Result<GpuTensor> {
        let c = *x.shape.last().unwrap_or(&0);
        if c == 0 {
            return Err(shape_err("per-row op", format!("{kernel:?} on {:?}", x.shape)));
        }
        let rows = x.len() / c;
        let y = self.output(x.shape.clone());
        if rows > 0 {
            self.dispatch(kernel, &[x.buf.buffer(), y.buf.buffer()], &[c as u32, 0, 0, 0], (rows as u32, 1))?;
        }
        Ok(y)
    }

    /// Workgroups for `n` threads in groups of 256, folded into two dimensions when needed.
    fn groups_1d(&self, n: usize) -> (u32, u32) {
        let g = n.div_ceil(256).max(1) as u32;
        let limit = self.max_groups;
        if g <= limit {
            (g, 1)
        } else {
            (limit, g.div_ceil(limit))
        }
    }

    /// Ends the open compute pass and hands over its encoder (None when nothing is recorded).
    fn take_encoder(&self) -> Option<wgpu::CommandEncoder> {
        self.recording.borrow_mut().take().map(|(enc, pass)| {
            drop(pass);
            enc
        })
    }

    /// Submits what was recorded so far (without waiting).
    pub fn flush(&self) {
        if let Some(enc) = self.take_encoder() {
            self.queue.submit([enc.finish()]);
        }
    }
}

impl Backend for Gpu {
    type Tensor = GpuTensor;
    type Matrix = GpuMatrix;
    type Vector = GpuTensor;
    type Rows = GpuRows;

    fn name(&self) -> &'static str {
        "gpu"
    }

    fn tensor(&self, data: &[f32], shape: &[usize]) -> Result<GpuTensor> {
        self.check_alive()?;
        if shape.iter().product::<usize>() != data.len() {
            return Err(shape_err("tensor", format!("{} values for shape {shape:?}", data.len())));
        }
        let t = self.output(shape.to_vec());
        if !data.is_empty() {
            self.queue.write_buffer(t.buf.buffer(), 0, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    /// Natively: submits, waits for the device and maps the result. In the browser a map
    /// completes only once control returns to the event loop: use `read_async` there.
    fn read(&self, t: &GpuTensor) -> Result<Vec<f32>> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            crate::tensor::now(self.read_async(t))
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = t;
            Err(Error::Gpu("WebGPU results can only be read asynchronously".into()))
        }
    }

    async fn read_async(&self, t: &GpuTensor) -> Result<Vec<f32>> {
        Ok(self.read_many_async(&[t]).await?.remove(0))
    }

    /// Submits the recorded work with copies of every tensor into one mappable buffer and maps
    /// it once. Natively the device is polled to completion first, so the future is ready at once.
    async fn read_many_async(&self, ts: &[&GpuTensor]) -> Result<Vec<Vec<f32>>> {
        self.check_alive()?;
        let sizes: Vec<u64> = ts.iter().map(|t| (t.len() * 4) as u64).collect();
        let total = sizes.iter().sum::<u64>().max(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: total,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.take_encoder().unwrap_or_else(|| self.device.create_command_encoder(&Default::default()));
        let mut at = 0;
        for (t, &bytes) in ts.iter().zip(&sizes) {
            if bytes > 0 {
                enc.copy_buffer_to_buffer(t.buf.buffer(), 0, &staging, at, bytes);
            }
            at += bytes;
        }
        self.queue.submit([enc.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let failed = |what: String| if self.is_lost() { Error::GpuLost } else { Error::Gpu(what) };
        #[cfg(not(target_arch = "wasm32"))]
        self.device.poll(wgpu::PollType::Wait { submission_index: None, timeout: None }).map_err(|e| failed(format!("waiting for the device: {e}")))?;
        match rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(failed(format!("reading a result back: {e}"))),
            Err(_) => return Err(failed("reading a result back: the map request was dropped".into())),
        }
        let view = staging.slice(..).get_mapped_range().map_err(|e| failed(format!("mapping a result: {e}")))?;
        let all = bytemuck::cast_slice::<u8, f32>(&view);
        let mut out = Vec::with_capacity(ts.len());
        let mut at = 0;
        for t in ts {
            out.push(all[at..at + t.len()].to_vec());
            at += t.len();
        }
        drop(view);
        staging.unmap();
        self.check_alive()?;
        Ok(out)
    }

    fn dims(&self, t: &GpuTensor) -> Vec<usize> {
        t.shape.clone()
    }

    fn matrix(&self, w: QTensor, bias: &[f32], out_dim: usize, in_dim: usize, _many_rows: bool) -> Result<GpuMatrix> {
        self.check_alive()?;
        if bias.len() != out_dim {
            return Err(Error::Model(format!("bias of {} values for a matrix with {out_dim} rows", bias.len())));
        }
        let stored = w.shape().dims().to_vec();
        let blocks = matches!(w.dtype(), GgmlDType::Q8_0 | GgmlDType::Q4_0);
        let kp = stored.get(1).copied().unwrap_or(0);
        if blocks && (stored.len() != 2 || stored[0] != out_dim || kp < in_dim || kp % 32 != 0) {
            return Err(Error::Model(format!("{:?} matrix has shape {stored:?}, expected [{out_dim}, {in_dim} padded to 32]", w.dtype())));
        }
        let weights = if w.dtype() == GgmlDType::Q8_0 {
            let (q, scales) = repack_q8_0(&w.data()?, out_dim, kp)?;
            MatrixWeights::Q8 { q: self.storage("w.q8", bytemuck::cast_slice(&q)), scales: self.storage("w.scale", bytemuck::cast_slice(&scales)), kp }
        } else if w.dtype() == GgmlDType::Q4_0 {
            // Kept at 4 bits on the device: half the bytes of int8, read by the Q4 kernels.
            let (q, scales) = repack_q4_0(&w.data()?, out_dim, kp)?;
            MatrixWeights::Q4 { q: self.storage("w.q4", bytemuck::cast_slice(&q)), scales: self.storage("w.scale", bytemuck::cast_slice(&scales)), kp }
        } else {
            let dense = dequantize_matrix(&w, out_dim, in_dim)?.flatten_all()?.to_vec1::<f32>()?;
            MatrixWeights::F32(self.storage("w.f32", bytemuck::cast_slice(&dense)))
        };
        Ok(GpuMatrix { w: weights, bias: self.storage("bias", bytemuck::cast_slice(bias)), out_dim, in_dim })
    }

    fn vector(&self, v: &[f32]) -> Result<GpuTensor> {
        self.tensor(v, &[v.len()])
    }

    fn rows(&self, data: &[i8], scale: &[f32], dim: usize) -> Result<GpuRows> {
        self.check_alive()?;
        if data.len() != scale.len() * dim {
            return Err(shape_err("rows", format!("{} values for {} rows of {dim}", data.len(), scale.len())));
        }
        let words = dim.div_ceil(4);
        let mut bytes = vec![0u8; scale.len() * words * 4];
        for (src, dst) in data.chunks(dim.max(1)).zip(bytes.chunks_exact_mut(words * 4)) {
            dst[..dim].copy_from_slice(bytemuck::cast_slice(src));
        }
        Ok(GpuRows { q: self.storage("rows.q", &bytes), scale: self.storage("rows.scale", bytemuck::cast_slice(scale)), n: scale.len(), dim })
    }

    fn linear(&self, x: &GpuTensor, w: &GpuMatrix, epi: impl Into<Epilogue>) -> Result<GpuTensor> {
        let e = epi.into();
        let [n, k] = x.shape[..] else {
            return Err(shape_err("linear", format!("x must be [n, in], got {:?}", x.shape)));
        };
        if k != w.in_dim {
            return Err(shape_err("linear", format!("x is [{n}, {k}], weight is [{}, {}]", w.out_dim, w.in_dim)));
        }
        let y = self.output(vec![n, w.out_dim]);
        let groups = (w.out_dim.div_ceil(64) as u32, n.div_ceil(64) as u32);
        match &w.w {
            MatrixWeights::Q8 { q, scales, kp } | MatrixWeights::Q4 { q, scales, kp } => {
                let params = [n as u32, w.out_dim as u32, k as u32, *kp as u32, act_code(e.act), e.scale.to_bits(), e.shift.to_bits(), 0];
                let bindings = [x.buf.buffer(), q, scales, &w.bias, y.buf.buffer()];
                let four = matches!(w.w, MatrixWeights::Q4 { .. });
                let (rows, tiled, tiled_h) = if four {
                    (Kernel::LinearQ4Rows, Kernel::LinearQ4, Kernel::LinearQ4H)
                } else {
                    (Kernel::LinearQ8Rows, Kernel::LinearQ8, Kernel::LinearQ8H)
                };
                if n <= FEW_ROWS {
                    self.dispatch(rows, &bindings, &params, (w.out_dim.div_ceil(64) as u32, n.div_ceil(4) as u32))?;
                } else {
                    self.dispatch(if self.adapter.f16 { tiled_h } else { tiled }, &bindings, &params, groups)?;
                }
            }
            MatrixWeights::F32(dense) => {
                let params = [n as u32, w.out_dim as u32, k as u32, 0, act_code(e.act), e.scale.to_bits(), e.shift.to_bits(), 0];
                let kernel = if self.adapter.f16 { Kernel::LinearF32H } else { Kernel::LinearF32 };
                self.dispatch(kernel, &[x.buf.buffer(), dense, &w.bias, y.buf.buffer()], &params, groups)?;
            }
        }
        Ok(y)
    }

    fn add(&self, a: &GpuTensor, b: &GpuTensor) -> Result<GpuTensor> {
        if a.shape != b.shape {
            return Err(shape_err("add", format!("{:?} + {:?}", a.shape, b.shape)));
        }
        let y = self.output(a.shape.clone());
        let n = a.len();
        self.dispatch(Kernel::Add, &[a.buf.buffer(), b.buf.buffer(), y.buf.buffer()], &[n as u32, 0, 0, 0], self.groups_1d(n))?;
        Ok(y)
    }

    fn layer_norm(&self, x: &GpuTensor, w: &GpuTensor, b: &GpuTensor, eps: f32) -> Result<GpuTensor> {
        let c = *x.shape.last().unwrap_or(&0);
        if c == 0 || w.len() != c || b.len() != c {
            return Err(shape_err("layer_norm", format!("x {:?}, weight {:?}, bias {:?}", x.shape, w.shape, b.shape)));
        }
        let rows = x.len() / c;
        let y = self.output(x.shape.clone());
        self.dispatch(Kernel::LayerNorm, &[x.buf.buffer(), w.buf.buffer(), b.buf.buffer(), y.buf.buffer()], &[c as u32, eps.to_bits(), 0, 0], (rows as u32, 1))?;
        Ok(y)
    }

    fn attention(&self, qkv: &GpuTensor, heads: usize) -> Result<GpuTensor> {
        let [t, three_c] = qkv.shape[..] else {
            return Err(shape_err("attention", format!("qkv must be [t, 3c], got {:?}", qkv.shape)));
        };
        let c = three_c / 3;
        if three_c % 3 != 0 || heads == 0 || c % heads != 0 || t > MAX_ATTENTION_TOKENS {
            return Err(shape_err("attention", format!("qkv [{t}, {three_c}] with {heads} heads (at most {MAX_ATTENTION_TOKENS} tokens)")));
        }
        let y = self.output(vec![t, c]);
        self.dispatch(Kernel::Attention, &[qkv.buf.buffer(), y.buf.buffer()], &[t as u32, heads as u32, (c / heads) as u32, 0], (t as u32, heads as u32))?;
        Ok(y)
    }

    fn depthwise_conv(&self, x: &GpuTensor, w: &GpuTensor, b: &GpuTensor, win: Window, epi: impl Into<Epilogue>) -> Result<GpuTensor> {
        let (n, h, wd, c) = bhwc(x, "depthwise_conv")?;
        if w.len() != win.kh * win.kw * c || b.len() != c {
            return Err(shape_err("depthwise_conv", format!("x {:?}, w {:?}, b {:?}, {win:?}", x.shape, w.shape, b.shape)));
        }
        let (oh, ow) = win.out(h, wd)?;
        let e = epi.into();
        let y = self.output(if x.shape.len() == 4 { vec![n, oh, ow, c] } else { vec![oh, ow, c] });
        let Window { kh, kw, sh, sw, pad: [pt, pl, ..] } = win;
        let mut params = [h, wd, c, kh, kw, sh, sw, oh, ow, pt, pl, act_code(e.act) as usize, n, 0, 0, 0].map(|v| v as u32);
        params[13] = e.scale.to_bits();
        params[14] = e.shift.to_bits();
        self.dispatch(Kernel::Depthwise, &[x.buf.buffer(), w.buf.buffer(), b.buf.buffer(), y.buf.buffer()], &params, self.groups_1d(n * oh * ow * c))?;
        Ok(y)
    }

    fn im2col(&self, x: &GpuTensor, win: Window) -> Result<GpuTensor> {
        let (n, h, wd, c) = bhwc(x, "im2col")?;
        let (oh, ow) = win.out(h, wd)?;
        let Window { kh, kw, sh, sw, pad: [pt, pl, ..] } = win;
        let y = self.output(vec![n * oh * ow, kh * kw * c]);
        let params = [h, wd, c, kh, kw, sh, sw, oh, ow, pt, pl, n].map(|v| v as u32);
        self.dispatch(Kernel::Im2col, &[x.buf.buffer(), y.buf.buffer()], &params, self.groups_1d(n * oh * ow * kh * kw * c))?;
        Ok(y)
    }

    // The feature-map ops PP-OCR adds have no WGSL kernels yet: OCR runs on the CPU backend.
    fn scale_channels(&self, _x: &GpuTensor, _s: &GpuTensor, _residual: bool) -> Result<GpuTensor> {
        Err(Error::Gpu("scale_channels has no GPU kernel yet".into()))
    }

    fn upsample(&self, _x: &GpuTensor, _factor: usize) -> Result<GpuTensor> {
        Err(Error::Gpu("upsample has no GPU kernel yet".into()))
    }

    fn concat(&self, _xs: &[&GpuTensor]) -> Result<GpuTensor> {
        Err(Error::Gpu("concat has no GPU kernel yet".into()))
    }

    fn depth_to_space(&self, _x: &GpuTensor, _factor: usize) -> Result<GpuTensor> {
        Err(Error::Gpu("depth_to_space has no GPU kernel yet".into()))
    }

    fn avg_pool(&self, _x: &GpuTensor, _win: Window) -> Result<GpuTensor> {
        Err(Error::Gpu("avg_pool has no GPU kernel yet".into()))
    }

    fn mean_rows(&self, x: &GpuTensor) -> Result<GpuTensor> {
        let (b, n, c, shape) = match x.shape[..] {
            [n, c] => (1, n, c, vec![1, c]),
            [b, n, c] => (b, n, c, vec![b, c]),
            _ => return Err(shape_err("mean_rows", format!("expected [n, c] or [b, n, c], got {:?}", x.shape))),
        };
        if n == 0 {
            return Err(shape_err("mean_rows", "no rows".into()));
        }
        let y = self.output(shape);
        self.dispatch(Kernel::MeanRows, &[x.buf.buffer(), y.buf.buffer()], &[n as u32, c as u32, b as u32, 0], (c.div_ceil(64) as u32, b as u32))?;
        Ok(y)
    }

    fn l2_normalize(&self, x: &GpuTensor) -> Result<GpuTensor> {
        self.per_row(Kernel::L2Norm, x)
    }

    fn softmax(&self, x: &GpuTensor) -> Result<GpuTensor> {
        self.per_row(Kernel::Softmax, x)
    }

    fn scores(&self, rows: &GpuRows, q: &GpuTensor) -> Result<GpuTensor> {
        let [m, d] = q.shape[..] else {
            return Err(shape_err("scores", format!("queries must be [m, dim], got {:?}", q.shape)));
        };
        if d != rows.dim {
            return Err(shape_err("scores", format!("queries [{m}, {d}] against rows of {}", rows.dim)));
        }
        let y = self.output(vec![m, rows.n]);
        if rows.n > 0 && m > 0 {
            let params = [rows.n, rows.dim, rows.words(), m].map(|v| v as u32);
            self.dispatch(Kernel::Scores, &[q.buf.buffer(), &rows.q, &rows.scale, y.buf.buffer()], &params, (rows.n.div_ceil(64) as u32, m as u32))?;
        }
        Ok(y)
    }

    fn conse(&self, probs: &GpuTensor, labels: &GpuRows, top: usize) -> Result<GpuTensor> {
        if probs.shape != [1, labels.n] || top > MAX_CONSE_TOP {
            return Err(shape_err("conse", format!("probabilities {:?} for {} label rows, top {top} (at most {MAX_CONSE_TOP})", probs.shape, labels.n)));
        }
        let y = self.output(vec![1, labels.dim]);
        let params = [labels.n, labels.dim, labels.words(), top].map(|v| v as u32);
        self.dispatch(Kernel::Conse, &[probs.buf.buffer(), &labels.q, &labels.scale, y.buf.buffer()], &params, (1, 1))?;
        Ok(y)
    }

    fn reshape(&self, x: &GpuTensor, shape: &[usize]) -> Result<GpuTensor> {
        if shape.iter().product::<usize>() != x.len() {
            return Err(shape_err("reshape", format!("{:?} → {shape:?}", x.shape)));
        }
        Ok(GpuTensor { buf: x.buf.clone(), shape: shape.to_vec() })
    }
}

/// Splits Q8_0 blocks (f16 scale + 32 int8, 34 bytes) into u32-packed int8 `[rows, kp/4]` and
/// f32 scales `[rows, kp/32]`, the layout the matmul kernel loads with aligned 32-bit reads.
pub fn repack_q8_0(raw: &[u8], rows: usize, kp: usize) -> Result<(Vec<u32>, Vec<f32>)> {
    let blocks = rows * kp / Q8_0_BLOCK;
    if raw.len() != blocks * Q8_0_BLOCK_BYTES {
        return Err(Error::Model(format!("Q8_0 data is {} bytes, expected {} for [{rows}, {kp}]", raw.len(), blocks * Q8_0_BLOCK_BYTES)));
    }
    let mut q = Vec::with_capacity(rows * kp / 4);
    let mut scales = Vec::with_capacity(blocks);
    for block in raw.chunks_exact(Q8_0_BLOCK_BYTES) {
        scales.push(half::f16::from_le_bytes([block[0], block[1]]).to_f32());
        q.extend(block[2..].chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    }
    Ok((q, scales))
}

/// Q4_0 blocks (f16 scale, then 16 bytes: byte j holds weight j in its low nibble and weight
/// j + 16 in its high one, each stored +8) → eight nibbles per u32 in weight order (nibble i of
/// word w is weight 8w + i) `[rows, kp/8]`, and the scales as f32 `[rows, kp/32]`.
pub fn repack_q4_0(raw: &[u8], rows: usize, kp: usize) -> Result<(Vec<u32>, Vec<f32>)> {
    let blocks = rows * kp / Q8_0_BLOCK;
    if raw.len() != blocks * Q4_0_BLOCK_BYTES {
        return Err(Error::Model(format!("Q4_0 data is {} bytes, expected {} for [{rows}, {kp}]", raw.len(), blocks * Q4_0_BLOCK_BYTES)));
    }
    let mut q = Vec::with_capacity(rows * kp / 8);
    let mut scales = Vec::with_capacity(blocks);
    for block in raw.chunks_exact(Q4_0_BLOCK_BYTES) {
        let (d, w) = q4_0_values(block);
        scales.push(d);
        // Back to the stored nibble (value + 8), eight per word in weight order.
        q.extend(w.chunks_exact(8).map(|e| e.iter().enumerate().fold(0u32, |acc, (i, &v)| acc | ((v + 8) as u32) << (4 * i))));
    }
    Ok((q, scales))
}

#[cfg(test)]
mod tests {
    use super::repack_q4_0;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};

    #[test]
    fn q4_repacking_keeps_every_weight_in_order() {
        let (rows, k) = (3, 64);
        let w: Vec<f32> = (0..rows * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
        let t = QTensor::quantize(&Tensor::from_vec(w, (rows, k), &Device::Cpu).unwrap(), GgmlDType::Q4_0).unwrap();
        let want = t.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let (q, s) = repack_q4_0(&t.data().unwrap(), rows, k).unwrap();
        let got: Vec<f32> = (0..rows * k).map(|i| (((q[i / 8] >> (4 * (i % 8))) & 15) as f32 - 8.0) * s[i / 32]).collect();
        assert_eq!(got, want);
        assert!(repack_q4_0(&t.data().unwrap()[1..], rows, k).is_err());
    }
}
