//! The sentences the factory speaks: a text file with one sentence per line;
//! blank lines and lines starting with `#` are skipped. Sentences (and
//! recorded lines) are split into train, validation and test by
//! [`assign_splits`].

use std::path::Path;

use gspeech_sdk::NodeError;

use super::random::Rng;

/// One sentence and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Sentence {
    /// A stable id from its position among the sentences (`s0001`).
    pub id: String,
    /// The text.
    pub text: String,
    /// The 1-based line it is on.
    pub line: usize,
}

/// Reads a corpus; errors name the file and line.
pub fn read_corpus(path: &Path) -> Result<Vec<Sentence>, NodeError> {
    let text = std::fs::read_to_string(path).map_err(|e| NodeError::file(path, e))?;
    let mut sentences = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.chars().count() > 500 {
            return Err(NodeError::file(
                path,
                format!("line {}: a sentence of more than 500 characters; split it", i + 1),
            ));
        }
        if !trimmed.chars().any(char::is_alphabetic) {
            return Err(NodeError::file(
                path,
                format!("line {}: `{trimmed}` has no words", i + 1),
            ));
        }
        sentences.push(Sentence {
            id: format!("s{:04}", sentences.len() + 1),
            text: trimmed.to_string(),
            line: i + 1,
        });
    }
    if sentences.is_empty() {
        return Err(NodeError::file(path, "has no sentences"));
    }
    Ok(sentences)
}

/// A split for each of `n` items (sentences, or recorded lines): shares for
/// `val` and `test` by the fractions, each asked for getting at least one,
/// the rest `train`, in an order shuffled by the seed's `label` stream. Too
/// few items for the shares is an error on `param`, counting them as `noun`.
pub fn assign_splits(
    n: usize,
    [val_fraction, test_fraction]: [f64; 2],
    seed: u64,
    label: &str,
    [param, noun]: [&str; 2],
) -> Result<Vec<&'static str>, NodeError> {
    let share = |fraction: f64| {
        if fraction > 0.0 {
            ((n as f64 * fraction).round() as usize).max(1)
        } else {
            0
        }
    };
    let (test, val) = (share(test_fraction), share(val_fraction));
    if test + val >= n {
        return Err(NodeError::param(
            param,
            format!(
                "{n} {noun} leave none for training after {val} for validation and {test} for testing; use \
                 more, or set `val_fraction` and `test_fraction` to 0 to train on every one"
            ),
        ));
    }
    let mut order: Vec<usize> = (0..n).collect();
    Rng::stream(seed, label).shuffle(&mut order);
    let mut split = vec!["train"; n];
    order[..test].iter().for_each(|&i| split[i] = "test");
    order[test..test + val].iter().for_each(|&i| split[i] = "val");
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_comments_and_numbers_sentences() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.txt");
        std::fs::write(&path, "# a header\n\nThe birch canoe slid.\n  Glue the sheet.  \n").unwrap();
        let sentences = read_corpus(&path).unwrap();
        assert_eq!(sentences.len(), 2);
        assert_eq!(
            sentences[1],
            Sentence {
                id: "s0002".into(),
                text: "Glue the sheet.".into(),
                line: 4
            }
        );
        std::fs::write(&path, "# nothing\n").unwrap();
        assert!(
            read_corpus(&path)
                .unwrap_err()
                .to_string()
                .ends_with("has no sentences")
        );
        std::fs::write(&path, "Fine.\n1234\n").unwrap();
        assert!(
            read_corpus(&path)
                .unwrap_err()
                .to_string()
                .contains("line 2: `1234` has no words")
        );
    }

    #[test]
    fn the_committed_corpus_is_several_hundred_distinct_sentences() {
        let sentences = read_corpus(&crate::testing::repo_path("projects/assets/corpus/harvard.txt")).unwrap();
        assert_eq!(sentences.len(), 720);
        let mut texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(texts.len(), 720);
    }
}
