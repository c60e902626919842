//! Resuming a synthetic capture. `synthesis.json`, written before the first
//! frame, records the settings that decide every byte of the capture; a run
//! into a folder that holds the same settings keeps each frame whose images
//! and masks are all there (each file is written atomically, so one that
//! exists is complete) and films the rest. A folder holding other settings,
//! or anything but a synthesized capture, is refused rather than overwritten:
//! remove it or choose another to start again.

use std::path::{Path, PathBuf};

use gspeech_sdk::{CancelToken, NodeError, fs::write_atomic};
use serde_json::{Value as Json, json};

use super::format::{CaptureCamera, image_path, mask_path};
use super::timeline::Timeline;

/// The file recording how a capture was synthesized.
pub const SYNTHESIS: &str = "synthesis.json";
/// Its `format` field.
const FORMAT: &str = "gspeech-capture-synthesis";

/// A capture folder, checked for a run of some settings.
pub struct Folder {
    root: PathBuf,
    settings: Json,
    key: String,
}

impl Folder {
    /// Checks that `root` is new, empty, or an earlier run of `settings`
    /// (an object of everything the files depend on), and removes what a
    /// killed run may have left half-written.
    pub fn open(root: &Path, settings: &Json) -> Result<Folder, NodeError> {
        let key = blake3::hash(settings.to_string().as_bytes()).to_hex().to_string();
        let folder = Folder {
            root: root.to_path_buf(),
            settings: settings.clone(),
            key,
        };
        let record = root.join(SYNTHESIS);
        match std::fs::read(&record) {
            Ok(bytes) => {
                let earlier: Json = serde_json::from_slice(&bytes).map_err(|e| NodeError::file(&record, e))?;
                if earlier["key"] != folder.key.as_str() {
                    return Err(NodeError::param(
                        "out",
                        format!(
                            "{} holds a capture synthesized with other settings ({}); remove it or choose another \
                             folder to start again",
                            root.display(),
                            differences(&earlier["settings"], settings)
                        ),
                    ));
                }
                remove_partial_files(root)?;
            }
            Err(_) if root.is_dir() => {
                let entries = std::fs::read_dir(root).map_err(|e| NodeError::file(root, e))?;
                // A run killed while writing its first file leaves only that file's temporary.
                if entries.flatten().any(|e| !is_partial(&e.file_name().to_string_lossy())) {
                    return Err(NodeError::param(
                        "out",
                        format!(
                            "{} is not empty and holds no synthesized capture (no {SYNTHESIS}); choose a new or \
                             empty folder",
                            root.display()
                        ),
                    ));
                }
                remove_partial_files(root)?;
            }
            Err(_) => std::fs::create_dir_all(root).map_err(|e| NodeError::file(root, e))?,
        }
        Ok(folder)
    }

    /// Writes `synthesis.json`: the settings and their key, the speaker and the take's segments.
    pub fn describe(&self, timeline: &Timeline, speaker: Json, cancel: &CancelToken) -> Result<(), NodeError> {
        let record = json!({
            "format": FORMAT,
            "key": self.key,
            "settings": self.settings,
            "speaker": speaker,
            "frames": timeline.frames(),
            "segments": timeline.segments.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
        });
        let text = serde_json::to_string_pretty(&record).expect("JSON") + "\n";
        write_atomic(&self.root.join(SYNTHESIS), text.as_bytes(), cancel)
    }

    /// Removes the images and masks of frames from `frames` on, which a run
    /// of more frames left.
    pub fn prune(&self, cameras: &[CaptureCamera], frames: usize) -> Result<(), NodeError> {
        for camera in cameras {
            for folder in ["images", "masks"] {
                let dir = self.root.join(folder).join(&camera.name);
                let Ok(entries) = std::fs::read_dir(&dir) else { continue };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let frame = name
                        .to_str()
                        .and_then(|n| n.strip_suffix(".png"))
                        .and_then(|n| n.parse().ok());
                    if frame.is_some_and(|f: usize| f >= frames) {
                        std::fs::remove_file(entry.path()).map_err(|e| NodeError::file(entry.path(), e))?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whether every camera's image and mask of `frame` is written.
pub fn frame_is_written(root: &Path, cameras: &[CaptureCamera], frame: usize) -> bool {
    cameras
        .iter()
        .all(|c| image_path(root, &c.name, frame).is_file() && mask_path(root, &c.name, frame).is_file())
}

/// The settings that differ, as `name earlier → now`.
fn differences(earlier: &Json, now: &Json) -> String {
    let Some(now) = now.as_object() else {
        return String::new();
    };
    let changed: Vec<String> = now
        .iter()
        .filter(|(name, value)| earlier.get(name.as_str()) != Some(*value))
        .map(|(name, value)| format!("{name} {} → {value}", earlier.get(name.as_str()).unwrap_or(&Json::Null)))
        .collect();
    if changed.is_empty() {
        "an unreadable record".into()
    } else {
        changed.join(", ")
    }
}

/// Removes the temporary files of atomic writes (`.NAME.….partial`) that a
/// killed run left in the folder and its image and mask folders.
fn remove_partial_files(root: &Path) -> Result<(), NodeError> {
    let mut folders = vec![root.to_path_buf()];
    for sub in ["images", "masks"] {
        if let Ok(entries) = std::fs::read_dir(root.join(sub)) {
            folders.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    for folder in folders {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            if is_partial(&entry.file_name().to_string_lossy()) {
                std::fs::remove_file(entry.path()).map_err(|e| NodeError::file(entry.path(), e))?;
            }
        }
    }
    Ok(())
}

/// Whether `name` is an atomic write's temporary file.
fn is_partial(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".partial")
}
