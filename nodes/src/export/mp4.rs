//! A small MP4 (ISO/IEC 14496-12 and -14) writer: one H.264 video track and
//! AAC or Opus audio tracks, the index ahead of the media ("fast start") so a
//! player can start before the whole file has arrived.
//!
//! We write our own rather than use a muxing crate because audio timing must
//! be exact: each track keeps its own timescale (the audio's is its sample
//! rate, so every packet has a whole-number duration), and an edit list hides
//! the encoder's priming samples and the padding of its last packet, so sound
//! starts on the first video frame and stops where the input stopped.

use std::io::{self, Write};

/// One coded frame or audio packet.
pub struct Sample {
    /// The coded bytes (for H.264: NAL units with 4-byte big-endian lengths).
    pub data: Vec<u8>,
    /// How long it lasts, in the track's timescale.
    pub duration: u32,
    /// Whether decoding can start here (a key frame; every audio packet).
    pub sync: bool,
}

/// What a track carries, with what its decoder needs to start.
pub enum Media {
    /// H.264 video in yuv420p, BT.709 limited range.
    H264 {
        /// Coded width in pixels.
        width: u16,
        /// Coded height in pixels.
        height: u16,
        /// The sequence parameter set NAL unit, without a start code.
        sps: Vec<u8>,
        /// The picture parameter set NAL unit, without a start code.
        pps: Vec<u8>,
    },
    /// AAC audio.
    Aac {
        /// The AudioSpecificConfig.
        config: Vec<u8>,
        /// Channels.
        channels: u16,
        /// Sample rate in Hz.
        sample_rate: u32,
        /// Average bit rate in bits per second.
        bitrate: u32,
    },
    /// Opus audio, always decoded at 48 kHz.
    Opus {
        /// Channels (1 or 2).
        channels: u16,
        /// Samples at 48 kHz the decoder discards at the start.
        pre_skip: u16,
        /// The sample rate of the audio before encoding, for information.
        input_rate: u32,
    },
}

/// One track: its media, its samples in decoding order, and which span of
/// them is presented.
pub struct Track {
    /// What the samples are.
    pub media: Media,
    /// Ticks per second of the sample durations.
    pub timescale: u32,
    /// The samples, in decoding order.
    pub samples: Vec<Sample>,
    /// Media time (in `timescale` ticks) presented at time zero: the encoder's
    /// priming samples are skipped.
    pub skip: u64,
    /// How much media (in `timescale` ticks) is presented from `skip` on.
    pub presented: u64,
}

impl Track {
    fn media_duration(&self) -> u64 {
        self.samples.iter().map(|s| s.duration as u64).sum()
    }

    fn is_video(&self) -> bool {
        matches!(self.media, Media::H264 { .. })
    }
}

/// Each track's samples are stored in runs ("chunks") of at most half a
/// second, so audio and video lie close together in the file.
const CHUNKS_PER_SECOND: u64 = 2;

/// A run of consecutive samples of one track, stored contiguously.
struct Chunk {
    track: usize,
    first: usize,
    count: usize,
    window: u64,
}

/// Writes a complete MP4 file holding `tracks` (the first should be the video).
pub fn write(out: &mut impl Write, tracks: &[Track]) -> io::Result<()> {
    let chunks = interleave(tracks);
    let payload: u64 = tracks
        .iter()
        .flat_map(|t| &t.samples)
        .map(|s| s.data.len() as u64)
        .sum();
    let large = payload + (1 << 20) > u32::MAX as u64;
    let ftyp = ftyp();
    let mdat_header = if large { 16 } else { 8 };
    // Sizes of boxes do not depend on the offsets they hold: lay out once to
    // measure, then again with the real offsets.
    let moov_len = moov(tracks, &chunks, 0, large).len() as u64;
    let base = ftyp.len() as u64 + moov_len + mdat_header;
    let moov = moov(tracks, &chunks, base, large);
    debug_assert_eq!(moov.len() as u64, moov_len);
    out.write_all(&ftyp)?;
    out.write_all(&moov)?;
    if large {
        let mut header = Vec::new();
        header.put_u32(1).put(b"mdat").put_u64(payload + 16);
        out.write_all(&header)?;
    } else {
        let mut header = Vec::new();
        header.put_u32((payload + 8) as u32).put(b"mdat");
        out.write_all(&header)?;
    }
    for chunk in &chunks {
        for sample in &tracks[chunk.track].samples[chunk.first..chunk.first + chunk.count] {
            out.write_all(&sample.data)?;
        }
    }
    Ok(())
}

/// Splits every track into chunks of up to half a second and orders them by
/// time, video before audio at equal times.
fn interleave(tracks: &[Track]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    for (index, track) in tracks.iter().enumerate() {
        let mut time = 0u64;
        for (i, sample) in track.samples.iter().enumerate() {
            let window = time * CHUNKS_PER_SECOND / track.timescale as u64;
            match chunks.last_mut() {
                Some(Chunk {
                    track: t,
                    window: w,
                    count,
                    ..
                }) if *t == index && *w == window => *count += 1,
                _ => chunks.push(Chunk {
                    track: index,
                    first: i,
                    count: 1,
                    window,
                }),
            }
            time += sample.duration as u64;
        }
    }
    chunks.sort_by_key(|c| (c.window, c.track));
    chunks
}

/// The movie timescale: the finest of the tracks', so edits are exact.
fn movie_timescale(tracks: &[Track]) -> u32 {
    tracks.iter().map(|t| t.timescale).max().unwrap_or(1000)
}

fn to_movie_time(ticks: u64, from: u32, to: u32) -> u64 {
    ((ticks as u128 * to as u128 + from as u128 / 2) / from as u128) as u64
}

fn ftyp() -> Vec<u8> {
    let mut p = Vec::new();
    p.put(b"isom").put_u32(0x200);
    for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
        p.put(brand);
    }
    mp4_box(b"ftyp", &p)
}

fn moov(tracks: &[Track], chunks: &[Chunk], base: u64, large: bool) -> Vec<u8> {
    let timescale = movie_timescale(tracks);
    let duration = tracks
        .iter()
        .map(|t| to_movie_time(t.presented, t.timescale, timescale))
        .max()
        .unwrap_or(0);
    // File offset of every chunk, in file order.
    let mut offsets = vec![Vec::new(); tracks.len()];
    let mut position = base;
    for chunk in chunks {
        offsets[chunk.track].push((position, chunk.first, chunk.count));
        position += tracks[chunk.track].samples[chunk.first..chunk.first + chunk.count]
            .iter()
            .map(|s| s.data.len() as u64)
            .sum::<u64>();
    }
    let mut p = mvhd(timescale, duration, tracks.len() as u32 + 1);
    for (index, track) in tracks.iter().enumerate() {
        p.extend(trak(track, index as u32 + 1, timescale, &offsets[index], large));
    }
    mp4_box(b"moov", &p)
}

/// Creation and modification times (zero: unknown), timescale and duration,
/// 64-bit when the duration needs it; returns the box version that implies.
fn put_clock(p: &mut Vec<u8>, timescale: u32, duration: u64) -> u8 {
    if duration > u32::MAX as u64 {
        p.put_u64(0).put_u64(0).put_u32(timescale).put_u64(duration);
        1
    } else {
        p.put_u32(0).put_u32(0).put_u32(timescale).put_u32(duration as u32);
        0
    }
}

const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];

fn mvhd(timescale: u32, duration: u64, next_track: u32) -> Vec<u8> {
    let mut p = Vec::new();
    let version = put_clock(&mut p, timescale, duration);
    p.put_u32(0x0001_0000).put_u16(0x0100).put_u16(0).put_u32(0).put_u32(0);
    MATRIX.iter().for_each(|&m| {
        p.put_u32(m);
    });
    (0..6).for_each(|_| {
        p.put_u32(0);
    });
    p.put_u32(next_track);
    full_box(b"mvhd", version, 0, &p)
}

fn trak(track: &Track, id: u32, movie_timescale: u32, chunks: &[(u64, usize, usize)], large: bool) -> Vec<u8> {
    let presented = to_movie_time(track.presented, track.timescale, movie_timescale);
    let mut p = tkhd(track, id, presented);
    p.extend(edts(presented, track.skip));
    let mut mdia = mdhd(track.timescale, track.media_duration());
    mdia.extend(hdlr(track.is_video()));
    let mut minf = if track.is_video() {
        let mut v = Vec::new();
        v.put_u16(0).put_u16(0).put_u16(0).put_u16(0);
        full_box(b"vmhd", 0, 1, &v)
    } else {
        full_box(b"smhd", 0, 0, &[0, 0, 0, 0])
    };
    let mut dref = Vec::new();
    dref.put_u32(1).put(&full_box(b"url ", 0, 1, &[]));
    minf.extend(mp4_box(b"dinf", &full_box(b"dref", 0, 0, &dref)));
    minf.extend(stbl(track, chunks, large));
    mdia.extend(mp4_box(b"minf", &minf));
    p.extend(mp4_box(b"mdia", &mdia));
    mp4_box(b"trak", &p)
}

fn tkhd(track: &Track, id: u32, duration: u64) -> Vec<u8> {
    let mut p = Vec::new();
    let v1 = duration > u32::MAX as u64;
    if v1 {
        p.put_u64(0).put_u64(0).put_u32(id).put_u32(0).put_u64(duration);
    } else {
        p.put_u32(0).put_u32(0).put_u32(id).put_u32(0).put_u32(duration as u32);
    }
    let (volume, alternate_group) = if track.is_video() { (0, 0) } else { (0x0100, 1) };
    p.put_u32(0)
        .put_u32(0)
        .put_u16(0)
        .put_u16(alternate_group)
        .put_u16(volume)
        .put_u16(0);
    MATRIX.iter().for_each(|&m| {
        p.put_u32(m);
    });
    let (width, height) = match track.media {
        Media::H264 { width, height, .. } => (width as u32, height as u32),
        _ => (0, 0),
    };
    p.put_u32(width << 16).put_u32(height << 16);
    // Flags: enabled, in movie, in preview.
    full_box(b"tkhd", v1 as u8, 0x7, &p)
}

/// An edit list of one segment: `duration` (movie timescale) of media starting
/// at media time `skip`.
fn edts(duration: u64, skip: u64) -> Vec<u8> {
    let mut p = Vec::new();
    let v1 = duration > u32::MAX as u64 || skip > i32::MAX as u64;
    p.put_u32(1);
    if v1 {
        p.put_u64(duration).put_u64(skip);
    } else {
        p.put_u32(duration as u32).put_u32(skip as u32);
    }
    p.put_u16(1).put_u16(0);
    mp4_box(b"edts", &full_box(b"elst", v1 as u8, 0, &p))
}

fn mdhd(timescale: u32, duration: u64) -> Vec<u8> {
    let mut p = Vec::new();
    let version = put_clock(&mut p, timescale, duration);
    // Language "und", packed as three 5-bit letters.
    p.put_u16(0x55C4).put_u16(0);
    full_box(b"mdhd", version, 0, &p)
}

fn hdlr(video: bool) -> Vec<u8> {
    let (kind, name): (&[u8; 4], &[u8]) = if video {
        (b"vide", b"VideoHandler\0")
    } else {
        (b"soun", b"SoundHandler\0")
    };
    let mut p = Vec::new();
    p.put_u32(0).put(kind).put_u32(0).put_u32(0).put_u32(0).put(name);
    full_box(b"hdlr", 0, 0, &p)
}

fn stbl(track: &Track, chunks: &[(u64, usize, usize)], large: bool) -> Vec<u8> {
    let mut stsd = Vec::new();
    stsd.put_u32(1).put(&sample_entry(&track.media));
    let mut p = full_box(b"stsd", 0, 0, &stsd);

    let mut runs: Vec<(u32, u32)> = Vec::new();
    for s in &track.samples {
        match runs.last_mut() {
            Some((count, delta)) if *delta == s.duration => *count += 1,
            _ => runs.push((1, s.duration)),
        }
    }
    let mut stts = Vec::new();
    stts.put_u32(runs.len() as u32);
    runs.iter().for_each(|&(count, delta)| {
        stts.put_u32(count).put_u32(delta);
    });
    p.extend(full_box(b"stts", 0, 0, &stts));

    if track.samples.iter().any(|s| !s.sync) {
        let sync: Vec<u32> = (1..=track.samples.len() as u32)
            .filter(|&n| track.samples[n as usize - 1].sync)
            .collect();
        let mut stss = Vec::new();
        stss.put_u32(sync.len() as u32);
        sync.iter().for_each(|&n| {
            stss.put_u32(n);
        });
        p.extend(full_box(b"stss", 0, 0, &stss));
    }

    let mut stsc_entries: Vec<(u32, u32)> = Vec::new();
    for (index, &(_, _, count)) in chunks.iter().enumerate() {
        if stsc_entries.last().is_none_or(|&(_, n)| n != count as u32) {
            stsc_entries.push((index as u32 + 1, count as u32));
        }
    }
    let mut stsc = Vec::new();
    stsc.put_u32(stsc_entries.len() as u32);
    stsc_entries.iter().for_each(|&(first, count)| {
        stsc.put_u32(first).put_u32(count).put_u32(1);
    });
    p.extend(full_box(b"stsc", 0, 0, &stsc));

    let mut stsz = Vec::new();
    stsz.put_u32(0).put_u32(track.samples.len() as u32);
    track.samples.iter().for_each(|s| {
        stsz.put_u32(s.data.len() as u32);
    });
    p.extend(full_box(b"stsz", 0, 0, &stsz));

    let mut stco = Vec::new();
    stco.put_u32(chunks.len() as u32);
    for &(offset, _, _) in chunks {
        if large {
            stco.put_u64(offset);
        } else {
            stco.put_u32(offset as u32);
        }
    }
    p.extend(full_box(if large { b"co64" } else { b"stco" }, 0, 0, &stco));
    mp4_box(b"stbl", &p)
}

fn sample_entry(media: &Media) -> Vec<u8> {
    match media {
        Media::H264 {
            width,
            height,
            sps,
            pps,
        } => {
            let mut p = Vec::new();
            p.put(&[0; 6]).put_u16(1).put_u16(0).put_u16(0).put(&[0; 12]);
            p.put_u16(*width).put_u16(*height);
            p.put_u32(0x0048_0000).put_u32(0x0048_0000).put_u32(0).put_u16(1);
            let mut name = [0u8; 32];
            let label = b"OpenH264";
            name[0] = label.len() as u8;
            name[1..=label.len()].copy_from_slice(label);
            p.put(&name).put_u16(0x0018).put_u16(0xFFFF);
            p.extend(mp4_box(b"avcC", &avc_config(sps, pps)));
            // BT.709 primaries, transfer and matrix, limited range.
            let mut colr = Vec::new();
            colr.put(b"nclx").put_u16(1).put_u16(1).put_u16(1).put(&[0]);
            p.extend(mp4_box(b"colr", &colr));
            mp4_box(b"avc1", &p)
        }
        Media::Aac {
            config,
            channels,
            sample_rate,
            bitrate,
        } => {
            let mut p = audio_sample_entry(*channels, *sample_rate);
            p.extend(full_box(b"esds", 0, 0, &es_descriptor(config, *bitrate)));
            mp4_box(b"mp4a", &p)
        }
        Media::Opus {
            channels,
            pre_skip,
            input_rate,
        } => {
            let mut p = audio_sample_entry(*channels, 48000);
            let mut dops = Vec::new();
            dops.put(&[0, *channels as u8])
                .put_u16(*pre_skip)
                .put_u32(*input_rate)
                .put_u16(0)
                .put(&[0]);
            p.extend(mp4_box(b"dOps", &dops));
            mp4_box(b"Opus", &p)
        }
    }
}

fn audio_sample_entry(channels: u16, sample_rate: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.put(&[0; 6]).put_u16(1).put_u32(0).put_u32(0);
    p.put_u16(channels).put_u16(16).put_u16(0).put_u16(0);
    // 16.16 fixed point; rates above 65535 Hz do not fit and are written as 0.
    p.put_u32(if sample_rate <= 0xFFFF { sample_rate << 16 } else { 0 });
    p
}

/// The AVCDecoderConfigurationRecord (ISO/IEC 14496-15).
fn avc_config(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    let profile = sps.get(1).copied().unwrap_or(66);
    let mut p = Vec::new();
    p.put(&[
        1,
        profile,
        sps.get(2).copied().unwrap_or(0),
        sps.get(3).copied().unwrap_or(0),
    ]);
    // 4-byte NAL lengths; one SPS.
    p.put(&[0xFF, 0xE1]).put_u16(sps.len() as u16).put(sps);
    p.put(&[1]).put_u16(pps.len() as u16).put(pps);
    if matches!(profile, 100 | 110 | 122 | 144) {
        // 4:2:0, 8-bit luma and chroma, no SPS extensions.
        p.put(&[0xFC | 1, 0xF8, 0xF8, 0]);
    }
    p
}

/// The MPEG-4 elementary stream descriptor of an AAC track (ISO/IEC 14496-1).
fn es_descriptor(config: &[u8], bitrate: u32) -> Vec<u8> {
    let mut specific = Vec::new();
    specific.put(config);
    let mut decoder = Vec::new();
    // Object type 0x40: MPEG-4 audio; stream type 5 (audio), upstream 0, reserved 1.
    decoder.put(&[0x40, 0x15, 0, 0x18, 0]).put_u32(bitrate).put_u32(bitrate);
    decoder.extend(descriptor(0x05, &specific));
    let mut es = Vec::new();
    es.put_u16(0).put(&[0]);
    es.extend(descriptor(0x04, &decoder));
    es.extend(descriptor(0x06, &[0x02]));
    descriptor(0x03, &es)
}

fn descriptor(tag: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut d = vec![tag];
    // Four-byte length form, as most writers use.
    d.extend([
        0x80 | (len >> 21) as u8 & 0x7F,
        0x80 | (len >> 14) as u8 & 0x7F,
        0x80 | (len >> 7) as u8 & 0x7F,
        len as u8 & 0x7F,
    ]);
    d.extend(payload);
    d
}

fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 8);
    b.put_u32(payload.len() as u32 + 8).put(kind).put(payload);
    b
}

fn full_box(kind: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(payload.len() + 4);
    p.put_u32((version as u32) << 24 | flags).put(payload);
    mp4_box(kind, &p)
}

/// Big-endian appends.
trait Put {
    fn put(&mut self, bytes: &[u8]) -> &mut Self;
    fn put_u16(&mut self, v: u16) -> &mut Self;
    fn put_u32(&mut self, v: u32) -> &mut Self;
    fn put_u64(&mut self, v: u64) -> &mut Self;
}

impl Put for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> &mut Self {
        self.extend_from_slice(bytes);
        self
    }
    fn put_u16(&mut self, v: u16) -> &mut Self {
        self.put(&v.to_be_bytes())
    }
    fn put_u32(&mut self, v: u32) -> &mut Self {
        self.put(&v.to_be_bytes())
    }
    fn put_u64(&mut self, v: u64) -> &mut Self {
        self.put(&v.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio_track(packets: usize) -> Track {
        Track {
            media: Media::Aac {
                config: vec![0x11, 0x90],
                channels: 2,
                sample_rate: 48000,
                bitrate: 128_000,
            },
            timescale: 48000,
            samples: (0..packets)
                .map(|i| Sample {
                    data: vec![i as u8; 10],
                    duration: 1024,
                    sync: true,
                })
                .collect(),
            skip: 2048,
            presented: 48000,
        }
    }

    /// Finds the first box of a type by walking the box tree.
    fn find<'a>(data: &'a [u8], path: &[&[u8; 4]]) -> Option<&'a [u8]> {
        let mut at = 0;
        while at + 8 <= data.len() {
            let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            let kind = &data[at + 4..at + 8];
            if kind == path[0] {
                let body = &data[at + 8..at + size];
                return if path.len() == 1 {
                    Some(body)
                } else {
                    find(body, &path[1..])
                };
            }
            at += size;
        }
        None
    }

    #[test]
    fn chunk_offsets_point_at_the_samples_and_edits_hide_priming() {
        let track = audio_track(50);
        let mut file = Vec::new();
        write(&mut file, std::slice::from_ref(&track)).unwrap();
        assert_eq!(&file[4..8], b"ftyp");
        let stbl = find(&file, &[b"moov", b"trak", b"mdia", b"minf", b"stbl"]).unwrap();
        let stco = find(stbl, &[b"stco"]).unwrap();
        let chunks = u32::from_be_bytes(stco[4..8].try_into().unwrap()) as usize;
        // 50 packets of 1024 samples at 48 kHz span 1.07 s: three half-second chunks.
        assert_eq!(chunks, 3);
        let stsc = find(stbl, &[b"stsc"]).unwrap();
        let mut sample = 0usize;
        for c in 0..chunks {
            let offset = u32::from_be_bytes(stco[8 + 4 * c..12 + 4 * c].try_into().unwrap()) as usize;
            assert_eq!(file[offset], sample as u8, "chunk {c} starts at its first sample");
            // Per-chunk sample counts from stsc's runs.
            let entries = u32::from_be_bytes(stsc[4..8].try_into().unwrap()) as usize;
            let count = (0..entries)
                .map(|e| {
                    let base = 8 + 12 * e;
                    let first = u32::from_be_bytes(stsc[base..base + 4].try_into().unwrap()) as usize;
                    let n = u32::from_be_bytes(stsc[base + 4..base + 8].try_into().unwrap()) as usize;
                    (first, n)
                })
                .rfind(|&(first, _)| first <= c + 1)
                .unwrap()
                .1;
            sample += count;
        }
        assert_eq!(sample, 50);
        let elst = find(&file, &[b"moov", b"trak", b"edts", b"elst"]).unwrap();
        assert_eq!(
            u32::from_be_bytes(elst[8..12].try_into().unwrap()),
            48000,
            "one second shown"
        );
        assert_eq!(
            u32::from_be_bytes(elst[12..16].try_into().unwrap()),
            2048,
            "priming skipped"
        );
    }

    #[test]
    fn descriptors_use_the_four_byte_length_form() {
        assert_eq!(descriptor(0x06, &[0x02]), vec![0x06, 0x80, 0x80, 0x80, 0x01, 0x02]);
        assert_eq!(descriptor(0x05, &[0; 200])[1..5], [0x80, 0x80, 0x81, 0x48]);
    }
}
