//! Atomic file output: write beside the target, rename into place on success.
//!
//! A write that fails, is cancelled or is dropped removes its temporary file, so
//! the target path holds either the old content or the complete new one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{CancelToken, NodeError};

/// Temporary files being written right now, so a process that must exit at once
/// (a second Ctrl-C) can remove them with [`remove_partial_files`].
static LIVE_TEMPS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A file being written to a temporary path next to its target.
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Starts writing `target`; its folder is created if needed.
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::other("the path has no file name"))?;
        let temp = dir.join(format!(
            ".{}.{}-{}.partial",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&temp)?;
        LIVE_TEMPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(temp.clone());
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
            file: Some(file),
        })
    }

    /// The open temporary file.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file is open until commit")
    }

    /// Flushes, syncs and renames the temporary file onto the target.
    pub fn commit(mut self) -> io::Result<()> {
        let mut file = self.file.take().expect("file is open until commit");
        file.flush()?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.temp, &self.target)?;
        LIVE_TEMPS.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.temp);
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.temp);
            LIVE_TEMPS.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.temp);
        }
    }
}

/// Writes `bytes` to `path` atomically, in chunks, stopping with
/// `NodeError::Cancelled` (and leaving nothing behind) when `cancel` is set.
pub fn write_atomic(path: &Path, bytes: &[u8], cancel: &CancelToken) -> Result<(), NodeError> {
    let mut out = AtomicFile::create(path).map_err(|e| NodeError::file(path, e))?;
    for chunk in bytes.chunks(4 << 20) {
        if cancel.is_cancelled() {
            return Err(NodeError::Cancelled);
        }
        out.write_all(chunk).map_err(|e| NodeError::file(path, e))?;
    }
    if cancel.is_cancelled() {
        return Err(NodeError::Cancelled);
    }
    out.commit().map_err(|e| NodeError::file(path, e))
}

/// Removes every temporary file still being written by this process. For a
/// process about to exit without unwinding.
pub fn remove_partial_files() {
    let temps = std::mem::take(&mut *LIVE_TEMPS.lock().unwrap_or_else(|e| e.into_inner()));
    for temp in temps {
        let _ = std::fs::remove_file(temp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `remove_partial_files` is process-wide: these tests must not overlap.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn commit_replaces_and_drop_discards() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.bin");
        std::fs::write(&target, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&target).unwrap();
            f.write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"old");
        write_atomic(&target, b"new", &CancelToken::new()).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary files are left"
        );
    }

    #[test]
    fn cancelled_write_leaves_nothing() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub").join("out.bin");
        let cancel = CancelToken::new();
        cancel.cancel();
        assert_eq!(write_atomic(&target, b"data", &cancel), Err(NodeError::Cancelled));
        assert!(!target.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
    }

    #[test]
    fn partial_files_can_be_removed_at_exit() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let f = AtomicFile::create(&dir.path().join("x")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        remove_partial_files();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(f);
    }
}
