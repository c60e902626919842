//! The Rust side of the plugin ABI: serves `Node` implementations through the
//! C function table. Used through [`export_plugin!`](crate::export_plugin).

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use super::abi::{self, GspHost, GspPlugin, GspTensor};
use super::{ForeignStorage, lend};
use crate::{
    CancelToken, Inputs, LogLevel, Node, NodeError, NodeSpec, Params, PortType, Record, Reporter, RunContext, Storage,
    Tensor, Value,
};

/// A plugin's nodes and the descriptor that describes them to the host.
pub struct Exported {
    id: CString,
    version: CString,
    nodes_json: CString,
    nodes: Vec<(NodeSpec, Arc<dyn Node>)>,
    descriptor: GspPlugin,
}

// The descriptor points into the CStrings above, which never change.
unsafe impl Send for Exported {}
unsafe impl Sync for Exported {}

/// One node type served to the host.
struct Instance {
    spec: NodeSpec,
    node: Arc<dyn Node>,
}

impl Exported {
    /// Describes `nodes` as plugin `id` at `version`; `create` is the plugin's
    /// exported wrapper around [`Exported::create`].
    pub fn new(
        id: &str,
        version: &str,
        nodes: Vec<Arc<dyn Node>>,
        create: unsafe extern "C" fn(*const c_char) -> *mut c_void,
    ) -> Exported {
        let nodes: Vec<(NodeSpec, Arc<dyn Node>)> = nodes.into_iter().map(|n| (n.spec(), n)).collect();
        let specs: Vec<&NodeSpec> = nodes.iter().map(|(s, _)| s).collect();
        let c = |s: &str| CString::new(s).expect("no NUL inside plugin strings");
        let (id, version) = (c(id), c(version));
        let nodes_json = c(&serde_json::to_string(&specs).expect("specs serialise"));
        let descriptor = GspPlugin {
            abi_major: abi::ABI_MAJOR,
            abi_minor: abi::ABI_MINOR,
            id: id.as_ptr(),
            version: version.as_ptr(),
            nodes_json: nodes_json.as_ptr(),
            create,
            run: run_instance,
            destroy: destroy_instance,
        };
        Exported {
            id,
            version,
            nodes_json,
            nodes,
            descriptor,
        }
    }

    /// The descriptor returned by `gspeech_plugin_entry`.
    pub fn descriptor(&self) -> *const GspPlugin {
        let _ = (&self.id, &self.version, &self.nodes_json);
        &self.descriptor
    }

    /// An instance of one node type, or null for an unknown type.
    ///
    /// # Safety
    /// `type_id` must be a NUL-terminated string.
    pub unsafe fn create(&self, type_id: *const c_char) -> *mut c_void {
        let result = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: by contract.
            let type_id = unsafe { CStr::from_ptr(type_id) }.to_str().ok()?;
            let (spec, node) = self.nodes.iter().find(|(s, _)| s.type_id == type_id)?;
            Some(Box::into_raw(Box::new(Instance {
                spec: spec.clone(),
                node: node.clone(),
            })) as *mut c_void)
        }));
        result.ok().flatten().unwrap_or(std::ptr::null_mut())
    }
}

/// `gsp_plugin.destroy` for Rust plugins.
///
/// # Safety
/// `instance` must come from [`Exported::create`] and be destroyed once.
pub unsafe extern "C" fn destroy_instance(instance: *mut c_void) {
    if !instance.is_null() {
        // SAFETY: by contract.
        drop(unsafe { Box::from_raw(instance as *mut Instance) });
    }
}

/// `gsp_plugin.run` for Rust plugins: runs the node, turning panics into errors.
///
/// # Safety
/// `instance` must come from [`Exported::create`]; `host` must be valid for the call.
pub unsafe extern "C" fn run_instance(instance: *mut c_void, host: *const GspHost) -> i32 {
    // SAFETY: by contract.
    let (instance, host) = unsafe { (&*(instance as *const Instance), &*host) };
    let result = catch_unwind(AssertUnwindSafe(|| unsafe { run_node(instance, host) }));
    let message = match result {
        Ok(Ok(())) => return abi::STATUS_OK,
        Ok(Err(NodeError::Cancelled)) => return abi::STATUS_CANCELLED,
        Ok(Err(e)) => e.to_string(),
        Err(panic) => format!("the node panicked: {}", panic_text(&panic)),
    };
    let message = CString::new(message.replace('\0', " ")).expect("NULs replaced");
    // SAFETY: a host callback with its own context.
    unsafe { (host.set_error)(host.ctx, message.as_ptr()) };
    abi::STATUS_ERROR
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Reads a NUL-terminated string from the host.
unsafe fn text<'a>(ptr: *const c_char) -> Result<&'a str, NodeError> {
    if ptr.is_null() {
        return Err(NodeError::other("the host passed a null string"));
    }
    // SAFETY: by the ABI's contract.
    unsafe { CStr::from_ptr(ptr) }
        .to_str()
        .map_err(|_| NodeError::other("the host passed a string that is not UTF-8"))
}

fn cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).expect("NULs replaced")
}

/// The host's context pointer, usable from the node's threads.
#[derive(Clone, Copy)]
struct HostRef(*const GspHost);
unsafe impl Send for HostRef {}
unsafe impl Sync for HostRef {}

impl HostRef {
    fn host(&self) -> &GspHost {
        // SAFETY: the host outlives the `run` call that made this reference.
        unsafe { &*self.0 }
    }
}

impl Reporter for HostRef {
    fn progress(&self, fraction: f32, message: &str) {
        let h = self.host();
        unsafe { (h.progress)(h.ctx, fraction, cstring(message).as_ptr()) }
    }

    fn log(&self, level: LogLevel, message: &str) {
        let h = self.host();
        let level = match level {
            LogLevel::Debug => 0,
            LogLevel::Info => 1,
            LogLevel::Warn => 2,
        };
        unsafe { (h.log)(h.ctx, level, cstring(message).as_ptr()) }
    }
}

unsafe fn run_node(instance: &Instance, host: &GspHost) -> Result<(), NodeError> {
    let spec = &instance.spec;
    let mut values = BTreeMap::new();
    let inputs = if host.n_inputs == 0 {
        &[][..]
    } else {
        // SAFETY: by the ABI's contract.
        unsafe { std::slice::from_raw_parts(host.inputs, host.n_inputs as usize) }
    };
    for input in inputs {
        let socket = unsafe { text(input.socket) }?;
        let kind = unsafe { text(input.kind) }?;
        let kind = PortType::from_name(kind).ok_or_else(|| NodeError::input(socket, format!("unknown kind {kind}")))?;
        let json: serde_json::Value = serde_json::from_str(unsafe { text(input.json) }?)
            .map_err(|e| NodeError::input(socket, format!("bad JSON from the host: {e}")))?;
        let value = if kind.is_data() {
            let mut record = Record::new(kind);
            for (k, v) in json.as_object().cloned().unwrap_or_default() {
                record = record.with_attr(k, v);
            }
            let tensors = if input.n_tensors == 0 {
                &[][..]
            } else {
                unsafe { std::slice::from_raw_parts(input.tensors, input.n_tensors as usize) }
            };
            for t in tensors {
                let (name, tensor) = unsafe { borrow_tensor(t, host) }.map_err(|e| NodeError::input(socket, e))?;
                record = record.with_tensor(name, tensor);
            }
            Value::data(record)
        } else {
            scalar(kind, &json).ok_or_else(|| NodeError::input(socket, format!("{json} is not a {kind}")))?
        };
        values.insert(socket.to_string(), value);
    }

    let set: serde_json::Map<String, serde_json::Value> = serde_json::from_str(unsafe { text(host.params_json) }?)
        .map_err(|e| NodeError::other(format!("bad parameters from the host: {e}")))?;
    let temp_root = Path::new(unsafe { text(host.temp_root) }?);
    let params = Params::from_json(spec, &set, temp_root).map_err(|(n, m)| NodeError::param(&n, m))?;
    let reporter = HostRef(host);
    let cancel = CancelToken::with_probe(move || {
        let h = reporter.host();
        unsafe { (h.is_cancelled)(h.ctx) != 0 }
    });
    let node_id = unsafe { text(host.node_id) }?;
    #[cfg(feature = "gpu")]
    let gpu = crate::gpu::GpuSlot::new();
    let ctx = RunContext::new(
        node_id,
        &spec.type_id,
        &reporter,
        &cancel,
        temp_root,
        None,
        #[cfg(feature = "gpu")]
        &gpu,
    );
    let outputs = instance.node.run(&ctx, &Inputs::new(values), &params)?;
    for (socket, value) in outputs.values() {
        unsafe { send_output(host, socket, value) }?;
    }
    Ok(())
}

fn scalar(kind: PortType, json: &serde_json::Value) -> Option<Value> {
    Some(match kind {
        PortType::Int => Value::Int(json.as_i64()?),
        PortType::Float => Value::Float(json.as_f64()?),
        PortType::Bool => Value::Bool(json.as_bool()?),
        PortType::Text => Value::Text(json.as_str()?.into()),
        PortType::Path => Value::Path(Path::new(json.as_str()?).into()),
        _ => return None,
    })
}

/// Wraps a tensor lent by the host, keeping its memory alive past the call.
unsafe fn borrow_tensor(t: &GspTensor, host: &GspHost) -> Result<(String, Tensor), String> {
    let name = unsafe { text(t.name) }.map_err(|e| e.to_string())?.to_string();
    let dtype =
        abi::dtype_from_code(t.dtype).ok_or_else(|| format!("tensor `{name}` has unknown dtype {}", t.dtype))?;
    let shape: Vec<usize> = if t.ndim == 0 {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(t.shape, t.ndim as usize) }
            .iter()
            .map(|&d| d as usize)
            .collect()
    };
    let owner = unsafe { (host.retain)(t.owner) };
    let storage = unsafe { ForeignStorage::new(t.data as *const u8, t.byte_len as usize, owner, t.release) };
    let tensor = Tensor::from_storage(dtype, &shape, Arc::new(storage)).map_err(|e| format!("tensor `{name}`: {e}"))?;
    Ok((name, tensor))
}

/// Hands one output to the host: scalars as JSON, data as attributes plus
/// tensors shared without copying.
unsafe fn send_output(host: &GspHost, socket: &str, value: &Value) -> Result<(), NodeError> {
    let (json, record) = match value {
        Value::Int(v) => (serde_json::json!(v), None),
        Value::Float(v) => (serde_json::json!(v), None),
        Value::Bool(v) => (serde_json::json!(v), None),
        Value::Text(v) => (serde_json::json!(&**v), None),
        Value::Path(v) => (serde_json::json!(v.to_string_lossy()), None),
        Value::Data(r) => (serde_json::Value::Object(r.attrs().clone()), Some(r)),
    };
    let c_socket = cstring(socket);
    let refused = || NodeError::other(format!("the host refused output `{socket}`"));
    if unsafe { (host.set_output)(host.ctx, c_socket.as_ptr(), cstring(&json.to_string()).as_ptr()) } != 0 {
        return Err(refused());
    }
    for (name, tensor) in record.map(|r| r.tensors().iter()).into_iter().flatten() {
        let storage: &Arc<dyn Storage> = tensor.storage();
        // Memory the host lent us goes back under the host's own handle (the host
        // keeps its own reference); memory of ours is lent, and the host releases it.
        let (owner, release) = match (storage.as_ref() as &dyn std::any::Any).downcast_ref::<ForeignStorage>() {
            Some(foreign) => foreign.owner(),
            None => {
                let (owner, release) = lend(storage);
                (owner, Some(release))
            }
        };
        let shape = abi::shape_u64(tensor);
        let c_name = cstring(name);
        let view = GspTensor::view(c_name.as_ptr(), tensor, &shape, owner, release);
        if unsafe { (host.share_tensor)(host.ctx, c_socket.as_ptr(), &view) } != 0 {
            return Err(refused());
        }
    }
    Ok(())
}

/// Exports a plugin's nodes: one line in the plugin crate's `lib.rs`, which
/// must be built as a `cdylib`.
///
/// ```ignore
/// gspeech_sdk::export_plugin!(id: "com.example.smooth", version: "1.0.0", nodes: [Smooth]);
/// ```
#[macro_export]
macro_rules! export_plugin {
    (id: $id:expr, version: $version:expr, nodes: [$($node:expr),* $(,)?] $(,)?) => {
        const _: () = {
            static EXPORTED: ::std::sync::OnceLock<$crate::plugin::Exported> = ::std::sync::OnceLock::new();

            fn exported() -> &'static $crate::plugin::Exported {
                EXPORTED.get_or_init(|| {
                    let nodes: ::std::vec::Vec<::std::sync::Arc<dyn $crate::Node>> =
                        ::std::vec![$(::std::sync::Arc::new($node)),*];
                    $crate::plugin::Exported::new($id, $version, nodes, create)
                })
            }

            unsafe extern "C" fn create(type_id: *const ::std::ffi::c_char) -> *mut ::std::ffi::c_void {
                // SAFETY: the host passes a NUL-terminated type id.
                unsafe { exported().create(type_id) }
            }

            /// The plugin's entry point, called once by the host.
            #[unsafe(no_mangle)]
            pub extern "C" fn gspeech_plugin_entry() -> *const $crate::plugin::abi::GspPlugin {
                match ::std::panic::catch_unwind(|| exported().descriptor()) {
                    Ok(descriptor) => descriptor,
                    Err(_) => ::std::ptr::null(),
                }
            }
        };
    };
}
