//! Recording work: uploads, output buffers from the pool, and dispatches into the one open
//! compute pass of a forward pass, submitted when a result is read (or on [`Gpu::flush`]).

use std::rc::Rc;

use super::kernels::Kernel;
use super::params::Params;
use super::pool::Pool;
use super::{Gpu, GpuTensor};
use crate::error::{Error, Result};

/// Threads per workgroup of the one-thread-per-value kernels (`@workgroup_size(256)`).
const GROUP: usize = 256;

impl Gpu {
    /// A storage buffer holding `bytes`.
    pub(super) fn storage(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
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

    /// A tensor of `shape` in a buffer from the pool (contents undefined until written).
    pub(super) fn output(&self, shape: Vec<usize>) -> GpuTensor {
        let bytes = (shape.iter().product::<usize>().max(1) * 4) as u64;
        GpuTensor { buf: Rc::new(Pool::take(&self.pool, &self.device, bytes)), shape }
    }

    /// Records one dispatch of `kernel` over `groups` workgroups with `buffers` bound in
    /// binding order and `params` as the uniform after them.
    pub(super) fn dispatch<P: Params>(&self, kernel: Kernel, buffers: &[&wgpu::Buffer], params: &P, groups: (u32, u32)) -> Result<()> {
        self.check_alive()?;
        if !P::KERNELS.contains(&kernel) {
            return Err(Error::GpuBug(format!("{kernel:?} does not read {}", std::any::type_name::<P>())));
        }
        let limit = self.max_groups;
        if groups.0 > limit || groups.1 > limit {
            return Err(Error::GpuBug(format!("{kernel:?}: {groups:?} workgroups exceed the device limit {limit}")));
        }
        let uniform = self.upload("params", bytemuck::bytes_of(params), wgpu::BufferUsages::UNIFORM);
        let pipeline = self.kernels.get(kernel)?;
        let mut entries: Vec<wgpu::BindGroupEntry> = buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() }).collect();
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

    /// Workgroups for `n` threads in groups of 256, folded into two dimensions past the
    /// device's per-dimension limit (the kernels index `g.x + g.y · nw.x · 256`).
    pub(super) fn groups_1d(&self, n: usize) -> (u32, u32) {
        let g = n.div_ceil(GROUP).max(1) as u32;
        let limit = self.max_groups;
        if g <= limit {
            (g, 1)
        } else {
            (limit, g.div_ceil(limit))
        }
    }

    /// Ends the open compute pass and hands over its encoder (None when nothing is recorded).
    pub(super) fn take_encoder(&self) -> Option<wgpu::CommandEncoder> {
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
