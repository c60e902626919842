//! The GPU shared by every node of a process (and by the editor's viewport).

use std::sync::{Arc, OnceLock};

/// A wgpu adapter, device and queue.
#[derive(Debug)]
pub struct Gpu {
    /// The adapter the device was made on.
    pub adapter: wgpu::Adapter,
    /// The logical device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
}

impl Gpu {
    /// Opens the best adapter without a window. On machines without a GPU this is
    /// Mesa's software Vulkan driver (lavapipe) when it is installed.
    pub fn headless() -> Result<Gpu, String> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        };
        let adapter = pollster::block_on(instance.request_adapter(&options)).map_err(|e| {
            format!(
                "no GPU adapter found ({e}); on a machine without a GPU install Mesa's software \
                 Vulkan driver (scripts/setup.sh installs mesa-vulkan-drivers)"
            )
        })?;
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("gspeech"),
            required_limits: adapter.limits(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&descriptor))
            .map_err(|e| format!("could not open the GPU `{}`: {e}", adapter.get_info().name))?;
        Ok(Gpu { adapter, device, queue })
    }

    /// A one-line description: adapter name and backend.
    pub fn describe(&self) -> String {
        let info = self.adapter.get_info();
        format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
    }
}

/// A GPU created on first request and shared afterwards. A failure is remembered,
/// so a machine without an adapter is probed once.
#[derive(Debug, Default)]
pub struct GpuSlot {
    cell: OnceLock<Result<Arc<Gpu>, String>>,
}

impl GpuSlot {
    /// An empty slot; the GPU is opened on the first `get`.
    pub fn new() -> GpuSlot {
        GpuSlot::default()
    }

    /// A slot holding an existing GPU (the editor passes its own device).
    pub fn with(gpu: Arc<Gpu>) -> GpuSlot {
        let slot = GpuSlot::new();
        let _ = slot.cell.set(Ok(gpu));
        slot
    }

    /// The GPU, opening it if nobody has yet.
    pub fn get(&self) -> Result<Arc<Gpu>, String> {
        self.cell.get_or_init(|| Gpu::headless().map(Arc::new)).clone()
    }

    /// Whether a GPU has been opened (or tried).
    pub fn is_initialised(&self) -> bool {
        self.cell.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_opens_the_gpu_once_on_first_use() {
        let slot = GpuSlot::new();
        assert!(!slot.is_initialised(), "nothing is opened before it is asked for");
        let first = slot.get().expect("an adapter (lavapipe without a GPU)");
        assert!(slot.is_initialised());
        let second = slot.get().unwrap();
        assert!(Arc::ptr_eq(&first, &second), "the device is shared, not reopened");
        assert!(!first.describe().is_empty());
        let shared = GpuSlot::with(first.clone());
        assert!(Arc::ptr_eq(&shared.get().unwrap(), &first));
    }
}
