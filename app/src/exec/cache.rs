//! Output caches: an in-memory LRU with a byte budget, and an on-disk store for
//! node types that declare `Caching::Disk`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gspeech_sdk::{CancelToken, NodeError, Outputs, store};

use super::key::Key;

/// Recently used outputs, up to a byte budget; the least recently used go first.
pub struct MemoryCache {
    budget: usize,
    used: usize,
    tick: u64,
    entries: HashMap<Key, (Arc<Outputs>, usize, u64)>,
    by_age: BTreeMap<u64, Key>,
}

impl MemoryCache {
    /// An empty cache that holds at most `budget` bytes.
    pub fn new(budget: usize) -> MemoryCache {
        MemoryCache {
            budget,
            used: 0,
            tick: 0,
            entries: HashMap::new(),
            by_age: BTreeMap::new(),
        }
    }

    /// The outputs stored under `key`, marking them recently used.
    pub fn get(&mut self, key: &Key) -> Option<Arc<Outputs>> {
        self.tick += 1;
        let (outputs, _, age) = self.entries.get_mut(key)?;
        self.by_age.remove(age);
        *age = self.tick;
        self.by_age.insert(self.tick, *key);
        Some(outputs.clone())
    }

    /// Stores outputs, evicting old entries to stay within the budget. Outputs
    /// larger than the whole budget are not stored.
    pub fn put(&mut self, key: Key, outputs: Arc<Outputs>) {
        let size = outputs.byte_len().max(1);
        if size > self.budget {
            return;
        }
        self.remove(&key);
        while self.used + size > self.budget {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            if let Some((_, s, _)) = self.entries.remove(&oldest) {
                self.used -= s;
            }
        }
        self.tick += 1;
        self.entries.insert(key, (outputs, size, self.tick));
        self.by_age.insert(self.tick, key);
        self.used += size;
    }

    fn remove(&mut self, key: &Key) {
        if let Some((_, size, age)) = self.entries.remove(key) {
            self.by_age.remove(&age);
            self.used -= size;
        }
    }

    /// Bytes held.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Outputs on disk, one checksummed safetensors file per key, shared by every
/// process using the same folder. Entries are written atomically.
pub struct DiskCache {
    dir: PathBuf,
}

/// What a disk lookup found.
pub enum DiskLookup {
    /// A verified entry.
    Hit(Outputs),
    /// No entry.
    Miss,
    /// An entry that failed verification; it has been removed.
    Damaged(String),
}

impl DiskCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: &Path) -> DiskCache {
        DiskCache { dir: dir.to_path_buf() }
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file holding `key`'s outputs.
    pub fn entry_path(&self, key: &Key) -> PathBuf {
        let hex = key.hex();
        self.dir
            .join("outputs")
            .join(&hex[..2])
            .join(format!("{hex}.safetensors"))
    }

    /// Reads and verifies an entry; a damaged one is deleted so it is recomputed.
    pub fn get(&self, key: &Key) -> DiskLookup {
        let path = self.entry_path(key);
        if !path.exists() {
            return DiskLookup::Miss;
        }
        match store::load(&path) {
            Ok(values) => DiskLookup::Hit(values.into_iter().collect()),
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                DiskLookup::Damaged(e.to_string())
            }
        }
    }

    /// Writes an entry atomically.
    pub fn put(&self, key: &Key, outputs: &Outputs, cancel: &CancelToken) -> Result<(), NodeError> {
        store::save(&self.entry_path(key), outputs.values(), cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::Value;

    fn outputs(text: &str) -> Arc<Outputs> {
        Arc::new(Outputs::new().with("value", Value::Text(text.into())))
    }

    #[test]
    fn evicts_least_recently_used_first() {
        let mut cache = MemoryCache::new(25);
        let keys: Vec<Key> = (0..3u8).map(|i| Key([i; 32])).collect();
        cache.put(keys[0], outputs("0123456789"));
        cache.put(keys[1], outputs("0123456789"));
        assert!(cache.get(&keys[0]).is_some(), "touch 0 so 1 is the oldest");
        cache.put(keys[2], outputs("0123456789"));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&keys[1]).is_none());
        assert!(cache.get(&keys[0]).is_some() && cache.get(&keys[2]).is_some());
        assert!(cache.used() <= 25);
        cache.put(Key([9; 32]), outputs(&"x".repeat(100)));
        assert_eq!(cache.len(), 2, "an entry over the budget is not stored");
    }

    #[test]
    fn disk_entries_are_verified_and_damaged_ones_removed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DiskCache::new(dir.path());
        let key = Key([7; 32]);
        assert!(matches!(cache.get(&key), DiskLookup::Miss));
        let out = Outputs::new().with("value", Value::Float(1.5));
        cache.put(&key, &out, &CancelToken::new()).unwrap();
        assert!(matches!(cache.get(&key), DiskLookup::Hit(o) if o == out));
        std::fs::write(cache.entry_path(&key), b"garbage").unwrap();
        assert!(matches!(cache.get(&key), DiskLookup::Damaged(_)));
        assert!(!cache.entry_path(&key).exists());
    }
}
