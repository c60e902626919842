//! A look at a capture, to check it by eye: a contact sheet of every camera
//! at one frame with that frame's tracked mesh drawn over each picture (a
//! calibration or tracking error shows as dots off the face), and a short MP4
//! of one camera with the take's sound (a sync error shows as lips that lead
//! or lag the voice).

use std::path::Path;

use gspeech_sdk::{CancelToken, NodeError, Reporter};
use image::imageops::{self, FilterType};
use image::{ImageReader, Limits, RgbImage};
use rayon::prelude::*;

use super::format::{Capture, CaptureCamera, CaptureFrame, image_path};
use crate::audio::{AudioView, audio_value, decode, memory_budget};
use crate::export::aac;
use crate::export::h264::{Rate, Yuv420};
use crate::export::{AudioCodec, Pictures, VideoOptions, write_video};

/// Pixels between the sheet's cells.
const GAP: u32 = 4;
/// The sheet's background.
const BACKGROUND: [u8; 3] = [24, 24, 24];
/// The frame drawn inside held-out cameras' cells.
const HELD_OUT: [u8; 3] = [255, 150, 30];
/// The tracked mesh's dots.
const DOTS: [u8; 3] = [60, 255, 120];
/// About how many of the mesh's vertices are drawn in each cell.
const DOTS_PER_CELL: usize = 1500;
/// The video's quality: `export.video`'s default quantiser.
const VIDEO_QP: u8 = 23;

/// All cameras of one frame, side by side in the index's camera order, row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Sheet {
    /// Cells per row.
    pub columns: usize,
    /// Each cell's width and height in pixels (the gap between cells not included).
    pub cell: [u32; 2],
    /// The sheet's width in pixels.
    pub width: u32,
    /// The sheet's height in pixels.
    pub height: u32,
    /// 8-bit sRGB pixels, row by row.
    pub rgb: Vec<u8>,
    /// The cameras' names, cell by cell.
    pub cameras: Vec<String>,
}

impl Sheet {
    /// Where the cell of camera `i` starts, in pixels from the top left.
    pub fn origin(&self, i: usize) -> [u32; 2] {
        let (column, row) = ((i % self.columns) as u32, (i / self.columns) as u32);
        [GAP + column * (self.cell[0] + GAP), GAP + row * (self.cell[1] + GAP)]
    }
}

/// The frame with number `index`, or an error naming `capture.json`.
pub fn frame(capture: &Capture, index: usize) -> Result<&CaptureFrame, NodeError> {
    capture.index.frames.iter().find(|f| f.index == index).ok_or_else(|| {
        let last = capture.index.frames.iter().map(|f| f.index).max();
        NodeError::file(
            capture.index_path(),
            match last {
                Some(last) => format!("has no frame {index} (its frames are numbered up to {last})"),
                None => "has no frames".to_string(),
            },
        )
    })
}

/// The contact sheet of frame `index`: each camera's image scaled to fit a
/// cell `cell_width` pixels wide (as tall as the tallest camera needs), a
/// border inside held-out cameras' cells, and with `overlay` the frame's mesh
/// projected through each camera as dots.
pub fn contact_sheet(capture: &Capture, index: usize, cell_width: u32, overlay: bool) -> Result<Sheet, NodeError> {
    let cameras = &capture.index.cameras;
    if cameras.is_empty() {
        return Err(NodeError::file(capture.index_path(), "has no cameras"));
    }
    frame(capture, index)?;
    let cell_width = cell_width.clamp(16, 4096);
    let cell_height = cameras
        .iter()
        .map(|c| {
            (cell_width as u64 * c.height as u64)
                .div_ceil(c.width.max(1) as u64)
                .clamp(1, 4096) as u32
        })
        .max()
        .unwrap_or(cell_width);
    let columns = (cameras.len() as f64).sqrt().ceil() as usize;
    let rows = cameras.len().div_ceil(columns);
    let width = GAP + columns as u32 * (cell_width + GAP);
    let height = GAP + rows as u32 * (cell_height + GAP);
    let mut sheet = Sheet {
        columns,
        cell: [cell_width, cell_height],
        width,
        height,
        rgb: BACKGROUND.repeat(width as usize * height as usize),
        cameras: cameras.iter().map(|c| c.name.clone()).collect(),
    };
    let mesh = if overlay {
        let meshes = capture.meshes()?;
        let row = capture.index.frames.iter().position(|f| f.index == index).unwrap_or(0);
        if row < meshes.frames {
            meshes.read_frames(row, 1)?
        } else {
            Vec::new()
        }
    } else {
        Vec::new()
    };
    let cells: Vec<RgbImage> = cameras
        .par_iter()
        .map(|camera| cell(capture, camera, index, [cell_width, cell_height], &mesh))
        .collect::<Result<_, _>>()?;
    for (i, picture) in cells.iter().enumerate() {
        let [x0, y0] = sheet.origin(i);
        for (y, row) in picture.rows().enumerate() {
            let start = ((y0 as usize + y) * width as usize + x0 as usize) * 3;
            for (x, pixel) in row.enumerate() {
                sheet.rgb[start + 3 * x..start + 3 * x + 3].copy_from_slice(&pixel.0);
            }
        }
    }
    Ok(sheet)
}

/// One camera's cell: its image scaled to fit, centred, with the mesh's dots.
fn cell(
    capture: &Capture,
    camera: &CaptureCamera,
    index: usize,
    [width, height]: [u32; 2],
    mesh: &[f32],
) -> Result<RgbImage, NodeError> {
    let image = read_image(capture, camera, index)?;
    let scale = (width as f64 / camera.width as f64).min(height as f64 / camera.height as f64);
    let (w, h) = (
        ((camera.width as f64 * scale).round() as u32).clamp(1, width),
        ((camera.height as f64 * scale).round() as u32).clamp(1, height),
    );
    let mut scaled = imageops::resize(&image, w, h, FilterType::Triangle);
    let step = (mesh.len() / 3 / DOTS_PER_CELL).max(1);
    for point in mesh.chunks_exact(3).step_by(step) {
        let Some([u, v]) = camera.project([point[0], point[1], point[2]]) else {
            continue;
        };
        let (x, y) = ((u as f64 * scale).floor(), (v as f64 * scale).floor());
        if x >= 0.0 && y >= 0.0 && x < w as f64 && y < h as f64 {
            let pixel = scaled.get_pixel_mut(x as u32, y as u32);
            for (c, dot) in pixel.0.iter_mut().zip(DOTS) {
                *c = ((*c as u16 + 2 * dot as u16) / 3) as u8;
            }
        }
    }
    let mut out = RgbImage::from_pixel(width, height, image::Rgb(BACKGROUND));
    imageops::replace(&mut out, &scaled, ((width - w) / 2).into(), ((height - h) / 2).into());
    if camera.held_out {
        for (x, y, pixel) in out.enumerate_pixels_mut() {
            if x < 2 || y < 2 || x + 2 >= width || y + 2 >= height {
                pixel.0 = HELD_OUT;
            }
        }
    }
    Ok(out)
}

/// The image of `camera` at frame `index` as 8-bit RGB (alpha dropped), read
/// within the memory its calibrated size needs; an image of another size is
/// an error naming the file.
pub fn read_image(capture: &Capture, camera: &CaptureCamera, index: usize) -> Result<RgbImage, NodeError> {
    let path = image_path(&capture.root, &camera.name, index);
    let mut reader = ImageReader::open(&path).map_err(|e| NodeError::file(&path, e))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(camera.width);
    limits.max_image_height = Some(camera.height);
    limits.max_alloc = Some(camera.width as u64 * camera.height as u64 * 16 + (1 << 20));
    reader.limits(limits);
    let image = reader
        .decode()
        .map_err(|e| {
            NodeError::file(
                &path,
                format!("cannot be read as a {}×{} image: {e}", camera.width, camera.height),
            )
        })?
        .into_rgb8();
    if image.dimensions() != (camera.width, camera.height) {
        return Err(NodeError::file(
            &path,
            format!(
                "is {}×{}, but camera `{}` is {}×{}",
                image.width(),
                image.height(),
                camera.name,
                camera.width,
                camera.height
            ),
        ));
    }
    Ok(image)
}

/// What [`camera_video`] plays: `count` frames in the index's order from frame number `first`.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// The camera's name.
    pub camera: String,
    /// The first frame's number.
    pub first: usize,
    /// How many frames.
    pub count: usize,
}

/// Writes `clip` as an H.264 MP4 at `path` with the take's sound from the
/// first frame's time (AAC-LC; silent when the capture has no audio). The
/// capture must be a regular video (`fps` in its index). Returns a one-line
/// summary; the file appears whole or not at all.
pub fn camera_video(
    capture: &Capture,
    clip: &Clip,
    path: &Path,
    report: &dyn Reporter,
    cancel: &CancelToken,
) -> Result<String, NodeError> {
    let index_path = capture.index_path();
    let camera = capture.camera(&clip.camera).ok_or_else(|| {
        let names: Vec<&str> = capture.index.cameras.iter().map(|c| c.name.as_str()).collect();
        NodeError::file(
            &index_path,
            format!("has no camera `{}` (it has {})", clip.camera, names.join(", ")),
        )
    })?;
    let fps = capture.index.fps.ok_or_else(|| {
        NodeError::file(
            &index_path,
            "gives no `fps`: its frames are not a regular video, so they cannot play as one",
        )
    })?;
    frame(capture, clip.first)?;
    let start = capture
        .index
        .frames
        .iter()
        .position(|f| f.index == clip.first)
        .expect("the frame exists");
    let frames: Vec<&CaptureFrame> = capture.index.frames[start..].iter().take(clip.count.max(1)).collect();
    let seconds = frames.len() as f64 / fps;
    let audio = match &capture.index.audio {
        Some(name) => {
            let audio_path = capture.root.join(name);
            let decoded = decode(&audio_path, memory_budget(), &|_| {}, &|| cancel.is_cancelled())?;
            let rate = decoded.sample_rate as f64;
            let from = (frames[0].time * rate).round().max(0.0) as usize;
            let len = (seconds * rate).round() as usize;
            let channels: Vec<Vec<f32>> = decoded
                .channels
                .iter()
                .map(|samples| {
                    let mut part: Vec<f32> = samples.iter().skip(from).take(len).copied().collect();
                    part.resize(len, 0.0);
                    part
                })
                .collect();
            Some((audio_value(decoded.sample_rate, &channels), audio_path))
        }
        None => None,
    };
    let view = match &audio {
        Some((value, audio_path)) => {
            Some(AudioView::of(value.as_record().expect("audio is data")).map_err(|e| NodeError::file(audio_path, e))?)
        }
        None => None,
    };
    let options = VideoOptions {
        rate: Rate::ConstantQp(VIDEO_QP),
        fps,
        audio_codec: AudioCodec::Aac,
        audio_bitrate: 96_000,
        audio_rate: match &view {
            Some(view) if !aac::SAMPLE_RATES.contains(&view.sample_rate) => 48_000,
            _ => 0,
        },
        background: [0.0; 3],
    };
    let mut pictures = CameraFrames {
        capture,
        camera,
        frames,
    };
    // The encoder's errors name `export.video`'s sockets; here they are about the capture's files.
    write_video(path, &mut pictures, view.as_ref(), &options, report, cancel).map_err(|e| match e {
        NodeError::Input { socket, message } => match (&audio, socket.as_str()) {
            (Some((_, audio_path)), "audio") => NodeError::file(audio_path, message),
            _ => NodeError::file(capture.root.join("images").join(&camera.name), message),
        },
        other => other,
    })
}

/// One camera's images, read frame by frame for the encoder.
struct CameraFrames<'a> {
    capture: &'a Capture,
    camera: &'a CaptureCamera,
    frames: Vec<&'a CaptureFrame>,
}

impl Pictures for CameraFrames<'_> {
    fn count(&self) -> usize {
        self.frames.len()
    }

    fn size(&self) -> (usize, usize) {
        (self.camera.width as usize, self.camera.height as usize)
    }

    fn draw(&mut self, index: usize, _background: [f32; 3], picture: &mut Yuv420) -> Result<(), NodeError> {
        let image = read_image(self.capture, self.camera, self.frames[index].index)?;
        let width = image.width() as usize;
        picture.fill(width, image.height() as usize, |y, row| {
            for (out, rgb) in row.iter_mut().zip(image.as_raw()[y * width * 3..].chunks_exact(3)) {
                *out = [rgb[0], rgb[1], rgb[2]].map(|c| c as f32 / 255.0);
            }
        });
        Ok(())
    }
}
