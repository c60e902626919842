//! A plugin's node type, served to the executor like a built-in one.
//!
//! Each call runs on a pool thread of its own so that a plugin that ignores
//! cancellation cannot hold the run: once the run is cancelled and the plugin
//! has not returned within [`CANCEL_GRACE`], its call is abandoned (it goes on
//! in the background with everything it needs) and the node reports that it was
//! cancelled.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select};
use gspeech_sdk::plugin::abi::{self, GspHost, GspPlugin, GspTensor, GspValue};
use gspeech_sdk::plugin::{ForeignStorage, clone_lent, lend, release_lent, retain_lent};
use gspeech_sdk::{
    CancelToken, DType, Element, Inputs, LogLevel, Node, NodeError, NodeSpec, Outputs, Params, PortType, Record,
    RunContext, Storage, Tensor, Value,
};

/// How long a cancelled plugin call may take to return before it is abandoned.
pub const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// A plugin library's descriptor, valid for the life of the process (plugins are never unloaded).
#[derive(Clone, Copy)]
pub struct Descriptor(pub *const GspPlugin);
unsafe impl Send for Descriptor {}
unsafe impl Sync for Descriptor {}

/// An instance made by the plugin's `create`, shared by every call.
#[derive(Clone, Copy)]
struct Instance(*mut c_void);
unsafe impl Send for Instance {}
unsafe impl Sync for Instance {}

/// One node type of a loaded plugin.
pub struct PluginNode {
    spec: NodeSpec,
    plugin_id: String,
    descriptor: Descriptor,
    instance: Instance,
}

impl PluginNode {
    /// Creates the plugin's instance for `spec`; `None` when the plugin cannot.
    pub fn new(spec: NodeSpec, plugin_id: &str, descriptor: Descriptor) -> Option<PluginNode> {
        let type_id = CString::new(spec.type_id.as_str()).ok()?;
        // SAFETY: a valid descriptor and a NUL-terminated type id.
        let instance = unsafe { ((*descriptor.0).create)(type_id.as_ptr()) };
        (!instance.is_null()).then(|| PluginNode {
            spec,
            plugin_id: plugin_id.to_string(),
            descriptor,
            instance: Instance(instance),
        })
    }
}

/// Something a plugin reported while running.
enum Report {
    Progress(f32, String),
    Log(LogLevel, String),
}

/// An output as the plugin declares it.
enum Pending {
    Scalar(Value),
    Data {
        attrs: serde_json::Map<String, serde_json::Value>,
        tensors: BTreeMap<String, Tensor>,
        buffers: Vec<(String, Buffer, Vec<usize>)>,
    },
}

/// Host-allocated memory a plugin writes into during its call.
enum Buffer {
    U8(Vec<u8>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Buffer {
    fn zeroed(dtype: DType, len: usize) -> Buffer {
        match dtype {
            DType::U8 => Buffer::U8(vec![0; len]),
            DType::U32 => Buffer::U32(vec![0; len]),
            DType::I32 => Buffer::I32(vec![0; len]),
            DType::I64 => Buffer::I64(vec![0; len]),
            DType::F32 => Buffer::F32(vec![0.0; len]),
            DType::F64 => Buffer::F64(vec![0.0; len]),
        }
    }

    fn as_mut_ptr(&mut self) -> *mut c_void {
        match self {
            Buffer::U8(v) => v.as_mut_ptr() as *mut c_void,
            Buffer::U32(v) => v.as_mut_ptr() as *mut c_void,
            Buffer::I32(v) => v.as_mut_ptr() as *mut c_void,
            Buffer::I64(v) => v.as_mut_ptr() as *mut c_void,
            Buffer::F32(v) => v.as_mut_ptr() as *mut c_void,
            Buffer::F64(v) => v.as_mut_ptr() as *mut c_void,
        }
    }

    fn into_tensor(self, shape: &[usize]) -> Tensor {
        fn t<T: Element>(shape: &[usize], v: Vec<T>) -> Tensor {
            Tensor::from_vec(shape, v).expect("allocated for this shape")
        }
        match self {
            Buffer::U8(v) => t(shape, v),
            Buffer::U32(v) => t(shape, v),
            Buffer::I32(v) => t(shape, v),
            Buffer::I64(v) => t(shape, v),
            Buffer::F32(v) => t(shape, v),
            Buffer::F64(v) => t(shape, v),
        }
    }
}

/// What the host's callbacks see: shared by the waiting thread and the call's thread.
struct CallState {
    outputs: BTreeMap<String, PortType>,
    cancel: CancelToken,
    reports: Sender<Report>,
    pending: Mutex<(BTreeMap<String, Pending>, Option<String>)>,
}

impl CallState {
    fn fail(&self, message: String) -> i32 {
        self.pending.lock().unwrap().1.get_or_insert(message);
        -1
    }
}

unsafe fn text<'a>(ptr: *const c_char) -> Option<&'a str> {
    if ptr.is_null() {
        None
    } else {
        unsafe { CStr::from_ptr(ptr) }.to_str().ok()
    }
}

unsafe fn state<'a>(ctx: *mut c_void) -> &'a CallState {
    // SAFETY: ctx is the CallState the call was given, kept alive by its thread.
    unsafe { &*(ctx as *const CallState) }
}

/// Runs `f`, turning a panic into `fallback` (a panic must not cross into C).
fn guarded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

unsafe extern "C" fn host_progress(ctx: *mut c_void, fraction: f32, message: *const c_char) {
    guarded((), || {
        let message = unsafe { text(message) }.unwrap_or("").to_string();
        let _ = unsafe { state(ctx) }.reports.send(Report::Progress(fraction, message));
    })
}

unsafe extern "C" fn host_log(ctx: *mut c_void, level: u32, message: *const c_char) {
    guarded((), || {
        let level = match level {
            0 => LogLevel::Debug,
            2 => LogLevel::Warn,
            _ => LogLevel::Info,
        };
        let message = unsafe { text(message) }.unwrap_or("(not UTF-8)").to_string();
        let _ = unsafe { state(ctx) }.reports.send(Report::Log(level, message));
    })
}

unsafe extern "C" fn host_is_cancelled(ctx: *mut c_void) -> i32 {
    guarded(1, || i32::from(unsafe { state(ctx) }.cancel.is_cancelled()))
}

unsafe extern "C" fn host_set_error(ctx: *mut c_void, message: *const c_char) {
    guarded((), || {
        let message = unsafe { text(message) }.unwrap_or("(message not UTF-8)").to_string();
        unsafe { state(ctx) }.pending.lock().unwrap().1 = Some(message);
    })
}

unsafe extern "C" fn host_set_output(ctx: *mut c_void, socket: *const c_char, json: *const c_char) -> i32 {
    guarded(-1, || {
        let state = unsafe { state(ctx) };
        let Some(socket) = (unsafe { text(socket) }) else {
            return state.fail("set_output: bad socket name".into());
        };
        let Some(&kind) = state.outputs.get(socket) else {
            return state.fail(format!("set_output: there is no output `{socket}`"));
        };
        let json: serde_json::Value = match unsafe { text(json) }.map(serde_json::from_str) {
            Some(Ok(json)) => json,
            _ => return state.fail(format!("set_output `{socket}`: the JSON is not valid")),
        };
        let pending = if kind.is_data() {
            let Some(attrs) = json.as_object().cloned() else {
                return state.fail(format!("set_output `{socket}`: attributes must be a JSON object"));
            };
            Pending::Data {
                attrs,
                tensors: BTreeMap::new(),
                buffers: Vec::new(),
            }
        } else {
            let value = match kind {
                PortType::Int => json.as_i64().map(Value::Int),
                PortType::Float => json.as_f64().map(Value::Float),
                PortType::Bool => json.as_bool().map(Value::Bool),
                PortType::Text => json.as_str().map(|s| Value::Text(s.into())),
                PortType::Path => json.as_str().map(|s| Value::Path(std::path::Path::new(s).into())),
                _ => None,
            };
            let Some(value) = value else {
                return state.fail(format!("set_output `{socket}`: {json} is not a {kind}"));
            };
            Pending::Scalar(value)
        };
        state.pending.lock().unwrap().0.insert(socket.to_string(), pending);
        0
    })
}

unsafe fn shape_of(ndim: u32, shape: *const u64) -> Vec<usize> {
    if ndim == 0 {
        Vec::new()
    } else {
        unsafe { std::slice::from_raw_parts(shape, ndim as usize) }
            .iter()
            .map(|&d| d as usize)
            .collect()
    }
}

unsafe extern "C" fn host_alloc_tensor(
    ctx: *mut c_void,
    socket: *const c_char,
    name: *const c_char,
    dtype: u32,
    ndim: u32,
    shape: *const u64,
) -> *mut c_void {
    guarded(std::ptr::null_mut(), || {
        let state = unsafe { state(ctx) };
        let (Some(socket), Some(name)) = (unsafe { text(socket) }, unsafe { text(name) }) else {
            state.fail("alloc_tensor: bad names".into());
            return std::ptr::null_mut();
        };
        let Some(dtype) = abi::dtype_from_code(dtype) else {
            state.fail(format!("alloc_tensor `{socket}/{name}`: unknown dtype {dtype}"));
            return std::ptr::null_mut();
        };
        let shape = unsafe { shape_of(ndim, shape) };
        let len = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|n| n.checked_mul(dtype.size()).is_some());
        let Some(len) = len else {
            state.fail(format!("alloc_tensor `{socket}/{name}`: shape {shape:?} is too large"));
            return std::ptr::null_mut();
        };
        let mut pending = state.pending.lock().unwrap();
        let Some(Pending::Data { buffers, .. }) = pending.0.get_mut(socket) else {
            drop(pending);
            state.fail(format!(
                "alloc_tensor: call set_output for data output `{socket}` first"
            ));
            return std::ptr::null_mut();
        };
        let mut buffer = Buffer::zeroed(dtype, len);
        // The heap block does not move when the Vec is moved into the list.
        let ptr = buffer.as_mut_ptr();
        buffers.push((name.to_string(), buffer, shape));
        ptr
    })
}

unsafe extern "C" fn host_share_tensor(ctx: *mut c_void, socket: *const c_char, tensor: *const GspTensor) -> i32 {
    guarded(-1, || {
        let state = unsafe { state(ctx) };
        let t = unsafe { &*tensor };
        // Our own memory (an input passed on) is shared again; the plugin's memory is
        // taken over first, so that whatever happens next its owner is released once.
        let storage: Arc<dyn Storage> = match unsafe { clone_lent(t.owner, t.release) } {
            Some(own) => own,
            None => {
                Arc::new(unsafe { ForeignStorage::new(t.data as *const u8, t.byte_len as usize, t.owner, t.release) })
            }
        };
        let (Some(socket), Some(name)) = (unsafe { text(socket) }, unsafe { text(t.name) }) else {
            return state.fail("share_tensor: bad names".into());
        };
        let Some(dtype) = abi::dtype_from_code(t.dtype) else {
            return state.fail(format!("share_tensor `{socket}/{name}`: unknown dtype {}", t.dtype));
        };
        let shape = unsafe { shape_of(t.ndim, t.shape) };
        if storage.bytes().as_ptr() as *const c_void != t.data || storage.bytes().len() as u64 != t.byte_len {
            return state.fail(format!("share_tensor `{socket}/{name}`: data does not match its owner"));
        }
        let tensor = match Tensor::from_storage(dtype, &shape, storage) {
            Ok(tensor) => tensor,
            Err(e) => return state.fail(format!("share_tensor `{socket}/{name}`: {e}")),
        };
        let mut pending = state.pending.lock().unwrap();
        let Some(Pending::Data { tensors, .. }) = pending.0.get_mut(socket) else {
            drop(pending);
            return state.fail(format!(
                "share_tensor: call set_output for data output `{socket}` first"
            ));
        };
        tensors.insert(name.to_string(), tensor);
        0
    })
}

/// Everything one call needs, owned, so an abandoned call can outlive the node's `run`.
struct Call {
    _strings: Vec<CString>,
    _shapes: Vec<Vec<u64>>,
    _tensors: Vec<Vec<GspTensor>>,
    values: Vec<GspValue>,
    owners: Vec<*mut c_void>,
    host: GspHost,
}
unsafe impl Send for Call {}

impl Drop for Call {
    fn drop(&mut self) {
        for &owner in &self.owners {
            // SAFETY: made by `lend` for this call and released once.
            unsafe { release_lent(owner) };
        }
    }
}

fn build_call(
    ctx: &RunContext,
    spec: &NodeSpec,
    inputs: &Inputs,
    params: &Params,
    state: &Arc<CallState>,
) -> Result<Call, NodeError> {
    let c = |s: &str| CString::new(s.replace('\0', " ")).expect("NULs replaced");
    let mut strings = Vec::new();
    let mut keep = |s: CString| {
        let p = s.as_ptr();
        strings.push(s);
        p
    };
    let mut shapes = Vec::new();
    let mut tensor_lists = Vec::new();
    let mut values = Vec::new();
    let mut owners = Vec::new();
    for (socket, value) in inputs.values() {
        let (json, record) = match value {
            Value::Data(r) => (serde_json::Value::Object(r.attrs().clone()), Some(r)),
            other => (
                gspeech_sdk::ParamValue::from_value(other)
                    .map(|v| v.to_json())
                    .unwrap_or_default(),
                None,
            ),
        };
        let mut tensors = Vec::new();
        for (name, tensor) in record.map(|r| r.tensors().iter()).into_iter().flatten() {
            let shape = abi::shape_u64(tensor);
            let (owner, release) = lend(tensor.storage());
            owners.push(owner);
            tensors.push(GspTensor::view(keep(c(name)), tensor, &shape, owner, Some(release)));
            shapes.push(shape);
        }
        values.push(GspValue {
            socket: keep(c(socket)),
            kind: keep(c(value.port_type().name())),
            json: keep(c(&json.to_string())),
            n_tensors: tensors.len() as u64,
            tensors: tensors.as_ptr(),
        });
        tensor_lists.push(tensors);
    }
    let params_json: serde_json::Map<String, serde_json::Value> =
        params.values().iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
    let host = GspHost {
        ctx: Arc::as_ptr(state) as *mut c_void,
        node_id: keep(c(ctx.node_id())),
        type_id: keep(c(&spec.type_id)),
        params_json: keep(c(&serde_json::Value::Object(params_json).to_string())),
        temp_root: keep(c(&ctx.temp_root().to_string_lossy())),
        n_inputs: values.len() as u64,
        inputs: values.as_ptr(),
        progress: host_progress,
        log: host_log,
        is_cancelled: host_is_cancelled,
        set_error: host_set_error,
        set_output: host_set_output,
        alloc_tensor: host_alloc_tensor,
        share_tensor: host_share_tensor,
        retain: retain_lent,
    };
    Ok(Call {
        _strings: strings,
        _shapes: shapes,
        _tensors: tensor_lists,
        values,
        owners,
        host,
    })
}

impl Node for PluginNode {
    fn spec(&self) -> NodeSpec {
        self.spec.clone()
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let plugin = &self.plugin_id;
        let (reports_tx, reports_rx) = crossbeam_channel::unbounded();
        let outputs = self.spec.outputs.iter().map(|p| (p.name.clone(), p.ty)).collect();
        let state = Arc::new(CallState {
            outputs,
            cancel: ctx.cancel_token().clone(),
            reports: reports_tx,
            pending: Mutex::new((BTreeMap::new(), None)),
        });
        let mut call = build_call(ctx, &self.spec, inputs, params, &state)?;
        call.host.inputs = call.values.as_ptr();
        let (done_tx, done_rx) = crossbeam_channel::bounded(1);
        let (descriptor, instance, call_state) = (self.descriptor, self.instance, state.clone());
        super::pool::execute(Box::new(move || {
            // Whole values, not their raw-pointer fields, move into the closure.
            let (call, descriptor, instance) = (call, descriptor, instance);
            // SAFETY: a valid descriptor, an instance it made, and a host valid for the call.
            let status = unsafe { ((*descriptor.0).run)(instance.0, &call.host) };
            drop(call);
            drop(call_state);
            let _ = done_tx.send(status);
        }))
        .map_err(|e| NodeError::other(format!("plugin {plugin}: could not start a thread: {e}")))?;
        let status = wait(ctx, &reports_rx, &done_rx).ok_or_else(|| {
            ctx.log(
                LogLevel::Warn,
                &format!("plugin {plugin} ignored cancellation for {CANCEL_GRACE:?}; its call was abandoned"),
            );
            NodeError::Cancelled
        })?;
        let (pending, error) = std::mem::take(&mut *state.pending.lock().unwrap());
        match status {
            abi::STATUS_OK => {}
            abi::STATUS_CANCELLED if ctx.is_cancelled() => return Err(NodeError::Cancelled),
            abi::STATUS_ERROR => {
                let message = error.unwrap_or_else(|| "failed without saying why".into());
                return Err(NodeError::other(format!("plugin {plugin}: {message}")));
            }
            other => {
                return Err(NodeError::other(format!(
                    "plugin {plugin}: run returned unexpected status {other}"
                )));
            }
        }
        if let Some(message) = error {
            return Err(NodeError::other(format!("plugin {plugin}: {message}")));
        }
        let mut out = Outputs::new();
        for (socket, pending) in pending {
            let value = match pending {
                Pending::Scalar(value) => value,
                Pending::Data {
                    attrs,
                    mut tensors,
                    buffers,
                } => {
                    for (name, buffer, shape) in buffers {
                        tensors.insert(name, buffer.into_tensor(&shape));
                    }
                    let kind = self
                        .spec
                        .output_named(&socket)
                        .map(|p| p.ty)
                        .expect("checked by set_output");
                    let mut record = Record::new(kind);
                    for (k, v) in attrs {
                        record = record.with_attr(k, v);
                    }
                    for (k, t) in tensors {
                        record = record.with_tensor(k, t);
                    }
                    Value::data(record)
                }
            };
            out = out.with(&socket, value);
        }
        out.check(&self.spec)
            .map_err(|e| NodeError::other(format!("plugin {plugin}: {e}")))?;
        Ok(out)
    }
}

/// Forwards the call's reports until it returns; `None` if it was abandoned
/// after ignoring cancellation.
fn wait(ctx: &RunContext, reports: &Receiver<Report>, done: &Receiver<i32>) -> Option<i32> {
    let mut cancelled_at: Option<Instant> = None;
    loop {
        select! {
            recv(reports) -> report => match report {
                Ok(Report::Progress(f, m)) => ctx.progress(f, &m),
                Ok(Report::Log(level, m)) => ctx.log(level, &m),
                Err(_) => {}
            },
            recv(done) -> status => {
                while let Ok(report) = reports.try_recv() {
                    if let Report::Log(level, m) = report {
                        ctx.log(level, &m);
                    }
                }
                return status.ok();
            },
            default(Duration::from_millis(50)) => {}
        }
        if ctx.is_cancelled() {
            let since = *cancelled_at.get_or_insert_with(Instant::now);
            if since.elapsed() > CANCEL_GRACE {
                return None;
            }
        }
    }
}
