//! Small head and neck motion on a blendshape rig: the head turns about a
//! point in the neck, fully above the chin and fading out down the neck, so
//! the base of the neck stays put (a two-bone skin with smooth weights; ours).

use crate::face::FaceRig;
use crate::face::flame::rodrigues;

/// Landmark 8 of the 68-point set: the tip of the chin.
const CHIN: usize = 8;

/// Where the head turns and how much of the turn each vertex takes.
#[derive(Clone, Debug, PartialEq)]
pub struct NeckRig {
    /// The centre of rotation.
    pub pivot: [f32; 3],
    /// Per vertex, the share of the head's rotation in [0, 1].
    pub weights: Vec<f32>,
}

/// Rotation weights are quantised to this many steps, so each frame needs only
/// this many rotation matrices.
const LEVELS: usize = 64;

impl NeckRig {
    /// The neck of a rig at rest shape `rest` (`[V * 3]`): the head rotates
    /// fully above the chin (or above 40 % of the mesh's height without
    /// landmarks) and not at all below 12 % of its height.
    pub fn new(rig: &FaceRig, rest: &[f32]) -> NeckRig {
        let ys = rest.chunks_exact(3).map(|p| p[1]);
        let (bottom, top) = ys.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let (front, back) = rest
            .chunks_exact(3)
            .map(|p| p[2])
            .fold((f32::NEG_INFINITY, f32::INFINITY), |(f, b), z| (f.max(z), b.min(z)));
        let height = top - bottom;
        let low = bottom + 0.12 * height;
        let high = match rig.landmarks.get(CHIN) {
            Some(&chin) => rest[chin as usize * 3 + 1],
            None => bottom + 0.4 * height,
        }
        .max(low + 1e-3 * height);
        let weights = rest
            .chunks_exact(3)
            .map(|p| {
                let x = ((p[1] - low) / (high - low)).clamp(0.0, 1.0);
                x * x * (3.0 - 2.0 * x)
            })
            .collect();
        let centre_x = rest.chunks_exact(3).map(|p| p[0]).sum::<f32>() / (rest.len() / 3).max(1) as f32;
        NeckRig {
            pivot: [centre_x, (low + high) / 2.0, back + 0.45 * (front - back)],
            weights,
        }
    }

    /// Turns `positions` (`[V * 3]`, in place) by `rotation` (axis-angle,
    /// radians), each vertex by its share.
    pub fn apply(&self, positions: &mut [f32], rotation: [f32; 3]) {
        if rotation == [0.0; 3] {
            return;
        }
        let matrices: Vec<[[f32; 3]; 3]> = (0..=LEVELS)
            .map(|level| rodrigues(rotation.map(|r| r * level as f32 / LEVELS as f32)))
            .collect();
        for (p, &w) in positions.chunks_exact_mut(3).zip(&self.weights) {
            let r = &matrices[(w * LEVELS as f32).round() as usize];
            let d = [p[0] - self.pivot[0], p[1] - self.pivot[1], p[2] - self.pivot[2]];
            for k in 0..3 {
                p[k] = self.pivot[k] + r[k][0] * d[0] + r[k][1] * d[1] + r[k][2] * d[2];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_turns_and_the_neck_base_stays() {
        let mut rig = crate::face::rig::tests::square();
        // A column of vertices from y = 0 (neck base) to y = 10 (crown).
        rig.neutral = (0..11).flat_map(|i| [0.0, i as f32, 1.0]).collect();
        rig.landmarks = vec![0; 68];
        rig.landmarks[CHIN] = 6;
        let neck = NeckRig::new(&rig, &rig.neutral);
        assert_eq!(neck.weights[0], 0.0);
        assert_eq!(neck.weights[1], 0.0, "below 12 % of the height");
        assert_eq!(neck.weights[6], 1.0, "the chin and above turn fully");
        assert!(neck.weights[3] > 0.0 && neck.weights[3] < 1.0);
        let mut moved = rig.neutral.clone();
        neck.apply(&mut moved, [0.0, 0.0, 0.1]);
        assert_eq!(&moved[..3], &rig.neutral[..3]);
        // The crown rotates about the pivot by the full angle.
        let r = rodrigues([0.0, 0.0, 0.1]);
        let d: Vec<f32> = (0..3).map(|k| rig.neutral[30 + k] - neck.pivot[k]).collect();
        for k in 0..3 {
            let expected = neck.pivot[k] + (0..3).map(|m| r[k][m] * d[m]).sum::<f32>();
            assert!((moved[30 + k] - expected).abs() < 1e-5);
        }
    }
}
