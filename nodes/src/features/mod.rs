//! Audio features for the motion model: Wav2Vec 2.0, log-mel spectrograms
//! (no weights needed), and the frequency interpolation of any feature sequence to the
//! video frame rate.

mod interpolate;
mod mel;
pub mod wav2vec2;

use std::sync::Arc;

use gspeech_sdk::{Node, PortType, Record, Tensor, Value};

pub use interpolate::{Interpolate, frame_count, interpolate_linear};
pub use mel::{Mel, hz_to_mel, log_mel, mel_to_hz};
pub use wav2vec2::Wav2Vec2Features;

/// The feature nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(Wav2Vec2Features), Arc::new(Mel), Arc::new(Interpolate)]
}

/// A features value: `values` `[frames, dims]` at `rate` frames per second.
pub fn features_value(values: Vec<f32>, dims: usize, rate: f64, source: &str) -> Value {
    let frames = values.len().checked_div(dims).unwrap_or(0);
    let tensor = Tensor::from_f32(&[frames, dims], values).expect("values hold whole frames");
    Value::data(
        Record::new(PortType::Features)
            .with_tensor("values", tensor)
            .with_attr("rate", rate)
            .with_attr("source", source),
    )
}

#[cfg(test)]
pub(crate) mod fixture {
    //! The reference values written by `tests/fixtures/make_feature_fixtures.py`.
    use std::sync::OnceLock;

    pub fn get() -> &'static serde_json::Value {
        static FIXTURE: OnceLock<serde_json::Value> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let path = crate::testing::repo_path("tests/fixtures/features.json");
            serde_json::from_str(&std::fs::read_to_string(path).expect("the fixture is committed")).unwrap()
        })
    }

    pub fn matrix(value: &serde_json::Value) -> (Vec<f32>, usize) {
        let rows = value.as_array().unwrap();
        let dims = rows[0].as_array().unwrap().len();
        (
            rows.iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32))
                .collect(),
            dims,
        )
    }
}
