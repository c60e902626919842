//! Audio: loading any common format into the canonical form (`samples` f32
//! `[channels, frames]` with a `sample_rate`), resampling and loudness.

mod decode;
mod load;
pub mod loudness;
mod resample;
pub mod wav;

use std::sync::Arc;

use gspeech_sdk::{Node, PortType, Record, Tensor, Value};

pub use decode::{Decoded, decode, memory_budget};
pub use load::Load;
pub use resample::resample;

/// The audio nodes.
pub fn nodes() -> Vec<Arc<dyn Node>> {
    vec![Arc::new(Load)]
}

/// Audio in canonical form from planar channels of equal length.
pub fn audio_value(sample_rate: u32, channels: &[Vec<f32>]) -> Value {
    let frames = channels.first().map_or(0, Vec::len);
    let samples: Vec<f32> = channels.iter().flatten().copied().collect();
    let tensor = Tensor::from_f32(&[channels.len(), frames], samples).expect("channels have equal length");
    Value::data(
        Record::new(PortType::Audio)
            .with_tensor("samples", tensor)
            .with_attr("sample_rate", sample_rate),
    )
}

/// A read-only view of an audio record.
pub struct AudioView<'a> {
    /// Samples per second.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: usize,
    /// Samples per channel.
    pub frames: usize,
    samples: &'a [f32],
}

impl<'a> AudioView<'a> {
    /// Views a record in the audio canonical form.
    pub fn of(record: &'a Record) -> Result<AudioView<'a>, String> {
        record.validate()?;
        let tensor = record.tensor("samples").expect("validated");
        let sample_rate = record.attr("sample_rate").and_then(|v| v.as_u64()).expect("validated") as u32;
        Ok(AudioView {
            sample_rate,
            channels: tensor.shape()[0],
            frames: tensor.shape()[1],
            samples: tensor.as_f32().expect("validated"),
        })
    }

    /// One channel's samples.
    pub fn channel(&self, index: usize) -> &'a [f32] {
        &self.samples[index * self.frames..(index + 1) * self.frames]
    }

    /// The channels averaged into one.
    pub fn mono(&self) -> Vec<f32> {
        let mut mono = self.channel(0).to_vec();
        for c in 1..self.channels {
            mono.iter_mut().zip(self.channel(c)).for_each(|(m, s)| *m += s);
        }
        let scale = 1.0 / self.channels.max(1) as f32;
        mono.iter_mut().for_each(|m| *m *= scale);
        mono
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.frames as f64 / self.sample_rate as f64
    }
}

/// Waveform peaks for previews: the minimum and maximum of each of `buckets`
/// equal spans of `samples`.
pub fn peaks(samples: &[f32], buckets: usize) -> Vec<[f32; 2]> {
    if samples.is_empty() || buckets == 0 {
        return Vec::new();
    }
    (0..buckets)
        .map(|b| {
            let span = &samples[b * samples.len() / buckets
                ..((b + 1) * samples.len() / buckets)
                    .max(b * samples.len() / buckets + 1)
                    .min(samples.len())];
            span.iter().fold([f32::INFINITY, f32::NEG_INFINITY], |[lo, hi], &s| {
                [lo.min(s), hi.max(s)]
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_mono_and_peaks() {
        let value = audio_value(8000, &[vec![1.0, -1.0, 0.5, 0.0], vec![0.0, 1.0, 0.5, -1.0]]);
        let view = AudioView::of(value.as_record().unwrap()).unwrap();
        assert_eq!((view.channels, view.frames, view.sample_rate), (2, 4, 8000));
        assert_eq!(view.mono(), vec![0.5, 0.0, 0.5, -0.5]);
        assert_eq!(peaks(view.channel(0), 2), vec![[-1.0, 1.0], [0.0, 0.5]]);
        assert_eq!(peaks(&[0.25], 3).len(), 3);
    }
}
