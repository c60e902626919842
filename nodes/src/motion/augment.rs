//! Audio augmentation for motion training, so a model trained on
//! text-to-speech voices hears what recorded speech sounds like: speed and
//! pitch changes, rooms, noise, microphone colour, clipping and telephone
//! lines. One function per effect; [`AudioAugment`] holds a run's settings
//! and draws each take's effects ([`Draw`]) from a seeded stream.
//!
//! Resampling is rubato's. The rest is written here because the workspace
//! has no crate for it, and each is a few lines of textbook DSP: WSOLA time
//! stretching (Verhelst and Roelands 1993), RBJ cookbook biquads, FFT
//! convolution (with realfft) and synthetic room impulse responses.

use gspeech_sdk::{NodeError, ParamSpec, Params};
use realfft::RealFftPlanner;
use rubato::audioadapter_buffers::direct::SequentialSlice;
use rubato::{Async, FixedAsync, Resampler, SincInterpolationParameters, SincInterpolationType, WindowFunction};
use serde::{Deserialize, Serialize};

use crate::dataset::random::Rng;

/// The telephone band, Hz (ITU-T G.712).
pub const TELEPHONE: (f64, f64) = (300.0, 3400.0);

/// Plays `samples` `factor` times faster by resampling (pitch and tempo
/// change together, as in Kaldi-style speed perturbation): the result has
/// `len / factor` samples at the same rate.
pub fn change_speed(samples: &[f32], factor: f64) -> Result<Vec<f32>, String> {
    if factor == 1.0 || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    let parameters = SincInterpolationParameters {
        sinc_len: 64,
        f_cutoff: None,
        oversampling_factor: 128,
        interpolation: SincInterpolationType::Linear,
        window: WindowFunction::BlackmanHarris2,
    };
    let mut resampler = Async::<f32>::new_sinc(1.0 / factor, 1.0, &parameters, 1024, 1, FixedAsync::Input)
        .map_err(|e| format!("cannot change the speed by {factor}: {e}"))?;
    let input = SequentialSlice::new(samples, 1, samples.len()).map_err(|e| e.to_string())?;
    let output = resampler.process_all(&input, samples.len(), None).map_err(|e| e.to_string())?;
    let mut out = output.take_data();
    out.resize((samples.len() as f64 / factor).round() as usize, 0.0);
    Ok(out)
}

/// Makes `samples` last `stretch` times as long at the same pitch (WSOLA:
/// Hann-windowed 30 ms frames overlap-added every 15 ms, each taken within
/// ±5 ms of its nominal place where it best continues the previous one).
pub fn time_stretch(samples: &[f32], sample_rate: u32, stretch: f64) -> Vec<f32> {
    let out_len = (samples.len() as f64 * stretch).round() as usize;
    let hop = (sample_rate as usize * 15 / 1000).max(1);
    let (frame, tolerance) = (2 * hop, sample_rate as usize / 200);
    // A periodic Hann window: frames `hop` apart sum to exactly 1.
    let window: Vec<f32> = (0..frame)
        .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / frame as f64).cos()) as f32)
        .collect();
    // Zeros around the input, so every frame and search reads inside it.
    let pad = frame + tolerance + hop;
    let mut input = vec![0f32; pad];
    input.extend_from_slice(samples);
    input.resize(input.len() + pad + (out_len as f64 / stretch) as usize, 0.0);
    let at = |position: isize| (position + pad as isize) as usize;
    let mut out = vec![0f32; out_len + frame];
    let mut previous = 0isize;
    // Frame k covers output samples (k - 1)·hop .. (k + 1)·hop.
    for k in 0..=out_len / hop + 1 {
        let start = k as isize * hop as isize - hop as isize;
        let nominal = (start as f64 / stretch).round() as isize;
        let position = if k == 0 {
            nominal
        } else {
            let natural = &input[at(previous + hop as isize)..][..hop];
            let score = |p: isize| -> f32 { input[at(p)..][..hop].iter().zip(natural).map(|(x, y)| x * y).sum() };
            (-(tolerance as isize)..=tolerance as isize)
                .map(|d| (score(nominal + d), nominal + d))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .expect("a search range")
                .1
        };
        for (i, w) in window.iter().enumerate() {
            let o = start + i as isize;
            if o >= 0 && (o as usize) < out.len() {
                out[o as usize] += input[at(position) + i] * w;
            }
        }
        previous = position;
    }
    out.truncate(out_len);
    out
}

/// Shifts the pitch by `semitones` keeping the length: stretched in time by
/// the pitch factor, then played that much faster.
pub fn shift_pitch(samples: &[f32], sample_rate: u32, semitones: f64) -> Result<Vec<f32>, String> {
    if semitones == 0.0 {
        return Ok(samples.to_vec());
    }
    let factor = 2f64.powf(semitones / 12.0);
    let mut out = change_speed(&time_stretch(samples, sample_rate, factor), factor)?;
    out.resize(samples.len(), 0.0);
    Ok(out)
}

/// Adds white Gaussian noise at `snr_db` below the mean power of `samples`
/// (measured over the whole take, pauses included).
pub fn add_noise(samples: &mut [f32], snr_db: f64, rng: &mut Rng) {
    let power = mean_square(samples);
    let noise: Vec<f64> = (0..samples.len()).map(|_| rng.normal()).collect();
    let noise_power = noise.iter().map(|n| n * n).sum::<f64>() / noise.len().max(1) as f64;
    if power == 0.0 || noise_power == 0.0 {
        return;
    }
    let scale = (power / noise_power / 10f64.powf(snr_db / 10.0)).sqrt();
    for (s, n) in samples.iter_mut().zip(noise) {
        *s += (n * scale) as f32;
    }
}

/// A synthetic room impulse response: the direct sound (1 at time 0), eight
/// early reflections in the first 50 ms and a tail of Gaussian noise, both
/// under an envelope that falls 60 dB in `rt60` seconds, scaled so the
/// direct sound's energy is `drr_db` above theirs. It lasts `rt60`.
pub fn room_impulse_response(sample_rate: u32, rt60: f64, drr_db: f64, rng: &mut Rng) -> Vec<f32> {
    let rate = sample_rate as f64;
    let len = ((rt60 * rate).ceil() as usize).max(2);
    let envelope = |i: usize| (-3.0 * std::f64::consts::LN_10 * i as f64 / (rt60 * rate)).exp();
    // The diffuse tail builds up over the first 5 ms.
    let onset = (rate * 0.005).max(1.0);
    let mut rir: Vec<f64> = (0..len).map(|i| rng.normal() * envelope(i) * (i as f64 / onset).min(1.0)).collect();
    rir[0] = 0.0;
    for _ in 0..8 {
        let i = ((rng.range(0.001, 0.05) * rate) as usize).clamp(1, len - 1);
        rir[i] += 3.0 * envelope(i) * if rng.uniform() < 0.5 { -1.0 } else { 1.0 };
    }
    let energy: f64 = rir.iter().map(|v| v * v).sum();
    let scale = (10f64.powf(-drr_db / 10.0) / energy.max(f64::MIN_POSITIVE)).sqrt();
    let mut out: Vec<f32> = rir.iter().map(|v| (v * scale) as f32).collect();
    out[0] = 1.0;
    out
}

/// `samples` convolved with `rir` (by FFT), cut to the input's length so the
/// direct sound stays in place and the motion in sync.
pub fn reverberate(samples: &[f32], rir: &[f32]) -> Result<Vec<f32>, String> {
    let n = (samples.len() + rir.len()).next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let (forward, inverse) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
    let spectrum = |signal: &[f32]| -> Result<Vec<realfft::num_complex::Complex<f32>>, String> {
        let mut input = forward.make_input_vec();
        input[..signal.len()].copy_from_slice(signal);
        let mut out = forward.make_output_vec();
        forward.process(&mut input, &mut out).map_err(|e| e.to_string())?;
        Ok(out)
    };
    let mut product = spectrum(samples)?;
    for (x, h) in product.iter_mut().zip(spectrum(rir)?) {
        *x *= h / n as f32;
    }
    // The products of real signals' spectra are real at 0 and Nyquist.
    let last = product.len() - 1;
    product[0].im = 0.0;
    product[last].im = 0.0;
    let mut out = inverse.make_output_vec();
    inverse.process(&mut product, &mut out).map_err(|e| e.to_string())?;
    out.truncate(samples.len());
    Ok(out)
}

/// A second-order IIR filter (coefficients from R. Bristow-Johnson's Audio
/// EQ Cookbook), normalised so `a0` is 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

impl Biquad {
    fn normalised(b: [f64; 3], a: [f64; 3]) -> Biquad {
        Biquad {
            b: b.map(|v| v / a[0]),
            a: [a[1] / a[0], a[2] / a[0]],
        }
    }

    /// `(cos ω₀, α)` for a filter at `hz` with quality `q`.
    fn angle(sample_rate: u32, hz: f64, q: f64) -> (f64, f64) {
        let w = std::f64::consts::TAU * hz / sample_rate as f64;
        (w.cos(), w.sin() / (2.0 * q))
    }

    /// Second-order low-pass at `hz`.
    pub fn low_pass(sample_rate: u32, hz: f64, q: f64) -> Biquad {
        let (c, alpha) = Self::angle(sample_rate, hz, q);
        Self::normalised([(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0], [1.0 + alpha, -2.0 * c, 1.0 - alpha])
    }

    /// Second-order high-pass at `hz`.
    pub fn high_pass(sample_rate: u32, hz: f64, q: f64) -> Biquad {
        let (c, alpha) = Self::angle(sample_rate, hz, q);
        Self::normalised([(1.0 + c) / 2.0, -(1.0 + c), (1.0 + c) / 2.0], [1.0 + alpha, -2.0 * c, 1.0 - alpha])
    }

    /// A bell of `gain_db` at `hz` (exactly that gain there).
    pub fn peaking(sample_rate: u32, hz: f64, q: f64, gain_db: f64) -> Biquad {
        let (c, alpha) = Self::angle(sample_rate, hz, q);
        let a = 10f64.powf(gain_db / 40.0);
        Self::normalised([1.0 + alpha * a, -2.0 * c, 1.0 - alpha * a], [1.0 + alpha / a, -2.0 * c, 1.0 - alpha / a])
    }

    /// A shelf of `gain_db` below `hz` (`low`) or above it.
    pub fn shelf(sample_rate: u32, hz: f64, gain_db: f64, low: bool) -> Biquad {
        let (c, alpha) = Self::angle(sample_rate, hz, std::f64::consts::FRAC_1_SQRT_2);
        let a = 10f64.powf(gain_db / 40.0);
        let (s, r) = (if low { 1.0 } else { -1.0 }, 2.0 * a.sqrt() * alpha);
        Self::normalised(
            [
                a * ((a + 1.0) - s * (a - 1.0) * c + r),
                s * 2.0 * a * ((a - 1.0) - s * (a + 1.0) * c),
                a * ((a + 1.0) - s * (a - 1.0) * c - r),
            ],
            [
                (a + 1.0) + s * (a - 1.0) * c + r,
                -s * 2.0 * ((a - 1.0) + s * (a + 1.0) * c),
                (a + 1.0) + s * (a - 1.0) * c - r,
            ],
        )
    }

    /// Filters `samples` in place (transposed direct form II, f64 state).
    pub fn filter(&self, samples: &mut [f32]) {
        let (mut z1, mut z2) = (0f64, 0f64);
        for s in samples {
            let x = *s as f64;
            let y = self.b[0] * x + z1;
            z1 = self.b[1] * x - self.a[0] * y + z2;
            z2 = self.b[2] * x - self.a[1] * y;
            *s = y as f32;
        }
    }
}

/// Butterworth band-pass of order 8 on each side: everything below `low`
/// and above `high` Hz is cut at 48 dB an octave (the low-pass is left out
/// when `high` is at or above the Nyquist frequency).
pub fn band_limit(samples: &mut [f32], sample_rate: u32, low: f64, high: f64) {
    // The quality of each pole pair of an 8th-order Butterworth filter.
    let qs = (1..=4).map(|k| 1.0 / (2.0 * (std::f64::consts::PI * (2 * k - 1) as f64 / 16.0).sin()));
    for q in qs {
        Biquad::high_pass(sample_rate, low, q).filter(samples);
        if high < sample_rate as f64 / 2.0 {
            Biquad::low_pass(sample_rate, high, q).filter(samples);
        }
    }
}

/// Overdrive: the take's peak raised `gain_db` above full scale, then
/// clipped there, as a too-hot input clips in a recorder. Plain gain would
/// do nothing, as `audio.load` normalises the loudness; the clipping is
/// what remains.
pub fn overdrive(samples: &mut [f32], gain_db: f64) {
    let peak = samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    if peak == 0.0 {
        return;
    }
    let gain = 10f32.powf(gain_db as f32 / 20.0) / peak;
    for s in samples {
        *s = (*s * gain).clamp(-1.0, 1.0);
    }
}

fn mean_square(samples: &[f32]) -> f64 {
    samples.iter().map(|&s| s as f64 * s as f64).sum::<f64>() / samples.len().max(1) as f64
}

/// A run's audio augmentation: what each training take may go through,
/// in this order (speed, pitch, room, noise, EQ, overdrive, telephone).
/// Every effect is off by default, so a run without these settings trains
/// exactly as before; the ranges are the ones used once switched on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioAugment {
    /// Speed factors, drawn uniformly (default `[1, 1]`: none; try
    /// `[0.9, 1.1]`). The motion is stretched with the audio.
    pub speed: [f64; 2],
    /// Pitch shifts in semitones, length kept (default `[0, 0]`; try `[-2, 2]`).
    pub pitch: [f64; 2],
    /// Chance of additive white noise (default 0).
    pub noise_probability: f64,
    /// Its signal-to-noise ratio, dB (default `[5, 30]`).
    pub noise_snr: [f64; 2],
    /// Chance of a room (default 0).
    pub reverb_probability: f64,
    /// Its reverberation time RT60, seconds (default `[0.2, 0.8]`).
    pub reverb_rt60: [f64; 2],
    /// Its direct-to-reverberant ratio, dB (default `[0, 15]`).
    pub reverb_drr: [f64; 2],
    /// Chance of random EQ: a low shelf, a bell and a high shelf (default 0).
    pub eq_probability: f64,
    /// Each EQ band's largest gain or cut, dB (default 6).
    pub eq_gain: f64,
    /// Chance of overdrive, see [`overdrive`] (default 0).
    pub overdrive_probability: f64,
    /// How far the peak is driven past full scale, dB (default `[0, 12]`).
    pub overdrive: [f64; 2],
    /// Chance of the telephone band, 300–3400 Hz (default 0).
    pub telephone_probability: f64,
}

impl Default for AudioAugment {
    fn default() -> AudioAugment {
        AudioAugment {
            speed: [1.0, 1.0],
            pitch: [0.0, 0.0],
            noise_probability: 0.0,
            noise_snr: [5.0, 30.0],
            reverb_probability: 0.0,
            reverb_rt60: [0.2, 0.8],
            reverb_drr: [0.0, 15.0],
            eq_probability: 0.0,
            eq_gain: 6.0,
            overdrive_probability: 0.0,
            overdrive: [0.0, 12.0],
            telephone_probability: 0.0,
        }
    }
}

/// One setting as a node parameter: name, allowed range, description, value.
type Field<'a> = (&'static str, (Option<f64>, Option<f64>), &'static str, &'a mut f64);

impl AudioAugment {
    /// Every effect on every take, speed ±10 % and pitch ±2 semitones, the
    /// other ranges at their defaults: the heaviest setting, for measuring
    /// its cost and for tests.
    pub fn every_effect() -> AudioAugment {
        AudioAugment {
            speed: [0.9, 1.1],
            pitch: [-2.0, 2.0],
            noise_probability: 1.0,
            reverb_probability: 1.0,
            eq_probability: 1.0,
            overdrive_probability: 1.0,
            telephone_probability: 1.0,
            ..AudioAugment::default()
        }
    }

    /// Every setting as a node parameter (a range is two, `NAME_min` and
    /// `NAME_max`), with the value it holds.
    fn fields(&mut self) -> Vec<Field<'_>> {
        let probability = (Some(0.0), Some(1.0));
        let [speed_min, speed_max] = &mut self.speed;
        let [pitch_min, pitch_max] = &mut self.pitch;
        let [snr_min, snr_max] = &mut self.noise_snr;
        let [rt60_min, rt60_max] = &mut self.reverb_rt60;
        let [drr_min, drr_max] = &mut self.reverb_drr;
        let [drive_min, drive_max] = &mut self.overdrive;
        vec![
            ("speed_min", (Some(0.5), Some(2.0)), "Slowest speed factor; audio and motion are stretched together (1: none).", speed_min),
            ("speed_max", (Some(0.5), Some(2.0)), "Fastest speed factor (1: none).", speed_max),
            ("pitch_min", (Some(-12.0), Some(12.0)), "Lowest pitch shift, semitones, length kept (0: none).", pitch_min),
            ("pitch_max", (Some(-12.0), Some(12.0)), "Highest pitch shift, semitones (0: none).", pitch_max),
            ("noise_probability", probability, "Chance a take gets white noise added.", &mut self.noise_probability),
            ("noise_snr_min", (Some(-10.0), Some(60.0)), "Lowest signal-to-noise ratio, dB.", snr_min),
            ("noise_snr_max", (Some(-10.0), Some(60.0)), "Highest signal-to-noise ratio, dB.", snr_max),
            ("reverb_probability", probability, "Chance a take is played in a synthetic room.", &mut self.reverb_probability),
            ("reverb_rt60_min", (Some(0.05), Some(3.0)), "Shortest reverberation time (60 dB decay), seconds.", rt60_min),
            ("reverb_rt60_max", (Some(0.05), Some(3.0)), "Longest reverberation time, seconds.", rt60_max),
            ("reverb_drr_min", (Some(-10.0), Some(40.0)), "Lowest direct-to-reverberant ratio, dB.", drr_min),
            ("reverb_drr_max", (Some(-10.0), Some(40.0)), "Highest direct-to-reverberant ratio, dB.", drr_max),
            ("eq_probability", probability, "Chance of random EQ (low shelf, bell, high shelf).", &mut self.eq_probability),
            ("eq_gain", (Some(0.0), Some(24.0)), "Largest boost or cut of each EQ band, dB.", &mut self.eq_gain),
            ("overdrive_probability", probability, "Chance a take is driven into clipping.", &mut self.overdrive_probability),
            ("overdrive_min", (Some(0.0), Some(40.0)), "Least the peak is driven past full scale, dB (gain alone is undone by loudness normalisation; the clipping stays).", drive_min),
            ("overdrive_max", (Some(0.0), Some(40.0)), "Most the peak is driven past full scale, dB.", drive_max),
            ("telephone_probability", probability, "Chance a take is band-limited to the telephone band, 300–3400 Hz.", &mut self.telephone_probability),
        ]
    }

    /// The settings as node parameters, at their defaults.
    pub fn params() -> Vec<ParamSpec> {
        AudioAugment::default()
            .fields()
            .into_iter()
            .map(|(name, bounds, doc, value)| ParamSpec::float(name, *value, bounds, doc))
            .collect()
    }

    /// The settings from a node's parameters, checked.
    pub fn from_params(params: &Params) -> Result<AudioAugment, NodeError> {
        let mut augment = AudioAugment::default();
        for (name, _, _, value) in augment.fields() {
            *value = params.float(name)?;
        }
        augment.check()?;
        Ok(augment)
    }

    /// Checks every setting against its allowed range and every range's
    /// order; an error names the parameter.
    pub fn check(&self) -> Result<(), NodeError> {
        let mut copy = self.clone();
        let fields = copy.fields();
        for (name, (low, high), _, value) in &fields {
            let value = **value;
            if !value.is_finite() || low.is_some_and(|l| value < l) || high.is_some_and(|h| value > h) {
                let bound = |b: &Option<f64>| b.map_or("∞".to_string(), |b| b.to_string());
                return Err(NodeError::param(name, format!("{value} is outside {}..{}", bound(low), bound(high))));
            }
        }
        for pair in fields.windows(2) {
            let ((low_name, _, _, low), (high_name, _, _, high)) = (&pair[0], &pair[1]);
            if low_name.strip_suffix("_min").is_some_and(|base| high_name.strip_suffix("_max") == Some(base)) && **low > **high {
                return Err(NodeError::param(low_name, format!("{low} is above `{high_name}` ({high})")));
            }
        }
        Ok(())
    }

    /// Whether any effect can happen.
    pub fn is_active(&self) -> bool {
        self.speed != [1.0, 1.0]
            || self.pitch != [0.0, 0.0]
            || [
                self.noise_probability,
                self.reverb_probability,
                self.eq_probability,
                self.overdrive_probability,
                self.telephone_probability,
            ]
            .iter()
            .any(|&p| p > 0.0)
    }

    /// One take's effects. Every value is drawn whether its effect happens
    /// or not, so switching one effect on leaves the others' draws as they were.
    pub fn draw(&self, rng: &mut Rng) -> Draw {
        fn within(rng: &mut Rng, [low, high]: [f64; 2]) -> f64 {
            rng.range(low, high)
        }
        fn log_within(rng: &mut Rng, low: f64, high: f64) -> f64 {
            rng.range(low.ln(), high.ln()).exp()
        }
        let speed = within(rng, self.speed);
        let semitones = within(rng, self.pitch);
        let room = rng.uniform() < self.reverb_probability;
        let room = room.then_some(Room {
            rt60: within(rng, self.reverb_rt60),
            drr: within(rng, self.reverb_drr),
            seed: rng.next_u64(),
        });
        let noise = rng.uniform() < self.noise_probability;
        let noise = noise.then_some((within(rng, self.noise_snr), rng.next_u64()));
        let eq = rng.uniform() < self.eq_probability;
        let gain = [-self.eq_gain, self.eq_gain];
        let eq = eq.then_some(Eq {
            hz: [log_within(rng, 60.0, 300.0), log_within(rng, 200.0, 5000.0), log_within(rng, 2000.0, 7000.0)],
            q: rng.range(0.5, 3.0),
            gains: [within(rng, gain), within(rng, gain), within(rng, gain)],
        });
        let drive = rng.uniform() < self.overdrive_probability;
        let overdrive = drive.then_some(within(rng, self.overdrive));
        let telephone = rng.uniform() < self.telephone_probability;
        Draw {
            speed,
            semitones,
            room,
            noise,
            eq,
            overdrive,
            telephone,
        }
    }
}

/// A synthetic room.
#[derive(Clone, Debug, PartialEq)]
pub struct Room {
    /// Reverberation time, seconds.
    pub rt60: f64,
    /// Direct-to-reverberant ratio, dB.
    pub drr: f64,
    /// Seed of its impulse response.
    pub seed: u64,
}

/// Random EQ: a low shelf, a bell and a high shelf.
#[derive(Clone, Debug, PartialEq)]
pub struct Eq {
    /// The three bands' frequencies, Hz.
    pub hz: [f64; 3],
    /// The bell's quality.
    pub q: f64,
    /// The three bands' gains, dB.
    pub gains: [f64; 3],
}

/// What one take goes through.
#[derive(Clone, Debug, PartialEq)]
pub struct Draw {
    /// Speed factor (1: none).
    pub speed: f64,
    /// Pitch shift, semitones (0: none).
    pub semitones: f64,
    /// The room, if any.
    pub room: Option<Room>,
    /// Signal-to-noise ratio in dB and the noise's seed, if any.
    pub noise: Option<(f64, u64)>,
    /// The EQ, if any.
    pub eq: Option<Eq>,
    /// Overdrive in dB, if any.
    pub overdrive: Option<f64>,
    /// Whether the take is band-limited to the telephone band.
    pub telephone: bool,
}

impl Draw {
    /// `samples` through the drawn effects: `len / speed` samples long.
    pub fn apply(&self, samples: &[f32], sample_rate: u32) -> Result<Vec<f32>, String> {
        let nyquist = sample_rate as f64 / 2.0;
        let mut out = shift_pitch(&change_speed(samples, self.speed)?, sample_rate, self.semitones)?;
        if let Some(room) = &self.room {
            let rir = room_impulse_response(sample_rate, room.rt60, room.drr, &mut Rng::new(room.seed));
            out = reverberate(&out, &rir)?;
        }
        if let Some((snr, seed)) = self.noise {
            add_noise(&mut out, snr, &mut Rng::new(seed));
        }
        if let Some(eq) = &self.eq {
            let [low, mid, high] = eq.hz.map(|hz| hz.min(nyquist * 0.9));
            Biquad::shelf(sample_rate, low, eq.gains[0], true).filter(&mut out);
            Biquad::peaking(sample_rate, mid, eq.q, eq.gains[1]).filter(&mut out);
            Biquad::shelf(sample_rate, high, eq.gains[2], false).filter(&mut out);
        }
        if let Some(gain) = self.overdrive {
            overdrive(&mut out, gain);
        }
        if self.telephone {
            band_limit(&mut out, sample_rate, TELEPHONE.0, TELEPHONE.1);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: u32 = 16000;

    /// A harmonic tone: `f0` and its next four harmonics at 1/k, 0.3 peak.
    fn tone(f0: f64, seconds: f64) -> Vec<f32> {
        (0..(seconds * RATE as f64) as usize)
            .map(|i| {
                let t = i as f64 / RATE as f64;
                let sum: f64 = (1..=5).map(|k| (std::f64::consts::TAU * f0 * k as f64 * t).sin() / k as f64).sum();
                (0.3 * sum / 2.3) as f32
            })
            .collect()
    }

    fn power_db(samples: &[f32]) -> f64 {
        10.0 * mean_square(samples).log10()
    }

    /// The strongest frequency within `low..high` Hz, to 0.1 Hz.
    fn peak_hz(samples: &[f32], low: f64, high: f64) -> f64 {
        let magnitude = |hz: f64| {
            let w = std::f64::consts::TAU * hz / RATE as f64;
            let (re, im) = samples.iter().enumerate().fold((0.0, 0.0), |(re, im), (i, &s)| {
                (re + s as f64 * (w * i as f64).cos(), im + s as f64 * (w * i as f64).sin())
            });
            re * re + im * im
        };
        let candidates = (0..((high - low) * 10.0) as usize).map(|i| low + i as f64 * 0.1);
        candidates.max_by(|&a, &b| magnitude(a).total_cmp(&magnitude(b))).unwrap()
    }

    /// Energy of `samples` in each band `[low, high)` Hz, from its spectrum.
    fn band_energy(samples: &[f32], bands: &[(f64, f64)]) -> Vec<f64> {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(samples.len());
        let (mut input, mut spectrum) = (samples.to_vec(), fft.make_output_vec());
        fft.process(&mut input, &mut spectrum).unwrap();
        let hz = RATE as f64 / samples.len() as f64;
        bands
            .iter()
            .map(|&(low, high)| {
                spectrum
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| (low..high).contains(&(*i as f64 * hz)))
                    .map(|(_, c)| c.norm_sqr() as f64)
                    .sum()
            })
            .collect()
    }

    fn white(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| (rng.normal() * 0.1) as f32).collect()
    }

    #[test]
    fn speed_changes_the_length_and_the_frequency_by_the_factor() {
        let input = tone(200.0, 1.0);
        for factor in [0.9, 1.1] {
            let out = change_speed(&input, factor).unwrap();
            assert_eq!(out.len(), (16000.0 / factor).round() as usize);
            let hz = peak_hz(&out[2000..10000], 150.0, 250.0);
            assert!((hz - 200.0 * factor).abs() < 0.5, "{factor}: {hz} Hz");
        }
        assert_eq!(change_speed(&input, 1.0).unwrap(), input);
    }

    #[test]
    fn a_pitch_shift_moves_the_fundamental_by_the_semitones_and_keeps_the_length() {
        let input = tone(150.0, 1.0);
        for semitones in [3.0, -2.0] {
            let out = shift_pitch(&input, RATE, semitones).unwrap();
            assert_eq!(out.len(), input.len());
            let expected = 150.0 * 2f64.powf(semitones / 12.0);
            let hz = peak_hz(&out[3000..13000], 120.0, 200.0);
            assert!((hz / expected - 1.0).abs() < 0.005, "{semitones} semitones: {hz} Hz, expected {expected}");
            let level = power_db(&out[3000..13000]) - power_db(&input[3000..13000]);
            assert!(level.abs() < 1.0, "the level stays: {level} dB");
        }
    }

    #[test]
    fn time_stretching_keeps_the_pitch() {
        let input = tone(150.0, 1.0);
        let out = time_stretch(&input, RATE, 1.25);
        assert_eq!(out.len(), 20000);
        let hz = peak_hz(&out[3000..15000], 120.0, 200.0);
        assert!((hz - 150.0).abs() < 0.5, "{hz} Hz");
    }

    #[test]
    fn noise_is_added_at_the_asked_signal_to_noise_ratio() {
        let input = tone(180.0, 1.0);
        for snr in [0.0, 12.0, 30.0] {
            let mut out = input.clone();
            add_noise(&mut out, snr, &mut Rng::new(5));
            let noise: Vec<f32> = out.iter().zip(&input).map(|(o, i)| o - i).collect();
            let measured = power_db(&input) - power_db(&noise);
            assert!((measured - snr).abs() < 0.05, "asked {snr} dB, measured {measured}");
        }
    }

    /// RT60 from the Schroeder backward integral of the reverberant part,
    /// extrapolated from its fall between -5 and -25 dB (T20).
    fn measured_rt60(rir: &[f32]) -> f64 {
        let mut decay: Vec<f64> = rir[1..].iter().rev().scan(0.0, |sum, &v| {
            *sum += v as f64 * v as f64;
            Some(*sum)
        }).collect();
        decay.reverse();
        let db = |i: usize| 10.0 * (decay[i] / decay[0]).log10();
        let first = (0..decay.len()).find(|&i| db(i) <= -5.0).unwrap();
        let last = (0..decay.len()).find(|&i| db(i) <= -25.0).unwrap();
        3.0 * (last - first) as f64 / RATE as f64
    }

    #[test]
    fn a_room_decays_in_its_rt60_with_its_direct_to_reverberant_ratio() {
        for (rt60, drr) in [(0.3, 3.0), (0.8, 10.0)] {
            let rir = room_impulse_response(RATE, rt60, drr, &mut Rng::new(9));
            let measured = measured_rt60(&rir);
            assert!((measured / rt60 - 1.0).abs() < 0.15, "RT60 {rt60} s measured {measured}");
            let reverberant: f64 = rir[1..].iter().map(|&v| v as f64 * v as f64).sum();
            let ratio = 10.0 * (1.0 / reverberant).log10();
            assert!((ratio - drr).abs() < 0.01, "DRR {drr} dB measured {ratio}");
        }
        // Convolution: an impulse in gives the response, in place and cut to length.
        let mut impulse = vec![0f32; 8000];
        impulse[100] = 1.0;
        let rir = room_impulse_response(RATE, 0.2, 6.0, &mut Rng::new(1));
        let out = reverberate(&impulse, &rir).unwrap();
        assert_eq!(out.len(), 8000);
        for (o, r) in out[100..].iter().zip(&rir) {
            assert!((o - r).abs() < 1e-5, "{o} vs {r}");
        }
        assert!(out[..100].iter().all(|v| v.abs() < 1e-5));
    }

    #[test]
    fn the_telephone_band_cuts_outside_300_to_3400_hz_and_keeps_inside() {
        let input = white(32000, 3);
        let mut out = input.clone();
        band_limit(&mut out, RATE, TELEPHONE.0, TELEPHONE.1);
        let bands = [(0.0, 200.0), (600.0, 3000.0), (4500.0, 8000.0)];
        let (before, after) = (band_energy(&input, &bands), band_energy(&out, &bands));
        let change: Vec<f64> = before.iter().zip(&after).map(|(b, a)| 10.0 * (a / b).log10()).collect();
        assert!(change[0] < -20.0, "below 200 Hz: {change:?}");
        assert!(change[1].abs() < 1.0, "600–3000 Hz: {change:?}");
        assert!(change[2] < -20.0, "above 4500 Hz: {change:?}");
    }

    /// The gain of `filter` on a sine at `hz`, dB, once it has settled.
    fn gain_at(filter: Biquad, hz: f64) -> f64 {
        let mut sine: Vec<f32> = (0..16000)
            .map(|i| (std::f64::consts::TAU * hz * i as f64 / RATE as f64).sin() as f32)
            .collect();
        let before = power_db(&sine[8000..]);
        filter.filter(&mut sine);
        power_db(&sine[8000..]) - before
    }

    #[test]
    fn eq_bands_have_their_gain_where_asked() {
        for gain in [6.0, -9.0] {
            let measured = gain_at(Biquad::peaking(RATE, 1000.0, 1.5, gain), 1000.0);
            assert!((measured - gain).abs() < 0.05, "bell {gain} dB measured {measured}");
            let far = gain_at(Biquad::peaking(RATE, 1000.0, 1.5, gain), 100.0);
            assert!(far.abs() < 0.3, "far from the bell: {far}");
            let shelf = gain_at(Biquad::shelf(RATE, 200.0, gain, true), 30.0);
            assert!((shelf - gain).abs() < 0.3, "low shelf {gain} dB measured {shelf}");
            let shelf = gain_at(Biquad::shelf(RATE, 3000.0, gain, false), 7500.0);
            assert!((shelf - gain).abs() < 0.3, "high shelf {gain} dB measured {shelf}");
        }
    }

    #[test]
    fn overdrive_clips_what_loudness_normalisation_would_not_undo() {
        let sine: Vec<f32> = (0..16000).map(|i| (0.3 * (std::f64::consts::TAU * 200.0 * i as f64 / 16000.0).sin()) as f32).collect();
        let mut driven = sine.clone();
        overdrive(&mut driven, 20.0 * 2f64.log10());
        // Twice full scale: |sin| above a half clips, two thirds of the time.
        let clipped = driven.iter().filter(|s| s.abs() >= 1.0).count() as f64 / 16000.0;
        assert!((clipped - 2.0 / 3.0).abs() < 0.01, "{clipped}");
        let mut untouched = sine.clone();
        overdrive(&mut untouched, 0.0);
        assert!(untouched.iter().zip(&sine).all(|(u, s)| (u - s / 0.3).abs() < 1e-4), "0 dB only normalises the peak");

        let recipe = super::super::data::FeatureRecipe::default();
        let features = |samples: &[f32]| recipe.features(samples, RATE).unwrap();
        let louder: Vec<f32> = sine.iter().map(|s| s * 3.0).collect();
        // Bands the pure sine leaves near log-mel's floor (ln 1e-10) are left out.
        let largest = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .filter(|(x, y)| x.min(**y) > -15.0)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max)
        };
        assert!(largest(&features(&sine), &features(&louder)) < 1e-3, "plain gain is normalised away");
        assert!(largest(&features(&sine), &features(&driven)) > 1.0, "clipping is not");
    }


    #[test]
    fn the_same_seed_gives_the_same_audio_and_another_seed_other_audio() {
        let input = tone(140.0, 0.8);
        let augment = AudioAugment::every_effect();
        let run = |seed: u64| augment.draw(&mut Rng::stream(seed, "take")).apply(&input, RATE).unwrap();
        let draw = augment.draw(&mut Rng::stream(1, "take"));
        assert!(draw.room.is_some() && draw.noise.is_some() && draw.eq.is_some() && draw.overdrive.is_some() && draw.telephone);
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
        let out = run(1);
        assert_eq!(out.len(), (input.len() as f64 / draw.speed).round() as usize);
        assert!(out.iter().all(|s| s.is_finite()));

        let off = AudioAugment::default();
        assert!(!off.is_active());
        assert_eq!(off.draw(&mut Rng::new(4)).apply(&input, RATE).unwrap(), input, "the defaults change nothing");
        // Switching one effect on leaves the others' draws.
        let mut noisy = off.clone();
        noisy.noise_probability = 1.0;
        let (a, b) = (off.draw(&mut Rng::new(4)), noisy.draw(&mut Rng::new(4)));
        assert_eq!((a.speed, a.semitones, a.telephone), (b.speed, b.semitones, b.telephone));
        assert!(a.noise.is_none() && b.noise.is_some());
    }

    #[test]
    fn bad_settings_name_their_parameter() {
        let message = |augment: AudioAugment| augment.check().unwrap_err().to_string();
        let inverted = AudioAugment {
            speed: [1.1, 0.9],
            ..AudioAugment::default()
        };
        assert!(message(inverted).contains("speed_min"), "inverted range");
        let snr = AudioAugment {
            noise_snr: [20.0, 10.0],
            ..AudioAugment::default()
        };
        assert!(message(snr).contains("noise_snr_min"));
        let chance = AudioAugment {
            reverb_probability: 1.5,
            ..AudioAugment::default()
        };
        assert!(message(chance).contains("reverb_probability"));
        let slow = AudioAugment {
            speed: [0.1, 1.0],
            ..AudioAugment::default()
        };
        assert!(message(slow).contains("speed_min"));
        assert!(AudioAugment::every_effect().check().is_ok());
    }
}
