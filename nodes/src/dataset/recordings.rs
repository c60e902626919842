//! Recorded lines with their transcripts, as a studio or a corpus keeps them:
//! a folder of audio files (in subfolders too), each with its transcript in a
//! `.txt` of the same name beside it, or in one list for the folder —
//! `transcripts.txt` with one `NAME: text`, `NAME|text` or `NAME<TAB>text`
//! per line, or LJSpeech's `metadata.csv` (`NAME|text|normalised text`, the
//! normalised text used). `NAME` is the file's path in the folder without
//! its extension (`digits/1`), or its bare name where that is unique.
//!
//! Problems are gathered per file, not raised: a line without a transcript,
//! an empty transcript, a list entry naming no recording or without a
//! separator. The rest of the folder is still usable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use gspeech_sdk::NodeError;

/// Audio file extensions read as recordings.
pub const AUDIO_EXTENSIONS: [&str; 7] = ["wav", "flac", "mp3", "ogg", "oga", "m4a", "aac"];
/// The transcript lists a folder may hold, in the order they are looked for.
pub const TRANSCRIPT_LISTS: [&str; 2] = ["transcripts.txt", "metadata.csv"];
/// The longest transcript file read, bytes: a line of speech is far shorter.
const LONGEST_TRANSCRIPT: u64 = 1 << 20;

/// One recorded line.
#[derive(Clone, Debug, PartialEq)]
pub struct Recording {
    /// A sequence id from its path in the folder (`digits-1`).
    pub id: String,
    /// The audio file.
    pub audio: PathBuf,
    /// What is said.
    pub transcript: String,
}

/// A folder's recorded lines, and what was wrong with the others.
#[derive(Debug, Default)]
pub struct Recordings {
    /// The lines with a transcript, in path order.
    pub lines: Vec<Recording>,
    /// One message per file or list line that could not be used, naming it.
    pub problems: Vec<String>,
}

/// Reads the recordings under `dir`. Errors only when the folder cannot be
/// read or holds no audio file at all.
pub fn read_recordings(dir: &Path) -> Result<Recordings, NodeError> {
    if !dir.is_dir() {
        return Err(NodeError::file(dir, "is not a folder of recordings"));
    }
    let mut audio = Vec::new();
    collect_audio(dir, &mut audio)?;
    audio.sort();
    if audio.is_empty() {
        return Err(NodeError::file(
            dir,
            format!("holds no audio files ({})", AUDIO_EXTENSIONS.join(", ")),
        ));
    }
    let mut out = Recordings::default();
    let (mut listed, list) = read_list(dir, &mut out.problems)?;
    let names: Vec<String> = audio.iter().map(|p| name_in(dir, p)).collect();
    let mut stems: BTreeMap<String, usize> = BTreeMap::new();
    for name in &names {
        *stems.entry(bare(name).to_string()).or_default() += 1;
    }
    for (path, name) in audio.iter().zip(&names) {
        let beside = path.with_extension("txt");
        let transcript = if beside.is_file() {
            Some(read_text(&beside)?)
        } else {
            listed.remove(name).or_else(|| {
                (stems[bare(name)] == 1)
                    .then(|| listed.remove(bare(name)))
                    .flatten()
            })
        };
        match transcript.map(|t| t.split_whitespace().collect::<Vec<_>>().join(" ")) {
            None => out.problems.push(format!(
                "{}: no transcript (no {} beside it{})",
                path.display(),
                beside.file_name().unwrap_or_default().to_string_lossy(),
                list.as_ref()
                    .map_or(String::new(), |l| format!(" and no line for `{name}` in {}", l.display()))
            )),
            Some(t) if !t.chars().any(char::is_alphabetic) => {
                out.problems.push(format!("{}: the transcript has no words", path.display()))
            }
            Some(transcript) => out.lines.push(Recording {
                id: sequence_id(name),
                audio: path.clone(),
                transcript,
            }),
        }
    }
    if let Some(list) = &list {
        for name in listed.keys() {
            out.problems
                .push(format!("{}: `{name}` names no recording in {}", list.display(), dir.display()));
        }
    }
    Ok(out)
}

/// Every audio file under `dir`, hidden files and folders skipped.
fn collect_audio(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), NodeError> {
    for entry in std::fs::read_dir(dir).map_err(|e| NodeError::file(dir, e))? {
        let path = entry.map_err(|e| NodeError::file(dir, e))?.path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            collect_audio(&path, out)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// The folder's transcript list, by name, and its path; malformed lines are
/// problems.
fn read_list(
    dir: &Path,
    problems: &mut Vec<String>,
) -> Result<(BTreeMap<String, String>, Option<PathBuf>), NodeError> {
    let Some(path) = TRANSCRIPT_LISTS.iter().map(|n| dir.join(n)).find(|p| p.is_file()) else {
        return Ok((BTreeMap::new(), None));
    };
    let text = read_text(&path)?;
    let mut listed = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        match split_entry(line) {
            Some((name, transcript)) => {
                listed.insert(name.trim().to_string(), transcript.trim().to_string());
            }
            None => problems.push(format!(
                "{} line {}: no `NAME: text`, `NAME|text` or `NAME<TAB>text`",
                path.display(),
                i + 1
            )),
        }
    }
    Ok((listed, Some(path)))
}

/// A list line's name and transcript: split at the first `|` (LJSpeech's
/// normalised text, its third field, where present), tab, or `: `.
fn split_entry(line: &str) -> Option<(&str, &str)> {
    if let Some((name, rest)) = line.split_once('|') {
        return Some((name, rest.rsplit('|').next().unwrap_or(rest)));
    }
    line.split_once('\t').or_else(|| line.split_once(": "))
}

/// A text file, bounded.
fn read_text(path: &Path) -> Result<String, NodeError> {
    let size = std::fs::metadata(path).map_err(|e| NodeError::file(path, e))?.len();
    if size > LONGEST_TRANSCRIPT {
        return Err(NodeError::file(
            path,
            format!("is {size} bytes; a transcript list of more than {LONGEST_TRANSCRIPT} is not read"),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| NodeError::file(path, e))?;
    String::from_utf8(bytes).map_err(|e| NodeError::file(path, format!("is not UTF-8 text: {e}")))
}

/// A file's path in the folder without its extension, with `/` separators.
fn name_in(dir: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(dir).unwrap_or(path).with_extension("");
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// The last part of a name.
fn bare(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// A name as a sequence folder name: `/` becomes `-`, and anything but
/// letters, digits, `-`, `_` and `.` becomes `_`.
fn sequence_id(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '/' => '-',
            c if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') => c,
            _ => '_',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::testing::TestRun;

    fn touch(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn transcripts_come_from_beside_each_file_or_from_the_folder_s_list() {
        let run = TestRun::new();
        let root = &run.dir();
        touch(root, "hello.wav", "");
        touch(root, "hello.txt", "  Hello,\n  world. ");
        touch(root, "digits/1.wav", "");
        touch(root, "digits/2.flac", "");
        touch(root, "vm-intro.g722", "not audio this reads");
        touch(root, "letters/a b.wav", "");
        touch(root, "silent.wav", "");
        touch(root, "silent.txt", "...");
        touch(root, "lost.wav", "");
        touch(
            root,
            "transcripts.txt",
            "; Asterisk's style\ndigits/1: One.\n2|two|Two.\nletters/a b\tA.\nnowhere: Gone.\njunk line\n",
        );
        let read = read_recordings(root).unwrap();
        let lines: Vec<(&str, &str)> = read
            .lines
            .iter()
            .map(|r| (r.id.as_str(), r.transcript.as_str()))
            .collect();
        assert_eq!(
            lines,
            [("digits-1", "One."), ("digits-2", "Two."), ("hello", "Hello, world."), ("letters-a_b", "A.")]
        );
        assert!(read.lines[2].audio.ends_with("hello.wav"));
        let problems = read.problems.join("\n");
        for expected in [
            "transcripts.txt line 6: no `NAME: text`",
            "lost.wav: no transcript (no lost.txt beside it and no line for `lost` in",
            "silent.wav: the transcript has no words",
            "`nowhere` names no recording",
        ] {
            assert!(problems.contains(expected), "{expected} not in:\n{problems}");
        }
        assert_eq!(read.problems.len(), 4, "{problems}");
    }

    #[test]
    fn a_folder_without_recordings_is_refused() {
        let run = TestRun::new();
        touch(&run.dir(), "notes.txt", "hello");
        let err = read_recordings(&run.dir()).unwrap_err().to_string();
        assert!(err.contains("holds no audio files"), "{err}");
        let err = read_recordings(&run.dir().join("notes.txt")).unwrap_err().to_string();
        assert!(err.contains("is not a folder of recordings"), "{err}");
    }
}
