//! A pickle reader for what FaceFormer-style `templates.pkl` files hold (a
//! dict of numpy float arrays) and FLAME's `FLAME_masks.pkl` (a dict of
//! integer vertex-index arrays), pickled by Python 2 (protocols 0–2, byte
//! strings as `STRING`/`BINSTRING`/`SHORT_BINSTRING`) or Python 3 (protocols
//! 2–4, bytes as `BINBYTES`/`SHORT_BINBYTES` or, in protocol 2,
//! `_codecs.encode(text, 'latin1')`).
//!
//! Hand-written because neither pickle reader at hand reads numpy arrays:
//! `candle_core::pickle` (already a dependency) reads PyTorch checkpoints and
//! lacks the byte-string opcodes (`T`, `U`, `B`, `C`) and protocol 4's
//! `SHORT_BINUNICODE`, `STACK_GLOBAL`, `MEMOIZE` and `FRAME`; the
//! `serde-pickle` crate resolves only a few `builtins` globals, so numpy's
//! `_reconstruct` and `dtype` are an error, or, with its
//! `replace_unresolved_globals` option, `None`, which throws the array away.
//!
//! This is a small pickle machine, not Python: it knows the opcodes of
//! protocols 0–4 that plain data uses and exactly four globals —
//! `numpy.core.multiarray._reconstruct` (`numpy._core…` in numpy 2),
//! `numpy.ndarray`, `numpy.dtype` and `_codecs.encode` — and turns an array's
//! `BUILD` state `(version, shape, dtype, is_fortran, rawdata)` of 32- or
//! 64-bit floats or integers into an [`Array`]. Anything else is an error naming the
//! opcode or global and its byte offset. Every length is checked against the
//! bytes left before anything is allocated.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use gspeech_sdk::NodeError;

use super::npy::{Dtype, decode_values, element_count};

/// A value read from a pickle.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` or `False`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text: Python 2's `unicode`, Python 3's `str`.
    Str(String),
    /// Bytes: Python 2's `str`, Python 3's `bytes`.
    Bytes(Vec<u8>),
    /// A tuple.
    Tuple(Vec<Value>),
    /// A list.
    List(Vec<Value>),
    /// A dict's pairs, in the order stored.
    Dict(Vec<(Value, Value)>),
    /// A numpy array.
    Array(Array),
    /// A numpy numeric dtype.
    Dtype(Dtype),
    /// One of the globals this reader knows.
    Global(Global),
}

impl Value {
    /// Text, or bytes as Latin-1 text (what `pickle.load(…, encoding='latin1')` makes of Python 2 strings).
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Str(s) => Some(s.clone()),
            Value::Bytes(b) => Some(b.iter().map(|&c| c as char).collect()),
            _ => None,
        }
    }

    /// What the value is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Str(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "a tuple",
            Value::List(_) => "a list",
            Value::Dict(_) => "a dict",
            Value::Array(_) => "an array",
            Value::Dtype(_) => "a dtype",
            Value::Global(_) => "a class or function",
        }
    }
}

/// A numpy array of numbers (floats, or integers held exactly up to 2⁵³), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// The values, row-major (shared: the pickle memo keeps copies).
    pub values: Arc<[f64]>,
}

/// The globals a numpy array's pickle calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    /// `numpy.core.multiarray._reconstruct`: an empty array, filled by `BUILD`.
    Reconstruct,
    /// `numpy.ndarray`, the class `_reconstruct` is given.
    Ndarray,
    /// `numpy.dtype`.
    Dtype,
    /// `_codecs.encode`: Python 3's protocol-2 spelling of bytes.
    Encode,
}

impl Global {
    fn resolve(module: &str, name: &str) -> Option<Global> {
        match (module, name) {
            ("numpy.core.multiarray" | "numpy._core.multiarray", "_reconstruct") => Some(Global::Reconstruct),
            ("numpy", "ndarray") => Some(Global::Ndarray),
            ("numpy", "dtype") => Some(Global::Dtype),
            ("_codecs", "encode") => Some(Global::Encode),
            _ => None,
        }
    }
}

/// Reads the pickle file at `path`.
pub fn load(path: &Path) -> Result<Value, NodeError> {
    let bytes = std::fs::read(path).map_err(|e| NodeError::file(path, e))?;
    parse(&bytes).map_err(|e| NodeError::file(path, e))
}

/// Reads a pickle from memory; errors say the byte offset.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let mut machine = Machine {
        bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let start = machine.at;
        let op = machine.take(1).map_err(|e| format!("at byte {start}: {e}"))?[0];
        match machine.step(op) {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(e) => return Err(format!("at byte {start}, opcode {}: {e}", opcode_name(op))),
        }
    }
}

/// A stack entry: a value and the memo slot it was stored in, so that a
/// later `BUILD`, `APPEND` or `SETITEM` on it reaches the memo's copy too.
struct Entry {
    value: Value,
    memo: Option<u64>,
}

struct Machine<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Entry>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
}

impl<'a> Machine<'a> {
    /// The next `n` bytes; never more than the file has left.
    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = self.bytes.len() - self.at;
        if n > left as u64 {
            return Err(format!("needs {n} bytes, but only {left} are left in the file"));
        }
        let slice = &self.bytes[self.at..self.at + n as usize];
        self.at += n as usize;
        Ok(slice)
    }

    fn uint(&mut self, width: u64) -> Result<u64, String> {
        Ok(self.take(width)?.iter().rev().fold(0u64, |n, &b| (n << 8) | b as u64))
    }

    /// A protocol-0 argument: the bytes up to the next newline.
    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.bytes[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("has no end of line before the file ends")?;
        self.at += end + 1;
        Ok(&rest[..end])
    }

    fn line_text(&mut self) -> Result<&'a str, String> {
        std::str::from_utf8(self.line()?).map_err(|_| "has an argument that is not text".to_string())
    }

    fn push(&mut self, value: Value) {
        self.stack.push(Entry { value, memo: None });
    }

    fn pop(&mut self) -> Result<Value, String> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err("pops an empty stack".into());
        }
        Ok(self.stack.pop().expect("checked").value)
    }

    fn top(&mut self) -> Result<&mut Entry, String> {
        self.stack.last_mut().ok_or_else(|| "reads an empty stack".to_string())
    }

    /// Everything above the last mark, and the mark removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let mark = self.marks.pop().ok_or("finds no MARK")?;
        Ok(self.stack.drain(mark..).map(|e| e.value).collect())
    }

    fn put(&mut self, id: u64) -> Result<(), String> {
        let top = self.top()?;
        top.memo = Some(id);
        let value = top.value.clone();
        self.memo.insert(id, value);
        Ok(())
    }

    fn get(&mut self, id: u64) -> Result<(), String> {
        let value = self
            .memo
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("reads memo slot {id}, which is empty"))?;
        self.push(value);
        Ok(())
    }

    /// Changes the top entry with `change`, and its memo copy.
    fn change_top(&mut self, change: impl FnOnce(&mut Value) -> Result<(), String>) -> Result<(), String> {
        let top = self.top()?;
        change(&mut top.value)?;
        if let Some(id) = top.memo {
            let value = top.value.clone();
            self.memo.insert(id, value);
        }
        Ok(())
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), String> {
        let global = Global::resolve(module, name)
            .ok_or_else(|| format!("names the global {module}.{name}, which this reader does not know"))?;
        self.push(Value::Global(global));
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), String> {
        self.change_top(|list| match list {
            Value::List(list) => {
                list.extend(items);
                Ok(())
            }
            other => Err(format!("appends to {}, not a list", other.kind())),
        })
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), String> {
        if items.len() % 2 != 0 {
            return Err("has a key without a value".into());
        }
        self.change_top(|dict| match dict {
            Value::Dict(pairs) => {
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    match pairs.iter_mut().find(|(key, _)| *key == k) {
                        Some(pair) => pair.1 = v,
                        None => pairs.push((k, v)),
                    }
                }
                Ok(())
            }
            other => Err(format!("sets items of {}, not a dict", other.kind())),
        })
    }

    fn tuple(&mut self, n: usize) -> Result<(), String> {
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.pop()?);
        }
        items.reverse();
        self.push(Value::Tuple(items));
        Ok(())
    }

    fn bytes(&mut self, width: u64) -> Result<(), String> {
        let n = self.uint(width)?;
        let data = self.take(n)?.to_vec();
        self.push(Value::Bytes(data));
        Ok(())
    }

    fn unicode(&mut self, width: u64) -> Result<(), String> {
        let n = self.uint(width)?;
        let text = std::str::from_utf8(self.take(n)?).map_err(|_| "holds text that is not UTF-8".to_string())?;
        self.push(Value::Str(text.to_string()));
        Ok(())
    }

    fn long(&mut self, width: u64) -> Result<(), String> {
        let n = self.uint(width)?;
        let digits = self.take(n)?;
        if n > 8 {
            return Err(format!("holds a {n}-byte integer, wider than 64 bits"));
        }
        let value = match digits.last() {
            None => 0,
            Some(&last) => {
                let fill = if last & 0x80 != 0 { 0xff } else { 0 };
                let mut le = [fill; 8];
                le[..digits.len()].copy_from_slice(digits);
                i64::from_le_bytes(le)
            }
        };
        self.push(Value::Int(value));
        Ok(())
    }

    /// One opcode; the final value at `STOP`.
    fn step(&mut self, op: u8) -> Result<Option<Value>, String> {
        match op {
            0x80 => {
                let version = self.take(1)?[0];
                if version > 5 {
                    return Err(format!("asks for protocol {version}; 0 to 5 are known"));
                }
            }
            0x95 => {
                // FRAME: only a hint for buffered reading.
                let n = self.uint(8)?;
                if n > (self.bytes.len() - self.at) as u64 {
                    return Err(format!("announces a {n}-byte frame beyond the file's end"));
                }
            }
            b'.' => {
                let value = self.pop()?;
                return Ok(Some(value));
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let value = self.top()?.value.clone();
                self.push(value);
            }
            b'N' => self.push(Value::None),
            0x88 => self.push(Value::Bool(true)),
            0x89 => self.push(Value::Bool(false)),
            b'I' => {
                let value = match self.line_text()? {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    text => Value::Int(text.parse().map_err(|_| format!("holds '{text}', not an integer"))?),
                };
                self.push(value);
            }
            b'L' => {
                let text = self.line_text()?;
                let digits = text.strip_suffix('L').unwrap_or(text);
                let value = digits
                    .parse()
                    .map_err(|_| format!("holds '{text}', not a 64-bit integer"))?;
                self.push(Value::Int(value));
            }
            b'J' => {
                let value = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                self.push(Value::Int(value as i64));
            }
            b'K' => {
                let value = self.uint(1)?;
                self.push(Value::Int(value as i64));
            }
            b'M' => {
                let value = self.uint(2)?;
                self.push(Value::Int(value as i64));
            }
            0x8a => self.long(1)?,
            0x8b => self.long(4)?,
            b'F' => {
                let text = self.line_text()?;
                let value = text.parse().map_err(|_| format!("holds '{text}', not a float"))?;
                self.push(Value::Float(value));
            }
            b'G' => {
                let value = f64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes"));
                self.push(Value::Float(value));
            }
            b'S' => {
                let data = unquote(self.line()?)?;
                self.push(Value::Bytes(data));
            }
            b'T' | b'B' => self.bytes(4)?,
            b'U' | b'C' => self.bytes(1)?,
            0x8e => self.bytes(8)?,
            b'V' => {
                let text = raw_unicode_unescape(self.line()?)?;
                self.push(Value::Str(text));
            }
            b'X' => self.unicode(4)?,
            0x8c => self.unicode(1)?,
            0x8d => self.unicode(8)?,
            b')' => self.push(Value::Tuple(Vec::new())),
            b't' => {
                let items = self.pop_mark()?;
                self.push(Value::Tuple(items));
            }
            0x85 => self.tuple(1)?,
            0x86 => self.tuple(2)?,
            0x87 => self.tuple(3)?,
            b']' => self.push(Value::List(Vec::new())),
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Value::List(items));
            }
            b'a' => {
                let item = self.pop()?;
                self.append(vec![item])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.append(items)?;
            }
            b'}' => self.push(Value::Dict(Vec::new())),
            b'd' => {
                let items = self.pop_mark()?;
                self.push(Value::Dict(Vec::new()));
                self.set_items(items)?;
            }
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.set_items(vec![key, value])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)?;
            }
            b'p' => {
                let id = self
                    .line_text()?
                    .parse()
                    .map_err(|_| "has a memo slot that is not a number")?;
                self.put(id)?;
            }
            b'q' => {
                let id = self.uint(1)?;
                self.put(id)?;
            }
            b'r' => {
                let id = self.uint(4)?;
                self.put(id)?;
            }
            0x94 => {
                let id = self.memo.len() as u64;
                self.put(id)?;
            }
            b'g' => {
                let id = self
                    .line_text()?
                    .parse()
                    .map_err(|_| "has a memo slot that is not a number")?;
                self.get(id)?;
            }
            b'h' => {
                let id = self.uint(1)?;
                self.get(id)?;
            }
            b'j' => {
                let id = self.uint(4)?;
                self.get(id)?;
            }
            b'c' => {
                let module = self.line_text()?;
                let name = self.line_text()?;
                self.global(module, name)?;
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (&module, &name) {
                    (Value::Str(module), Value::Str(name)) => self.global(module, name)?,
                    _ => return Err("takes a module and name that are not text".into()),
                }
            }
            b'R' | 0x81 => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let Value::Tuple(args) = args else {
                    return Err(format!("calls with {} as arguments, not a tuple", args.kind()));
                };
                self.push(call(&callable, args)?);
            }
            b'b' => {
                let state = self.pop()?;
                self.change_top(|object| build(object, state))?;
            }
            _ => return Err("is not one this reader knows".into()),
        }
        Ok(None)
    }
}

/// The name of opcode `op` (with its byte) for messages.
fn opcode_name(op: u8) -> String {
    let name = match op {
        b'(' => "MARK",
        b'.' => "STOP",
        b'0' => "POP",
        b'1' => "POP_MARK",
        b'2' => "DUP",
        b'F' => "FLOAT",
        b'I' => "INT",
        b'J' => "BININT",
        b'K' => "BININT1",
        b'L' => "LONG",
        b'M' => "BININT2",
        b'N' => "NONE",
        b'P' => "PERSID",
        b'Q' => "BINPERSID",
        b'R' => "REDUCE",
        b'S' => "STRING",
        b'T' => "BINSTRING",
        b'U' => "SHORT_BINSTRING",
        b'V' => "UNICODE",
        b'X' => "BINUNICODE",
        b'a' => "APPEND",
        b'b' => "BUILD",
        b'c' => "GLOBAL",
        b'd' => "DICT",
        b'}' => "EMPTY_DICT",
        b'e' => "APPENDS",
        b'g' => "GET",
        b'h' => "BINGET",
        b'i' => "INST",
        b'j' => "LONG_BINGET",
        b'l' => "LIST",
        b']' => "EMPTY_LIST",
        b'o' => "OBJ",
        b'p' => "PUT",
        b'q' => "BINPUT",
        b'r' => "LONG_BINPUT",
        b's' => "SETITEM",
        b't' => "TUPLE",
        b')' => "EMPTY_TUPLE",
        b'u' => "SETITEMS",
        b'G' => "BINFLOAT",
        b'B' => "BINBYTES",
        b'C' => "SHORT_BINBYTES",
        0x80 => "PROTO",
        0x81 => "NEWOBJ",
        0x82 => "EXT1",
        0x83 => "EXT2",
        0x84 => "EXT4",
        0x85 => "TUPLE1",
        0x86 => "TUPLE2",
        0x87 => "TUPLE3",
        0x88 => "NEWTRUE",
        0x89 => "NEWFALSE",
        0x8a => "LONG1",
        0x8b => "LONG4",
        0x8c => "SHORT_BINUNICODE",
        0x8d => "BINUNICODE8",
        0x8e => "BINBYTES8",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x92 => "NEWOBJ_EX",
        0x93 => "STACK_GLOBAL",
        0x94 => "MEMOIZE",
        0x95 => "FRAME",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    };
    format!("{name} (0x{op:02x})")
}

/// `callable(*args)` for the known globals (`REDUCE`, and `NEWOBJ`'s
/// `cls.__new__(cls, *args)`, which for these is the same).
fn call(callable: &Value, args: Vec<Value>) -> Result<Value, String> {
    let Value::Global(global) = callable else {
        return Err(format!("calls {}, not a class or function", callable.kind()));
    };
    match global {
        Global::Reconstruct => match args.first() {
            Some(Value::Global(Global::Ndarray)) => Ok(Value::Array(Array {
                shape: vec![0],
                values: Arc::from(Vec::new()),
            })),
            _ => Err("calls numpy's _reconstruct for something other than numpy.ndarray".into()),
        },
        Global::Dtype => {
            let descr = args
                .first()
                .and_then(Value::text)
                .ok_or("calls numpy.dtype without a type string")?;
            let dtype = Dtype::parse(&descr)
                .ok_or_else(|| format!("makes a numpy dtype '{descr}'; only 32- and 64-bit floats and integers are read"))?;
            Ok(Value::Dtype(dtype))
        }
        Global::Encode => match args.as_slice() {
            [Value::Str(text), encoding] if matches!(encoding.text().as_deref(), Some("latin1" | "latin-1")) => text
                .chars()
                .map(|c| u8::try_from(c as u32).map_err(|_| format!("encodes '{c}' as Latin-1")))
                .collect::<Result<Vec<u8>, String>>()
                .map(Value::Bytes),
            _ => Err("calls _codecs.encode with other than (text, 'latin1')".into()),
        },
        Global::Ndarray => Err("calls numpy.ndarray directly".into()),
    }
}

/// `BUILD`: sets a dtype's byte order or fills an array from its state.
fn build(object: &mut Value, state: Value) -> Result<(), String> {
    let Value::Tuple(state) = state else {
        return Err(format!("gives {} as state, not a tuple", state.kind()));
    };
    match object {
        Value::Dtype(dtype) => {
            let order = state
                .get(1)
                .and_then(Value::text)
                .ok_or("gives a dtype state without a byte order")?;
            *dtype = dtype
                .with_order(&order)
                .ok_or_else(|| format!("gives the byte order '{order}'"))?;
            Ok(())
        }
        Value::Array(array) => {
            // (version, shape, dtype, is_fortran, rawdata), or without version.
            let fields = match state.len() {
                5 => &state[1..],
                4 => &state[..],
                n => return Err(format!("gives an array state of {n} fields; 4 or 5 are known")),
            };
            let shape = match &fields[0] {
                Value::Tuple(dims) => dims
                    .iter()
                    .map(|d| match d {
                        Value::Int(n) if *n >= 0 => Ok(*n as usize),
                        other => Err(format!("gives an array dimension that is {}", other.kind())),
                    })
                    .collect::<Result<Vec<usize>, String>>()?,
                other => return Err(format!("gives an array shape that is {}", other.kind())),
            };
            let Value::Dtype(dtype) = fields[1] else {
                return Err(format!("gives an array dtype that is {}", fields[1].kind()));
            };
            let fortran = match fields[2] {
                Value::Bool(b) => b,
                Value::Int(n) => n != 0,
                ref other => return Err(format!("gives an array order that is {}", other.kind())),
            };
            let Value::Bytes(raw) = &fields[3] else {
                return Err(format!(
                    "gives array data that is {}; only numeric arrays are read",
                    fields[3].kind()
                ));
            };
            let needed = element_count(&shape).and_then(|n| n.checked_mul(dtype.size));
            if needed != Some(raw.len()) {
                return Err(format!(
                    "gives {} bytes for an array of shape {shape:?} of {}-byte numbers",
                    raw.len(),
                    dtype.size
                ));
            }
            let values = decode_values(raw, dtype, &shape, fortran);
            *array = Array {
                shape,
                values: Arc::from(values),
            };
            Ok(())
        }
        other => Err(format!("builds {}, which this reader cannot", other.kind())),
    }
}

/// A protocol-0 `STRING` argument: a Python `repr` of a byte string.
fn unquote(line: &[u8]) -> Result<Vec<u8>, String> {
    let quoted = match line {
        [q @ (b'\'' | b'"'), inner @ .., end] if end == q => inner,
        _ => return Err("holds a string that is not quoted".into()),
    };
    let mut out = Vec::with_capacity(quoted.len());
    let mut bytes = quoted.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let escaped = bytes.next().ok_or("ends a string with a backslash")?;
        out.push(match escaped {
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'a' => 0x07,
            b'b' => 0x08,
            b'f' => 0x0c,
            b'v' => 0x0b,
            b'x' => {
                let hex = [bytes.next().unwrap_or(b'?'), bytes.next().unwrap_or(b'?')];
                std::str::from_utf8(&hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or("holds a bad \\x escape")?
            }
            b'0'..=b'7' => {
                // Up to three octal digits.
                let mut value = (escaped - b'0') as u32;
                for _ in 0..2 {
                    match bytes.clone().next() {
                        Some(d @ b'0'..=b'7') => {
                            bytes.next();
                            value = value * 8 + (d - b'0') as u32;
                        }
                        _ => break,
                    }
                }
                u8::try_from(value).map_err(|_| "holds an octal escape above 255")?
            }
            other => other, // \\ \' \"
        });
    }
    Ok(out)
}

/// A protocol-0 `UNICODE` argument: raw-unicode-escape, i.e. Latin-1 with
/// `\uXXXX` and `\UXXXXXXXX` escapes.
fn raw_unicode_unescape(line: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let width = match (line[i], line.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            (b, _) => {
                out.push(b as char);
                i += 1;
                continue;
            }
        };
        let hex = line.get(i + 2..i + 2 + width).ok_or("ends inside a \\u escape")?;
        let c = std::str::from_utf8(hex)
            .ok()
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .and_then(char::from_u32)
            .ok_or("holds a bad \\u escape")?;
        out.push(c);
        i += 2 + width;
    }
    Ok(out)
}
