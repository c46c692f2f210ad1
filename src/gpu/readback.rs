//! Reading results back: the recorded work is submitted with copies of the tensors into one
//! mappable buffer, which is mapped once.

use super::{Gpu, GpuTensor};
use crate::error::{Error, Result};

impl Gpu {
    /// The values of every tensor in `ts`, after everything recorded so far has run. Natively
    /// the device is polled to completion first, so the future is ready at once; in the browser
    /// the map completes only once control returns to the event loop.
    pub(super) async fn read_back(&self, ts: &[&GpuTensor]) -> Result<Vec<Vec<f32>>> {
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
                enc.copy_buffer_to_buffer(t.buffer(), 0, &staging, at, bytes);
            }
            at += bytes;
        }
        self.queue.submit([enc.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        let failed = |what: String| if self.is_lost() { Error::GpuLost } else { Error::GpuUnavailable(what) };
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
}
