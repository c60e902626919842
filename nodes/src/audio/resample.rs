//! Sample-rate conversion with rubato's FFT resampler (windowed sinc,
//! anti-aliased), trimmed of its delay so output sample 0 is input sample 0.

use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler};

/// Resamples planar channels from one rate to another.
pub fn resample(channels: &[Vec<f32>], from: u32, to: u32) -> Result<Vec<Vec<f32>>, String> {
    let frames = channels.first().map_or(0, Vec::len);
    if from == to || frames == 0 {
        return Ok(channels.to_vec());
    }
    let mut resampler = Fft::<f32>::new(from as usize, to as usize, 1024, channels.len(), FixedSync::Input)
        .map_err(|e| format!("cannot resample from {from} Hz to {to} Hz: {e}"))?;
    let input = SequentialSliceOfVecs::new(channels, channels.len(), frames).map_err(|e| e.to_string())?;
    let output = resampler.process_all(&input, frames, None).map_err(|e| e.to_string())?;
    let count = channels.len();
    let data = output.take_data();
    Ok((0..count)
        .map(|c| data.iter().skip(c).step_by(count).copied().collect())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sine_keeps_its_frequency_and_level_with_under_a_sample_of_delay() {
        let (from, to, hz) = (44100u32, 16000u32, 440.0);
        let input: Vec<f32> = (0..44100)
            .map(|i| (2.0 * std::f64::consts::PI * hz * i as f64 / from as f64).sin() as f32 * 0.5)
            .collect();
        let out = resample(&[input], from, to).unwrap();
        assert_eq!(out[0].len(), 16000);
        // Fit amplitude and phase of the 440 Hz component away from the edges.
        let span = || out[0].iter().enumerate().skip(500).take(15000);
        let angle = |i: usize| 2.0 * std::f64::consts::PI * hz * i as f64 / to as f64;
        let (s, c) = span().fold((0.0, 0.0), |(s, c), (i, &y)| {
            (s + y as f64 * angle(i).sin(), c + y as f64 * angle(i).cos())
        });
        let (amplitude, phase) = (2.0 * (s * s + c * c).sqrt() / 15000.0, c.atan2(s));
        assert!((amplitude - 0.5).abs() < 1e-4, "amplitude {amplitude}");
        assert!(phase.abs() < angle(1), "delay {phase} rad is under one output sample");
        // What remains after the fitted sine is aliasing and distortion.
        let (signal, error) = span().fold((0.0, 0.0), |(sig, err), (i, &y)| {
            let fit = amplitude * (angle(i) + phase).sin();
            (sig + fit * fit, err + (y as f64 - fit).powi(2))
        });
        let snr = 10.0 * (signal / error).log10();
        assert!(snr > 80.0, "SNR {snr:.1} dB");
    }
}
