//! Writing WAV files: 16- or 24-bit PCM, or 32-bit float.

/// How a WAV file stores its samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// 16-bit signed integers (CD audio).
    Pcm16,
    /// 24-bit signed integers (the usual delivery format for post-production).
    Pcm24,
    /// 32-bit IEEE floats: no rounding, and peaks above full scale survive.
    Float32,
}

impl Encoding {
    fn bits(self) -> u16 {
        match self {
            Encoding::Pcm16 => 16,
            Encoding::Pcm24 => 24,
            Encoding::Float32 => 32,
        }
    }
}

/// The largest data chunk a WAV file can describe (its sizes are 32-bit).
pub const MAX_DATA_BYTES: u64 = u32::MAX as u64 - 64;

/// A complete 16-bit PCM WAV file of interleaved samples.
pub fn pcm16(sample_rate: u32, channels: u16, interleaved: &[i16]) -> Vec<u8> {
    let mut bytes = header(Encoding::Pcm16, sample_rate, channels, interleaved.len() as u64 * 2);
    for s in interleaved {
        bytes.extend_from_slice(&s.to_le_bytes());
    }
    bytes
}

/// A complete WAV file of planar channels of equal length, samples in
/// [-1, 1) (integer encodings round to the nearest step and clip outside).
/// Callers check the size against [`MAX_DATA_BYTES`] first.
pub fn encode(sample_rate: u32, channels: &[&[f32]], encoding: Encoding) -> Vec<u8> {
    let frames = channels.first().map_or(0, |c| c.len());
    let data_len = (frames * channels.len()) as u64 * encoding.bits() as u64 / 8;
    let mut bytes = header(encoding, sample_rate, channels.len() as u16, data_len);
    bytes.reserve(data_len as usize);
    for i in 0..frames {
        for channel in channels {
            let s = channel[i];
            match encoding {
                Encoding::Pcm16 => bytes.extend((quantise(s, 16) as i16).to_le_bytes()),
                Encoding::Pcm24 => bytes.extend(&quantise(s, 24).to_le_bytes()[..3]),
                Encoding::Float32 => bytes.extend(s.to_le_bytes()),
            }
        }
    }
    bytes
}

/// A sample as a `bits`-bit integer: 1.0 is 2^(bits-1), as decoders read it
/// back, and the largest positive step is one below.
fn quantise(sample: f32, bits: u32) -> i32 {
    let full_scale = (1i64 << (bits - 1)) as f64;
    (sample as f64 * full_scale)
        .round()
        .clamp(-full_scale, full_scale - 1.0) as i32
}

/// The RIFF header, format chunk (and for floats the fact chunk the format
/// requires) and the data chunk's header.
fn header(encoding: Encoding, sample_rate: u32, channels: u16, data_len: u64) -> Vec<u8> {
    let data_len = data_len as u32;
    let bits = encoding.bits();
    let block_align = channels * bits / 8;
    let float = encoding == Encoding::Float32;
    let mut format = Vec::new();
    format.extend((if float { 3u16 } else { 1u16 }).to_le_bytes());
    format.extend(channels.to_le_bytes());
    format.extend(sample_rate.to_le_bytes());
    format.extend((sample_rate * block_align as u32).to_le_bytes());
    format.extend(block_align.to_le_bytes());
    format.extend(bits.to_le_bytes());
    let mut chunks = Vec::new();
    if float {
        // Non-PCM formats carry an (empty) extension size and a fact chunk.
        format.extend(0u16.to_le_bytes());
        chunks.extend(chunk(b"fmt ", &format));
        let frames = data_len / block_align.max(1) as u32;
        chunks.extend(chunk(b"fact", &frames.to_le_bytes()));
    } else {
        chunks.extend(chunk(b"fmt ", &format));
    }
    let mut bytes = Vec::with_capacity(12 + chunks.len() + 8);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend((4 + chunks.len() as u32 + 8 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVE");
    bytes.extend(chunks);
    bytes.extend_from_slice(b"data");
    bytes.extend(data_len.to_le_bytes());
    bytes
}

fn chunk(id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(8 + payload.len());
    c.extend_from_slice(id);
    c.extend((payload.len() as u32).to_le_bytes());
    c.extend_from_slice(payload);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_encodings_round_and_clip() {
        let wav = encode(8000, &[&[0.5, -1.5, 1.0]], Encoding::Pcm24);
        assert_eq!(
            &wav[wav.len() - 9..],
            &[0x00, 0x00, 0x40, 0x00, 0x00, 0x80, 0xFF, 0xFF, 0x7F]
        );
        let left: &[f32] = &[0.25];
        let right: &[f32] = &[-0.25];
        let wav = encode(8000, &[left, right], Encoding::Pcm16);
        assert_eq!(wav, pcm16(8000, 2, &[8192, -8192]));
        assert_eq!(wav.len(), 44 + 4);
    }
}
