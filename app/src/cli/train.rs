//! `gspeech train`: training models from the command line (each the training
//! node behind a `face.model` node, run like a graph: same progress, events
//! and Ctrl-C).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use gspeech_nodes::motion::data::Corpus;

use super::dataset::{NodeArgs, absolute, run_on_face};
use crate::graph::NodeEntry;

/// The `train` subcommands.
#[derive(Subcommand, Debug)]
pub enum TrainCommand {
    /// Train the speech-to-motion model on a dataset folder (the `motion.train` node).
    Motion(MotionArgs),
}

/// Options of `gspeech train motion`.
#[derive(clap::Args, Debug)]
pub struct MotionArgs {
    /// The dataset folder (from `gspeech dataset synth`, or VOCASET or BIWI in FaceFormer's layout).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// VOCASET and BIWI: the lip vertices (FLAME_masks.pkl, or a list such as CodeTalker's lve.txt).
    #[arg(long, value_name = "FILE")]
    pub lips: Option<PathBuf>,
    /// VOCASET and BIWI: the upper-face vertices (FLAME_masks.pkl, or a list such as CodeTalker's fdd.txt).
    #[arg(long, value_name = "FILE")]
    pub upper: Option<PathBuf>,
    /// The checkpoint to write; its state, metrics and plot go beside it.
    #[arg(long, value_name = "FILE.safetensors")]
    pub out: PathBuf,
    /// The face model a capture-factory dataset was made on (VOCASET and BIWI bring their own).
    #[arg(
        long,
        value_name = "FILE.json",
        default_value = "projects/assets/face/ict-facekit.json"
    )]
    pub face: PathBuf,
    /// `gaussian_speech` (the paper's model) or `faceformer` (the baseline).
    #[arg(long, default_value = "gaussian_speech")]
    pub architecture: String,
    /// Optimisation steps.
    #[arg(long, default_value_t = 3000)]
    pub steps: i64,
    /// Seed of the initial weights, of every batch and of its augmentation.
    #[arg(long, default_value_t = 1)]
    pub seed: i64,
    /// Audio augmentation of the training takes (each off unless given).
    #[command(flatten)]
    pub augment: AugmentArgs,
    /// Parameter overrides and event output.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Audio augmentation options of `gspeech train motion`: each sets the
/// `motion.train` parameters of the same name (a range `LO:HI` sets
/// `NAME_min` and `NAME_max`); those not given keep the node's defaults.
#[derive(clap::Args, Debug)]
pub struct AugmentArgs {
    /// Speed factors, audio and motion stretched together (e.g. 0.9:1.1).
    #[arg(long, value_name = "LO:HI", value_parser = range, allow_hyphen_values = true)]
    pub speed: Option<(f64, f64)>,
    /// Pitch shifts in semitones, length kept (e.g. -2:2).
    #[arg(long, value_name = "LO:HI", value_parser = range, allow_hyphen_values = true)]
    pub pitch: Option<(f64, f64)>,
    /// Chance of additive white noise.
    #[arg(long = "noise", value_name = "P")]
    pub noise_probability: Option<f64>,
    /// Its signal-to-noise ratios, dB (node default 5:30).
    #[arg(long, value_name = "LO:HI", value_parser = range, allow_hyphen_values = true)]
    pub noise_snr: Option<(f64, f64)>,
    /// Chance of a synthetic room.
    #[arg(long = "reverb", value_name = "P")]
    pub reverb_probability: Option<f64>,
    /// Its reverberation times RT60, seconds (node default 0.2:0.8).
    #[arg(long, value_name = "LO:HI", value_parser = range)]
    pub reverb_rt60: Option<(f64, f64)>,
    /// Its direct-to-reverberant ratios, dB (node default 0:15).
    #[arg(long, value_name = "LO:HI", value_parser = range, allow_hyphen_values = true)]
    pub reverb_drr: Option<(f64, f64)>,
    /// Chance of random EQ (low shelf, bell, high shelf).
    #[arg(long = "eq", value_name = "P")]
    pub eq_probability: Option<f64>,
    /// Largest boost or cut of each EQ band, dB (node default 6).
    #[arg(long, value_name = "DB")]
    pub eq_gain: Option<f64>,
    /// Chance of overdrive into clipping (gain that loudness normalisation cannot undo).
    #[arg(long = "overdrive", value_name = "P")]
    pub overdrive_probability: Option<f64>,
    /// How far the peak is driven past full scale, dB (node default 0:12).
    #[arg(long = "overdrive-db", value_name = "LO:HI", value_parser = range)]
    pub overdrive: Option<(f64, f64)>,
    /// Chance of the telephone band, 300–3400 Hz.
    #[arg(long = "telephone", value_name = "P")]
    pub telephone_probability: Option<f64>,
}

impl AugmentArgs {
    /// The node parameters the given options set.
    fn params(&self) -> Vec<(String, serde_json::Value)> {
        let ranges = [
            ("speed", self.speed),
            ("pitch", self.pitch),
            ("noise_snr", self.noise_snr),
            ("reverb_rt60", self.reverb_rt60),
            ("reverb_drr", self.reverb_drr),
            ("overdrive", self.overdrive),
        ];
        let values = [
            ("noise_probability", self.noise_probability),
            ("reverb_probability", self.reverb_probability),
            ("eq_probability", self.eq_probability),
            ("eq_gain", self.eq_gain),
            ("overdrive_probability", self.overdrive_probability),
            ("telephone_probability", self.telephone_probability),
        ];
        let ranges = ranges.into_iter().filter_map(|(name, range)| range.map(|r| (name, r))).flat_map(|(name, (lo, hi))| {
            [(format!("{name}_min"), json!(lo)), (format!("{name}_max"), json!(hi))]
        });
        let values = values.into_iter().filter_map(|(name, v)| v.map(|v| (name.to_string(), json!(v))));
        ranges.chain(values).collect()
    }
}

/// Parses `LO:HI`.
fn range(text: &str) -> Result<(f64, f64), String> {
    let (lo, hi) = text.split_once(':').ok_or_else(|| format!("`{text}` is not a range LO:HI"))?;
    let number = |s: &str| s.trim().parse::<f64>().map_err(|_| format!("`{s}` in `{text}` is not a number"));
    let (lo, hi) = (number(lo)?, number(hi)?);
    if lo > hi {
        return Err(format!("`{text}` runs backwards: LO must not be above HI"));
    }
    Ok((lo, hi))
}

/// Runs a `train` subcommand.
pub fn main(command: &TrainCommand, plugins: &[PathBuf]) -> u8 {
    match command {
        TrainCommand::Motion(args) => {
            let mut node = NodeEntry::new("train", "motion.train", 1);
            for (name, value) in [
                ("data", json!(absolute(&args.data))),
                ("out", json!(absolute(&args.out))),
                ("architecture", json!(args.architecture)),
                ("steps", json!(args.steps)),
                ("seed", json!(args.seed)),
            ] {
                node.params.insert(name.into(), value);
            }
            for (name, path) in [("lips", &args.lips), ("upper", &args.upper)] {
                if let Some(path) = path {
                    node.params.insert(name.into(), json!(absolute(path)));
                }
            }
            node.params.extend(args.augment.params());
            let face = (!Corpus::is_faceformer(&args.data)).then_some(args.face.as_path());
            run_on_face(face, node, &args.node, plugins, "gspeech train motion")
        }
    }
}
