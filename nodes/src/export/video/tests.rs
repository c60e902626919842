//! `export.video` checked with ffprobe and ffmpeg as independent readers.

use serde_json::json;

use super::*;
use crate::export::testing::*;
use gspeech_sdk::Value;
use gspeech_sdk::testing::TestRun;

const FPS: f64 = 25.0;

/// Decodes the one second of sound at 48 kHz: the encoder's priming is
/// hidden, so the tone starts where it did in the input (within 32 samples),
/// and the sound ends with the input (within one `packet`).
fn assert_sound_in_place(path: &std::path::Path, onset: usize, packet: usize) {
    let sound = decoded_audio(path);
    let heard = sound.iter().position(|s| s.abs() > 0.1).expect("the tone is heard");
    assert!(heard.abs_diff(onset) <= 32, "the tone starts at {heard}, not {onset}");
    assert!(sound.len().abs_diff(48000) <= packet, "{} samples decoded", sound.len());
}

/// The two streams of a probed file, video first.
fn streams(probe: &serde_json::Value) -> (&serde_json::Value, &serde_json::Value) {
    let streams = probe["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 2, "one video and one audio stream: {probe}");
    (&streams[0], &streams[1])
}

/// Checks what every export with sound must satisfy: both streams start at
/// zero, the video has one frame per input frame, and the two last as long
/// as each other to within a frame.
fn assert_in_sync(video: &serde_json::Value, audio: &serde_json::Value, frames: usize) {
    assert_eq!(number(video, "start_time"), 0.0);
    assert_eq!(number(audio, "start_time"), 0.0);
    assert_eq!(number(video, "nb_read_frames") as usize, frames);
    let gap = number(video, "duration") - number(audio, "duration");
    assert!(gap.abs() <= 1.0 / FPS, "video and audio durations differ by {gap} s");
}

#[test]
fn aac_export_is_h264_high_yuv420p_with_aac_lc_in_sync() {
    let run = TestRun::new();
    let path = run.dir().join("take.mp4");
    let frames = frames_u8(25, 64, 48, FPS, moving_disc);
    // Speech arrives at 16 kHz mono from `audio.load`; the export resamples to 48 kHz.
    let audio = tone_after(0.5, 1.0, 16000, 1);
    run.run(
        &Video,
        inputs([("frames", frames), ("audio", audio)]),
        json!({"path": path.to_str().unwrap()}),
    )
    .unwrap();

    let probe = ffprobe(&path);
    let (video, audio) = streams(&probe);
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["profile"], "High");
    assert_eq!(video["level"], 10, "the lowest level that fits 64×48 at 25 fps");
    assert_eq!(video["pix_fmt"], "yuv420p");
    assert_eq!(video["color_space"], "bt709");
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(64), Some(48))
    );
    assert_eq!(video["avg_frame_rate"], "25/1");
    assert_eq!(audio["codec_name"], "aac");
    assert_eq!(audio["profile"], "LC");
    assert_eq!(number(audio, "sample_rate"), 48000.0);
    assert_eq!(audio["channels"], 1);
    assert_in_sync(video, audio, 25);
    decodes_cleanly(&path);

    assert_sound_in_place(&path, 24000, 1024);
    assert!(run.progress().len() >= 25, "progress on every frame");
}

#[test]
fn a_decoded_frame_matches_its_source() {
    let run = TestRun::new();
    let path = run.dir().join("quality.mp4");
    run.run(
        &Video,
        inputs([("frames", frames_u8(12, 64, 48, FPS, moving_disc))]),
        json!({"path": path.to_str().unwrap()}),
    )
    .unwrap();
    let source = |frame: usize| -> Vec<u8> {
        (0..48)
            .flat_map(|y| (0..64).flat_map(move |x| moving_disc(frame, x, y)[..3].to_vec()))
            .collect()
    };
    for frame in [0, 11] {
        let decoded = decoded_frame_rgb(&path, frame);
        let db = psnr(&decoded, &source(frame));
        // About 37-39 dB at the default quantiser on this picture.
        assert!(db > 35.0, "frame {frame}: PSNR {db:.1} dB");
        if frame > 0 {
            let neighbour = psnr(&decoded, &source(frame - 2));
            assert!(
                db > neighbour + 3.0,
                "frame {frame} is in its place ({db:.1} vs {neighbour:.1} dB)"
            );
        }
    }
    let probe = ffprobe(&path);
    assert_eq!(
        probe["streams"].as_array().unwrap().len(),
        1,
        "no audio track without audio"
    );
}

#[test]
fn opus_export_starts_at_zero_and_keeps_its_length() {
    let run = TestRun::new();
    let path = run.dir().join("take-opus.mp4");
    run.run(
        &Video,
        inputs([
            ("frames", frames_u8(25, 32, 32, FPS, moving_disc)),
            ("audio", tone_after(0.25, 1.0, 48000, 2)),
        ]),
        json!({"path": path.to_str().unwrap(), "audio_codec": "opus", "audio_bitrate_kbps": 96}),
    )
    .unwrap();
    let probe = ffprobe(&path);
    let (video, audio) = streams(&probe);
    assert_eq!(audio["codec_name"], "opus");
    assert_eq!(number(audio, "sample_rate"), 48000.0);
    assert_eq!(audio["channels"], 2);
    assert_in_sync(video, audio, 25);
    decodes_cleanly(&path);
    assert_sound_in_place(&path, 12000, 960);
}

#[test]
fn odd_sizes_are_padded_to_even_and_bitrate_mode_works() {
    let run = TestRun::new();
    let path = run.dir().join("odd.mp4");
    run.run(
        &Video,
        inputs([("frames", frames_u8(5, 33, 17, 30.0, moving_disc))]),
        json!({"path": path.to_str().unwrap(), "bitrate_kbps": 500}),
    )
    .unwrap();
    let probe = ffprobe(&path);
    let video = &probe["streams"][0];
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(34), Some(18))
    );
    assert_eq!(number(video, "nb_read_frames"), 5.0);
    assert_eq!(video["avg_frame_rate"], "30/1");
    decodes_cleanly(&path);
}

#[test]
fn ntsc_rates_are_exact() {
    assert_eq!(frame_timing(25.0), (10_000, 400));
    assert_eq!(frame_timing(30000.0 / 1001.0), (30_000, 1001));
    assert_eq!(frame_timing(29.97), (30_000, 1001));
    assert_eq!(frame_timing(23.976), (24_000, 1001));
    assert_eq!(frame_timing(12.5), (10_000, 800));
}

#[test]
fn bad_inputs_get_errors_that_name_them() {
    let run = TestRun::new();
    let path = run.dir().join("x.mp4");
    let fail = |frames: Value, audio: Option<Value>, params: serde_json::Value| {
        let mut values = vec![("frames".to_string(), frames)];
        values.extend(audio.map(|a| ("audio".to_string(), a)));
        run.run(&Video, Inputs::new(values.into_iter().collect()), params)
            .unwrap_err()
    };
    let params = json!({"path": path.to_str().unwrap()});
    let err = fail(frames_u8(0, 8, 8, FPS, moving_disc), None, params.clone());
    assert!(
        matches!(&err, NodeError::Input { socket, message } if socket == "frames" && message.contains("no pictures")),
        "{err}"
    );
    let err = fail(
        frames_u8(25, 16, 16, FPS, moving_disc),
        Some(tone_after(0.0, 2.0, 16000, 1)),
        params.clone(),
    );
    assert!(
        matches!(&err, NodeError::Input { socket, message } if socket == "audio" && message.contains("lasts 2.000 s")),
        "{err}"
    );
    let err = fail(frames_u8(1, 4000, 16, FPS, moving_disc), None, params.clone());
    assert!(err.to_string().contains("too large for H.264"), "{err}");
    let err = fail(
        frames_u8(25, 16, 16, FPS, moving_disc),
        Some(tone_after(0.0, 1.0, 22000, 1)),
        json!({"path": path.to_str().unwrap(), "audio_rate": 0}),
    );
    assert!(err.to_string().contains("AAC cannot carry 22000 Hz"), "{err}");
    assert!(!path.exists());

    // A folder that cannot be made: its parent is a file.
    std::fs::write(run.dir().join("file"), b"").unwrap();
    let blocked = run.dir().join("file").join("x.mp4");
    let err = fail(
        frames_u8(2, 16, 16, FPS, moving_disc),
        None,
        json!({"path": blocked.to_str().unwrap()}),
    );
    assert!(
        matches!(&err, NodeError::File { path, message } if *path == blocked && message.contains("cannot write")),
        "{err}"
    );
}

#[test]
fn a_cancelled_export_leaves_nothing() {
    let run = TestRun::new();
    let path = run.dir().join("cancelled.mp4");
    let result = run_cancelled_at(
        &Video,
        inputs([
            ("frames", frames_u8(20, 32, 32, FPS, moving_disc)),
            ("audio", tone_after(0.0, 0.8, 48000, 1)),
        ]),
        json!({"path": path.to_str().unwrap()}),
        0.5,
    );
    assert_eq!(result, Err(NodeError::Cancelled));
    assert_eq!(
        files_in(&run.dir()),
        Vec::<String>::new(),
        "no file and no temporary left"
    );
}
