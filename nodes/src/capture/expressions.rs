//! The extreme-expression part of a synthetic capture: every expression of
//! the face model ramped to full and back on its own, then a few
//! combinations a person makes (a squinting smile, raised brows, surprise, a
//! kiss, a laugh, disgust, a frown, a glance either way), so that every
//! blendshape is seen at its extreme from every camera. The combinations and
//! their weights are ours.

use crate::dataset::sequence::resolve_expression;
use crate::face::FaceRig;

/// One expression move: rig expressions driven together, each to its weight at the peak.
#[derive(Clone, Debug, PartialEq)]
pub struct Move {
    /// What it is (`jawOpen`, `smile + squint`).
    pub name: String,
    /// Rig expression indices with their weights at the peak.
    pub targets: Vec<(usize, f32)>,
    /// Whether it combines several expressions (combinations can be held out; single expressions never are).
    pub combination: bool,
}

/// The combinations, by ICT-FaceKit expression names (ARKit spellings resolve too).
const COMBINATIONS: [(&str, &[(&str, f32)]); 9] = [
    (
        "smile + squint",
        &[
            ("mouthSmile_L", 1.0),
            ("mouthSmile_R", 1.0),
            ("cheekSquint_L", 1.0),
            ("cheekSquint_R", 1.0),
            ("eyeSquint_L", 1.0),
            ("eyeSquint_R", 1.0),
        ],
    ),
    (
        "brow raise",
        &[
            ("browInnerUp_L", 1.0),
            ("browInnerUp_R", 1.0),
            ("browOuterUp_L", 1.0),
            ("browOuterUp_R", 1.0),
        ],
    ),
    (
        "surprise",
        &[
            ("jawOpen", 0.8),
            ("browInnerUp_L", 1.0),
            ("browInnerUp_R", 1.0),
            ("browOuterUp_L", 1.0),
            ("browOuterUp_R", 1.0),
            ("eyeWide_L", 1.0),
            ("eyeWide_R", 1.0),
        ],
    ),
    (
        "kiss",
        &[
            ("mouthPucker", 1.0),
            ("mouthFunnel", 0.3),
            ("eyeBlink_L", 1.0),
            ("eyeBlink_R", 1.0),
        ],
    ),
    (
        "laugh",
        &[
            ("jawOpen", 0.6),
            ("mouthSmile_L", 1.0),
            ("mouthSmile_R", 1.0),
            ("mouthUpperUp_L", 0.5),
            ("mouthUpperUp_R", 0.5),
            ("cheekSquint_L", 0.8),
            ("cheekSquint_R", 0.8),
            ("eyeSquint_L", 0.6),
            ("eyeSquint_R", 0.6),
        ],
    ),
    (
        "disgust",
        &[
            ("noseSneer_L", 1.0),
            ("noseSneer_R", 1.0),
            ("mouthUpperUp_L", 0.8),
            ("mouthUpperUp_R", 0.8),
            ("browDown_L", 0.7),
            ("browDown_R", 0.7),
        ],
    ),
    (
        "frown",
        &[
            ("browDown_L", 1.0),
            ("browDown_R", 1.0),
            ("mouthFrown_L", 1.0),
            ("mouthFrown_R", 1.0),
            ("mouthPress_L", 0.6),
            ("mouthPress_R", 0.6),
        ],
    ),
    ("glance left", &[("eyeLookOut_L", 1.0), ("eyeLookIn_R", 1.0)]),
    ("glance right", &[("eyeLookIn_L", 1.0), ("eyeLookOut_R", 1.0)]),
];

/// Every expression of `rig` alone, in the rig's order, then the
/// combinations whose expressions the rig has.
pub fn moves(rig: &FaceRig) -> Vec<Move> {
    let singles = rig.expression_names.iter().enumerate().map(|(i, name)| Move {
        name: name.clone(),
        targets: vec![(i, 1.0)],
        combination: false,
    });
    let combinations = COMBINATIONS.iter().filter_map(|(name, parts)| {
        let mut targets = Vec::new();
        for (part, weight) in parts.iter() {
            let resolved = resolve_expression(rig, part)?;
            targets.extend(resolved.into_iter().map(|(i, factor)| (i, weight * factor)));
        }
        Some(Move {
            name: name.to_string(),
            targets,
            combination: true,
        })
    });
    singles.chain(combinations).collect()
}

/// A move's strength over `frames` frames: up from rest and back, a sin²
/// bump that peaks at exactly 1 and neither starts nor ends at 0 (the frames
/// around a move are at rest already).
pub fn ramp(frames: usize) -> Vec<f32> {
    let bump: Vec<f64> = (1..=frames)
        .map(|i| (std::f64::consts::PI * i as f64 / (frames + 1) as f64).sin().powi(2))
        .collect();
    let peak = bump.iter().copied().fold(0.0, f64::max);
    bump.iter().map(|b| (b / peak) as f32).collect()
}

/// The rig's expression weights (`K` of them) of `a_move` at `strength`,
/// each clamped to [0, 1].
pub fn weights(a_move: &Move, strength: f32, k: usize) -> Vec<f32> {
    let mut row = vec![0f32; k];
    for &(i, weight) in &a_move.targets {
        row[i] += weight * strength;
    }
    row.iter_mut().for_each(|w| *w = w.clamp(0.0, 1.0));
    row
}
