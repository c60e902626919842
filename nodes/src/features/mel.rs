//! `features.mel`: log-mel spectrogram features at 50 Hz, needing no weights.
//!
//! The same maths as librosa's `melspectrogram` with a 25 ms periodic Hann
//! window zero-padded to a power-of-two FFT, 20 ms hop, centred frames with
//! zero padding, power 2, the Slaney mel scale and area normalisation; then
//! the natural log, floored at 1e-10.

use gspeech_sdk::{Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, RunContext};
use realfft::RealFftPlanner;

use super::features_value;
use crate::audio::AudioView;

/// Frames per second of the features.
pub const RATE: u32 = 50;

/// Log-mel features of audio.
pub struct Mel;

/// Hertz to mels (Slaney's scale, librosa's default).
pub fn hz_to_mel(hz: f64) -> f64 {
    let (f_sp, min_log_hz, logstep) = (200.0 / 3.0, 1000.0, 6.4f64.ln() / 27.0);
    if hz < min_log_hz {
        hz / f_sp
    } else {
        min_log_hz / f_sp + (hz / min_log_hz).ln() / logstep
    }
}

/// Mels to hertz, the inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    let (f_sp, min_log_hz, logstep) = (200.0 / 3.0, 1000.0, 6.4f64.ln() / 27.0);
    let min_log_mel = min_log_hz / f_sp;
    if mel < min_log_mel {
        mel * f_sp
    } else {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    }
}

/// Slaney-normalised triangular mel filters, `n_mels` rows of `n_fft / 2 + 1`.
fn filterbank(sample_rate: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Vec<Vec<f64>> {
    let bins = n_fft / 2 + 1;
    let fft_hz: Vec<f64> = (0..bins).map(|k| k as f64 * sample_rate / n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let edges: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let norm = 2.0 / (edges[m + 2] - edges[m]);
            fft_hz
                .iter()
                .map(|&f| {
                    let rising = (f - edges[m]) / (edges[m + 1] - edges[m]);
                    let falling = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
                    rising.min(falling).max(0.0) * norm
                })
                .collect()
        })
        .collect()
}

/// Log-mel features of mono `samples`: `[frames, n_mels]` row-major, one frame
/// every `sample_rate / 50` samples. `fmax` 0 means the Nyquist frequency.
pub fn log_mel(samples: &[f32], sample_rate: u32, n_mels: usize, fmin: f64, fmax: f64) -> Result<Vec<f32>, String> {
    if !sample_rate.is_multiple_of(RATE) {
        return Err(format!(
            "the sample rate {sample_rate} Hz is not a multiple of {RATE} Hz"
        ));
    }
    let hop = (sample_rate / RATE) as usize;
    let win = (sample_rate as usize * 25).div_ceil(1000);
    let n_fft = win.next_power_of_two();
    let fmax = if fmax > 0.0 { fmax } else { sample_rate as f64 / 2.0 };
    if fmin >= fmax {
        return Err(format!("fmin ({fmin} Hz) must be below fmax ({fmax} Hz)"));
    }
    let filters = filterbank(sample_rate as f64, n_fft, n_mels, fmin, fmax);
    // A periodic Hann window of `win` samples, centred in `n_fft`.
    let offset = (n_fft - win) / 2;
    let mut window = vec![0.0f32; n_fft];
    for n in 0..win {
        window[offset + n] = (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / win as f64).cos()) as f32;
    }
    let pad = n_fft / 2;
    let frames = 1 + samples.len() / hop;
    let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
    let (mut frame, mut spectrum) = (fft.make_input_vec(), fft.make_output_vec());
    let mut power = vec![0.0f64; n_fft / 2 + 1];
    let mut out = Vec::with_capacity(frames * n_mels);
    for t in 0..frames {
        for (i, x) in frame.iter_mut().enumerate() {
            let at = (t * hop + i) as isize - pad as isize;
            *x = if at >= 0 && (at as usize) < samples.len() {
                samples[at as usize] * window[i]
            } else {
                0.0
            };
        }
        fft.process(&mut frame, &mut spectrum).map_err(|e| e.to_string())?;
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr() as f64;
        }
        for filter in &filters {
            let energy: f64 = filter.iter().zip(&power).map(|(w, p)| w * p).sum();
            out.push(energy.max(1e-10).ln() as f32);
        }
    }
    Ok(out)
}

impl Node for Mel {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("features.mel", 1, "Log-Mel Features")
            .doc(
                "Log-mel spectrogram at 50 frames per second (25 ms Hann window, 20 ms hop, Slaney mel scale), \
                 the audio features that need no model weights. Multichannel audio is mixed to mono.",
            )
            .input(PortSpec::new(
                "audio",
                PortType::Audio,
                "Audio at a rate that is a multiple of 50 Hz (16 kHz).",
            ))
            .output(PortSpec::new(
                "features",
                PortType::Features,
                "`[frames, n_mels]` at 50 Hz.",
            ))
            .param(ParamSpec::int(
                "n_mels",
                80,
                (Some(8), Some(256)),
                "Number of mel bands.",
            ))
            .param(ParamSpec::float(
                "fmin",
                0.0,
                (Some(0.0), None),
                "Lowest frequency in Hz.",
            ))
            .param(ParamSpec::float(
                "fmax",
                0.0,
                (Some(0.0), None),
                "Highest frequency in Hz (0: half the sample rate).",
            ))
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let audio =
            AudioView::of(inputs.record("audio", PortType::Audio)?).map_err(|e| NodeError::input("audio", e))?;
        let n_mels = params.int("n_mels")? as usize;
        ctx.check_cancelled()?;
        let values = log_mel(
            &audio.mono(),
            audio.sample_rate,
            n_mels,
            params.float("fmin")?,
            params.float("fmax")?,
        )
        .map_err(|e| NodeError::input("audio", e))?;
        Ok(Outputs::new().with("features", features_value(values, n_mels, RATE as f64, "mel")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::fixture;

    #[test]
    fn matches_librosa() {
        let f = &fixture::get()["mel"];
        let audio: Vec<f32> = f["audio"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let (expected, n_mels) = fixture::matrix(&f["log_mel"]);
        let got = log_mel(&audio, 16000, n_mels, 0.0, 0.0).unwrap();
        assert_eq!(got.len(), expected.len());
        let worst = got
            .iter()
            .zip(&expected)
            .map(|(g, e)| (g - e).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-3, "largest difference in log-mel {worst}");
    }

    #[test]
    fn refuses_rates_that_do_not_give_50_hz_frames() {
        assert!(
            log_mel(&[0.0; 100], 11025, 80, 0.0, 0.0)
                .unwrap_err()
                .contains("not a multiple of 50")
        );
        assert_eq!(log_mel(&[0.0; 16000], 16000, 80, 0.0, 0.0).unwrap().len(), 51 * 80);
    }
}
