//! Reusable device buffers for intermediate tensors, keyed by size.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Free buffers by byte size.
#[derive(Default)]
pub struct Pool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    created: usize,
}

/// A buffer on loan from the pool; it goes back when dropped.
pub struct PooledBuffer {
    buf: Option<wgpu::Buffer>,
    size: u64,
    pool: Rc<RefCell<Pool>>,
}

impl Pool {
    /// A buffer of at least `bytes` (rounded up to 256), reused where one is free.
    pub fn take(pool: &Rc<RefCell<Pool>>, device: &wgpu::Device, bytes: u64) -> PooledBuffer {
        let size = bytes.div_ceil(256) * 256;
        let reused = pool.borrow_mut().free.get_mut(&size).and_then(Vec::pop);
        let buf = reused.unwrap_or_else(|| {
            pool.borrow_mut().created += 1;
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("activation"),
                size,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        PooledBuffer { buf: Some(buf), size, pool: pool.clone() }
    }

    /// Buffers created so far (free or on loan).
    pub fn created(&self) -> usize {
        self.created
    }
}

impl PooledBuffer {
    /// The device buffer.
    pub fn buffer(&self) -> &wgpu::Buffer {
        self.buf.as_ref().expect("pooled buffer is present until drop")
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(b) = self.buf.take() {
            self.pool.borrow_mut().free.entry(self.size).or_default().push(b);
        }
    }
}
