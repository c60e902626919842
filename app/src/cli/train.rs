//! `gspeech train`: training models from the command line (each the training
//! node behind a `face.model` node, run like a graph: same progress, events
//! and Ctrl-C).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

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
    /// The dataset folder (from `gspeech dataset synth`).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The checkpoint to write; its state, metrics and plot go beside it.
    #[arg(long, value_name = "FILE.safetensors")]
    pub out: PathBuf,
    /// The face model the dataset was made on.
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
    /// Seed of the initial weights and of every batch.
    #[arg(long, default_value_t = 1)]
    pub seed: i64,
    /// Parameter overrides and event output.
    #[command(flatten)]
    pub node: NodeArgs,
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
            run_on_face(&args.face, node, &args.node, plugins, "gspeech train motion")
        }
    }
}
