//! Filming a take: every frame's pose prepared once and rendered from each
//! camera in parallel, its images and masks written atomically, the frames
//! an earlier run wrote kept ([`super::resume`]), progress with the time left.

use std::path::Path;
use std::time::Instant;

use gspeech_sdk::{NodeError, RunContext};
use rayon::prelude::*;

use super::format::{CaptureCamera, write_image, write_mask};
use super::resume::frame_is_written;
use super::studio::{Pose, Scene, render_view};
use super::timeline::Timeline;

/// Everything the filming of a take needs.
pub struct Film<'a> {
    /// The subject, its look and the studio.
    pub scene: Scene<'a>,
    /// The cameras.
    pub cameras: &'a [CaptureCamera],
    /// The take.
    pub timeline: &'a Timeline,
    /// The capture folder.
    pub root: &'a Path,
}

/// How filming went.
pub struct Filmed {
    /// Frames rendered in this run.
    pub rendered: usize,
    /// Frames an earlier run had written.
    pub kept: usize,
    /// Seconds from the start of filming to the last frame rendered.
    pub seconds: f64,
}

impl Film<'_> {
    /// Renders and writes every frame not written yet, one frame at a time,
    /// its cameras in parallel; reports progress with the time left.
    pub fn shoot(&self, ctx: &RunContext) -> Result<Filmed, NodeError> {
        let total = self.timeline.frames();
        let values = self.timeline.vertices.len() / total;
        let k = self.timeline.weights.len() / total;
        let started = Instant::now();
        let mut filmed = Filmed {
            rendered: 0,
            kept: 0,
            seconds: 0.0,
        };
        for frame in 0..total {
            ctx.check_cancelled()?;
            if frame_is_written(self.root, self.cameras, frame) {
                filmed.kept += 1;
                continue;
            }
            let posed = &self.timeline.vertices[frame * values..(frame + 1) * values];
            let weights = &self.timeline.weights[frame * k..(frame + 1) * k];
            let pose = Pose::new(self.scene.subject(), weights, posed).map_err(NodeError::other)?;
            self.cameras
                .par_iter()
                .try_for_each(|camera| self.write_view(&pose, camera, frame, ctx))?;
            filmed.rendered += 1;
            filmed.seconds = started.elapsed().as_secs_f64();
            let done = filmed.rendered + filmed.kept;
            let left = (total - done) as f64 * filmed.seconds / filmed.rendered as f64;
            let rate = (filmed.rendered * self.cameras.len()) as f64 / filmed.seconds.max(1e-9);
            ctx.progress(
                done as f32 / total as f32,
                &format!("frame {done}/{total}, {rate:.1} images/s, {} left", duration(left)),
            );
        }
        Ok(filmed)
    }

    /// Renders one camera's view of a frame and writes its image and mask.
    fn write_view(&self, pose: &Pose, camera: &CaptureCamera, frame: usize, ctx: &RunContext) -> Result<(), NodeError> {
        let cancel = ctx.cancel_token();
        if cancel.is_cancelled() {
            return Err(NodeError::Cancelled);
        }
        let image = render_view(&self.scene, pose, &camera.to_camera())
            .map_err(|e| NodeError::other(format!("camera \"{}\", frame {frame}: {e}", camera.name)))?;
        let (rgb, mask) = image.split();
        write_image(self.root, camera, frame, &rgb, cancel)?;
        write_mask(self.root, camera, frame, &mask, cancel)
    }
}

/// Seconds as `1 h 05 min`, `12 min 30 s` or `45 s`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s:02} s"),
        (h, m, _) => format!("{h} h {m:02} min"),
    }
}
