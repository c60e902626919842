//! The upper face and head from the speech's prosody: brows that rise with
//! pitch and stressed syllables, blinks, small gaze shifts and head motion
//! with nods on stresses. All of it is ours: a plausible, seeded model of how
//! talking faces move, not a measured one.

use super::random::Rng;

/// Per-frame prosody of a recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Prosody {
    /// Pitch in Hz where the frame is voiced.
    pub pitch: Vec<Option<f32>>,
    /// Loudness (RMS) in dB relative to full scale.
    pub energy_db: Vec<f32>,
}

/// Measures pitch (normalised autocorrelation over a 40 ms window, 70–400 Hz)
/// and loudness at each time.
pub fn analyse(samples: &[f32], rate: u32, times: &[f64]) -> Prosody {
    let window = (0.04 * rate as f64) as usize;
    let (min_lag, max_lag) = ((rate as f64 / 400.0) as usize, (rate as f64 / 70.0) as usize);
    let mut pitch = Vec::with_capacity(times.len());
    let mut energy_db = Vec::with_capacity(times.len());
    for &t in times {
        let centre = (t * rate as f64) as usize;
        let start = centre.saturating_sub(window / 2).min(samples.len());
        let frame = &samples[start..(start + window).min(samples.len())];
        let power = frame.iter().map(|s| s * s).sum::<f32>() / frame.len().max(1) as f32;
        let db = 10.0 * power.max(1e-10).log10();
        energy_db.push(db);
        let mut period = None;
        if db > -45.0 && frame.len() > max_lag * 2 {
            let n = frame.len() - max_lag;
            let e0: f32 = frame[..n].iter().map(|s| s * s).sum();
            let r: Vec<f32> = (min_lag..=max_lag + 1)
                .map(|lag| {
                    let (mut cross, mut e1) = (0f32, 0f32);
                    for i in 0..n.min(frame.len() - lag) {
                        cross += frame[i] * frame[i + lag];
                        e1 += frame[i + lag] * frame[i + lag];
                    }
                    cross / (e0 * e1).sqrt().max(1e-12)
                })
                .collect();
            let best = r.iter().copied().fold(0f32, f32::max);
            // The shortest period whose correlation is a peak near the best: multiples of
            // the period correlate as well, and would read as octaves below.
            period = (best > 0.5)
                .then(|| (1..r.len() - 1).find(|&i| r[i] >= 0.9 * best && r[i] >= r[i - 1] && r[i] >= r[i + 1]))
                .flatten()
                .map(|i| min_lag + i);
        }
        pitch.push(period.map(|lag| rate as f32 / lag as f32));
    }
    Prosody { pitch, energy_db }
}

/// The upper-face expressions driven here (ICT-FaceKit's names).
pub const UPPER_SHAPES: [&str; 16] = [
    "browInnerUp_L",
    "browInnerUp_R",
    "browOuterUp_L",
    "browOuterUp_R",
    "browDown_L",
    "browDown_R",
    "eyeBlink_L",
    "eyeBlink_R",
    "eyeLookUp_L",
    "eyeLookUp_R",
    "eyeLookDown_L",
    "eyeLookDown_R",
    "eyeLookIn_L",
    "eyeLookIn_R",
    "eyeLookOut_L",
    "eyeLookOut_R",
];

/// How lively a speaker is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Liveliness {
    /// Scales brow motion (1 is average).
    pub expressivity: f32,
    /// Blinks per minute on average.
    pub blinks_per_minute: f32,
    /// Scales head motion (1: about ±2°, 0: none).
    pub head_motion: f32,
}

/// Upper-face weights (in [`UPPER_SHAPES`] order) and head rotation per frame.
#[derive(Clone, Debug, PartialEq)]
pub struct UpperFace {
    /// Weights per frame.
    pub weights: Vec<[f32; UPPER_SHAPES.len()]>,
    /// Head rotation per frame: an axis-angle vector in radians (x: nod, y: turn, z: tilt).
    pub head: Vec<[f32; 3]>,
    /// When each blink starts, in seconds.
    pub blinks: Vec<f64>,
}

/// Blink timing: closing, closed, opening (seconds).
const BLINK: [f64; 3] = [0.07, 0.03, 0.15];

/// Moves the upper face and head for frames at `times` (seconds) of speech
/// lasting `duration`, from its prosody, drawing from `rng`.
pub fn upper_face(prosody: &Prosody, times: &[f64], duration: f64, live: &Liveliness, rng: &mut Rng) -> UpperFace {
    let frames = times.len();
    let step = if frames > 1 { times[1] - times[0] } else { 0.04 };
    // Pitch relative to the speaker's median: raised brows above it, a slight frown below.
    let mut voiced: Vec<f32> = prosody.pitch.iter().flatten().copied().collect();
    voiced.sort_by(f32::total_cmp);
    let median = voiced.get(voiced.len() / 2).copied().unwrap_or(1.0);
    let relative = |f: Option<f32>| f.map_or(0.0, |f| f / median - 1.0);
    let raise = smooth(
        &prosody
            .pitch
            .iter()
            .map(|&f| (relative(f) * 4.0).clamp(0.0, 1.0))
            .collect::<Vec<_>>(),
        0.08 / step,
    );
    let lower = smooth(
        &prosody
            .pitch
            .iter()
            .map(|&f| (-relative(f) * 4.0).clamp(0.0, 1.0))
            .collect::<Vec<_>>(),
        0.08 / step,
    );
    let accents = stresses(&prosody.energy_db, step);
    let accent = pulses(&accents, times, 0.1);

    // Blinks: a Poisson process with a refractory gap, starting a little into the clip.
    let mut blinks = Vec::new();
    let mean_gap = 60.0 / live.blinks_per_minute.max(0.1) as f64;
    let mut t = rng.range(0.1, mean_gap.min(2.0));
    while t < duration - 0.1 && live.blinks_per_minute > 0.0 {
        blinks.push(t);
        t += 0.8 + -(mean_gap - 0.8).max(0.1) * (1.0 - rng.uniform()).ln();
    }
    let blink_depth = rng.range(0.9, 1.0) as f32;

    // Gaze: fixations held for 0.8-2.5 s, small shifts between them.
    let mut fixations = vec![(0.0, [rng.normal() as f32 * 0.1, rng.normal() as f32 * 0.08])];
    while fixations.last().expect("one").0 < duration {
        let at = fixations.last().expect("one").0 + rng.range(0.8, 2.5);
        fixations.push((at, [rng.normal() as f32 * 0.12, rng.normal() as f32 * 0.08]));
    }

    // Head: slow wander (three sines per axis) plus a nod on each stress.
    let amplitude = [1.2f64, 1.8, 0.8].map(|deg| deg.to_radians() * live.head_motion as f64);
    let wander: Vec<[(f64, f64, f64); 3]> = amplitude
        .iter()
        .map(|&a| {
            std::array::from_fn(|_| {
                (
                    a / 2.0 * rng.range(0.5, 1.0),
                    rng.range(0.1, 0.5),
                    rng.range(0.0, std::f64::consts::TAU),
                )
            })
        })
        .collect();
    let nod = 1.5f64.to_radians() * live.head_motion as f64;

    let e = live.expressivity;
    let mut weights = Vec::with_capacity(frames);
    let mut head = Vec::with_capacity(frames);
    for (i, &t) in times.iter().enumerate() {
        let inner = e * (0.3 * raise[i] + 0.25 * accent[i]);
        let outer = e * (0.2 * raise[i] + 0.15 * accent[i]);
        let down = e * 0.15 * lower[i];
        let blink = blinks.iter().map(|&b| blink_profile(t - b)).fold(0f32, f32::max) * blink_depth;
        let gaze = fixation(&fixations, t);
        let (up, side) = (gaze[1].max(0.0), gaze[0]);
        let down_look = (-gaze[1]).max(0.0);
        // Looking to the speaker's left: the left eye looks out, the right eye in.
        let (left_out, right_in) = (side.max(0.0), side.max(0.0));
        let (left_in, right_out) = ((-side).max(0.0), (-side).max(0.0));
        weights.push([
            inner, inner, outer, outer, down, down, blink, blink, up, up, down_look, down_look, left_in, right_in,
            left_out, right_out,
        ]);
        let angle = |axis: usize| -> f32 {
            wander[axis]
                .iter()
                .map(|&(a, f, p)| a * (std::f64::consts::TAU * f * t + p).sin())
                .sum::<f64>() as f32
        };
        head.push([angle(0) + (nod * accent[i] as f64) as f32, angle(1), angle(2)]);
    }
    UpperFace { weights, head, blinks }
}

/// How closed the eyes are `since` seconds after a blink started.
fn blink_profile(since: f64) -> f32 {
    let [close, hold, open] = BLINK;
    let smoothstep = |x: f64| {
        let x = x.clamp(0.0, 1.0);
        x * x * (3.0 - 2.0 * x)
    };
    let v = if since < 0.0 {
        0.0
    } else if since < close {
        smoothstep(since / close)
    } else if since < close + hold {
        1.0
    } else {
        1.0 - smoothstep((since - close - hold) / open)
    };
    v as f32
}

/// The gaze at `t`: the current fixation, reached by a 40 ms saccade.
fn fixation(fixations: &[(f64, [f32; 2])], t: f64) -> [f32; 2] {
    let i = fixations.iter().rposition(|&(at, _)| at <= t).unwrap_or(0);
    let (at, to) = fixations[i];
    let from = if i > 0 { fixations[i - 1].1 } else { to };
    let k = ((t - at) / 0.04).clamp(0.0, 1.0) as f32;
    [from[0] + (to[0] - from[0]) * k, from[1] + (to[1] - from[1]) * k]
}

/// Frames where loudness rises into a stressed syllable: above the 85th
/// percentile of loud frames and 3 dB above 80 ms earlier.
fn stresses(energy_db: &[f32], step: f64) -> Vec<usize> {
    let mut loud: Vec<f32> = energy_db.iter().copied().filter(|&e| e > -45.0).collect();
    loud.sort_by(f32::total_cmp);
    let Some(&threshold) = loud.get(loud.len() * 85 / 100) else {
        return Vec::new();
    };
    let back = ((0.08 / step).round() as usize).max(1);
    let mut out: Vec<usize> = Vec::new();
    for i in back..energy_db.len() {
        let rising = energy_db[i] >= threshold && energy_db[i] - energy_db[i - back] > 3.0;
        if rising && out.last().is_none_or(|&last| (i - last) as f64 * step > 0.3) {
            out.push(i);
        }
    }
    out
}

/// A Gaussian bump of width `sigma` seconds at each listed frame.
fn pulses(frames: &[usize], times: &[f64], sigma: f64) -> Vec<f32> {
    times
        .iter()
        .map(|&t| {
            frames
                .iter()
                .map(|&f| (-(t - times[f]).powi(2) / (2.0 * sigma * sigma)).exp() as f32)
                .fold(0f32, f32::max)
        })
        .collect()
}

/// Gaussian smoothing with a width of `sigma` frames.
fn smooth(values: &[f32], sigma: f64) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius)
        .map(|k| (-(k as f64).powi(2) / (2.0 * sigma * sigma).max(1e-9)).exp() as f32)
        .collect();
    (0..values.len() as isize)
        .map(|i| {
            let (mut sum, mut total) = (0f32, 0f32);
            for (k, w) in (-radius..=radius).zip(&kernel) {
                if let Some(v) = values.get((i + k) as usize).filter(|_| i + k >= 0) {
                    sum += w * v;
                    total += w;
                }
            }
            sum / total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pitch_of_a_tone_and_silence() {
        let rate = 16_000;
        let tone: Vec<f32> = (0..rate)
            .map(|i| (std::f32::consts::TAU * 200.0 * i as f32 / rate as f32).sin() * 0.3)
            .chain(std::iter::repeat_n(0.0, rate as usize))
            .collect();
        let p = analyse(&tone, rate, &[0.5, 1.5]);
        let f = p.pitch[0].unwrap();
        assert!((f - 200.0).abs() < 3.0, "{f}");
        assert_eq!(p.pitch[1], None);
        assert!(p.energy_db[0] > -15.0 && p.energy_db[1] < -90.0);
    }

    #[test]
    fn blinks_close_the_eyes_and_brows_follow_pitch() {
        assert_eq!(blink_profile(-0.1), 0.0);
        assert_eq!(blink_profile(0.085), 1.0);
        assert_eq!(blink_profile(1.0), 0.0);
        // Pitch steps up 60 % of the way through (so the median is the low pitch);
        // loudness jumps at the same time.
        let times: Vec<f64> = (0..100).map(|i| i as f64 * 0.04).collect();
        let prosody = Prosody {
            pitch: (0..100).map(|i| Some(if i < 60 { 100.0 } else { 140.0 })).collect(),
            energy_db: (0..100).map(|i| if i < 60 { -30.0 } else { -20.0 }).collect(),
        };
        let live = Liveliness {
            expressivity: 1.0,
            blinks_per_minute: 30.0,
            head_motion: 1.0,
        };
        let face = upper_face(&prosody, &times, 4.0, &live, &mut Rng::new(5));
        let inner = |i: usize| face.weights[i][0];
        assert!(inner(20) < 0.01 && inner(80) > 0.25, "{} {}", inner(20), inner(80));
        assert!(!face.blinks.is_empty());
        let blink_frame = ((face.blinks[0] + 0.085) / 0.04).round() as usize;
        assert!(face.weights[blink_frame][6] > 0.8, "{:?}", face.weights[blink_frame]);
        let largest = face.head.iter().flatten().fold(0f32, |m, a| m.max(a.abs()));
        assert!(largest > 0.002 && largest < 5f32.to_radians(), "{largest}");
        // Same seed, same motion.
        assert_eq!(face, upper_face(&prosody, &times, 4.0, &live, &mut Rng::new(5)));
    }
}
