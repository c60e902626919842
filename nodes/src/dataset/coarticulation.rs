//! Coarticulation by dominance functions, after Cohen and Massaro ("Modeling
//! coarticulation in synthetic visual speech", 1993).
//!
//! Each speech segment has, per articulatory parameter, a target value and a
//! dominance: how strongly it pulls the parameter towards its target. The
//! dominance is `α` during the segment and decays as `α·exp(−θ·d)` at a
//! distance `d` (seconds) before it (anticipation, `θ = anticipation`) or after
//! it (carry-over, `θ = carryover`). A parameter's value at any time is the
//! dominance-weighted mean of the targets. Segments that do not care about a
//! parameter (no target) leave it to their neighbours: rounding spreads from
//! /u/ into a preceding /s/, while a bilabial's strong, steep closure wins over
//! the vowels around it. Cohen and Massaro's exponent `c` is 1 here; the
//! targets and dominances are in [`super::visemes`].

/// Number of articulatory parameters.
pub const PARAMS: usize = 8;

/// The articulatory parameters, each in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// Jaw opening.
    Jaw = 0,
    /// Lip opening as a share of what the jaw allows; 0 seals the lips.
    Open = 1,
    /// Lip rounding and protrusion.
    Round = 2,
    /// Lip spreading.
    Spread = 3,
    /// Lower lip tucked under the upper teeth.
    Labiodental = 4,
    /// Lips drawn apart vertically, showing the teeth.
    Teeth = 5,
    /// Tongue tip between the teeth (dental fricatives).
    Tongue = 6,
    /// Lips pressed together (bilabial stops).
    Press = 7,
}

/// A target for one parameter and how strongly the segment holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Target {
    /// The value the segment moves the parameter to.
    pub value: f32,
    /// The dominance magnitude `α`.
    pub dominance: f32,
}

/// A span of time with targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Start in seconds.
    pub start: f64,
    /// End in seconds.
    pub end: f64,
    /// Per parameter, a target or none (the segment does not care).
    pub targets: [Option<Target>; PARAMS],
    /// Decay rate of the dominance before the segment, per second.
    pub anticipation: f32,
    /// Decay rate of the dominance after the segment, per second.
    pub carryover: f32,
}

impl Segment {
    /// The segment's dominance over a parameter at time `t`.
    pub fn dominance(&self, param: usize, t: f64) -> f32 {
        let Some(target) = self.targets[param] else {
            return 0.0;
        };
        let (distance, rate) = if t < self.start {
            (self.start - t, self.anticipation)
        } else if t > self.end {
            (t - self.end, self.carryover)
        } else {
            (0.0, 0.0)
        };
        target.dominance * (-(rate as f64) * distance).exp() as f32
    }
}

/// A weak pull towards the rest pose everywhere, so that a parameter no
/// segment cares about settles at rest rather than being undefined.
const REST_DOMINANCE: f32 = 1e-3;

/// The articulatory parameters at each time.
pub fn trajectory(segments: &[Segment], times: &[f64]) -> Vec<[f32; PARAMS]> {
    times
        .iter()
        .map(|&t| {
            std::array::from_fn(|p| {
                let (mut weighted, mut total) = (0f32, REST_DOMINANCE);
                for s in segments {
                    let d = s.dominance(p, t);
                    if d > 0.0 {
                        weighted += d * s.targets[p].map_or(0.0, |x| x.value);
                        total += d;
                    }
                }
                weighted / total
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start: f64, end: f64, open: Option<(f32, f32)>, theta: f32) -> Segment {
        let mut targets = [None; PARAMS];
        targets[Param::Open as usize] = open.map(|(value, dominance)| Target { value, dominance });
        Segment {
            start,
            end,
            targets,
            anticipation: theta,
            carryover: theta,
        }
    }

    #[test]
    fn dominance_is_flat_inside_and_decays_outside() {
        let s = segment(1.0, 2.0, Some((1.0, 4.0)), 10.0);
        assert_eq!(s.dominance(1, 1.5), 4.0);
        assert!((s.dominance(1, 0.9) - 4.0 * (-1.0f32).exp()).abs() < 1e-6);
        assert!((s.dominance(1, 2.2) - 4.0 * (-2.0f32).exp()).abs() < 1e-6);
        assert_eq!(s.dominance(0, 1.5), 0.0, "no target, no dominance");
    }

    #[test]
    fn strong_segments_win_and_indifferent_ones_borrow_from_neighbours() {
        // open vowel | bilabial (strong closure) | open vowel | indifferent | open vowel
        let segments = [
            segment(0.0, 0.2, Some((1.0, 4.0)), 15.0),
            segment(0.2, 0.26, Some((0.0, 200.0)), 100.0),
            segment(0.26, 0.4, Some((1.0, 4.0)), 15.0),
            segment(0.4, 0.45, None, 15.0),
            segment(0.45, 0.6, Some((1.0, 4.0)), 15.0),
        ];
        let values = trajectory(&segments, &[0.1, 0.23, 0.33, 0.425]);
        let open: Vec<f32> = values.iter().map(|v| v[Param::Open as usize]).collect();
        assert!(open[0] > 0.95, "inside the first vowel: {}", open[0]);
        assert!(open[1] < 0.1, "the closure holds in the bilabial: {}", open[1]);
        assert!(open[2] > 0.8, "and lets go in the next vowel: {}", open[2]);
        assert!(
            open[3] > 0.99,
            "the indifferent segment takes the vowels' value: {}",
            open[3]
        );
        // Independent check of one point: the weighted mean written out.
        let d = |a: f32, theta: f32, dist: f64| a * (-(theta as f64) * dist).exp() as f32;
        let (d0, d1, d2) = (d(4.0, 15.0, 0.03), 200.0, d(4.0, 15.0, 0.03));
        let d4 = d(4.0, 15.0, 0.22);
        let expected = (d0 + d2 + d4) / (d0 + d1 + d2 + d4 + REST_DOMINANCE);
        assert!((open[1] - expected).abs() < 1e-5, "{} vs {expected}", open[1]);
    }
}
