//! `gspeech eval`: evaluating models on held-out data, beside baselines.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use gspeech_nodes::face::asset::read_asset;
use gspeech_nodes::motion::MotionModel;
use gspeech_nodes::motion::data::Corpus;
use gspeech_nodes::motion::eval::{Evaluation, Method, Row, table};
use gspeech_nodes::motion::generate::GenerateOptions;
use gspeech_nodes::motion::train::steps_per_frame;
use gspeech_sdk::{CancelToken, NodeError, fs::write_atomic};

use super::commands::install_interrupt_handler;
use super::{EXIT_CANCELLED, EXIT_INVALID, EXIT_NODE_FAILED, EXIT_OK};

/// The `eval` subcommands.
#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Score motion models on a dataset's held-out splits beside the static template: LVE (both
    /// definitions), FDD, bilabial closure, mouth-opening correlation and jitter.
    Motion {
        /// Checkpoints to score (each a row per split).
        #[arg(required = true, value_name = "MODEL.safetensors")]
        models: Vec<PathBuf>,
        /// The dataset folder.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The face model a capture-factory dataset was made on (VOCASET and BIWI bring their own).
        #[arg(
            long,
            value_name = "FILE.json",
            default_value = "projects/assets/face/ict-facekit.json"
        )]
        face: PathBuf,
        /// VOCASET and BIWI: the lip vertices (FLAME_masks.pkl, or a list such as CodeTalker's lve.txt).
        #[arg(long, value_name = "FILE")]
        lips: Option<PathBuf>,
        /// VOCASET and BIWI: the upper-face vertices (FLAME_masks.pkl, or a list such as CodeTalker's fdd.txt).
        #[arg(long, value_name = "FILE")]
        upper: Option<PathBuf>,
        /// Splits to score, comma-separated [default: test, test_voice and test_recorded, those the
        /// dataset has sequences in; on VOCASET and BIWI, test and test_a (BIWI-Test-A)].
        #[arg(long)]
        splits: Option<String>,
        /// Also write the rows as JSON to this file.
        #[arg(long, value_name = "FILE.json")]
        json: Option<PathBuf>,
        /// Smooth each model's motion over time as `motion.generate` does: a Gaussian of this
        /// standard deviation in frames (0: none) [default: motion.generate's, 0.5].
        #[arg(long, value_name = "FRAMES")]
        smoothing: Option<f32>,
    },
}

/// Runs an `eval` subcommand.
pub fn main(command: &EvalCommand) -> u8 {
    let EvalCommand::Motion {
        models,
        data,
        face,
        lips,
        upper,
        splits,
        json,
        smoothing,
    } = command;
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel);
    let faces = FaceSources {
        face,
        lips: lips.as_deref(),
        upper: upper.as_deref(),
    };
    match eval_motion(
        models,
        data,
        &faces,
        splits.as_deref(),
        smoothing.unwrap_or(GenerateOptions::default().smoothing),
        json.as_deref(),
        &cancel,
    ) {
        Ok(()) => EXIT_OK,
        Err((code, NodeError::Cancelled)) if code == EXIT_NODE_FAILED => EXIT_CANCELLED,
        Err((code, e)) => {
            eprintln!("error: {e}");
            code
        }
    }
}

/// Where the face model comes from: the `--face` file for a factory
/// dataset, the folder's templates and these vertex sets for VOCASET and BIWI.
struct FaceSources<'a> {
    face: &'a Path,
    lips: Option<&'a Path>,
    upper: Option<&'a Path>,
}

fn eval_motion(
    paths: &[PathBuf],
    data: &Path,
    faces: &FaceSources,
    splits: Option<&str>,
    smoothing: f32,
    json: Option<&Path>,
    cancel: &CancelToken,
) -> Result<(), (u8, NodeError)> {
    let invalid = |e| (EXIT_INVALID, e);
    let failed = |e| (EXIT_NODE_FAILED, e);
    let corpus = Corpus::open(data).map_err(invalid)?;
    let given = match corpus {
        Corpus::Factory(_) => Some(read_asset(faces.face).map_err(invalid)?),
        Corpus::Faceformer(_) => None,
    };
    let rig = corpus.face(given, faces.lips, faces.upper).map_err(invalid)?;
    let models = paths
        .iter()
        .map(|p| MotionModel::load(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid)?;
    let splits: Vec<&str> = match splits {
        Some(list) => list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect(),
        None => corpus.evaluation_splits(),
    };
    eprintln!("reading {} of {}", splits.join(", "), data.display());
    let evaluation = Evaluation::new(&corpus, &rig, &splits, steps_per_frame(corpus.fps()), cancel).map_err(invalid)?;
    let mut rows: Vec<Row> = evaluation
        .score("ground truth", &Method::Truth, cancel)
        .map_err(failed)?;
    rows.extend(
        evaluation
            .score("template (static)", &Method::Template, cancel)
            .map_err(failed)?,
    );
    for (path, model) in paths.iter().zip(&models) {
        let name = format!(
            "{} ({})",
            path.file_stem().unwrap_or_default().to_string_lossy(),
            model.config.architecture.name()
        );
        eprintln!("scoring {name}");
        rows.extend(
            evaluation
                .score(&name, &Method::Model(model, smoothing), cancel)
                .map_err(failed)?,
        );
    }
    print!("{}", table(&rows));
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&rows).expect("rows serialise");
        write_atomic(path, text.as_bytes(), cancel).map_err(failed)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
