//! `export.audio`: the sound as a WAV file.

use gspeech_sdk::{
    Caching, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, RunContext,
};

use super::{output_path, write_file};

use crate::audio::AudioView;
use crate::audio::wav::{self, Encoding};

/// Writes audio to a WAV file.
pub struct Audio;

impl Node for Audio {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("export.audio", 1, "Export Audio")
            .doc(
                "Writes audio to a WAV file at its own sample rate and channel count: 16- or 24-bit PCM (rounded, \
                 clipped at full scale) or 32-bit float. The file appears complete or not at all.",
            )
            .input(PortSpec::new("audio", PortType::Audio, "The sound."))
            .param(output_path("WAV audio", &["wav"]))
            .param(ParamSpec::choice(
                "encoding",
                "pcm24",
                &["pcm16", "pcm24", "float32"],
                "Sample format: 24-bit PCM suits delivery, 32-bit float keeps every value.",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let record = inputs.record("audio", PortType::Audio)?;
        let audio = AudioView::of(record).map_err(|e| NodeError::input("audio", e))?;
        if audio.frames == 0 || audio.channels == 0 {
            return Err(NodeError::input("audio", "has no samples"));
        }
        let path = params.path("path")?;
        let encoding = match params.text("encoding")? {
            "pcm16" => Encoding::Pcm16,
            "float32" => Encoding::Float32,
            _ => Encoding::Pcm24,
        };
        let bytes_per_sample = match encoding {
            Encoding::Pcm16 => 2,
            Encoding::Pcm24 => 3,
            Encoding::Float32 => 4,
        };
        let size = (audio.frames * audio.channels) as u64 * bytes_per_sample;
        if size > wav::MAX_DATA_BYTES {
            return Err(NodeError::input(
                "audio",
                format!(
                    "{:.1} GiB of samples do not fit a WAV file (4 GiB at most): cut the audio or use 16-bit",
                    size as f64 / (1u64 << 30) as f64
                ),
            ));
        }
        let channels: Vec<&[f32]> = (0..audio.channels).map(|c| audio.channel(c)).collect();
        let bytes = wav::encode(audio.sample_rate, &channels, encoding);
        write_file(ctx, path, &bytes)?;
        ctx.info(&format!(
            "wrote {}: {:.2} s, {} Hz, {} channel(s), {}",
            path.display(),
            audio.seconds(),
            audio.sample_rate,
            audio.channels,
            params.text("encoding")?
        ));
        Ok(Outputs::new())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audio::{audio_value, decode};
    use crate::export::testing::*;
    use gspeech_sdk::testing::TestRun;

    #[test]
    fn every_encoding_reads_back_with_symphonia_and_ffprobe() {
        let run = TestRun::new();
        let left: Vec<f32> = (0..4410).map(|i| (i as f32 * 0.01).sin() * 0.8).collect();
        let right: Vec<f32> = left.iter().map(|s| -s * 0.5).collect();
        let value = audio_value(44100, &[left.clone(), right.clone()]);
        for (encoding, codec, tolerance) in [
            ("pcm16", "pcm_s16le", 1.0 / 32768.0),
            ("pcm24", "pcm_s24le", 1.0 / 8_388_608.0),
            ("float32", "pcm_f32le", 0.0),
        ] {
            let path = run.dir().join(format!("{encoding}.wav"));
            run.run(
                &Audio,
                inputs([("audio", value.clone())]),
                json!({"path": path.to_str().unwrap(), "encoding": encoding}),
            )
            .unwrap();
            let probe = ffprobe(&path);
            let stream = &probe["streams"][0];
            assert_eq!(stream["codec_name"], codec);
            assert_eq!(number(stream, "sample_rate"), 44100.0);
            assert_eq!(stream["channels"], 2);
            assert!((number(stream, "duration") - 0.1).abs() < 1e-6);
            let decoded = decode(&path, u64::MAX, &|_| {}, &|| false).unwrap();
            assert_eq!(decoded.sample_rate, 44100);
            for (got, want) in decoded.channels.iter().zip([&left, &right]) {
                assert_eq!(got.len(), want.len());
                let worst = got
                    .iter()
                    .zip(want.iter())
                    .map(|(g, w)| (g - w).abs())
                    .fold(0.0, f32::max);
                assert!(worst <= tolerance * 0.5 + 1e-7, "{encoding}: error {worst}");
            }
        }
    }

    #[test]
    fn unwritable_paths_are_named() {
        let run = TestRun::new();
        std::fs::write(run.dir().join("file"), b"").unwrap();
        let path = run.dir().join("file").join("out.wav");
        let err = run
            .run(
                &Audio,
                inputs([("audio", audio_value(8000, &[vec![0.0; 10]]))]),
                json!({"path": path.to_str().unwrap()}),
            )
            .unwrap_err();
        assert!(
            matches!(&err, NodeError::File { path: p, message } if *p == path && message.contains("cannot write")),
            "{err}"
        );
    }
}
