//! H.264 encoding with OpenH264 (built from its bundled source): RGB to
//! yuv420p (BT.709, limited range), the codec's size and rate limits, and the
//! encoded frames as MP4 samples.

use openh264::OpenH264API;
use openh264::encoder::{Complexity, Encoder, EncoderConfig, FrameRate, Profile, QpRange, RateControlMode, VuiConfig};
use openh264::formats::YUVSource;

use super::mp4::{Media, Sample};

/// How the encoder spends bits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// The same quantiser on every frame (0–51, lower is better): constant quality.
    ConstantQp(u8),
    /// An average bit rate in bits per second.
    Bitrate(u32),
}

/// The largest picture OpenH264 encodes (its limit, within H.264 level 5.2's frame size).
pub const MAX_SIDE: (usize, usize) = (3840, 2160);
/// H.264 level 5.2's limit on macroblocks decoded per second (ITU-T H.264 table A-1).
pub const MAX_MACROBLOCKS_PER_SECOND: f64 = 2_073_600.0;

/// The smallest picture OpenH264 encodes.
pub const MIN_SIDE: usize = 16;

/// Checks a picture size and frame rate against what OpenH264 and H.264's
/// highest level allow; the message says which limit was passed and by how much.
pub fn check_limits(width: usize, height: usize, fps: f64) -> Result<(), String> {
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(format!(
            "{width}×{height} is too small for H.264 here: OpenH264 needs at least {MIN_SIDE}×{MIN_SIDE}"
        ));
    }
    let (long, short) = (width.max(height), width.min(height));
    if long > MAX_SIDE.0 || short > MAX_SIDE.1 {
        return Err(format!(
            "{width}×{height} is too large for H.264 here: OpenH264 encodes at most {}×{} (or {}×{} upright)",
            MAX_SIDE.0, MAX_SIDE.1, MAX_SIDE.1, MAX_SIDE.0
        ));
    }
    let macroblocks = width.div_ceil(16) * height.div_ceil(16);
    let rate = macroblocks as f64 * fps;
    if rate > MAX_MACROBLOCKS_PER_SECOND {
        let max_fps = MAX_MACROBLOCKS_PER_SECOND / macroblocks as f64;
        return Err(format!(
            "{width}×{height} at {fps} fps needs {rate:.0} macroblocks per second, more than H.264 level 5.2 allows \
             ({MAX_MACROBLOCKS_PER_SECOND:.0}): use at most {max_fps:.1} fps at this size"
        ));
    }
    Ok(())
}

/// A picture in yuv420p: full-resolution luma, chroma halved both ways. Its
/// size is even; an odd source is padded by repeating its last column or row.
pub struct Yuv420 {
    width: usize,
    height: usize,
    y: Vec<u8>,
    u: Vec<u8>,
    v: Vec<u8>,
}

impl Yuv420 {
    /// A black picture covering `width`×`height`, rounded up to even sizes.
    pub fn new(width: usize, height: usize) -> Yuv420 {
        let (w, h) = (width.next_multiple_of(2), height.next_multiple_of(2));
        Yuv420 {
            width: w,
            height: h,
            y: vec![16; w * h],
            u: vec![128; w * h / 4],
            v: vec![128; w * h / 4],
        }
    }

    /// Fills the picture from a `width`×`height` source whose pixel (x, y) is
    /// `rgb(x, y)`: sRGB-encoded components in [0, 1], converted with the
    /// BT.709 matrix to limited-range (16–235/240) Y'CbCr. Each chroma sample
    /// is the mean of its 2×2 block.
    pub fn fill(&mut self, width: usize, height: usize, rgb: impl Fn(usize, usize) -> [f32; 3]) {
        let (w, h) = (self.width, self.height);
        for by in (0..h).step_by(2) {
            for bx in (0..w).step_by(2) {
                let (mut cb, mut cr) = (0.0f32, 0.0f32);
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let (x, y) = (bx + dx, by + dy);
                    let [r, g, b] = rgb(x.min(width - 1), y.min(height - 1)).map(|c| c.clamp(0.0, 1.0));
                    let luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
                    self.y[y * w + x] = (16.0 + 219.0 * luma).round() as u8;
                    cb += (b - luma) / 1.8556;
                    cr += (r - luma) / 1.5748;
                }
                let c = by / 2 * (w / 2) + bx / 2;
                self.u[c] = (128.0 + 224.0 * cb / 4.0).round() as u8;
                self.v[c] = (128.0 + 224.0 * cr / 4.0).round() as u8;
            }
        }
    }

    /// The (even) size.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }
}

impl YUVSource for Yuv420 {
    fn dimensions(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.width, self.width / 2, self.width / 2)
    }

    fn y(&self) -> &[u8] {
        &self.y
    }

    fn u(&self) -> &[u8] {
        &self.u
    }

    fn v(&self) -> &[u8] {
        &self.v
    }
}

/// An H.264 encoder producing MP4 samples: High profile, one IDR frame every
/// `keyframe_interval` frames, no frame ever skipped (so the video has exactly
/// one frame per input frame).
pub struct H264Encoder {
    encoder: Encoder,
    keyframe_interval: usize,
    encoded: usize,
    parameter_sets: Option<(Vec<u8>, Vec<u8>)>,
}

impl H264Encoder {
    /// An encoder for pictures at `fps` frames per second.
    pub fn new(fps: f64, rate: Rate, keyframe_interval: usize) -> Result<H264Encoder, String> {
        let mut config = EncoderConfig::new()
            .profile(Profile::High)
            .complexity(Complexity::High)
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .skip_frames(false)
            .vui(VuiConfig::bt709());
        config = match rate {
            // Quality mode aims at the highest rate allowed and is held to the
            // one quantiser by the range: constant quality.
            Rate::ConstantQp(qp) => config
                .rate_control_mode(RateControlMode::Quality)
                .bitrate(openh264::encoder::BitRate::from_bps(240_000_000))
                .qp(QpRange::new(qp.min(51), qp.min(51))),
            Rate::Bitrate(bps) => config
                .rate_control_mode(RateControlMode::Bitrate)
                .bitrate(openh264::encoder::BitRate::from_bps(bps)),
        };
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| format!("OpenH264 refused the settings: {e}"))?;
        Ok(H264Encoder {
            encoder,
            keyframe_interval: keyframe_interval.max(1),
            encoded: 0,
            parameter_sets: None,
        })
    }

    /// Encodes the next picture into one sample lasting `duration` ticks.
    pub fn encode(&mut self, picture: &Yuv420, duration: u32) -> Result<Sample, String> {
        if self.encoded.is_multiple_of(self.keyframe_interval) {
            self.encoder.force_intra_frame();
        }
        let stream = self
            .encoder
            .encode(picture)
            .map_err(|e| format!("OpenH264 failed on frame {}: {e}", self.encoded))?;
        let annex_b = stream.to_vec();
        self.encoded += 1;
        let mut sample = Vec::with_capacity(annex_b.len());
        let mut sync = false;
        let (mut sps, mut pps) = (None, None);
        for nal in nal_units(&annex_b) {
            match nal[0] & 0x1F {
                7 => sps = Some(nal.to_vec()),
                8 => pps = Some(nal.to_vec()),
                // Access unit delimiters carry nothing an MP4 needs.
                9 => {}
                kind => {
                    sync |= kind == 5;
                    sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                    sample.extend_from_slice(nal);
                }
            }
        }
        if let (Some(sps), Some(pps)) = (sps, pps) {
            match &self.parameter_sets {
                None => self.parameter_sets = Some((sps, pps)),
                Some(known) if *known == (sps, pps) => {}
                Some(_) => return Err("OpenH264 changed its parameter sets mid-stream".into()),
            }
        }
        if sample.is_empty() {
            return Err(format!("OpenH264 produced no picture for frame {}", self.encoded - 1));
        }
        Ok(Sample {
            data: sample,
            duration,
            sync,
        })
    }

    /// The track description, once a key frame has been encoded.
    pub fn media(&self, width: usize, height: usize) -> Result<Media, String> {
        let (sps, pps) = self
            .parameter_sets
            .clone()
            .ok_or("OpenH264 produced no parameter sets")?;
        Ok(Media::H264 {
            width: width as u16,
            height: height as u16,
            sps,
            pps,
        })
    }
}

/// The NAL units of an Annex B byte stream, without their start codes.
pub fn nal_units(stream: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| {
            // The next start code, less the leading zero of a 4-byte one.
            let end = s - 3;
            if end > 0 && stream[end - 1] == 0 { end - 1 } else { end }
        })
        .chain(std::iter::once(stream.len()))
        .collect();
    starts
        .into_iter()
        .zip(ends)
        .map(move |(s, e)| &stream[s..e])
        .filter(|nal| !nal.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_the_size_and_the_rate() {
        check_limits(1920, 1080, 60.0).unwrap();
        check_limits(2160, 3840, 30.0).unwrap();
        let err = check_limits(4096, 2160, 25.0).unwrap_err();
        assert!(err.contains("4096×2160") && err.contains("3840×2160"), "{err}");
        assert!(check_limits(15, 100, 25.0).unwrap_err().contains("at least 16×16"));
        let err = check_limits(3840, 2160, 120.0).unwrap_err();
        assert!(err.contains("level 5.2") && err.contains("64.0 fps"), "{err}");
    }

    #[test]
    fn annex_b_splits_on_three_and_four_byte_start_codes() {
        let stream = [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 4, 0];
        let nals: Vec<&[u8]> = nal_units(&stream).collect();
        assert_eq!(nals, vec![&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 4, 0]]);
    }

    #[test]
    fn odd_sizes_pad_by_repeating_the_edge_and_colours_follow_bt709() {
        let mut picture = Yuv420::new(3, 1);
        assert_eq!(picture.size(), (4, 2));
        picture.fill(3, 1, |x, _| if x == 2 { [1.0, 1.0, 1.0] } else { [0.0, 0.0, 0.0] });
        assert_eq!(picture.y(), &[16, 16, 235, 235, 16, 16, 235, 235]);
        let mut red = Yuv420::new(2, 2);
        red.fill(2, 2, |_, _| [1.0, 0.0, 0.0]);
        // BT.709 limited range: R'G'B' (1, 0, 0) is Y'CbCr (63, 102, 240).
        assert_eq!((red.y()[0], red.u()[0], red.v()[0]), (63, 102, 240));
    }
}
