//! The candle side of the Wav2Vec 2.0 benchmark (see scripts/bench-wav2vec2.sh):
//! `cargo bench -p gspeech-nodes --bench wav2vec2 -- MODEL_DIR SECONDS` runs one
//! case and prints a JSON line with the median of five forward passes and the
//! process's peak memory.

mod common;

use common::peak_mib;
use candle_core::{Device, Tensor};
use gspeech_nodes::features::wav2vec2::load_model;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let [model_dir, seconds] = &args[..] else {
        eprintln!(
            "usage: cargo bench -p gspeech-nodes --bench wav2vec2 -- MODEL_DIR SECONDS (scripts/bench-wav2vec2.sh runs it)"
        );
        return;
    };
    let seconds: f64 = seconds.parse().expect("SECONDS is a number");
    let (_, model) = load_model(std::path::Path::new(model_dir), &Device::Cpu).unwrap();
    let noise = |n: usize| {
        // A fixed pseudo-random signal: the timing does not depend on the values.
        let values: Vec<f32> = (0..n)
            .map(|i| ((i as f32 * 12.9898).sin() * 43758.547).fract() * 0.2 - 0.1)
            .collect();
        Tensor::from_vec(values, (1, n), &Device::Cpu).unwrap()
    };
    model.forward(&noise(16000)).unwrap();
    let audio = noise((seconds * 16000.0) as usize);
    let mut times: Vec<f64> = (0..5)
        .map(|_| {
            let start = std::time::Instant::now();
            let out = model.forward(&audio).unwrap();
            let _ = out.last_hidden_state.dims();
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        r#"{{"seconds": {seconds}, "time_s": {}, "peak_mib": {}}}"#,
        times[2],
        peak_mib()
    );
}
