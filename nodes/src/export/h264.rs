//! H.264 encoding with OpenH264 (built from its bundled source): RGB to
//! yuv420p (BT.709, limited range), the codec's size and rate limits, and the
//! encoded frames as MP4 samples.

use openh264::OpenH264API;
use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, Level, Profile, QpRange, RateControlMode, VuiConfig,
};
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
/// The smallest picture OpenH264 encodes.
pub const MIN_SIDE: usize = 16;

/// An H.264 level and its limits (ITU-T H.264 table A-1).
#[derive(Clone, Copy, Debug)]
pub struct LevelLimits {
    /// The level, as OpenH264 takes it.
    pub level: Level,
    /// Its name (`4.1`).
    pub name: &'static str,
    /// Macroblocks decoded per second.
    pub macroblocks_per_second: u64,
    /// Macroblocks in one frame.
    pub frame_macroblocks: u64,
    /// Video bit rate in bits per second: the table's figure for Baseline and
    /// Main, which OpenH264 also applies to High (allowed 1.25 times as much).
    pub bitrate: u64,
}

const fn level(level: Level, name: &'static str, mbps: u64, frame: u64, kbps: u64) -> LevelLimits {
    LevelLimits {
        level,
        name,
        macroblocks_per_second: mbps,
        frame_macroblocks: frame,
        bitrate: kbps * 1000,
    }
}

/// The levels a player may be asked for, lowest first.
const LEVELS: [LevelLimits; 16] = [
    level(Level::Level_1_0, "1", 1_485, 99, 64),
    level(Level::Level_1_1, "1.1", 3_000, 396, 192),
    level(Level::Level_1_2, "1.2", 6_000, 396, 384),
    level(Level::Level_1_3, "1.3", 11_880, 396, 768),
    level(Level::Level_2_0, "2", 11_880, 396, 2_000),
    level(Level::Level_2_1, "2.1", 19_800, 792, 4_000),
    level(Level::Level_2_2, "2.2", 20_250, 1_620, 4_000),
    level(Level::Level_3_0, "3", 40_500, 1_620, 10_000),
    level(Level::Level_3_1, "3.1", 108_000, 3_600, 14_000),
    level(Level::Level_3_2, "3.2", 216_000, 5_120, 20_000),
    level(Level::Level_4_0, "4", 245_760, 8_192, 20_000),
    level(Level::Level_4_1, "4.1", 245_760, 8_192, 50_000),
    level(Level::Level_4_2, "4.2", 522_240, 8_704, 50_000),
    level(Level::Level_5_0, "5", 589_824, 22_080, 135_000),
    level(Level::Level_5_1, "5.1", 983_040, 36_864, 240_000),
    level(Level::Level_5_2, "5.2", 2_073_600, 36_864, 240_000),
];

/// The lowest level that carries `width`×`height` at `fps` (and `bitrate`
/// bits per second, if given), so players are asked for no more than needed.
/// The message says which limit was passed and by how much.
pub fn level_for(width: usize, height: usize, fps: f64, bitrate: Option<u32>) -> Result<LevelLimits, String> {
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
    let macroblocks = (width.div_ceil(16) * height.div_ceil(16)) as u64;
    let rate = macroblocks as f64 * fps;
    let top = LEVELS[LEVELS.len() - 1];
    if rate > top.macroblocks_per_second as f64 {
        let max_fps = top.macroblocks_per_second as f64 / macroblocks as f64;
        return Err(format!(
            "{width}×{height} at {fps} fps needs {rate:.0} macroblocks per second, more than H.264 level 5.2 allows \
             ({}): use at most {max_fps:.1} fps at this size",
            top.macroblocks_per_second
        ));
    }
    let bits = bitrate.unwrap_or(0) as u64;
    if bits > top.bitrate {
        return Err(format!(
            "{} kb/s is more than H.264 level 5.2 allows ({} kb/s)",
            bits / 1000,
            top.bitrate / 1000
        ));
    }
    Ok(*LEVELS
        .iter()
        .find(|l| l.frame_macroblocks >= macroblocks && l.macroblocks_per_second as f64 >= rate && l.bitrate >= bits)
        .expect("level 5.2 fits, as checked"))
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

    /// Fills the picture from a `width`×`height` source whose rows `row(y,
    /// out)` writes into `out` (`width` RGB pixels, sRGB-encoded components
    /// in [0, 1]), converted with the BT.709 matrix to limited-range
    /// (16–235/240) Y'CbCr. Each chroma sample is the mean of its 2×2 block.
    /// Large pictures are converted in bands on every core.
    pub fn fill(&mut self, width: usize, height: usize, row: impl Fn(usize, &mut [[f32; 3]]) + Sync) {
        let w = self.width;
        let pairs = self.height / 2;
        let threads = if w * self.height >= 1 << 17 {
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
        } else {
            1
        };
        let per_band = pairs.div_ceil(threads);
        let bands = self
            .y
            .chunks_mut(2 * w * per_band)
            .zip(self.u.chunks_mut(w / 2 * per_band))
            .zip(self.v.chunks_mut(w / 2 * per_band))
            .enumerate();
        let source = Source {
            width,
            height,
            row: &row,
        };
        std::thread::scope(|scope| {
            for (band, ((y, u), v)) in bands {
                let mut job = move || source.convert(band * per_band * 2, w, y, u, v);
                if threads == 1 {
                    job();
                } else {
                    scope.spawn(job);
                }
            }
        });
    }

    /// The (even) size.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }
}

/// Rows of a picture being converted.
struct Source<'a, F> {
    width: usize,
    height: usize,
    row: &'a F,
}

impl<F> Clone for Source<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Source<'_, F> {}

impl<F: Fn(usize, &mut [[f32; 3]])> Source<'_, F> {
    /// Converts rows from `first` (even) on into planes of width `w` (even,
    /// at least the source's): `y` full rows, `u` and `v` half rows.
    fn convert(&self, first: usize, w: usize, y: &mut [u8], u: &mut [u8], v: &mut [u8]) {
        let (mut top, mut bottom) = (vec![[0f32; 3]; w], vec![[0f32; 3]; w]);
        for (pair, (luma_rows, (u_row, v_row))) in y
            .chunks_exact_mut(2 * w)
            .zip(u.chunks_exact_mut(w / 2).zip(v.chunks_exact_mut(w / 2)))
            .enumerate()
        {
            for (buffer, line) in [(&mut top, first + 2 * pair), (&mut bottom, first + 2 * pair + 1)] {
                (self.row)(line.min(self.height - 1), &mut buffer[..self.width]);
                // Padding repeats the last column.
                if w > self.width {
                    buffer[self.width] = buffer[self.width - 1];
                }
            }
            let (y_top, y_bottom) = luma_rows.split_at_mut(w);
            for bx in 0..w / 2 {
                let (mut cb, mut cr) = (0.0f32, 0.0f32);
                for (line, out) in [(&top, &mut *y_top), (&bottom, &mut *y_bottom)] {
                    for x in [2 * bx, 2 * bx + 1] {
                        let [r, g, b] = line[x].map(|c| c.clamp(0.0, 1.0));
                        let luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
                        // Values here are positive: adding a half and truncating rounds.
                        out[x] = (16.5 + 219.0 * luma) as u8;
                        cb += b - luma;
                        cr += r - luma;
                    }
                }
                u_row[bx] = (128.5 + 224.0 / (4.0 * 1.8556) * cb) as u8;
                v_row[bx] = (128.5 + 224.0 / (4.0 * 1.5748) * cr) as u8;
            }
        }
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

/// An H.264 encoder producing MP4 samples: High profile at a given level, one
/// IDR frame every `keyframe_interval` frames, no frame ever skipped (so the
/// video has exactly one frame per input frame).
pub struct H264Encoder {
    encoder: Encoder,
    keyframe_interval: usize,
    encoded: usize,
    parameter_sets: Option<(Vec<u8>, Vec<u8>)>,
}

impl H264Encoder {
    /// An encoder for pictures at `fps` frames per second.
    pub fn new(fps: f64, rate: Rate, level: LevelLimits, keyframe_interval: usize) -> Result<H264Encoder, String> {
        let mut config = EncoderConfig::new()
            .profile(Profile::High)
            .level(level.level)
            .complexity(Complexity::High)
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .skip_frames(false)
            .vui(VuiConfig::bt709());
        config = match rate {
            // Quality mode aims at the level's highest rate and is held to the
            // one quantiser by the range: constant quality.
            Rate::ConstantQp(qp) => config
                .rate_control_mode(RateControlMode::Quality)
                .bitrate(BitRate::from_bps(level.bitrate as u32))
                .qp(QpRange::new(qp.min(51), qp.min(51))),
            Rate::Bitrate(bps) => config
                .rate_control_mode(RateControlMode::Bitrate)
                .bitrate(BitRate::from_bps(bps)),
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
    fn levels_are_the_lowest_that_fit_and_limits_are_named() {
        let name = |w, h, fps, bits| level_for(w, h, fps, bits).unwrap().name;
        assert_eq!(name(1920, 1080, 25.0, None), "4");
        assert_eq!(name(1920, 1080, 60.0, None), "4.2");
        assert_eq!(name(1920, 1080, 25.0, Some(30_000_000)), "4.1");
        assert_eq!(name(1280, 720, 30.0, None), "3.1");
        assert_eq!(name(512, 512, 25.0, None), "3");
        assert_eq!(name(2160, 3840, 30.0, None), "5.1");
        let err = level_for(4096, 2160, 25.0, None).unwrap_err();
        assert!(err.contains("4096×2160") && err.contains("3840×2160"), "{err}");
        assert!(level_for(15, 100, 25.0, None).unwrap_err().contains("at least 16×16"));
        let err = level_for(3840, 2160, 120.0, None).unwrap_err();
        assert!(err.contains("level 5.2") && err.contains("64.0 fps"), "{err}");
        assert!(level_for(64, 64, 25.0, Some(400_000_000)).unwrap_err().contains("kb/s"));
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
        picture.fill(3, 1, |_, out| out.copy_from_slice(&[[0.0; 3], [0.0; 3], [1.0; 3]]));
        assert_eq!(picture.y(), &[16, 16, 235, 235, 16, 16, 235, 235]);
        let mut red = Yuv420::new(2, 2);
        red.fill(2, 2, |_, out| out.fill([1.0, 0.0, 0.0]));
        // BT.709 limited range: R'G'B' (1, 0, 0) is Y'CbCr (63, 102, 240).
        assert_eq!((red.y()[0], red.u()[0], red.v()[0]), (63, 102, 240));
    }

    #[test]
    fn large_pictures_convert_in_bands_like_small_ones() {
        let (w, h) = (512, 301);
        let grey = |y: usize| (y as f32 / h as f32).min(1.0);
        let mut picture = Yuv420::new(w, h);
        picture.fill(w, h, |y, out| out.fill([grey(y); 3]));
        assert_eq!(picture.size(), (512, 302));
        for y in [0, 75, 76, 150, 151, 299, 300, 301] {
            let expected = (16.5 + 219.0 * grey(y.min(300))) as u8;
            assert_eq!(picture.y()[y * w + 7], expected, "row {y}");
            assert_eq!(picture.u()[y / 2 * w / 2 + 3], 128, "row {y} is grey");
        }
    }
}
