//! The FaceFormer layouts on the fixtures `scripts/make-faceformer-fixtures.py`
//! writes (`tests/fixtures/faceformer`), whose values follow formulas the
//! tests recompute.

use std::path::{Path, PathBuf};

use super::pickle::{self, Value};
use super::*;

const V: usize = 12;
const VOCASET_SUBJECTS: [&str; 3] = [
    "FaceTalk_170725_00137_TA",
    "FaceTalk_170811_03275_TA",
    "FaceTalk_170809_00138_TA",
];
const BIWI_SUBJECTS: [&str; 3] = ["F2", "M3", "M1"];

fn fixture(name: &str) -> PathBuf {
    crate::testing::repo_path("tests/fixtures/faceformer").join(name)
}

/// The script's `template[s][v][k]`, flattened.
fn expected_template(s: usize) -> Vec<f32> {
    (0..V * 3)
        .map(|i| (s + 1) as f32 / 4.0 + (i / 3) as f32 / 64.0 + (i % 3) as f32 / 1024.0)
        .collect()
}

/// The script's stored frame `t`.
fn expected_frame(s: usize, t: usize) -> Vec<f32> {
    let template = expected_template(s);
    (0..V * 3)
        .map(|i| {
            let (v, k) = (i / 3, i % 3);
            template[i] + (((7 * t + 3 * v + k) % 11) as f32 - 5.0) / 512.0
        })
        .collect()
}

/// A writable copy of a fixture folder.
fn copy_of(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(name), dir.path());
    dir
}

fn templates_of(value: Value) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let Value::Dict(pairs) = value else {
        panic!("not a dict: {value:?}")
    };
    pairs
        .into_iter()
        .map(|(k, v)| match v {
            Value::Array(a) => (k.text().unwrap(), a.shape, a.values.to_vec()),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn faceformer_every_pickle_variant_gives_the_same_arrays() {
    let reference = templates_of(pickle::load(&fixture("vocaset/templates.pkl")).unwrap());
    assert_eq!(reference.len(), 3);
    for (s, (subject, shape, values)) in reference.iter().enumerate() {
        assert_eq!(subject, VOCASET_SUBJECTS[s]);
        assert_eq!(shape, &[V, 3]);
        let expected: Vec<f64> = expected_template(s).iter().map(|&v| v as f64).collect();
        assert_eq!(values, &expected, "{subject}");
    }
    for variant in [
        "py2-protocol0",
        "py3-protocol0",
        "py3-protocol2-f4",
        "py3-protocol4-fortran-big-endian",
    ] {
        let value = pickle::load(&fixture(&format!("pickles/{variant}.pkl"))).unwrap();
        assert_eq!(templates_of(value), reference, "{variant}");
    }
    // BIWI's: Python 3 protocol 4 of column-major arrays.
    let biwi = templates_of(pickle::load(&fixture("biwi/templates.pkl")).unwrap());
    for (s, (subject, _, values)) in biwi.iter().enumerate() {
        assert_eq!(subject, BIWI_SUBJECTS[s]);
        assert_eq!(
            values.iter().map(|&v| v as f32).collect::<Vec<_>>(),
            expected_template(s),
            "{subject}"
        );
    }
}

#[test]
fn faceformer_pickle_memo_keeps_a_dtype_built_after_it_was_stored() {
    // Python 2 stores the dtype in the memo before BUILD gives its byte order,
    // and the second array fetches it: both must read big-endian.
    let mut bytes = b"\x80\x02](cnumpy.core.multiarray\n_reconstruct\nq\x00cnumpy\nndarray\nq\x01K\x00\x85U\x01b\x87R(K\x01K\x01\x85cnumpy\ndtype\nq\x02U\x02f8K\x00K\x01\x87Rq\x03(K\x03U\x01>NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89U\x08".to_vec();
    bytes.extend(1.5f64.to_be_bytes());
    bytes.extend(b"tbh\x00h\x01K\x00\x85U\x01b\x87R(K\x01K\x01\x85h\x03\x89U\x08");
    bytes.extend((-2.25f64).to_be_bytes());
    bytes.extend(b"tbe.");
    let Value::List(arrays) = pickle::parse(&bytes).unwrap() else {
        panic!()
    };
    let values: Vec<f64> = arrays
        .iter()
        .map(|a| match a {
            Value::Array(a) => a.values[0],
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, vec![1.5, -2.25]);
}

#[test]
fn faceformer_pickle_errors_name_the_opcode_global_and_offset() {
    let unknown_global = pickle::parse(b"\x80\x02cos\nsystem\nq\x00.").unwrap_err();
    assert!(
        unknown_global.contains("at byte 2") && unknown_global.contains("os.system"),
        "{unknown_global}"
    );
    let stack_global = pickle::parse(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.").unwrap_err();
    assert!(
        stack_global.contains("builtins.eval") && stack_global.contains("STACK_GLOBAL"),
        "{stack_global}"
    );
    let unknown_opcode = pickle::parse(b"\x80\x02K\x01\xff.").unwrap_err();
    assert!(
        unknown_opcode.contains("at byte 4") && unknown_opcode.contains("0xff"),
        "{unknown_opcode}"
    );
    let persistent = pickle::parse(b"\x80\x02K\x01Q.").unwrap_err();
    assert!(persistent.contains("BINPERSID"), "{persistent}");
    // A corrupt length: refused, not allocated.
    let huge = pickle::parse(b"\x80\x03B\xff\xff\xff\x7f").unwrap_err();
    assert!(
        huge.contains("2147483647 bytes") && huge.contains("only 0 are left"),
        "{huge}"
    );
    let huge8 = pickle::parse(b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xffabc").unwrap_err();
    assert!(huge8.contains("only 3 are left"), "{huge8}");
    // Array data that does not fill its shape.
    let short = pickle::parse(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R(K\x01K\x02\x85cnumpy\ndtype\nX\x02\x00\x00\x00f4\x89\x88\x87R\x89C\x04\x00\x00\x00\x00tb.").unwrap_err();
    assert!(short.contains("gives 4 bytes for an array of shape [2]"), "{short}");
    // The file is named by `load`.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("templates.pkl");
    std::fs::write(&path, b"\x80\x02cos\nsystem\n.").unwrap();
    let message = pickle::load(&path).unwrap_err().to_string();
    assert!(
        message.contains("templates.pkl") && message.contains("os.system"),
        "{message}"
    );
}

#[test]
fn faceformer_vocaset_layout_and_splits() {
    let data = FaceformerData::open(&fixture("vocaset"), Kind::Vocaset).unwrap();
    assert_eq!(data.vertex_count, V);
    assert_eq!(data.subjects().collect::<Vec<_>>(), {
        let mut sorted = VOCASET_SUBJECTS.to_vec();
        sorted.sort();
        sorted
    });
    assert!(data.unpaired.is_empty(), "{}", data.unpaired_listing());
    let splits: Vec<(&str, u32, Option<Split>)> = data
        .sequences
        .iter()
        .map(|s| (s.subject.as_str(), s.sentence, s.split))
        .collect();
    assert_eq!(
        splits,
        vec![
            ("FaceTalk_170725_00137_TA", 1, Some(Split::Train)),
            ("FaceTalk_170725_00137_TA", 21, Some(Split::Train)),
            ("FaceTalk_170809_00138_TA", 1, None),
            ("FaceTalk_170809_00138_TA", 21, Some(Split::Test)),
            ("FaceTalk_170811_03275_TA", 1, None),
            ("FaceTalk_170811_03275_TA", 21, Some(Split::Val)),
        ]
    );
    assert_eq!(
        data.split(Split::Val).map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["FaceTalk_170811_03275_TA_sentence21"]
    );

    // Loaded: every second of the 60 fps frames, 30 fps.
    let sequence = &data.sequences[3];
    assert_eq!(sequence.stored_frames, 30);
    let loaded = data.load(sequence).unwrap();
    let s = 2; // FaceTalk_170809_00138_TA's index in the script
    assert_eq!((loaded.frames, loaded.fps, loaded.split), (15, 30.0, Some(Split::Test)));
    for j in 0..loaded.frames {
        assert_eq!(
            &loaded.vertices[j * V * 3..(j + 1) * V * 3],
            expected_frame(s, 2 * j),
            "frame {j}"
        );
    }
    assert_eq!(loaded.template, expected_template(s));
    assert_eq!((loaded.sample_rate, loaded.audio.len()), (8000, 4000));
    let expected_sample = 0.5 * (2.0 * std::f32::consts::PI * 600.0 * 3.0 / 8000.0).sin();
    assert!(
        (loaded.audio[3] - expected_sample).abs() < 1e-3,
        "{} vs {expected_sample}",
        loaded.audio[3]
    );
    assert_eq!(Kind::Vocaset.unit(), Unit::Metres);
}

#[test]
fn faceformer_biwi_layout_and_splits() {
    let data = FaceformerData::open(&fixture("biwi"), Kind::Biwi).unwrap();
    let splits: Vec<(&str, Option<Split>)> = data.sequences.iter().map(|s| (s.id.as_str(), s.split)).collect();
    assert_eq!(
        splits,
        vec![
            ("F2_e01", Some(Split::Train)),
            ("F2_e37", Some(Split::SeenTest)),
            ("M1_e36", None),
            ("M1_e37", Some(Split::Test)),
            ("M3_e32", Some(Split::Train)),
            ("M3_e33", Some(Split::Val)),
        ]
    );
    let loaded = data.load(&data.sequences[5]).unwrap();
    assert_eq!((loaded.frames, loaded.fps, loaded.subject.as_str()), (12, 25.0, "M3"));
    for t in 0..loaded.frames {
        assert_eq!(
            &loaded.vertices[t * V * 3..(t + 1) * V * 3],
            expected_frame(1, t),
            "frame {t}"
        );
    }
    assert_eq!(loaded.template, expected_template(1));
}

#[test]
fn faceformer_split_rules_match_faceformer() {
    // Whole datasets: VOCASET 12 subjects × 40 sentences, BIWI 14 × 40.
    let count = |kind: Kind, split: Split| {
        let subjects: Vec<&str> = kind
            .split_rules()
            .iter()
            .flat_map(|r| r.subjects.iter().copied())
            .collect();
        let mut subjects = subjects;
        subjects.sort();
        subjects.dedup();
        subjects
            .iter()
            .flat_map(|s| (1..=40).map(move |n| (*s, n)))
            .filter(|(s, n)| kind.split_of(s, *n) == Some(split))
            .count()
    };
    // FaceFormer's paper: VOCASET 8 × 40 train, 2 × 20 val, 2 × 20 test;
    // BIWI 6 × 32 train, 6 × 4 val, 8 × 4 Test-B, 6 × 4 Test-A.
    assert_eq!(
        [Split::Train, Split::Val, Split::Test, Split::SeenTest].map(|s| count(Kind::Vocaset, s)),
        [320, 40, 40, 0]
    );
    assert_eq!(
        [Split::Train, Split::Val, Split::Test, Split::SeenTest].map(|s| count(Kind::Biwi, s)),
        [192, 24, 32, 24]
    );
    // No sequence is in two splits.
    for kind in [Kind::Vocaset, Kind::Biwi] {
        let rules = kind.split_rules();
        for (i, a) in rules.iter().enumerate() {
            for b in &rules[i + 1..] {
                let shared = a.subjects.iter().any(|s| b.subjects.contains(s));
                let overlap = a.sentences.start() <= b.sentences.end() && b.sentences.start() <= a.sentences.end();
                assert!(!(shared && overlap), "{kind:?}: {:?} and {:?}", a.split, b.split);
            }
        }
    }
    assert_eq!((Kind::Vocaset.fps(), Kind::Biwi.fps()), (30.0, 25.0));
}

#[test]
fn faceformer_unpaired_files_are_skipped_and_listed() {
    let dir = copy_of("vocaset");
    let root = dir.path();
    std::fs::remove_file(root.join("vertices_npy/FaceTalk_170725_00137_TA_sentence01.npy")).unwrap();
    std::fs::remove_file(root.join("wav/FaceTalk_170809_00138_TA_sentence21.wav")).unwrap();
    // Wavs in subfolders count, as FaceFormer walks the folder.
    std::fs::create_dir(root.join("wav/more")).unwrap();
    std::fs::rename(
        root.join("wav/FaceTalk_170811_03275_TA_sentence21.wav"),
        root.join("wav/more/FaceTalk_170811_03275_TA_sentence21.wav"),
    )
    .unwrap();
    let data = FaceformerData::open(root, Kind::Vocaset).unwrap();
    assert_eq!(data.sequences.len(), 4);
    assert!(
        data.sequences
            .iter()
            .any(|s| s.id == "FaceTalk_170811_03275_TA_sentence21")
    );
    let listing = data.unpaired_listing();
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert!(
        listing.contains("FaceTalk_170725_00137_TA_sentence01.wav: no vertices, skipped"),
        "{listing}"
    );
    assert!(
        listing.contains("FaceTalk_170809_00138_TA_sentence21.npy: no audio, skipped"),
        "{listing}"
    );
}

#[test]
fn faceformer_layout_errors_name_the_file() {
    let open_error = |root: &Path, kind| FaceformerData::open(root, kind).unwrap_err().to_string();

    // Vertex count differing from the subject's template.
    let dir = copy_of("biwi");
    let wrong = dir.path().join("vertices_npy/M1_e37.npy");
    npy::write_f32(&wrong, &[4, 11 * 3], &vec![0.0; 4 * 33]);
    let message = open_error(dir.path(), Kind::Biwi);
    assert!(
        message.contains("M1_e37.npy") && message.contains("holds 11 vertices per frame"),
        "{message}"
    );
    assert!(message.contains("subject M1's template has 12"), "{message}");

    // NaN in vertices: found when the sequence is loaded, by frame.
    let dir = copy_of("biwi");
    let mut values = expected_frame(0, 0).repeat(3);
    values[V * 3 + 5] = f32::NAN;
    npy::write_f32(&dir.path().join("vertices_npy/F2_e01.npy"), &[3, V * 3], &values);
    let data = FaceformerData::open(dir.path(), Kind::Biwi).unwrap();
    let message = data.load(&data.sequences[0]).unwrap_err().to_string();
    assert!(
        message.contains("F2_e01.npy") && message.contains("NaN at frame 1, coordinate 5"),
        "{message}"
    );

    // A templates file of another layout: a list, or a key holding no array.
    let dir = copy_of("vocaset");
    let templates = dir.path().join("templates.pkl");
    std::fs::write(&templates, b"\x80\x02]q\x00.").unwrap();
    let message = open_error(dir.path(), Kind::Vocaset);
    assert!(
        message.contains("templates.pkl") && message.contains("does not hold a dict"),
        "{message}"
    );
    std::fs::write(&templates, b"\x80\x02}q\x00X\x02\x00\x00\x00F2K\x07s.").unwrap();
    let message = open_error(dir.path(), Kind::Vocaset);
    assert!(
        message.contains("templates.pkl") && message.contains("key 'F2' holds an int"),
        "{message}"
    );

    // A subject without a template.
    let dir = copy_of("biwi");
    std::fs::copy(dir.path().join("wav/F2_e01.wav"), dir.path().join("wav/F9_e01.wav")).unwrap();
    std::fs::copy(
        dir.path().join("vertices_npy/F2_e01.npy"),
        dir.path().join("vertices_npy/F9_e01.npy"),
    )
    .unwrap();
    let message = open_error(dir.path(), Kind::Biwi);
    assert!(
        message.contains("no template for subject F9") && message.contains("F9_e01.wav"),
        "{message}"
    );

    // A name without a sentence number.
    let dir = copy_of("biwi");
    std::fs::copy(dir.path().join("wav/F2_e01.wav"), dir.path().join("wav/F2_neutral.wav")).unwrap();
    std::fs::copy(
        dir.path().join("vertices_npy/F2_e01.npy"),
        dir.path().join("vertices_npy/F2_neutral.npy"),
    )
    .unwrap();
    let message = open_error(dir.path(), Kind::Biwi);
    assert!(
        message.contains("F2_neutral.wav") && message.contains("two-digit sentence number"),
        "{message}"
    );
}
