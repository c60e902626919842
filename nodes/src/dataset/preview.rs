//! A look at a sequence, to judge lip sync by eye: its stored mesh rendered
//! flat-shaded frame by frame (a CPU rasteriser) as PNG images beside its
//! audio, and muxed into an MP4 when the `ffmpeg` command is on the `PATH`.

use std::path::{Path, PathBuf};
use std::process::Command;

use gspeech_sdk::{CancelToken, NodeError, Record, fs::write_atomic, store};

use crate::face::FaceRig;
use crate::face::raster::{Camera, render};

/// How to render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreviewOptions {
    /// Width and height of the square images.
    pub size: usize,
    /// Colour the lip (red) and upper-face (blue) vertex sets.
    pub show_sets: bool,
}

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// Number of frames.
    pub frames: usize,
    /// The folder of PNG frames (`000000.png`, …).
    pub frames_dir: PathBuf,
    /// The audio, copied beside them.
    pub audio: PathBuf,
    /// The MP4, when `ffmpeg` was found.
    pub video: Option<PathBuf>,
}

/// Renders the sequence in `sequence_dir` (a dataset's `sequences/<id>`) on
/// `face`, the model it was made with, into `out`.
pub fn preview(
    sequence_dir: &Path,
    face: &FaceRig,
    out: &Path,
    options: PreviewOptions,
    progress: &dyn Fn(f32),
    cancel: &CancelToken,
) -> Result<Preview, NodeError> {
    let motion_path = sequence_dir.join("motion.safetensors");
    let values = store::load(&motion_path)?;
    let motion = values
        .get("motion")
        .and_then(|v| v.as_record())
        .ok_or_else(|| NodeError::file(&motion_path, "holds no `motion` value"))?;
    let (vertices, stored, fps) = motion_arrays(motion).map_err(|e| NodeError::file(&motion_path, e))?;
    let stride = stored.len() * 3;
    let frames = vertices.len() / stride.max(1);

    let mut slot = vec![u32::MAX; face.vertex_count()];
    for (new, &old) in stored.iter().enumerate() {
        if old as usize >= slot.len() {
            return Err(NodeError::file(
                &motion_path,
                format!("refers to vertex {old}, but the face model has {}", face.vertex_count()),
            ));
        }
        slot[old as usize] = new as u32;
    }
    let mut triangles = Vec::new();
    let mut colors = Vec::new();
    for (t, corners) in face.triangles.chunks_exact(3).enumerate() {
        let mapped = [0, 1, 2].map(|i| slot[corners[i] as usize]);
        if mapped.contains(&u32::MAX) {
            continue;
        }
        triangles.extend(mapped);
        colors.push(color(face, t as u32, corners, options.show_sets));
    }
    if triangles.is_empty() {
        return Err(NodeError::file(
            &motion_path,
            "stores no whole triangle of the face model to draw",
        ));
    }
    // Frame the face: its landmarks (brows to chin) when they are stored, else the whole mesh.
    let at = |v: u32| {
        let i = slot[v as usize] as usize * 3;
        [vertices[i], vertices[i + 1], vertices[i + 2]]
    };
    let landmarks_stored = !face.landmarks.is_empty() && face.landmarks.iter().all(|&v| slot[v as usize] != u32::MAX);
    let camera = if landmarks_stored {
        Camera::framing(&face.landmarks.iter().flat_map(|&v| at(v)).collect::<Vec<_>>(), 1.45)
    } else {
        Camera::framing(&vertices[..stride], 1.1)
    };

    let frames_dir = out.join("frames");
    if frames_dir.exists() {
        std::fs::remove_dir_all(&frames_dir).map_err(|e| NodeError::file(&frames_dir, e))?;
    }
    let written = (|| {
        for f in 0..frames {
            if cancel.is_cancelled() {
                return Err(NodeError::Cancelled);
            }
            let image = render(
                &vertices[f * stride..(f + 1) * stride],
                &triangles,
                &colors,
                &camera,
                options.size,
                options.size,
            );
            let path = frames_dir.join(format!("{f:06}.png"));
            write_atomic(
                &path,
                &png(&image, options.size).map_err(|e| NodeError::file(&path, e))?,
                cancel,
            )?;
            progress((f + 1) as f32 / frames as f32);
        }
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&frames_dir);
        return Err(e);
    }
    let audio = out.join("audio.wav");
    let source = sequence_dir.join("audio.wav");
    let bytes = std::fs::read(&source).map_err(|e| NodeError::file(&source, e))?;
    write_atomic(&audio, &bytes, cancel)?;
    let video = mux(&frames_dir, &audio, fps, &out.join("preview.mp4"));
    Ok(Preview {
        frames,
        frames_dir,
        audio,
        video,
    })
}

/// The stored vertices, their indices in the model and the frame rate.
fn motion_arrays(motion: &Record) -> Result<(&[f32], &[u32], f64), String> {
    let vertices = motion.tensor("vertices").ok_or("the motion has no `vertices`")?;
    let stored = motion
        .tensor("vertex_indices")
        .ok_or("the motion has no `vertex_indices`")?;
    let fps = motion
        .attr("fps")
        .and_then(|f| f.as_f64())
        .ok_or("the motion has no `fps`")?;
    let shape = vertices.shape();
    if shape.len() != 3 || shape[1] != stored.len() {
        return Err(format!("`vertices` is {shape:?} for {} stored vertices", stored.len()));
    }
    Ok((
        vertices.as_f32().ok_or("`vertices` must be f32")?,
        stored.as_u32().ok_or("`vertex_indices` must be u32")?,
        fps,
    ))
}

/// A triangle's colour: by region, or by vertex set.
fn color(face: &FaceRig, t: u32, corners: &[u32], show_sets: bool) -> [f32; 3] {
    if show_sets {
        let all_in = |set: &[u32]| corners.iter().all(|c| set.binary_search(c).is_ok());
        if all_in(&face.lip_vertices) {
            return [0.9, 0.15, 0.15];
        }
        if all_in(&face.upper_face_vertices) {
            return [0.45, 0.6, 0.95];
        }
    }
    let region = face
        .regions
        .iter()
        .find(|r| r.triangles.iter().any(|range| range.contains(&t)))
        .map_or("", |r| r.name.as_str());
    match region {
        "face" | "head_neck" | "head" => [0.86, 0.68, 0.58],
        r if r.starts_with("eye_socket") => [0.7, 0.52, 0.45],
        "mouth_socket" => [0.45, 0.12, 0.14],
        "gums_tongue" => [0.8, 0.35, 0.38],
        "teeth" => [0.95, 0.93, 0.86],
        r if r.starts_with("eyeball") => [0.92, 0.92, 0.95],
        _ => [0.7, 0.7, 0.7],
    }
}

/// An RGB8 image as PNG bytes.
fn png(rgb: &[u8], size: usize) -> Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, size as u32, size as u32);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(bytes)
}

/// Muxes the frames and audio into an H.264/AAC MP4 with the `ffmpeg`
/// command, if it is installed; `None` when it is not or it fails.
fn mux(frames_dir: &Path, audio: &Path, fps: f64, target: &Path) -> Option<PathBuf> {
    let partial = target.with_extension("partial.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-framerate", &fps.to_string(), "-i"])
        .arg(frames_dir.join("%06d.png"))
        .arg("-i")
        .arg(audio)
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"])
        .arg(&partial)
        .status()
        .ok()?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        return None;
    }
    std::fs::rename(&partial, target).ok()?;
    Some(target.to_path_buf())
}
