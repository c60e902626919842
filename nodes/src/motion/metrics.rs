//! The field's lip-sync metrics, on vertex offsets in millimetres:
//!
//! - **LVE**, lip vertex error, both definitions in use: per frame the largest
//!   L2 distance over the lip vertices, averaged over frames (mm); and
//!   CodeTalker's, the largest *squared* distance averaged over frames (mm²),
//!   which is what published VOCASET and BIWI tables report (in their units);
//! - **FDD**, CodeTalker's upper-face dynamics deviation: per sequence, the
//!   mean over upper-face vertices of the standard deviation over time of the
//!   squared displacement from the template, ground truth minus prediction,
//!   averaged over sequences (mm²; signed as CodeTalker's code computes it);
//! - **bilabial closure**: the share of /p b m/ phonemes during which the
//!   inner lips come within 1 mm of touching (the factory's own criterion);
//! - **mouth opening**: Pearson's correlation of the inner-lip gap with the
//!   ground truth's over each sequence's frames, averaged over sequences (a
//!   motionless prediction has none);
//! - **jitter**: mean vertex acceleration, mm per frame².

use serde::Serialize;

/// The vertex sets the metrics read, as coordinate offsets into a row of
/// moved-vertex offsets (`3 · position`).
#[derive(Clone, Debug)]
pub struct MetricSets {
    /// The lip vertices' positions within the moved vertices.
    pub lip: Vec<usize>,
    /// The upper-face vertices' positions.
    pub upper: Vec<usize>,
    /// Positions of the inner-lip landmarks (upper 62, lower 66), when the rig has landmarks.
    pub inner_lips: Option<(usize, usize)>,
}

impl MetricSets {
    /// The sets of `face` within `moved`.
    pub fn new(face: &crate::face::FaceRig, moved: &[u32]) -> MetricSets {
        let position = |v: u32| moved.binary_search(&v).ok();
        let within = |set: &[u32]| set.iter().filter_map(|&v| position(v)).collect();
        let inner_lips = (face.landmarks.len() >= 68)
            .then(|| Some((position(face.landmarks[62])?, position(face.landmarks[66])?)))
            .flatten();
        MetricSets {
            lip: within(&face.lip_vertices),
            upper: within(&face.upper_face_vertices),
            inner_lips,
        }
    }
}

/// One sequence to score: predicted and true offsets `[frames, moved · 3]` in
/// mm, the rest gap of the inner lips (mm), and the bilabials' frame spans.
pub struct Scored<'a> {
    /// Predicted offsets, mm.
    pub predicted: &'a [f32],
    /// True offsets, mm.
    pub truth: &'a [f32],
    /// Frames.
    pub frames: usize,
    /// The speaker's inner-lip gap at rest, mm (upper minus lower lip height).
    pub rest_gap: f32,
    /// Each bilabial's frames, `[first, last]`.
    pub bilabials: Vec<(usize, usize)>,
}

/// Sums over sequences, turned into [`Metrics`] by [`Accumulator::finish`].
#[derive(Clone, Debug, Default)]
pub struct Accumulator {
    frames: usize,
    lve: f64,
    lve_squared: f64,
    fdd: f64,
    sequences: usize,
    bilabials: usize,
    closed: usize,
    correlations: Vec<f64>,
    jitter: f64,
    jitter_count: usize,
    truth_jitter: f64,
}

/// The metrics of one method on one split.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Metrics {
    /// Sequences scored.
    pub sequences: usize,
    /// Frames scored.
    pub frames: usize,
    /// Mean over frames of the largest lip-vertex L2 error, mm.
    pub lve_mm: f64,
    /// Mean over frames of the largest squared lip-vertex error, mm² (CodeTalker's LVE).
    pub lve_squared_mm2: f64,
    /// CodeTalker's upper-face dynamics deviation, mm².
    pub fdd_mm2: f64,
    /// Share of bilabials whose lips close, 0–1 (`None` without landmarks or bilabials).
    pub bilabial_closure: Option<f64>,
    /// Correlation of the inner-lip gap with the ground truth's, mean over sequences.
    pub mouth_opening_r: Option<f64>,
    /// Mean vertex acceleration of the prediction, mm / frame².
    pub jitter_mm: f64,
    /// The same of the ground truth.
    pub truth_jitter_mm: f64,
}

fn vertex(row: &[f32], position: usize) -> [f32; 3] {
    [row[3 * position], row[3 * position + 1], row[3 * position + 2]]
}

fn distance_squared(a: [f32; 3], b: [f32; 3]) -> f64 {
    (0..3).map(|k| ((a[k] - b[k]) as f64).powi(2)).sum()
}

fn displacement_std(offsets: &[f32], frames: usize, width: usize, upper: &[usize]) -> f64 {
    if upper.is_empty() || frames == 0 {
        return 0.0;
    }
    let total: f64 = upper
        .iter()
        .map(|&p| {
            let d: Vec<f64> = (0..frames)
                .map(|t| distance_squared(vertex(&offsets[t * width..], p), [0.0; 3]))
                .collect();
            let mean = d.iter().sum::<f64>() / frames as f64;
            (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / frames as f64).sqrt()
        })
        .sum();
    total / upper.len() as f64
}

impl Accumulator {
    /// Adds one sequence.
    pub fn add(&mut self, sets: &MetricSets, s: &Scored) {
        let width = s.truth.len() / s.frames.max(1);
        for t in 0..s.frames {
            let (p, g) = (&s.predicted[t * width..(t + 1) * width], &s.truth[t * width..(t + 1) * width]);
            let worst = sets
                .lip
                .iter()
                .map(|&v| distance_squared(vertex(p, v), vertex(g, v)))
                .fold(0.0, f64::max);
            self.lve += worst.sqrt();
            self.lve_squared += worst;
        }
        self.frames += s.frames;
        self.fdd += displacement_std(s.truth, s.frames, width, &sets.upper)
            - displacement_std(s.predicted, s.frames, width, &sets.upper);
        self.sequences += 1;

        if let Some((upper, lower)) = sets.inner_lips {
            let gap = |o: &[f32], t: usize| -> f64 {
                let row = &o[t * width..];
                (s.rest_gap + vertex(row, upper)[1] - vertex(row, lower)[1]) as f64
            };
            let gaps: Vec<(f64, f64)> = (0..s.frames).map(|t| (gap(s.predicted, t), gap(s.truth, t))).collect();
            self.correlations.extend(pearson(&gaps));
            for &(first, last) in &s.bilabials {
                let closest = (first..=last.min(s.frames - 1))
                    .map(|t| gap(s.predicted, t))
                    .fold(f64::MAX, f64::min);
                self.bilabials += 1;
                self.closed += (closest < 1.0) as usize;
            }
        }
        for t in 1..s.frames.saturating_sub(1) {
            let acceleration = |o: &[f32]| -> f64 {
                (0..width / 3)
                    .map(|v| {
                        let (a, b, c) = (vertex(&o[(t - 1) * width..], v), vertex(&o[t * width..], v), vertex(&o[(t + 1) * width..], v));
                        (0..3).map(|k| ((a[k] - 2.0 * b[k] + c[k]) as f64).powi(2)).sum::<f64>().sqrt()
                    })
                    .sum::<f64>()
                    / (width / 3).max(1) as f64
            };
            self.jitter += acceleration(s.predicted);
            self.truth_jitter += acceleration(s.truth);
            self.jitter_count += 1;
        }
    }

    /// The metrics of everything added.
    pub fn finish(&self) -> Metrics {
        let frames = self.frames.max(1) as f64;
        let steps = self.jitter_count.max(1) as f64;
        Metrics {
            sequences: self.sequences,
            frames: self.frames,
            lve_mm: self.lve / frames,
            lve_squared_mm2: self.lve_squared / frames,
            fdd_mm2: self.fdd / self.sequences.max(1) as f64,
            bilabial_closure: (self.bilabials > 0).then(|| self.closed as f64 / self.bilabials as f64),
            mouth_opening_r: (!self.correlations.is_empty())
                .then(|| self.correlations.iter().sum::<f64>() / self.correlations.len() as f64),
            jitter_mm: self.jitter / steps,
            truth_jitter_mm: self.truth_jitter / steps,
        }
    }
}

/// Pearson's correlation of pairs; `None` when either side is constant.
pub fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    let n = pairs.len() as f64;
    if pairs.len() < 2 {
        return None;
    }
    let (ma, mb) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for &(a, b) in pairs {
        ab += (a - ma) * (b - mb);
        aa += (a - ma).powi(2);
        bb += (b - mb).powi(2);
    }
    (aa > 0.0 && bb > 0.0).then(|| ab / (aa * bb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets() -> MetricSets {
        MetricSets {
            lip: vec![0, 1],
            upper: vec![2],
            inner_lips: Some((0, 1)),
        }
    }

    #[test]
    fn lip_vertex_errors_by_hand() {
        // Two frames, three vertices. Frame 0: lip vertex 0 is off by (3, 4, 0),
        // 5 mm, and lip vertex 1 by 1 mm; frame 1: lip vertex 1 by 2 mm.
        let truth = vec![0.0; 18];
        let mut predicted = vec![0.0; 18];
        predicted[0] = 3.0;
        predicted[1] = 4.0;
        predicted[3] = 1.0;
        predicted[9 + 5] = 2.0;
        let mut acc = Accumulator::default();
        acc.add(&sets(), &Scored {
            predicted: &predicted,
            truth: &truth,
            frames: 2,
            rest_gap: 0.0,
            bilabials: vec![],
        });
        let m = acc.finish();
        assert!((m.lve_mm - (5.0 + 2.0) / 2.0).abs() < 1e-9, "{}", m.lve_mm);
        assert!((m.lve_squared_mm2 - (25.0 + 4.0) / 2.0).abs() < 1e-9);
    }

    #[test]
    fn fdd_closure_and_correlation_by_hand() {
        // Upper vertex 2 moves 0 then 2 mm in y in the truth (squared 0, 4: std 2),
        // and stays in the prediction (std 0): FDD = 2 − 0.
        // Inner lips: vertex 0 (upper) and 1 (lower); rest gap 5 mm. The truth
        // closes at frame 1 (upper lip down 5 mm), the prediction only by 3 mm.
        let mut truth = vec![0.0; 18];
        truth[9 + 7] = 2.0;
        truth[9 + 1] = -5.0;
        let mut predicted = vec![0.0; 18];
        predicted[9 + 1] = -3.0;
        let mut acc = Accumulator::default();
        let scored = Scored {
            predicted: &predicted,
            truth: &truth,
            frames: 2,
            rest_gap: 5.0,
            bilabials: vec![(1, 1)],
        };
        acc.add(&sets(), &scored);
        let m = acc.finish();
        assert!((m.fdd_mm2 - 2.0).abs() < 1e-9, "{}", m.fdd_mm2);
        assert_eq!(m.bilabial_closure, Some(0.0), "a 2 mm gap is not a closure");
        assert!((m.mouth_opening_r.unwrap() - 1.0).abs() < 1e-9, "both gaps fall together");
        let mut acc = Accumulator::default();
        acc.add(&sets(), &Scored {
            predicted: &truth,
            ..scored
        });
        assert_eq!(acc.finish().bilabial_closure, Some(1.0));
    }

    #[test]
    fn jitter_is_mean_acceleration() {
        // One vertex moving 0, 1, 4 mm in x: acceleration 4 − 2 + 0 = 2.
        let offsets = vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 4.0, 0.0, 0.0];
        let sets = MetricSets {
            lip: vec![0],
            upper: vec![],
            inner_lips: None,
        };
        let mut acc = Accumulator::default();
        acc.add(&sets, &Scored {
            predicted: &offsets,
            truth: &vec![0.0; 9],
            frames: 3,
            rest_gap: 0.0,
            bilabials: vec![],
        });
        let m = acc.finish();
        assert!((m.jitter_mm - 2.0).abs() < 1e-9 && m.truth_jitter_mm == 0.0);
        assert_eq!(pearson(&[(1.0, 1.0), (1.0, 2.0)]), None);
    }
}
