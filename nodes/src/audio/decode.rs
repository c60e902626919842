//! Decoding audio files with symphonia: WAV, FLAC, MP3, Ogg Vorbis and AAC/M4A.

use std::fs::File;
use std::path::Path;

use gspeech_sdk::NodeError;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Decoded audio: planar channels at the file's sample rate.
#[derive(Debug)]
pub struct Decoded {
    /// The file's sample rate.
    pub sample_rate: u32,
    /// One vector of samples per channel.
    pub channels: Vec<Vec<f32>>,
}

const GIB: f64 = (1u64 << 30) as f64;

/// How much decoded audio may be held: half the memory available now
/// (`MemAvailable`), or 8 GiB where that cannot be read.
pub fn memory_budget() -> u64 {
    let available = std::fs::read_to_string("/proc/meminfo").ok().and_then(|info| {
        let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kib| kib * 1024)
    });
    available.map_or(8 << 30, |bytes| bytes / 2)
}

fn too_long(path: &Path, frames: u64, channels: usize, rate: u32, budget: u64) -> NodeError {
    let bytes = frames as f64 * channels as f64 * 4.0;
    let seconds = frames as f64 / rate.max(1) as f64;
    NodeError::file(
        path,
        format!(
            "is too long to load: {}:{:02}:{:02} of {channels}-channel audio at {rate} Hz needs {:.1} GiB decoded, \
             but {:.1} GiB may be used; cut it with `start` and `duration`, or split the file",
            (seconds / 3600.0) as u64,
            (seconds / 60.0) as u64 % 60,
            seconds as u64 % 60,
            bytes / GIB,
            budget as f64 / GIB
        ),
    )
}

/// Decodes the whole file, refusing one whose decoded size would exceed
/// `budget` bytes (before decoding when the container states its length).
/// `progress` receives the fraction decoded when the length is known; decoding
/// stops with `NodeError::Cancelled` when `cancelled` returns true.
pub fn decode(
    path: &Path,
    budget: u64,
    progress: &dyn Fn(f32),
    cancelled: &dyn Fn() -> bool,
) -> Result<Decoded, NodeError> {
    let file = File::open(path).map_err(|e| NodeError::file(path, e))?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(NodeError::file(path, "is empty"));
    }
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(&hint, stream, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| {
            NodeError::file(
                path,
                format!("is not an audio file this tool reads (WAV, FLAC, MP3, Ogg Vorbis, AAC/M4A): {e}"),
            )
        })?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| NodeError::file(path, "has no audio track"))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| NodeError::file(path, "has no audio track"))?
        .clone();
    let track_id = track.id;
    let known_frames = track.num_frames;
    if let (Some(frames), Some(rate), Some(channels)) = (known_frames, params.sample_rate, params.channels.as_ref()) {
        let bytes = frames.saturating_mul(channels.count() as u64).saturating_mul(4);
        if bytes > budget {
            return Err(too_long(path, frames, channels.count(), rate, budget));
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| NodeError::file(path, format!("uses a codec this tool does not decode: {e}")))?;

    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut packet_planes: Vec<Vec<f32>> = Vec::new();
    let mut damaged = 0usize;
    loop {
        if cancelled() {
            return Err(NodeError::Cancelled);
        }
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(Error::ResetRequired) => break,
            Err(e) => {
                let at = channels.first().map_or(0, Vec::len) as f64 / sample_rate.max(1) as f64;
                return Err(NodeError::file(path, format!("is damaged after {at:.2} s: {e}")));
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let buffer = match decoder.decode(&packet) {
            Ok(buffer) => buffer,
            Err(Error::DecodeError(_)) => {
                damaged += 1;
                continue;
            }
            Err(e) => return Err(NodeError::file(path, format!("could not be decoded: {e}"))),
        };
        sample_rate = buffer.spec().rate();
        buffer.copy_to_vecs_planar::<f32>(&mut packet_planes);
        if channels.is_empty() {
            channels = vec![Vec::new(); packet_planes.len()];
        }
        for (channel, plane) in channels.iter_mut().zip(&packet_planes) {
            channel.extend_from_slice(&plane[..buffer.frames()]);
        }
        let frames = channels[0].len() as u64;
        if frames * channels.len() as u64 * 4 > budget {
            return Err(too_long(path, frames, channels.len(), sample_rate, budget));
        }
        if let Some(total) = known_frames.filter(|&t| t > 0) {
            progress((frames as f32 / total as f32).min(1.0));
        }
    }
    let frames = channels.first().map_or(0, Vec::len);
    if frames == 0 {
        let why = if damaged > 0 {
            "is damaged: no packet could be decoded"
        } else {
            "contains no audio samples"
        };
        return Err(NodeError::file(path, why));
    }
    if damaged * 10 > frames / 1024 + 1 {
        return Err(NodeError::file(
            path,
            format!("is damaged: {damaged} packets could not be decoded"),
        ));
    }
    Ok(Decoded { sample_rate, channels })
}
