//! Getting a device: the adapter wgpu prefers (a real GPU before a software one), with the
//! default limits raised to what the kernels need where the adapter allows.

use crate::error::{Error, Result};

/// The adapter the backend runs on, for display and for reports.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// Device name ("NVIDIA H100 PCIe", "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// Graphics API ("Vulkan", "Metal", "Dx12", "BrowserWebGpu").
    pub backend: String,
    /// Driver and its version.
    pub driver: String,
    /// A software implementation (lavapipe, SwiftShader, WARP): the browser's "fallback
    /// adapter", or known by name natively.
    pub software: bool,
    /// Whether the matmul tiles run in f16 (the device has shader-f16 and it was wanted).
    pub f16: bool,
}

/// The adapter wgpu prefers (a high-performance one first), or why there is none.
async fn request_adapter() -> std::result::Result<wgpu::Adapter, wgpu::RequestAdapterError> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    instance.request_adapter(&wgpu::RequestAdapterOptions { power_preference: wgpu::PowerPreference::HighPerformance, ..Default::default() }).await
}

/// Whether any adapter exists here at all (whether or not a device then opens on it).
pub async fn adapter_exists() -> bool {
    request_adapter().await.is_ok()
}

/// Opens an adapter and a device, with shader-f16 where the adapter has it and `want_f16`.
/// An error says why there is no GPU.
pub async fn open(want_f16: bool) -> Result<(wgpu::Device, wgpu::Queue, Adapter)> {
    let adapter = request_adapter().await.map_err(|e| Error::GpuUnavailable(format!("no adapter: {e}")))?;
    let info = adapter.get_info();
    let mut limits = wgpu::Limits::default();
    let have = adapter.limits();
    // Feature maps of the first EfficientNet layers and im2col patches exceed the 128 MiB default.
    limits.max_storage_buffer_binding_size = have.max_storage_buffer_binding_size.min(1 << 30);
    limits.max_buffer_size = have.max_buffer_size.min(1 << 30);
    let f16 = want_f16 && adapter.features().contains(wgpu::Features::SHADER_F16);
    let required_features = if f16 { wgpu::Features::SHADER_F16 } else { wgpu::Features::empty() };
    let (device, queue) = adapter
        .request_device(&wgpu::DeviceDescriptor { label: Some("helplens"), required_limits: limits, required_features, ..Default::default() })
        .await
        .map_err(|e| Error::GpuUnavailable(format!("no device on {}: {e}", info.name)))?;
    let software = info.device_type == wgpu::DeviceType::Cpu || is_software(&format!("{} {} {}", info.name, info.driver, info.driver_info));
    let adapter = Adapter {
        // Browsers may withhold the description (Chromium's SwiftShader gives none).
        name: match (info.name.is_empty(), software) {
            (false, _) => info.name.clone(),
            (true, true) => "unnamed software adapter".into(),
            (true, false) => "unnamed adapter".into(),
        },
        backend: format!("{:?}", info.backend),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        software,
        f16,
    };
    Ok((device, queue, adapter))
}

/// Software rasterisers by name, for platforms that report no device type (the browser).
fn is_software(description: &str) -> bool {
    let d = description.to_lowercase();
    ["swiftshader", "llvmpipe", "lavapipe", "softpipe", "microsoft basic render", "warp"].iter().any(|s| d.contains(s))
}
