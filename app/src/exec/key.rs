//! Merkle cache keys: a node's key is a hash of its type, version, resolved
//! parameters (with the content of the files they read) and its inputs' keys,
//! so a change anywhere upstream changes every key below it.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use gspeech_sdk::{NodeError, ParamKind, ParamSpec, ParamValue, Params, PathRole};

/// A 256-bit cache key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// The key of one output socket of a node with key `self`.
    pub fn output(&self, socket: &str) -> Key {
        let mut h = blake3::Hasher::new();
        h.update(b"output\0");
        h.update(&self.0);
        field(&mut h, socket.as_bytes());
        Key(*h.finalize().as_bytes())
    }

    /// Lower-case hex.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", &self.hex()[..12])
    }
}

fn field(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// Content hashes of files, remembered by path, size and modification time so
/// an unchanged file is read once per process.
#[derive(Default)]
pub struct FileHashes {
    known: Mutex<HashMap<PathBuf, Stamped>>,
}

/// A file's size and modification time when it was hashed, and its hash.
type Stamped = (u64, SystemTime, [u8; 32]);

impl FileHashes {
    /// The BLAKE3 hash of a file's content (of every file in it, for a folder).
    pub fn hash(&self, path: &Path) -> Result<[u8; 32], NodeError> {
        let meta = std::fs::metadata(path).map_err(|e| NodeError::file(path, e))?;
        if meta.is_dir() {
            return self.hash_dir(path);
        }
        let stamp = (meta.len(), meta.modified().map_err(|e| NodeError::file(path, e))?);
        if let Some((len, time, hash)) = self.known.lock().unwrap().get(path)
            && (*len, *time) == stamp
        {
            return Ok(*hash);
        }
        let mut hasher = blake3::Hasher::new();
        let mut file = std::fs::File::open(path).map_err(|e| NodeError::file(path, e))?;
        std::io::copy(&mut file, &mut hasher).map_err(|e| NodeError::file(path, e))?;
        let hash = *hasher.finalize().as_bytes();
        self.known
            .lock()
            .unwrap()
            .insert(path.to_path_buf(), (stamp.0, stamp.1, hash));
        Ok(hash)
    }

    fn hash_dir(&self, dir: &Path) -> Result<[u8; 32], NodeError> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| NodeError::file(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut h = blake3::Hasher::new();
        for entry in entries {
            field(&mut h, entry.file_name().unwrap_or_default().as_encoded_bytes());
            h.update(&self.hash(&entry)?);
        }
        Ok(*h.finalize().as_bytes())
    }
}

/// Everything that determines a node's outputs.
pub struct KeyInputs<'a> {
    /// Node type id.
    pub type_id: &'a str,
    /// Node type version.
    pub version: u32,
    /// Resolved parameters.
    pub params: &'a Params,
    /// The node type's parameter specs, to find the files it reads.
    pub specs: &'a [ParamSpec],
    /// Input socket → key of the output feeding it.
    pub inputs: &'a [(String, Key)],
}

/// Computes a node's key. Input files and folders are hashed by content; output
/// paths are part of the key by name only.
pub fn node_key(k: &KeyInputs, files: &FileHashes) -> Result<Key, NodeError> {
    let mut h = blake3::Hasher::new();
    h.update(b"gspeech-node-key-v1\0");
    field(&mut h, k.type_id.as_bytes());
    h.update(&k.version.to_le_bytes());
    for (name, value) in k.params.values() {
        field(&mut h, name.as_bytes());
        field(&mut h, value.to_json().to_string().as_bytes());
        let reads = k.specs.iter().any(|p| {
            p.name == *name
                && matches!(
                    p.kind,
                    ParamKind::Path {
                        role: PathRole::InputFile | PathRole::InputDir,
                        ..
                    }
                )
        });
        // An optional path left empty reads nothing.
        if let (true, ParamValue::Path(path)) = (reads, value)
            && !path.as_os_str().is_empty()
        {
            h.update(&files.hash(path).map_err(|e| NodeError::param(name, e.to_string()))?);
        }
    }
    for (socket, key) in k.inputs {
        field(&mut h, socket.as_bytes());
        h.update(&key.0);
    }
    Ok(Key(*h.finalize().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn keys_change_with_file_content_but_not_path_spelling() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.bin");
        std::fs::write(&file, b"one").unwrap();
        let specs = vec![ParamSpec::path("path", PathRole::InputFile, vec![], "", "")];
        let params = Params::new(BTreeMap::from([("path".to_string(), ParamValue::Path(file.clone()))]));
        let files = FileHashes::default();
        let key = |files: &FileHashes| {
            node_key(
                &KeyInputs {
                    type_id: "io.load",
                    version: 1,
                    params: &params,
                    specs: &specs,
                    inputs: &[],
                },
                files,
            )
            .unwrap()
        };
        let first = key(&files);
        assert_eq!(key(&files), first);
        std::fs::write(&file, b"two, longer").unwrap();
        assert_ne!(key(&files), first, "new content gives a new key");
        assert_ne!(first.output("a"), first.output("b"));
    }
}
