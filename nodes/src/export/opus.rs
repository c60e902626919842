//! Opus encoding with libopus (built from the source bundled in `opusic-sys`).

use ::opus::{Application, Bitrate, Channels, Encoder};
use gspeech_sdk::{CancelToken, NodeError};

use super::mp4::{Media, Sample, Track};

/// Opus in MP4 is always at 48 kHz.
pub const SAMPLE_RATE: u32 = 48000;
/// Samples per packet: 20 ms, Opus's usual frame.
const FRAME: usize = 960;
/// The largest packet libopus writes (RFC 6716's limit for 120 ms of audio).
const MAX_PACKET: usize = 1275 * 3 + 7;

/// Encodes one or two planar channels at 48 kHz into an Opus track of about
/// `bitrate` bits per second. `input_rate` is the audio's rate before it was
/// resampled, recorded for decoders that want to restore it. The track's edit
/// skips the encoder's look-ahead (the pre-skip) and ends with the input.
pub fn encode(channels: &[Vec<f32>], input_rate: u32, bitrate: u32, cancel: &CancelToken) -> Result<Track, NodeError> {
    let fail = |what: &str, e: ::opus::Error| NodeError::other(format!("Opus encoder: {what} failed: {e}"));
    let layout = match channels.len() {
        1 => Channels::Mono,
        2 => Channels::Stereo,
        n => {
            return Err(NodeError::other(format!(
                "Opus encoder: {n} channels; mono or stereo only"
            )));
        }
    };
    let mut encoder = Encoder::new(SAMPLE_RATE, layout, Application::Audio).map_err(|e| fail("opening", e))?;
    encoder
        .set_bitrate(Bitrate::Bits(bitrate as i32))
        .map_err(|e| fail("setting the bit rate", e))?;
    let pre_skip = encoder.get_lookahead().map_err(|e| fail("reading the look-ahead", e))? as usize;

    let frames = channels[0].len();
    let packets = (frames + pre_skip).div_ceil(FRAME);
    let count = channels.len();
    let mut interleaved = vec![0f32; packets * FRAME * count];
    for (i, frame) in interleaved.chunks_exact_mut(count).take(frames).enumerate() {
        for (c, sample) in frame.iter_mut().enumerate() {
            *sample = channels[c][i];
        }
    }
    let mut samples = Vec::with_capacity(packets);
    let mut packet = vec![0u8; MAX_PACKET];
    for (index, pcm) in interleaved.chunks_exact(FRAME * count).enumerate() {
        if index % 50 == 0 && cancel.is_cancelled() {
            return Err(NodeError::Cancelled);
        }
        let len = encoder
            .encode_float(pcm, &mut packet)
            .map_err(|e| fail("encoding", e))?;
        samples.push(Sample {
            data: packet[..len].to_vec(),
            duration: FRAME as u32,
            sync: true,
        });
    }
    Ok(Track {
        media: Media::Opus {
            channels: count as u16,
            pre_skip: pre_skip as u16,
            input_rate,
        },
        timescale: SAMPLE_RATE,
        samples,
        skip: pre_skip as u64,
        presented: frames as u64,
    })
}
