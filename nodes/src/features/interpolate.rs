//! `features.interpolate`: the paper's frequency interpolation of audio
//! features to the video frame rate. As in FaceFormer, linear interpolation
//! with aligned corners: the first and last output frames are the first and
//! last input frames.

use gspeech_sdk::{Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, RunContext};

use super::features_value;
use crate::audio::AudioView;

/// Resamples a feature sequence to the video frame rate.
pub struct Interpolate;

/// Frames of video covering `samples` at `sample_rate`, at `fps`: whole frames
/// only, computed exactly for whole-number rates.
pub fn frame_count(samples: usize, sample_rate: f64, fps: f64) -> usize {
    if fps.fract() == 0.0 && sample_rate.fract() == 0.0 {
        (samples as u128 * fps as u128 / sample_rate as u128) as usize
    } else {
        (samples as f64 * fps / sample_rate + 1e-9).floor() as usize
    }
}

/// Linear interpolation with aligned corners of `frames_in` rows of `dims`
/// values to `frames_out` rows.
pub fn interpolate_linear(values: &[f32], dims: usize, frames_out: usize) -> Vec<f32> {
    let frames_in = values.len() / dims.max(1);
    let mut out = Vec::with_capacity(frames_out * dims);
    for i in 0..frames_out {
        let position = if frames_out > 1 {
            i as f64 * (frames_in - 1) as f64 / (frames_out - 1) as f64
        } else {
            0.0
        };
        let lo = (position.floor() as usize).min(frames_in - 1);
        let hi = (lo + 1).min(frames_in - 1);
        let w = (position - lo as f64) as f32;
        for d in 0..dims {
            out.push(values[lo * dims + d] * (1.0 - w) + values[hi * dims + d] * w);
        }
    }
    out
}

impl Node for Interpolate {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("features.interpolate", 1, "Interpolate to Frame Rate")
            .doc(
                "Resamples features (50 Hz for Wav2Vec 2.0 and mel) to the video frame rate by linear interpolation \
                 with aligned corners, as FaceFormer does. With `audio` connected, the frame count is the number of \
                 whole video frames in the audio; otherwise in the features.",
            )
            .input(PortSpec::new("features", PortType::Features, "The features."))
            .input(PortSpec::optional(
                "audio",
                PortType::Audio,
                "The audio they were computed from, for its duration.",
            ))
            .output(PortSpec::new(
                "features",
                PortType::Features,
                "One row per video frame.",
            ))
            .param(ParamSpec::float(
                "fps",
                25.0,
                (Some(1.0), Some(240.0)),
                "Video frames per second.",
            ))
    }

    fn run(&self, _ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let features = inputs.record("features", PortType::Features)?;
        let tensor = features.tensor("values").expect("validated");
        let (frames_in, dims) = (tensor.shape()[0], tensor.shape()[1]);
        if frames_in == 0 {
            return Err(NodeError::input("features", "has no frames"));
        }
        let rate = features.attr("rate").and_then(|r| r.as_f64()).expect("validated");
        let fps = params.float("fps")?;
        let frames_out = match inputs.get("audio").and_then(|a| a.as_record()) {
            Some(audio) => {
                let view = AudioView::of(audio).map_err(|e| NodeError::input("audio", e))?;
                frame_count(view.frames, view.sample_rate as f64, fps)
            }
            None => frame_count(frames_in, rate, fps),
        };
        if frames_out == 0 {
            return Err(NodeError::input(
                "features",
                format!("is shorter than one frame at {fps} fps"),
            ));
        }
        let values = interpolate_linear(tensor.as_f32().expect("validated"), dims, frames_out);
        let source = features.attr("source").and_then(|s| s.as_str()).unwrap_or("features");
        Ok(Outputs::new().with("features", features_value(values, dims, fps, source)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::fixture;

    #[test]
    fn matches_pytorch_linear_interpolation_with_aligned_corners() {
        let f = &fixture::get()["interpolate"];
        let (values, dims) = fixture::matrix(&f["features"]);
        for (fps, key) in [(25.0, "to_25"), (30.0, "to_30")] {
            let frames = frame_count(values.len() / dims, 50.0, fps);
            let (expected, _) = fixture::matrix(&f[key]);
            let got = interpolate_linear(&values, dims, frames);
            assert_eq!(got.len(), expected.len(), "{fps} fps");
            for (g, e) in got.iter().zip(&expected) {
                assert!((g - e).abs() < 1e-5, "{fps} fps: {g} vs {e}");
            }
        }
    }

    #[test]
    fn frame_counts_are_exact() {
        assert_eq!(frame_count(16000 * 3, 16000.0, 25.0), 75);
        assert_eq!(frame_count(16000 * 3 - 1, 16000.0, 25.0), 74);
        assert_eq!(frame_count(48000 * 10, 48000.0, 29.97), 299);
        assert_eq!(
            interpolate_linear(&[0.0, 1.0, 2.0], 1, 5),
            vec![0.0, 0.5, 1.0, 1.5, 2.0]
        );
        assert_eq!(interpolate_linear(&[4.0], 1, 2), vec![4.0, 4.0]);
    }
}
