//! What a motion model is: its architecture and sizes, and what it was
//! trained on (features, face model, speakers), recorded in every checkpoint
//! so a mismatch is caught at load and at run time.

use serde::{Deserialize, Serialize};

/// Which network a checkpoint holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// The paper's: lip and wrinkle encoders, expression encoder,
    /// Expression2Latent, decoder, vertex mapper.
    GaussianSpeech,
    /// The baseline: one audio encoder feeding the same decoder (FaceFormer's
    /// layout, non-autoregressive as ours is).
    #[serde(rename = "faceformer")]
    FaceFormer,
}

impl Architecture {
    /// The name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Architecture::GaussianSpeech => "gaussian_speech",
            Architecture::FaceFormer => "faceformer",
        }
    }

    /// Parses [`Architecture::name`].
    pub fn parse(name: &str) -> Option<Architecture> {
        [Architecture::GaussianSpeech, Architecture::FaceFormer]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// The audio features a model reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// `mel` or `wav2vec2` (the `source` attribute of a features value).
    pub kind: String,
    /// Values per frame.
    pub dims: usize,
    /// Frames per second the model was trained at (the encoders read
    /// `steps_per_frame` feature frames per video frame).
    pub rate: f64,
    /// Whether each take's own mean is taken from its features before the
    /// training statistics normalise them (cepstral mean normalisation's
    /// counterpart on log-mel: it removes the voice's and the channel's
    /// average spectrum).
    #[serde(default)]
    pub per_utterance: bool,
}

/// The face model a checkpoint drives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceSpec {
    /// Its name.
    pub name: String,
    /// Its vertex count.
    pub vertices: usize,
    /// The BLAKE3 digest of its arrays, as its manifest states it.
    pub digest: String,
    /// Length unit of its positions.
    pub units: String,
    /// The vertices the model moves, as half-open `[start, end)` ranges (the
    /// rest stay at rest): the face region of the rig.
    pub moved: Vec<[u32; 2]>,
}

impl FaceSpec {
    /// Every moved vertex index, in order.
    pub fn moved_vertices(&self) -> Vec<u32> {
        self.moved.iter().flat_map(|&[a, b]| a..b).collect()
    }
}

/// The sizes of a motion network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    /// Width of every transformer.
    pub hidden: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width of the feed-forward layers.
    pub feed_forward: usize,
    /// Layers of the lip encoder (the audio encoder of the baseline).
    pub lip_layers: usize,
    /// Layers of the wrinkle encoder.
    pub wrinkle_layers: usize,
    /// Layers of the expression encoder.
    pub expression_layers: usize,
    /// Layers of the decoder.
    pub decoder_layers: usize,
    /// Period of the positional encoding and of the attention biases, frames.
    pub period: usize,
}

impl Default for Sizes {
    /// The default model's.
    fn default() -> Sizes {
        Sizes {
            hidden: 64,
            heads: 4,
            feed_forward: 128,
            lip_layers: 2,
            wrinkle_layers: 1,
            expression_layers: 1,
            decoder_layers: 2,
            period: 25,
        }
    }
}

/// The sizes and provenance of a motion model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The network.
    pub architecture: Architecture,
    /// The audio features it reads.
    pub features: FeatureSpec,
    /// Video frames per second of its output.
    pub fps: f64,
    /// Feature frames read per video frame (2 for 50 Hz features at 25 fps).
    pub steps_per_frame: usize,
    /// The network's sizes.
    #[serde(flatten)]
    pub sizes: Sizes,
    /// The expression codes: the rig's blendshape names when they are
    /// supervised by its weights (ARKit rigs), else `code0`, `code1`, ….
    pub expression_names: Vec<String>,
    /// Whether the codes are the rig's blendshape weights (trained against them).
    pub codes_are_weights: bool,
    /// Whether the lip encoder reads the speaker style beside the audio (the
    /// paper's personalised lip features), so what follows it need not guess
    /// the speaker from the voice. Absent in older checkpoints: not.
    #[serde(default)]
    pub personalised: bool,
    /// The face model.
    pub face: FaceSpec,
    /// Speaker styles, by name (one-hot, as FaceFormer's).
    pub speakers: Vec<String>,
    /// How it was made: the command, dataset, steps and seed.
    #[serde(default)]
    pub training: serde_json::Value,
}

impl Config {
    /// Values the vertex mapper writes per frame.
    pub fn vertex_outputs(&self) -> usize {
        self.face.moved_vertices().len() * 3
    }

    /// The index of a speaker style by name (`None` for the empty name: the
    /// average of every style), or an error listing them.
    pub fn speaker_index(&self, name: &str) -> Result<Option<usize>, String> {
        if name.is_empty() {
            return Ok(None);
        }
        self.speakers.iter().position(|s| s == name).map(Some).ok_or_else(|| {
            format!(
                "the model has no speaker style `{name}`; it has {}",
                self.speakers.join(", ")
            )
        })
    }

    /// Checks that the sizes make a network.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("features.dims", self.features.dims),
            ("steps_per_frame", self.steps_per_frame),
            ("hidden", self.sizes.hidden),
            ("heads", self.sizes.heads),
            ("feed_forward", self.sizes.feed_forward),
            ("lip_layers", self.sizes.lip_layers),
            ("decoder_layers", self.sizes.decoder_layers),
            ("period", self.sizes.period),
            ("speakers", self.speakers.len()),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("`{name}` must be at least 1"));
        }
        if self.sizes.hidden % self.sizes.heads != 0 {
            return Err(format!("`hidden` ({}) must be a multiple of `heads` ({})", self.sizes.hidden, self.sizes.heads));
        }
        if self.architecture == Architecture::GaussianSpeech
            && (self.sizes.wrinkle_layers == 0 || self.sizes.expression_layers == 0 || self.expression_names.is_empty())
        {
            return Err("the GaussianSpeech architecture needs wrinkle and expression layers and codes".into());
        }
        if !(self.fps > 0.0 && self.features.rate > 0.0) {
            return Err("`fps` and `features.rate` must be positive".into());
        }
        if self.vertex_outputs() == 0 {
            return Err("the model moves no vertices".into());
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny configuration for tests.
    pub fn tiny(architecture: Architecture, vertices: usize) -> Config {
        Config {
            architecture,
            features: FeatureSpec {
                kind: "mel".into(),
                dims: 6,
                rate: 50.0,
                per_utterance: false,
            },
            fps: 25.0,
            steps_per_frame: 2,
            sizes: Sizes {
                hidden: 16,
                heads: 4,
                feed_forward: 32,
                lip_layers: 1,
                wrinkle_layers: 1,
                expression_layers: 1,
                decoder_layers: 1,
                period: 5,
            },
            expression_names: vec!["jawOpen".into(), "mouthClose".into(), "eyeBlink_L".into()],
            codes_are_weights: true,
            personalised: architecture == Architecture::GaussianSpeech,
            face: FaceSpec {
                name: "tiny".into(),
                vertices,
                digest: "0".into(),
                units: "cm".into(),
                moved: vec![[0, vertices as u32]],
            },
            speakers: vec!["a".into(), "b".into()],
            training: serde_json::Value::Null,
        }
    }

    #[test]
    fn speakers_are_found_by_name() {
        let c = tiny(Architecture::GaussianSpeech, 4);
        assert_eq!(c.speaker_index("b"), Ok(Some(1)));
        assert_eq!(c.speaker_index(""), Ok(None));
        let e = c.speaker_index("zz").unwrap_err();
        assert!(e.contains("`zz`") && e.contains("a, b"), "{e}");
        assert_eq!(c.vertex_outputs(), 12);
        c.check().unwrap();
        let mut bad = c.clone();
        bad.sizes.heads = 3;
        assert!(bad.check().unwrap_err().contains("multiple"));
    }
}
