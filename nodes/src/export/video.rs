//! `export.video`: frames and their audio as an MP4 file — H.264 video and
//! AAC-LC (or Opus) sound, in sync from the first frame.
//!
//! The encoding itself is [`write_video`], which takes its pictures from any
//! [`Pictures`] (a Frames value, or a renderer drawing frame by frame), so
//! other writers of MP4 files (the dataset preview) share it.

use std::io::{BufWriter, Write};
use std::path::Path;

use gspeech_sdk::fs::AtomicFile;
use gspeech_sdk::{
    Caching, CancelToken, Inputs, LogLevel, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType,
    Reporter, RunContext,
};

use super::frames::FramesView;
use super::h264::{self, H264Encoder, Rate, Yuv420};
use super::{aac, cannot_write, mp4, opus, output_path};
use crate::audio::{AudioView, resample};

/// Encodes frames (and optionally audio) into an MP4 file.
pub struct Video;

/// Seconds between key frames: where players can seek to and editors cut.
const KEYFRAME_SECONDS: f64 = 2.0;

/// Ticks per second and ticks per frame for a frame rate: exact for whole and
/// decimal rates and for the NTSC family (29.97 is 30000/1001).
pub fn frame_timing(fps: f64) -> (u32, u32) {
    let (num, den) = [1u64, 1001, 100, 1000]
        .into_iter()
        .map(|den| ((fps * den as f64).round() as u64, den))
        .find(|&(num, den)| (num as f64 / den as f64 - fps).abs() < 1e-4)
        .unwrap_or(((fps * 1000.0).round() as u64, 1000));
    let common = gcd(num, den);
    let (num, den) = (num / common, den / common);
    // At least 10,000 ticks a second, as players expect a fine clock.
    let scale = 10_000u64.div_ceil(num).max(1);
    ((num * scale) as u32, (den * scale) as u32)
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

impl Node for Video {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("export.video", 1, "Export Video")
            .doc(
                "Writes frames as an MP4 file: H.264 video (High profile, yuv420p, BT.709) and, with `audio` \
                 connected, AAC-LC or Opus sound that starts on the first frame and lasts as long as the video to \
                 within a frame. Odd sizes are padded to even by repeating the last column or row. Transparent \
                 pixels are composited over `background`. The file appears complete or not at all.",
            )
            .input(PortSpec::new(
                "frames",
                PortType::Frames,
                "The pictures, at their frame rate.",
            ))
            .input(PortSpec::optional(
                "audio",
                PortType::Audio,
                "The sound; it must last as long as the frames, to within one frame.",
            ))
            .param(output_path("MP4 video", &["mp4"]))
            .param(ParamSpec::int(
                "qp",
                23,
                (Some(10), Some(51)),
                "Constant quality when `bitrate_kbps` is 0: the H.264 quantiser, lower is better \
                 (18 is near transparent, 28 small).",
            ))
            .param(ParamSpec::int(
                "bitrate_kbps",
                0,
                (Some(0), Some(240_000)),
                "Average video bit rate in kb/s; 0 uses constant quality (`qp`).",
            ))
            .param(ParamSpec::float(
                "fps",
                0.0,
                (Some(0.0), Some(240.0)),
                "Frames per second of the video; 0 uses the frames' own rate.",
            ))
            .param(ParamSpec::choice(
                "audio_codec",
                "aac",
                &["aac", "opus"],
                "AAC-LC plays everywhere (the delivery standard); Opus is smaller at equal quality.",
            ))
            .param(ParamSpec::int(
                "audio_bitrate_kbps",
                160,
                (Some(16), Some(510)),
                "Audio bit rate in kb/s.",
            ))
            .param(ParamSpec::int(
                "audio_rate",
                48000,
                (Some(0), Some(96000)),
                "Sample rate of the sound in Hz, resampled if needed; 0 keeps the audio's own (AAC only). \
                 Opus is always 48 kHz.",
            ))
            .param(ParamSpec::color(
                "background",
                [0.0, 0.0, 0.0, 1.0],
                "The colour behind transparent pixels (sRGB).",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let record = inputs.record("frames", PortType::Frames)?;
        let mut frames = FramesView::of(record).map_err(|e| NodeError::input("frames", e))?;
        let audio = match inputs.get("audio").and_then(|a| a.as_record()) {
            Some(record) => Some(AudioView::of(record).map_err(|e| NodeError::input("audio", e))?),
            None => None,
        };
        let background = params.color("background")?;
        let options = VideoOptions {
            rate: match params.int("bitrate_kbps")? {
                0 => Rate::ConstantQp(params.int("qp")? as u8),
                kbps => Rate::Bitrate(kbps as u32 * 1000),
            },
            fps: match params.float("fps")? {
                0.0 => frames.fps,
                fps => fps,
            },
            audio_codec: match params.text("audio_codec")? {
                "opus" => AudioCodec::Opus,
                _ => AudioCodec::Aac,
            },
            audio_bitrate: params.int("audio_bitrate_kbps")? as u32 * 1000,
            audio_rate: params.int("audio_rate")? as u32,
            background: [background[0], background[1], background[2]],
        };
        let path = params.path("path")?;
        let summary = write_video(
            path,
            &mut frames,
            audio.as_ref(),
            &options,
            &ContextReporter(ctx),
            ctx.cancel_token(),
        )?;
        ctx.info(&format!("wrote {}: {summary}", path.display()));
        Ok(Outputs::new())
    }
}

/// A node's run context as a [`Reporter`], for [`write_video`].
struct ContextReporter<'a>(&'a RunContext<'a>);

impl Reporter for ContextReporter<'_> {
    fn progress(&self, fraction: f32, message: &str) {
        self.0.progress(fraction, message);
    }

    fn log(&self, level: LogLevel, message: &str) {
        self.0.log(level, message);
    }
}

/// The pictures of a video, drawn one at a time in order, so whoever makes
/// them (a renderer) need not hold them all at once.
pub trait Pictures {
    /// Number of frames.
    fn count(&self) -> usize;

    /// Width and height in pixels.
    fn size(&self) -> (usize, usize);

    /// Draws frame `index` into `picture` (with [`Yuv420::fill`]), over the
    /// opaque `background` (sRGB) where the frame is transparent. Each frame
    /// is drawn once, in order.
    fn draw(&mut self, index: usize, background: [f32; 3], picture: &mut Yuv420) -> Result<(), NodeError>;
}

impl Pictures for FramesView<'_> {
    fn count(&self) -> usize {
        self.count
    }

    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn draw(&mut self, index: usize, background: [f32; 3], picture: &mut Yuv420) -> Result<(), NodeError> {
        let frames = &*self;
        picture.fill(self.width, self.height, |y, row| {
            frames.row_over(index, y, background, row)
        });
        Ok(())
    }
}

/// The sound's codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AudioCodec {
    /// AAC-LC (Fraunhofer FDK AAC): plays everywhere.
    Aac,
    /// Opus (libopus), always at 48 kHz: smaller at equal quality.
    Opus,
}

/// How [`write_video`] encodes: what `export.video`'s parameters set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoOptions {
    /// How the H.264 encoder spends bits: constant quality or a bit rate.
    pub rate: Rate,
    /// Frames per second, 1 to 240.
    pub fps: f64,
    /// The sound's codec.
    pub audio_codec: AudioCodec,
    /// Sound bit rate in bits per second (AAC's is capped at what it can carry).
    pub audio_bitrate: u32,
    /// Sample rate of the sound in Hz, resampled if needed; 0 keeps the
    /// audio's own (AAC only: Opus is always 48 kHz).
    pub audio_rate: u32,
    /// The colour behind transparent pixels (sRGB).
    pub background: [f32; 3],
}

/// Encodes `pictures` as H.264 and, when given, `audio` as AAC-LC or Opus
/// into the MP4 file at `path`: the sound starts on the first frame and must
/// last as long as the pictures to within a frame. Everything is checked
/// before any work; the file appears complete or not at all (not on an error
/// or when `cancel` is set). Progress and notes go to `report`. Returns a
/// one-line summary of what was written.
///
/// Errors name the `frames` or `audio` input, or the `audio_rate` parameter,
/// as `export.video` calls them.
pub fn write_video(
    path: &Path,
    pictures: &mut dyn Pictures,
    audio: Option<&AudioView>,
    options: &VideoOptions,
    report: &dyn Reporter,
    cancel: &CancelToken,
) -> Result<String, NodeError> {
    let check_cancelled = || {
        if cancel.is_cancelled() {
            Err(NodeError::Cancelled)
        } else {
            Ok(())
        }
    };
    let count = pictures.count();
    let (width, height) = pictures.size();
    if count == 0 || width == 0 || height == 0 {
        return Err(NodeError::input(
            "frames",
            format!("has no pictures ({count} frames of {width}×{height})"),
        ));
    }
    let fps = options.fps;
    if !(1.0..=240.0).contains(&fps) {
        return Err(NodeError::input(
            "frames",
            format!("are at {fps} fps; video needs 1 to 240 frames per second (set `fps`)"),
        ));
    }
    let rate = options.rate;
    let bitrate = match rate {
        Rate::Bitrate(bps) => Some(bps),
        Rate::ConstantQp(_) => None,
    };
    let level = h264::level_for(width.next_multiple_of(2), height.next_multiple_of(2), fps, bitrate)
        .map_err(|e| NodeError::input("frames", e))?;
    let (timescale, frame_ticks) = frame_timing(fps);
    let video_seconds = count as f64 * frame_ticks as f64 / timescale as f64;

    let audio = match audio {
        Some(view) => {
            let gap = view.seconds() - video_seconds;
            if gap.abs() > 1.0 / fps + 1e-9 {
                return Err(NodeError::input(
                    "audio",
                    format!(
                        "lasts {:.3} s but {count} frames at {fps} fps last {video_seconds:.3} s: more than a frame \
                         apart. Render {} frames, or check the frame rate.",
                        view.seconds(),
                        (view.seconds() * fps).floor()
                    ),
                ));
            }
            Some((view, AudioPlan::new(view, options)?))
        }
        None => None,
    };
    // Open the output first, so a bad path fails before the work.
    let mut file = AtomicFile::create(path).map_err(|e| cannot_write(path, e))?;

    let keyframe_interval = (fps * KEYFRAME_SECONDS).round().max(1.0) as usize;
    let mut encoder = H264Encoder::new(fps, rate, level, keyframe_interval).map_err(NodeError::other)?;
    let mut picture = Yuv420::new(width, height);
    let mut samples = Vec::with_capacity(count);
    for index in 0..count {
        check_cancelled()?;
        pictures.draw(index, options.background, &mut picture)?;
        samples.push(encoder.encode(&picture, frame_ticks).map_err(NodeError::other)?);
        report.progress(
            (index + 1) as f32 / count as f32 * 0.95,
            &format!("frame {} of {count}", index + 1),
        );
    }
    let (coded_width, coded_height) = picture.size();
    if (coded_width, coded_height) != (width, height) {
        report.log(
            LogLevel::Info,
            &format!("{width}×{height} padded to {coded_width}×{coded_height}: H.264 in yuv420p needs even sizes"),
        );
    }
    let video_bytes: usize = samples.iter().map(|s| s.data.len()).sum();
    let mut tracks = vec![mp4::Track {
        media: encoder.media(coded_width, coded_height).map_err(NodeError::other)?,
        timescale,
        samples,
        skip: 0,
        presented: count as u64 * frame_ticks as u64,
    }];
    let mut summary = format!(
        "{count} frames of {coded_width}×{coded_height} at {fps} fps, H.264 level {} at {:.0} kb/s",
        level.name,
        video_bytes as f64 * 8.0 / video_seconds / 1000.0
    );

    if let Some((audio, plan)) = &audio {
        report.progress(0.95, "encoding audio");
        tracks.push(plan.encode(audio, cancel)?);
        summary += &format!(
            "; {} at {} Hz, {} channel(s), {} kb/s",
            match plan.codec {
                AudioCodec::Aac => "AAC-LC",
                AudioCodec::Opus => "Opus",
            },
            plan.rate,
            audio.channels,
            plan.bitrate / 1000
        );
    }
    check_cancelled()?;
    let mut out = BufWriter::new(&mut file);
    mp4::write(&mut out, &tracks)
        .and_then(|_| out.flush())
        .map_err(|e| NodeError::file(path, e))?;
    drop(out);
    check_cancelled()?;
    file.commit().map_err(|e| NodeError::file(path, e))?;
    report.progress(1.0, "written");
    Ok(summary)
}

/// How the sound is encoded: codec, sample rate and bit rate.
struct AudioPlan {
    codec: AudioCodec,
    rate: u32,
    bitrate: u32,
}

impl AudioPlan {
    /// Checks the audio and the audio options before any work is done.
    fn new(audio: &AudioView, options: &VideoOptions) -> Result<AudioPlan, NodeError> {
        if audio.channels > 2 {
            return Err(NodeError::input(
                "audio",
                format!("has {} channels; the video takes mono or stereo", audio.channels),
            ));
        }
        let codec = options.audio_codec;
        let rate = match (codec, options.audio_rate) {
            (AudioCodec::Opus, _) => opus::SAMPLE_RATE,
            (AudioCodec::Aac, 0) => audio.sample_rate,
            (AudioCodec::Aac, rate) => rate,
        };
        if codec == AudioCodec::Aac && !aac::SAMPLE_RATES.contains(&rate) {
            return Err(NodeError::param(
                "audio_rate",
                format!(
                    "AAC cannot carry {rate} Hz; choose one of {}",
                    aac::SAMPLE_RATES.map(|r| r.to_string()).join(", ")
                ),
            ));
        }
        let mut bitrate = options.audio_bitrate;
        if codec == AudioCodec::Aac {
            // AAC carries at most 6144 bits per channel per 1024 samples.
            bitrate = bitrate.min(6 * rate * audio.channels as u32);
        }
        Ok(AudioPlan { codec, rate, bitrate })
    }

    /// Resamples the audio to the plan's rate and encodes it.
    fn encode(&self, audio: &AudioView, cancel: &CancelToken) -> Result<mp4::Track, NodeError> {
        let channels: Vec<Vec<f32>> = (0..audio.channels).map(|c| audio.channel(c).to_vec()).collect();
        let channels = if self.rate == audio.sample_rate {
            channels
        } else {
            let expected = (audio.frames as u64 * self.rate as u64).div_ceil(audio.sample_rate as u64) as usize;
            let mut resampled =
                resample(&channels, audio.sample_rate, self.rate).map_err(|e| NodeError::input("audio", e))?;
            resampled.iter_mut().for_each(|c| c.resize(expected, 0.0));
            resampled
        };
        match self.codec {
            AudioCodec::Opus => opus::encode(&channels, audio.sample_rate, self.bitrate, cancel),
            AudioCodec::Aac => aac::encode(&channels, self.rate, self.bitrate, cancel),
        }
    }
}

#[cfg(test)]
mod tests;
