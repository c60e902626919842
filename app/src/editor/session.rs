//! What the editor keeps between runs of itself: the recent files, and a
//! recovery copy of unsaved work so that nothing is lost in a crash.
//!
//! Each editor process autosaves its unsaved graph to `recovery-<pid>.json` in
//! the state folder and removes the file when it quits normally or the work is
//! saved. A recovery file whose process is gone is therefore what a crash left
//! behind, and the next editor offers to restore it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::document::Document;
use crate::graph::GraphDoc;

/// How often unsaved work is copied to the recovery file.
pub const AUTOSAVE_EVERY: Duration = Duration::from_secs(5);
/// How many recent files are listed.
const RECENT_MAX: usize = 10;

/// Unsaved work left by an editor that did not quit normally.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    /// The file the work belongs to, if it had been saved before.
    pub path: Option<PathBuf>,
    /// The graph as it was, as document text.
    pub graph: String,
    /// Seconds since the Unix epoch when it was written.
    pub saved_at: u64,
    /// Where the recovery file is.
    #[serde(skip)]
    pub file: PathBuf,
}

/// The editor's state folder: recent files and recovery copies.
pub struct Session {
    dir: PathBuf,
    recent: Vec<PathBuf>,
    last_autosave: Option<(Instant, u64)>,
}

impl Session {
    /// Opens (creating if needed) a state folder.
    pub fn open(dir: &Path) -> Session {
        let _ = std::fs::create_dir_all(dir);
        let recent = std::fs::read_to_string(dir.join("recent.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Vec<PathBuf>>(&t).ok())
            .unwrap_or_default();
        Session {
            dir: dir.to_path_buf(),
            recent,
            last_autosave: None,
        }
    }

    /// Recently opened or saved files, newest first.
    pub fn recent(&self) -> &[PathBuf] {
        &self.recent
    }

    /// Puts a file at the top of the recent list.
    pub fn add_recent(&mut self, path: &Path) {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        self.recent.retain(|p| p != &path);
        self.recent.insert(0, path);
        self.recent.truncate(RECENT_MAX);
        let text = serde_json::to_string_pretty(&self.recent).expect("paths serialise");
        let _ = gspeech_sdk::fs::write_atomic(
            &self.dir.join("recent.json"),
            text.as_bytes(),
            &gspeech_sdk::CancelToken::new(),
        );
    }

    /// This process's recovery file.
    pub fn recovery_file(&self) -> PathBuf {
        self.dir.join(format!("recovery-{}.json", std::process::id()))
    }

    /// Recovery files left by editors that are no longer running, newest first.
    pub fn orphaned_recoveries(&self) -> Vec<Recovery> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<Recovery> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid: u32 = name.strip_prefix("recovery-")?.strip_suffix(".json")?.parse().ok()?;
                if pid == std::process::id() || process_alive(pid) {
                    return None;
                }
                let text = std::fs::read_to_string(e.path()).ok()?;
                let mut recovery: Recovery = serde_json::from_str(&text).ok()?;
                recovery.file = e.path();
                Some(recovery)
            })
            .collect();
        found.sort_by_key(|r| std::cmp::Reverse(r.saved_at));
        found
    }

    /// Copies unsaved work to the recovery file when it changed and the last
    /// copy is older than [`AUTOSAVE_EVERY`] (or `now` is set); removes the
    /// copy once the work is saved. Returns whether a copy was written.
    pub fn autosave(&mut self, doc: &Document, now: bool) -> bool {
        if !doc.is_dirty() {
            if self.last_autosave.is_some() {
                self.clear_recovery();
            }
            return false;
        }
        let due = match self.last_autosave {
            None => true,
            Some((at, revision)) => revision != doc.revision() && (now || at.elapsed() >= AUTOSAVE_EVERY),
        };
        if !due {
            return false;
        }
        let recovery = Recovery {
            path: doc.path().map(Path::to_path_buf),
            graph: doc.graph().to_text(),
            saved_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            file: PathBuf::new(),
        };
        let text = serde_json::to_string(&recovery).expect("recoveries serialise");
        let written =
            gspeech_sdk::fs::write_atomic(&self.recovery_file(), text.as_bytes(), &gspeech_sdk::CancelToken::new());
        self.last_autosave = Some((Instant::now(), doc.revision()));
        written.is_ok()
    }

    /// Removes this process's recovery file (the work was saved or discarded).
    pub fn clear_recovery(&mut self) {
        let _ = std::fs::remove_file(self.recovery_file());
        self.last_autosave = None;
    }
}

impl Recovery {
    /// The recovered graph as a document marked modified.
    pub fn to_document(&self) -> Result<Document, String> {
        let graph = GraphDoc::parse(&self.graph).map_err(|(_, m)| m)?;
        Ok(Document::recovered(graph, self.path.clone()))
    }

    /// Deletes the recovery file (restored or declined).
    pub fn discard(&self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Whether a process id belongs to a running process. Where this cannot be
/// told, every other process counts as gone, so work is offered rather than lost.
fn process_alive(pid: u32) -> bool {
    let proc_dir = Path::new("/proc");
    proc_dir.is_dir() && proc_dir.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::NodeSpec;

    #[test]
    fn unsaved_work_is_recoverable_and_saved_work_leaves_no_copy() {
        let dir = tempfile::tempdir().unwrap();
        let mut session = Session::open(dir.path());
        let mut doc = Document::new();
        assert!(!session.autosave(&doc, true), "nothing to keep");
        doc.add_node(&NodeSpec::new("value.float", 1, "Float"), [0.0, 0.0]);
        assert!(session.autosave(&doc, true));
        assert!(session.recovery_file().is_file());
        // A crashed editor's file: same content under a pid that is not running.
        let dead = dir.path().join(format!("recovery-{}.json", u32::MAX - 7));
        std::fs::copy(session.recovery_file(), &dead).unwrap();
        let found = session.orphaned_recoveries();
        assert_eq!(found.len(), 1, "our own live file is not offered");
        let restored = found[0].to_document().unwrap();
        assert_eq!(restored.graph(), doc.graph());
        assert!(restored.is_dirty());
        found[0].discard();
        assert!(!dead.exists());

        let path = dir.path().join("g.gsgraph");
        doc.save_as(&path).unwrap();
        session.autosave(&doc, true);
        assert!(!session.recovery_file().exists(), "saved work needs no copy");
    }

    #[test]
    fn recent_files_are_unique_newest_first_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut session = Session::open(dir.path());
        session.add_recent(Path::new("/a.gsgraph"));
        session.add_recent(Path::new("/b.gsgraph"));
        session.add_recent(Path::new("/a.gsgraph"));
        let again = Session::open(dir.path());
        assert_eq!(
            again.recent(),
            [PathBuf::from("/a.gsgraph"), PathBuf::from("/b.gsgraph")]
        );
    }
}
