//! Numbered file sequences: a name pattern with a frame-number field, and a
//! hidden staging folder so a sequence appears whole or not at all.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A file path with a frame-number field: `frame_####.png` (four digits,
/// zero-padded) or printf style `frame_%04d.png`.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    folder: PathBuf,
    prefix: String,
    digits: usize,
    suffix: String,
}

impl Pattern {
    /// Finds the last frame-number field in the file name of `path`.
    pub fn parse(path: &Path) -> Result<Pattern, String> {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("`{}` has no file name", path.display()))?;
        let folder = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let hashes = name.rfind('#').map(|end| {
            let start = name[..=end].trim_end_matches('#').len();
            (start, end + 1, end + 1 - start)
        });
        let printf = name.rfind('%').and_then(|start| {
            let rest = &name[start + 1..];
            let digits_len = rest.find('d')?;
            let width = &rest[..digits_len];
            (width.chars().all(|c| c.is_ascii_digit()))
                .then(|| (start, start + digits_len + 2, width.parse().unwrap_or(1)))
        });
        let (start, end, digits) = match (hashes, printf) {
            (Some(h), Some(p)) => {
                if h.0 > p.0 {
                    h
                } else {
                    p
                }
            }
            (Some(field), None) | (None, Some(field)) => field,
            (None, None) => {
                return Err(format!(
                    "`{name}` has no frame-number field: put #### (or %04d) where the number goes"
                ));
            }
        };
        Ok(Pattern {
            folder,
            prefix: name[..start].to_string(),
            digits,
            suffix: name[end..].to_string(),
        })
    }

    /// The path of frame `number`.
    pub fn path(&self, number: u64) -> PathBuf {
        self.folder.join(self.file_name(number))
    }

    fn file_name(&self, number: u64) -> String {
        format!("{}{number:0width$}{}", self.prefix, self.suffix, width = self.digits)
    }

    /// The folder the files go in.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The lower-case extension of the files (`png`, `exr`), if any.
    pub fn extension(&self) -> Option<String> {
        self.suffix.rsplit_once('.').map(|(_, e)| e.to_lowercase())
    }

    /// Files in the folder that this pattern names but whose numbers are not
    /// in `numbers`: left from an earlier, longer export.
    pub fn strays(&self, numbers: std::ops::Range<u64>) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.folder) else {
            return Vec::new();
        };
        let mut strays: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let digits = name
                    .strip_prefix(&self.prefix)
                    .and_then(|rest| rest.strip_suffix(&self.suffix))
                    .filter(|d| d.len() >= self.digits && d.chars().all(|c| c.is_ascii_digit()));
                digits
                    .and_then(|d| d.parse::<u64>().ok())
                    .is_some_and(|n| !numbers.contains(&n) && self.file_name(n) == name)
            })
            .map(|e| e.path())
            .collect();
        strays.sort();
        strays
    }
}

static NEXT_STAGE: AtomicU64 = AtomicU64::new(0);

/// A hidden folder beside the targets where a sequence is written; on
/// [`Staging::commit`] every file is renamed onto its target. Dropped without
/// committing (an error, a cancellation), it is removed with its contents.
pub struct Staging {
    dir: PathBuf,
    moves: Vec<(PathBuf, PathBuf)>,
}

impl Staging {
    /// Creates the staging folder inside `folder` (created if needed).
    pub fn create(folder: &Path) -> std::io::Result<Staging> {
        let folder = if folder.as_os_str().is_empty() {
            Path::new(".")
        } else {
            folder
        };
        std::fs::create_dir_all(folder)?;
        let dir = folder.join(format!(
            ".export-{}-{}.partial",
            std::process::id(),
            NEXT_STAGE.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)?;
        Ok(Staging { dir, moves: Vec::new() })
    }

    /// Where to write the file that will become `target`.
    pub fn path_for(&mut self, target: &Path) -> PathBuf {
        let staged = self.dir.join(target.file_name().expect("targets have file names"));
        self.moves.push((staged.clone(), target.to_path_buf()));
        staged
    }

    /// Moves every staged file onto its target.
    pub fn commit(self) -> std::io::Result<()> {
        for (staged, target) in &self.moves {
            File::open(staged)?.sync_all()?;
            std::fs::rename(staged, target)?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_take_hashes_or_printf_fields() {
        let p = Pattern::parse(Path::new("out/frame_####.png")).unwrap();
        assert_eq!(p.path(7), Path::new("out/frame_0007.png"));
        assert_eq!(p.path(123456), Path::new("out/frame_123456.png"));
        assert_eq!(p.extension().as_deref(), Some("png"));
        let p = Pattern::parse(Path::new("shot.%03d.EXR")).unwrap();
        assert_eq!(p.path(5), Path::new("shot.005.EXR"));
        assert_eq!(p.extension().as_deref(), Some("exr"));
        assert_eq!(
            Pattern::parse(Path::new("a#b/f_#.png")).unwrap().path(3),
            Path::new("a#b/f_3.png")
        );
        let err = Pattern::parse(Path::new("out/frame.png")).unwrap_err();
        assert!(err.contains("####"), "{err}");
    }

    #[test]
    fn staged_files_appear_only_on_commit_and_strays_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let pattern = Pattern::parse(&dir.path().join("f_##.txt")).unwrap();
        std::fs::write(pattern.path(9), b"old").unwrap();
        std::fs::write(dir.path().join("f_1.txt"), b"not ours").unwrap();
        {
            let mut staging = Staging::create(pattern.folder()).unwrap();
            std::fs::write(staging.path_for(&pattern.path(1)), b"x").unwrap();
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "dropped staging leaves nothing"
        );
        let mut staging = Staging::create(pattern.folder()).unwrap();
        for n in 1..3 {
            std::fs::write(staging.path_for(&pattern.path(n)), b"x").unwrap();
        }
        staging.commit().unwrap();
        assert!(pattern.path(1).exists() && pattern.path(2).exists());
        assert_eq!(pattern.strays(1..3), vec![pattern.path(9)]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
    }
}
