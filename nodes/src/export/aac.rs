//! AAC-LC encoding with the Fraunhofer FDK AAC library, built from the
//! source bundled in `fdk-aac-sys` (licence text in `licenses/fdk-aac.txt`).

use std::ffi::c_void;
use std::ptr;

use fdk_aac_sys as fdk;
use gspeech_sdk::{CancelToken, NodeError};

use super::mp4::{Media, Sample, Track};

/// The sample rates AAC can carry (ISO/IEC 14496-3's sampling frequency table).
pub const SAMPLE_RATES: [u32; 12] = [
    8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000,
];

/// An open encoder instance, closed on drop.
struct Handle(fdk::HANDLE_AACENCODER);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was opened by aacEncOpen and is closed once.
        unsafe {
            fdk::aacEncClose(&mut self.0);
        }
    }
}

fn check(code: fdk::AACENC_ERROR, what: &str) -> Result<(), NodeError> {
    if code == fdk::AACENC_ERROR_AACENC_OK {
        Ok(())
    } else {
        Err(NodeError::other(format!(
            "AAC encoder: {what} failed (FDK error {code:#x})"
        )))
    }
}

/// Encodes one or two planar channels at `sample_rate` (one of
/// [`SAMPLE_RATES`]) into an AAC-LC track of about `bitrate` bits per second.
/// The track's edit skips the encoder's delay and ends with the input.
pub fn encode(channels: &[Vec<f32>], sample_rate: u32, bitrate: u32, cancel: &CancelToken) -> Result<Track, NodeError> {
    let count = channels.len();
    if !(1..=2).contains(&count) {
        return Err(NodeError::other(format!(
            "AAC encoder: {count} channels; mono or stereo only"
        )));
    }
    if !SAMPLE_RATES.contains(&sample_rate) {
        return Err(NodeError::other(format!(
            "AAC encoder: {sample_rate} Hz is not an AAC sample rate"
        )));
    }
    let frames = channels[0].len();
    let pcm: Vec<i16> = (0..frames)
        .flat_map(|i| {
            channels
                .iter()
                .map(move |c| (c[i].clamp(-1.0, 1.0) * 32767.0).round() as i16)
        })
        .collect();

    let mut handle = Handle(ptr::null_mut());
    // SAFETY: plain FFI calls on a handle this function owns; every buffer
    // passed outlives the call that reads or writes it.
    unsafe {
        // Module mask 1: the AAC core only (no SBR, PS or MPEG Surround).
        check(fdk::aacEncOpen(&mut handle.0, 0x01, count as u32), "opening")?;
        let settings = [
            (fdk::AACENC_PARAM_AACENC_AOT, 2), // AAC-LC
            (fdk::AACENC_PARAM_AACENC_SAMPLERATE, sample_rate),
            (fdk::AACENC_PARAM_AACENC_CHANNELMODE, count as u32),
            (fdk::AACENC_PARAM_AACENC_CHANNELORDER, 1), // WAV order
            (fdk::AACENC_PARAM_AACENC_BITRATEMODE, 0),  // constant bit rate
            (fdk::AACENC_PARAM_AACENC_BITRATE, bitrate),
            (fdk::AACENC_PARAM_AACENC_TRANSMUX, 0),    // raw access units
            (fdk::AACENC_PARAM_AACENC_AFTERBURNER, 1), // better quality for more CPU
        ];
        for (param, value) in settings {
            check(fdk::aacEncoder_SetParam(handle.0, param, value), "configuring")?;
        }
        check(
            fdk::aacEncEncode(handle.0, ptr::null(), ptr::null(), ptr::null(), ptr::null_mut()),
            "initialising",
        )?;
        let mut info: fdk::AACENC_InfoStruct = std::mem::zeroed();
        check(fdk::aacEncInfo(handle.0, &mut info), "reading its configuration")?;
        let config = info.confBuf[..info.confSize as usize].to_vec();
        let frame_length = info.frameLength;
        let mut output = vec![0u8; (info.maxOutBufBytes as usize).max(8192)];

        let mut samples = Vec::new();
        let mut position = 0;
        loop {
            if cancel.is_cancelled() {
                return Err(NodeError::Cancelled);
            }
            let remaining = pcm.len() - position;
            let flushing = remaining == 0;
            // Flushing still needs a valid (unread) input pointer.
            let mut input_ptr = if flushing {
                output.as_mut_ptr() as *mut c_void
            } else {
                pcm[position..].as_ptr() as *mut c_void
            };
            let mut input_id = fdk::AACENC_BufferIdentifier_IN_AUDIO_DATA as i32;
            let mut input_size = (remaining * 2) as i32;
            let mut input_element = 2i32;
            let input = fdk::AACENC_BufDesc {
                numBufs: 1,
                bufs: &mut input_ptr,
                bufferIdentifiers: &mut input_id,
                bufSizes: &mut input_size,
                bufElSizes: &mut input_element,
            };
            let mut output_ptr = output.as_mut_ptr() as *mut c_void;
            let mut output_id = fdk::AACENC_BufferIdentifier_OUT_BITSTREAM_DATA as i32;
            let mut output_size = output.len() as i32;
            let mut output_element = 1i32;
            let out = fdk::AACENC_BufDesc {
                numBufs: 1,
                bufs: &mut output_ptr,
                bufferIdentifiers: &mut output_id,
                bufSizes: &mut output_size,
                bufElSizes: &mut output_element,
            };
            let in_args = fdk::AACENC_InArgs {
                numInSamples: if flushing { -1 } else { remaining as i32 },
                numAncBytes: 0,
            };
            let mut out_args: fdk::AACENC_OutArgs = std::mem::zeroed();
            let code = fdk::aacEncEncode(handle.0, &input, &out, &in_args, &mut out_args);
            if code == fdk::AACENC_ERROR_AACENC_ENCODE_EOF {
                break;
            }
            check(code, "encoding")?;
            position += out_args.numInSamples.max(0) as usize;
            let bytes = out_args.numOutBytes.max(0) as usize;
            if bytes > 0 {
                samples.push(Sample {
                    data: output[..bytes].to_vec(),
                    duration: frame_length,
                    sync: true,
                });
            } else if out_args.numInSamples <= 0 && !flushing {
                return Err(NodeError::other("AAC encoder: stopped taking input"));
            }
        }
        let delay = info.nDelay as u64;
        let coded = samples.len() as u64 * frame_length as u64;
        if coded < delay + frames as u64 {
            return Err(NodeError::other(format!(
                "AAC encoder: {coded} samples coded for {frames} of input and {delay} of delay"
            )));
        }
        Ok(Track {
            media: Media::Aac {
                config,
                channels: count as u16,
                sample_rate,
                bitrate,
            },
            timescale: sample_rate,
            samples,
            skip: delay,
            presented: frames as u64,
        })
    }
}
