//! Avatars for the 3D viewport: their Gaussians as splats, and, when they are
//! bound to mesh triangles, posed frame by frame on a face model's mesh moved
//! by a motion, as `render.splats` poses them. The face model and motion are
//! found among the run's outputs.

use std::sync::Arc;

use gspeech_nodes::avatar::binding::{MeshSequence, check_binding};
use gspeech_nodes::splats::{Gaussians, binding_of};
use gspeech_sdk::Record;

/// Frames per second of a motion that does not say.
const DEFAULT_FPS: f64 = 25.0;

/// An avatar (or any Gaussian set) ready to show.
pub struct AvatarView {
    avatar: Arc<Record>,
    gaussians: Arc<Gaussians>,
    rig: Option<Rig>,
    bounds: ([f32; 3], f32),
}

/// What poses a bound avatar: the face model its Gaussians are bound to, and
/// the motion that moves it, if the run made one that fits.
struct Rig {
    face: Arc<Record>,
    motion: Option<Arc<Record>>,
    frames: usize,
    fps: f64,
}

impl AvatarView {
    /// Reads an `avatar` record. When its Gaussians are bound to triangles,
    /// the first of `faces` they fit poses them, moved by the first of
    /// `motions` that fits that face; an error says what is missing.
    pub fn new(avatar: &Arc<Record>, faces: &[Arc<Record>], motions: &[Arc<Record>]) -> Result<AvatarView, String> {
        let gaussians = Gaussians::from_record(avatar)?;
        let rig = match binding_of(avatar) {
            None => None,
            Some(binding) => {
                // Frames and frame rate of a face (and motion) the binding fits.
                let fit = |face: &Record, motion: Option<&Record>| {
                    let meshes = MeshSequence::new(face, motion).ok()?;
                    check_binding(binding, gaussians.len(), meshes.triangles().len()).ok()?;
                    Some((meshes.frames(), meshes.fps()))
                };
                let face = faces.iter().find(|face| fit(face, None).is_some()).ok_or(
                    "its Gaussians are bound to mesh triangles: run the face model they were made for in this graph \
                     to see them",
                )?;
                let motion = motions.iter().find(|motion| fit(face, Some(motion)).is_some());
                let (frames, fps) = fit(face, motion.map(|m| &**m)).expect("found to fit");
                Some(Rig {
                    face: face.clone(),
                    motion: motion.cloned(),
                    frames,
                    fps: fps.unwrap_or(DEFAULT_FPS),
                })
            }
        };
        let mut view = AvatarView {
            avatar: avatar.clone(),
            gaussians: Arc::new(gaussians),
            rig,
            bounds: ([0.0; 3], 1.0),
        };
        // Framed once, on the first frame, so that the camera holds still while it plays.
        view.bounds = bounds(&view.posed(0).means);
        Ok(view)
    }

    /// Number of frames (1 unless a motion moves it).
    pub fn frames(&self) -> usize {
        self.rig.as_ref().map_or(1, |r| r.frames)
    }

    /// Frames per second.
    pub fn fps(&self) -> f64 {
        self.rig.as_ref().map_or(DEFAULT_FPS, |r| r.fps)
    }

    /// The sphere the viewport frames: see [`bounds`].
    pub fn bounds(&self) -> ([f32; 3], f32) {
        self.bounds
    }

    /// The Gaussians in world space at a frame (clamped to the last).
    pub fn posed(&self, frame: usize) -> Arc<Gaussians> {
        let Some(rig) = &self.rig else {
            return self.gaussians.clone();
        };
        let meshes = MeshSequence::new(&rig.face, rig.motion.as_deref()).expect("checked when the view was made");
        let binding = binding_of(&self.avatar).expect("a rig means a binding");
        Arc::new(meshes.pose(&self.gaussians, binding, frame.min(rig.frames - 1)))
    }

    /// One line on what is shown.
    pub fn summary(&self) -> String {
        let count = format!("{} Gaussians", self.gaussians.len());
        match &self.rig {
            None => count,
            Some(Rig { motion: None, .. }) => format!("{count} on the face model's neutral mesh"),
            Some(Rig { frames, .. }) => format!("{count} posed on the face model by the motion ({frames} frames)"),
        }
    }
}

/// A sphere around most of the points: its centre is their median along each
/// axis, its radius the distance within which 99 % of them lie. Splat files
/// from captures often hold a few stray Gaussians far from the subject, which
/// would otherwise shrink it to a dot.
pub fn bounds(points: &[[f32; 3]]) -> ([f32; 3], f32) {
    let points: Vec<[f32; 3]> = points
        .iter()
        .copied()
        .filter(|p| p.iter().all(|v| v.is_finite()))
        .collect();
    if points.is_empty() {
        return ([0.0; 3], 1.0);
    }
    let center = [0, 1, 2].map(|k| {
        let mut values: Vec<f32> = points.iter().map(|p| p[k]).collect();
        let middle = values.len() / 2;
        *values.select_nth_unstable_by(middle, f32::total_cmp).1
    });
    let mut distances: Vec<f32> = points
        .iter()
        .map(|p| (0..3).map(|k| (p[k] - center[k]).powi(2)).sum::<f32>().sqrt())
        .collect();
    let at = (distances.len() - 1) * 99 / 100;
    let radius = *distances.select_nth_unstable_by(at, f32::total_cmp).1;
    (center, radius.max(1e-6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_nodes::splats::synthetic::random;
    use gspeech_sdk::{PortType, Tensor};

    /// Two triangles, and an expression moving every vertex up by 1.
    fn face(triangles: Vec<u32>) -> Arc<Record> {
        let neutral = vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0];
        let lift = [0.0, 1.0, 0.0].repeat(4);
        Arc::new(
            Record::new(PortType::FaceModel)
                .with_tensor("neutral", Tensor::from_f32(&[4, 3], neutral).unwrap())
                .with_tensor(
                    "triangles",
                    Tensor::from_u32(&[triangles.len() / 3, 3], triangles).unwrap(),
                )
                .with_tensor("expressions", Tensor::from_f32(&[1, 4, 3], lift).unwrap())
                .with_attr("expression_names", serde_json::json!(["lift"])),
        )
    }

    fn motion(name: &str, weights: Vec<f32>) -> Arc<Record> {
        Arc::new(
            Record::new(PortType::Motion)
                .with_tensor("weights", Tensor::from_f32(&[weights.len(), 1], weights).unwrap())
                .with_attr("weight_names", serde_json::json!([name]))
                .with_attr("fps", 10),
        )
    }

    #[test]
    fn a_bound_avatar_is_posed_by_the_face_and_motion_that_fit_it() {
        let local = random(20, 0, 0.2, 3);
        let binding: Vec<u32> = (0..20).map(|i| i % 2).collect();
        let avatar = Arc::new(local.to_record(Some(&binding)));
        let one_triangle = face(vec![0, 1, 2]);
        let two_triangles = face(vec![0, 1, 2, 1, 3, 2]);
        let other = motion("jawOpen", vec![0.0, 1.0]);
        let lift = motion("lift", vec![0.0, 1.0, 2.0]);

        let err = AvatarView::new(&avatar, std::slice::from_ref(&one_triangle), &[])
            .err()
            .unwrap();
        assert!(err.contains("bound to mesh triangles"), "{err}");

        let faces = [one_triangle, two_triangles];
        let still = AvatarView::new(&avatar, &faces, std::slice::from_ref(&other)).unwrap();
        assert_eq!(
            (still.frames(), still.fps()),
            (1, DEFAULT_FPS),
            "no motion fits: the neutral mesh"
        );
        assert!(still.summary().contains("neutral mesh"), "{}", still.summary());

        let moving = AvatarView::new(&avatar, &faces, &[other, lift]).unwrap();
        assert_eq!((moving.frames(), moving.fps()), (3, 10.0));
        let (first, last) = (moving.posed(0), moving.posed(7));
        for (a, b) in first.means.iter().zip(&last.means) {
            let moved = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
            assert!(
                moved.iter().zip([0.0, 2.0, 0.0]).all(|(m, e)| (m - e).abs() < 1e-5),
                "the last frame lifts the mesh, and its Gaussians, by 2: {moved:?}"
            );
        }
        assert!(Arc::ptr_eq(&first.sh, &last.sh), "posing shares the colours");

        let unbound = Arc::new(local.to_record(None));
        let view = AvatarView::new(&unbound, &[], &[]).unwrap();
        assert_eq!(
            view.posed(5).means,
            local.means,
            "unbound Gaussians are shown as they are"
        );
    }

    #[test]
    fn bounds_ignore_a_few_strays() {
        let mut points: Vec<[f32; 3]> = (0..200)
            .map(|i| {
                let (a, b) = (i as f32 * 0.7, i as f32 * 1.3);
                [2.0 + a.cos() * b.sin(), a.sin() * b.sin(), b.cos()]
            })
            .collect();
        points.push([500.0, 0.0, 0.0]);
        points.push([f32::NAN, 0.0, 0.0]);
        let (center, radius) = bounds(&points);
        assert!((center[0] - 2.0).abs() < 0.2 && center[1].abs() < 0.2 && center[2].abs() < 0.2);
        assert!(radius > 0.9 && radius < 1.3, "the stray is left out: {radius}");
        assert_eq!(bounds(&[]), ([0.0; 3], 1.0));
    }
}
