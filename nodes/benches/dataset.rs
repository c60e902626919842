//! Capture-factory speed and dataset size: sequences made per minute and
//! megabytes written, storing every vertex of the default face model or only
//! its face region.
//!
//! `cargo bench -p gspeech-nodes --bench dataset [-- SENTENCES]` (needs eSpeak
//! NG's library) makes the first SENTENCES (default 40) Harvard sentences,
//! each spoken by one of the five default training voices, on every core, and
//! prints a Markdown table.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use gspeech_nodes::dataset::Synthesize;
use gspeech_nodes::face::asset::read_asset;
use gspeech_sdk::testing::TestRun;
use gspeech_sdk::{Inputs, Value};
use serde_json::json;

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let path = e.path();
            if path.is_dir() {
                folder_bytes(&path)
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}

fn main() {
    let sentences: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(40);
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let face = read_asset(&repo.join("projects/assets/face/ict-facekit.json")).unwrap();
    let corpus = repo.join("projects/assets/corpus/harvard.txt");
    let inputs = Inputs::new(BTreeMap::from([("face".to_string(), Value::data(face.to_record()))]));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The default dataset: 720 sentences by two training voices each, plus 72 test sentences by the held-out voice.
    let default_sequences = 720.0 * 2.0 + 72.0;
    println!(
        "Capture factory: the first {sentences} Harvard sentences, one training voice each, on {cores} cores, \
         25 fps, 16 kHz\n"
    );
    println!(
        "| stored vertices | sequences | speech (min) | time (s) | sequences / min | MB / sequence | MB / min of speech | default dataset, estimated (GB) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (label, regions) in [("all 24,591", "all"), ("face region, 9,409", "face")] {
        let run = TestRun::new();
        let out = run.dir().join("data");
        let params = json!({
            "corpus": corpus, "out": out, "sentences": sentences, "voices_per_sentence": 1,
            "held_out_voice": "", "val_fraction": 0.0, "test_fraction": 0.0, "regions": regions,
        });
        let started = Instant::now();
        run.run(&Synthesize, inputs.clone(), params).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("dataset.json")).unwrap()).unwrap();
        let speech: f64 = index["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["seconds"].as_f64().unwrap())
            .sum();
        let megabytes = folder_bytes(&out) as f64 / 1e6;
        let per_sequence = megabytes / sentences as f64;
        println!(
            "| {label} | {sentences} | {:.2} | {seconds:.1} | {:.0} | {per_sequence:.1} | {:.0} | {:.1} |",
            speech / 60.0,
            sentences as f64 / seconds * 60.0,
            megabytes / (speech / 60.0),
            per_sequence * default_sequences / 1e3,
        );
    }
}
