//! A look at a sequence, to judge lip sync by eye: its stored mesh rendered
//! flat-shaded frame by frame (a CPU rasteriser) into `preview.mp4` with its
//! audio (H.264 and AAC-LC through `export.video`'s [`write_video`], in sync
//! from the first frame), and kept as PNG images for stepping through frame by
//! frame.

use std::path::{Path, PathBuf};

use gspeech_sdk::{CancelToken, NodeError, Record, Reporter, store};

use crate::audio::{AudioView, audio_value, decode, memory_budget};
use crate::capture::format::encode_png;
use crate::export::aac;
use crate::export::h264::{self, Rate, Yuv420};
use crate::export::sequence::Staging;
use crate::export::{AudioCodec, Pictures, VideoOptions, write_video};
use crate::face::FaceRig;
use crate::face::raster::{Camera, render};

/// How to render.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PreviewOptions {
    /// Width and height of the square images, 16 to 2160 pixels (what
    /// OpenH264 encodes).
    pub size: usize,
    /// Colour the lip (red) and upper-face (blue) vertex sets.
    pub show_sets: bool,
}

/// The video's quality: `export.video`'s default quantiser, sharp enough for
/// flat-shaded edges.
const VIDEO_QP: u8 = 23;
/// AAC-LC bit rate for the speech (16 kHz mono in the factory's datasets),
/// which keeps its own sample rate where AAC can carry it.
const AUDIO_BITRATE: u32 = 64_000;

/// What was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    /// Number of frames.
    pub frames: usize,
    /// The folder of PNG frames (`000000.png`, …).
    pub frames_dir: PathBuf,
    /// The MP4 with the sequence's audio.
    pub video: PathBuf,
    /// What the video holds (size, rate, codecs), in one line.
    pub summary: String,
}

/// Renders the sequence in `sequence_dir` (a dataset's `sequences/<id>`) on
/// `face`, the model it was made with, into `out`: `preview.mp4` and
/// `frames/`, which replace those of an earlier preview. Progress and notes go
/// to `report`; on an error or when `cancel` is set, `out` is left as it was.
pub fn preview(
    sequence_dir: &Path,
    face: &FaceRig,
    out: &Path,
    options: PreviewOptions,
    report: &dyn Reporter,
    cancel: &CancelToken,
) -> Result<Preview, NodeError> {
    let sides = h264::MIN_SIDE..=h264::MAX_SIDE.1;
    if !sides.contains(&options.size) {
        return Err(NodeError::param(
            "size",
            format!(
                "{} pixels cannot be encoded: H.264 here takes {} to {} pixels a side",
                options.size,
                sides.start(),
                sides.end()
            ),
        ));
    }
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

    let audio_path = sequence_dir.join("audio.wav");
    let decoded = decode(&audio_path, memory_budget(), &|_| {}, &|| cancel.is_cancelled())?;
    let audio = audio_value(decoded.sample_rate, &decoded.channels);
    let audio =
        AudioView::of(audio.as_record().expect("audio is data")).map_err(|e| NodeError::file(&audio_path, e))?;

    // The PNGs wait in a hidden folder until the video is written.
    let mut staging = Staging::create(out).map_err(|e| NodeError::file(out, format!("cannot write here: {e}")))?;
    let frames_dir = out.join("frames");
    let video = out.join("preview.mp4");
    let mut mesh = FlatShaded {
        vertices,
        stride,
        triangles,
        colors,
        camera,
        size: options.size,
        frames_dir: &frames_dir,
        staging: &mut staging,
    };
    let video_options = VideoOptions {
        rate: Rate::ConstantQp(VIDEO_QP),
        fps,
        audio_codec: AudioCodec::Aac,
        audio_bitrate: AUDIO_BITRATE,
        audio_rate: if aac::SAMPLE_RATES.contains(&audio.sample_rate) {
            0
        } else {
            48_000
        },
        background: [0.0; 3],
    };
    let summary = write_video(&video, &mut mesh, Some(&audio), &video_options, report, cancel)
        .map_err(|e| name_the_sequence(e, &motion_path, &audio_path))?;
    if frames_dir.exists() {
        std::fs::remove_dir_all(&frames_dir).map_err(|e| NodeError::file(&frames_dir, e))?;
    }
    std::fs::create_dir(&frames_dir)
        .and_then(|_| staging.commit())
        .map_err(|e| NodeError::file(&frames_dir, e))?;
    Ok(Preview {
        frames,
        frames_dir,
        video,
        summary,
    })
}

/// The video encoder's errors name `export.video`'s sockets; here they are
/// about the sequence's files.
fn name_the_sequence(error: NodeError, motion: &Path, audio: &Path) -> NodeError {
    match error {
        NodeError::Input { socket, message } if socket == "frames" => NodeError::file(motion, message),
        NodeError::Input { socket, message } if socket == "audio" => NodeError::file(audio, message),
        other => other,
    }
}

/// The stored mesh, drawn frame by frame for the encoder and kept as PNG files.
struct FlatShaded<'a> {
    vertices: &'a [f32],
    stride: usize,
    triangles: Vec<u32>,
    colors: Vec<[f32; 3]>,
    camera: Camera,
    size: usize,
    frames_dir: &'a Path,
    staging: &'a mut Staging,
}

impl Pictures for FlatShaded<'_> {
    fn count(&self) -> usize {
        self.vertices.len() / self.stride
    }

    fn size(&self) -> (usize, usize) {
        (self.size, self.size)
    }

    fn draw(&mut self, index: usize, _background: [f32; 3], picture: &mut Yuv420) -> Result<(), NodeError> {
        let size = self.size;
        let image = render(
            &self.vertices[index * self.stride..(index + 1) * self.stride],
            &self.triangles,
            &self.colors,
            &self.camera,
            size,
            size,
        );
        let path = self.staging.path_for(&self.frames_dir.join(format!("{index:06}.png")));
        encode_png(&image, size as u32, size as u32)
            .and_then(|bytes| std::fs::write(&path, bytes).map_err(|e| e.to_string()))
            .map_err(|e| NodeError::file(&path, e))?;
        picture.fill(size, size, |y, row| {
            for (out, rgb) in row.iter_mut().zip(image[y * size * 3..].chunks_exact(3)) {
                *out = [rgb[0], rgb[1], rgb[2]].map(|c| c as f32 / 255.0);
            }
        });
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use gspeech_sdk::testing::files_under;
    use gspeech_sdk::{LogLevel, Value};

    use super::*;
    use crate::audio::wav::pcm16;
    use crate::dataset::writer::motion_record;
    use crate::export::testing::{decoded_frame_rgb, ffprobe, number, psnr};

    const FRAMES: usize = 10;
    const SIDE: usize = 6;

    /// A flat square grid of `SIDE`×`SIDE` vertices facing +z, all `face`.
    fn grid_rig() -> FaceRig {
        let neutral = (0..SIDE * SIDE)
            .flat_map(|i| [(i % SIDE) as f32, (i / SIDE) as f32, 0.0])
            .collect();
        let mut triangles = Vec::new();
        for row in 0..SIDE - 1 {
            for col in 0..SIDE - 1 {
                let a = (row * SIDE + col) as u32;
                let (b, c, d) = (a + 1, a + SIDE as u32, a + SIDE as u32 + 1);
                triangles.extend([a, b, d, a, d, c]);
            }
        }
        FaceRig::mesh("grid", "cm", neutral, triangles, "face")
    }

    /// A sequence folder: the grid tilting a little more each frame, and
    /// 0.42 s of sound at 16 kHz (10 whole frames at 25 fps).
    fn write_sequence(dir: &Path, rig: &FaceRig) {
        std::fs::create_dir_all(dir).unwrap();
        let vertices: Vec<f32> = (0..FRAMES)
            .flat_map(|f| {
                rig.neutral
                    .chunks_exact(3)
                    .flat_map(move |p| [p[0], p[1], p[0] * 0.25 * f as f32])
            })
            .collect();
        let stored: Vec<u32> = (0..(SIDE * SIDE) as u32).collect();
        let motion = motion_record(
            Vec::new(),
            &[],
            vertices,
            &[[0.0; 3]; FRAMES],
            rig.neutral.clone(),
            &stored,
            25.0,
        );
        let values = BTreeMap::from([("motion".to_string(), Value::data(motion))]);
        store::save(&dir.join("motion.safetensors"), &values, &CancelToken::new()).unwrap();
        let sound: Vec<i16> = (0..6720).map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16).collect();
        std::fs::write(dir.join("audio.wav"), pcm16(16_000, 1, &sound)).unwrap();
    }

    /// Collects progress, and cancels its token once progress reaches `cancel_at`.
    struct Watcher {
        token: CancelToken,
        cancel_at: f32,
        progress: Mutex<Vec<f32>>,
    }

    impl Watcher {
        fn new(cancel_at: f32) -> Watcher {
            Watcher {
                token: CancelToken::new(),
                cancel_at,
                progress: Mutex::new(Vec::new()),
            }
        }
    }

    impl Reporter for Watcher {
        fn progress(&self, fraction: f32, _message: &str) {
            self.progress.lock().unwrap().push(fraction);
            if fraction >= self.cancel_at {
                self.token.cancel();
            }
        }

        fn log(&self, _level: LogLevel, _message: &str) {}
    }

    fn png_rgb(path: &Path) -> Vec<u8> {
        image::open(path).unwrap().to_rgb8().into_raw()
    }

    #[test]
    fn the_video_holds_the_rendered_frames_and_the_sound_and_a_cancelled_run_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (rig, sequence, out) = (grid_rig(), dir.path().join("s0001-v0"), dir.path().join("shown"));
        write_sequence(&sequence, &rig);
        let options = PreviewOptions {
            size: 64,
            show_sets: false,
        };
        let watcher = Watcher::new(2.0);
        let done = preview(&sequence, &rig, &out, options, &watcher, &watcher.token).unwrap();
        assert_eq!(done.frames, FRAMES);
        assert_eq!(watcher.progress.lock().unwrap().last(), Some(&1.0));
        let files = files_under(&out);
        let names: Vec<_> = files.keys().map(|p| p.to_string_lossy().into_owned()).collect();
        assert_eq!(
            names.len(),
            FRAMES + 1,
            "the frames and the video, nothing else: {names:?}"
        );
        assert!(names.contains(&"frames/000009.png".to_string()) && names.contains(&"preview.mp4".to_string()));

        // ffmpeg reads the video independently: each decoded frame is its PNG, not a neighbour's.
        let probe = ffprobe(&done.video);
        let streams = probe["streams"].as_array().unwrap();
        assert_eq!(
            (streams[0]["codec_name"].as_str(), streams[1]["codec_name"].as_str()),
            (Some("h264"), Some("aac"))
        );
        assert_eq!(number(&streams[0], "nb_read_frames") as usize, FRAMES);
        assert_eq!(number(&streams[1], "sample_rate"), 16_000.0);
        for frame in [0, FRAMES - 1] {
            let decoded = decoded_frame_rgb(&done.video, frame);
            let own = psnr(&decoded, &png_rgb(&done.frames_dir.join(format!("{frame:06}.png"))));
            let other = psnr(
                &decoded,
                &png_rgb(&done.frames_dir.join(format!("{:06}.png", FRAMES - 1 - frame))),
            );
            assert!(
                own > 30.0 && own > other + 5.0,
                "frame {frame}: {own:.1} dB, {other:.1} dB to the other end"
            );
        }

        // A second preview, cancelled half-way, leaves the first one as it was.
        let watcher = Watcher::new(0.5);
        let bigger = PreviewOptions { size: 80, ..options };
        let result = preview(&sequence, &rig, &out, bigger, &watcher, &watcher.token);
        assert_eq!(result, Err(NodeError::Cancelled));
        assert!(files_under(&out) == files, "the cancelled run changed or left files");
    }

    #[test]
    fn sizes_the_encoder_cannot_take_are_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let (rig, sequence, out) = (grid_rig(), dir.path().join("s"), dir.path().join("shown"));
        write_sequence(&sequence, &rig);
        let options = PreviewOptions {
            size: 8,
            show_sets: false,
        };
        let watcher = Watcher::new(2.0);
        let err = preview(&sequence, &rig, &out, options, &watcher, &watcher.token).unwrap_err();
        assert!(
            matches!(&err, NodeError::Param { name, message } if name == "size" && message.contains("16 to 2160")),
            "{err}"
        );
        assert!(!out.exists());
    }
}
