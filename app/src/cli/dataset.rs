//! `gspeech dataset`: making synthetic speech–motion datasets and looking at them.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use gspeech_nodes::dataset::preview::{PreviewOptions, preview};
use gspeech_nodes::dataset::{DEFAULT_HELD_OUT, DEFAULT_VOICES};
use gspeech_nodes::face::asset::read_asset;
use gspeech_sdk::{CancelToken, NodeError};
use serde_json::json;

use super::commands::{Execution, execute, install_interrupt_handler, load_registry, plan};
use super::progress::TerminalReporter;
use super::{EXIT_CANCELLED, EXIT_INVALID, EXIT_NODE_FAILED, EXIT_OK, EventFormat};
use crate::graph::{Edge, Endpoint, GraphDoc, NodeEntry};

/// The `dataset` subcommands.
#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Make a dataset of paired speech and face motion from a corpus (the `dataset.synthesize` node).
    Synth(SynthArgs),
    /// Render one sequence flat-shaded into an MP4 with its audio (H.264 and AAC), and as PNG frames.
    Preview {
        /// The sequence folder (`<dataset>/sequences/<id>`).
        sequence: PathBuf,
        /// The face model the dataset was made with.
        #[arg(
            long,
            value_name = "FILE.json",
            default_value = "projects/assets/face/ict-facekit.json"
        )]
        face: PathBuf,
        /// Where to write [default: `preview` inside the sequence folder].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Image width and height in pixels (16 to 2160).
        #[arg(long, default_value_t = 480)]
        size: usize,
        /// Colour the lip (red) and upper-face (blue) vertex sets.
        #[arg(long)]
        show_sets: bool,
    },
}

/// What the factory commands (`dataset synth`, `capture synth`) read.
#[derive(clap::Args, Debug)]
pub struct FactoryInputs {
    /// The face model.
    #[arg(
        long,
        value_name = "FILE.json",
        default_value = "projects/assets/face/ict-facekit.json"
    )]
    pub face: PathBuf,
    /// The sentences, one per line.
    #[arg(long, value_name = "FILE", default_value = "projects/assets/corpus/harvard.txt")]
    pub corpus: PathBuf,
}

/// Options of `gspeech dataset synth`.
#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// The dataset folder to write.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The face model and the sentences.
    #[command(flatten)]
    pub inputs: FactoryInputs,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: i64,
    /// Use the first N sentences (0: all).
    #[arg(long, default_value_t = 0)]
    pub sentences: i64,
    /// Training voices, comma-separated: eSpeak NG names (en-us, en+f2) or Flite voices (flite:slt, flite:rms, …).
    #[arg(long, default_value = DEFAULT_VOICES)]
    pub voices: String,
    /// A voice kept out of training; it speaks the test sentences (empty: none).
    #[arg(long, default_value = DEFAULT_HELD_OUT)]
    pub held_out_voice: String,
    /// How many training voices speak each sentence (at most all of them).
    #[arg(long, default_value_t = 2)]
    pub voices_per_sentence: i64,
    /// Recorded lines of one speaker with transcripts (a .txt beside each audio file, or a transcripts.txt
    /// or metadata.csv list), aligned with PocketSphinx and animated beside the synthetic voices.
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<PathBuf>,
    /// Face model regions whose vertices are stored (all: every vertex).
    #[arg(long, default_value = "all")]
    pub regions: String,
    /// Parameter overrides and event output.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// What every command that runs one node behind a face model takes besides
/// its own options.
#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    /// Any other parameter of the node (repeatable; `gspeech nodes` lists them).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Print machine-readable events on standard output.
    #[arg(long, value_name = "FORMAT")]
    pub events: Option<EventFormat>,
}

/// Runs a `dataset` subcommand.
pub fn main(command: &DatasetCommand, plugins: &[PathBuf]) -> u8 {
    match command {
        DatasetCommand::Synth(args) => synth(args, plugins),
        DatasetCommand::Preview {
            sequence,
            face,
            out,
            size,
            show_sets,
        } => preview_command(sequence, face, out.as_deref(), *size, *show_sets),
    }
}

/// A two-node graph, `face.model` → `dataset.synthesize`, run like any graph.
fn synth(args: &SynthArgs, plugins: &[PathBuf]) -> u8 {
    let mut synth = NodeEntry::new("synth", "dataset.synthesize", 1);
    for (name, value) in [
        ("out", json!(absolute(&args.out))),
        ("corpus", json!(absolute(&args.inputs.corpus))),
        ("seed", json!(args.seed)),
        ("sentences", json!(args.sentences)),
        ("voices", json!(args.voices)),
        ("held_out_voice", json!(args.held_out_voice)),
        ("voices_per_sentence", json!(args.voices_per_sentence)),
        ("regions", json!(args.regions)),
    ] {
        synth.params.insert(name.into(), value);
    }
    if let Some(dir) = &args.recordings {
        synth.params.insert("recordings".into(), json!(absolute(dir)));
    }
    run_on_face(
        Some(&args.inputs.face),
        synth,
        &args.node,
        plugins,
        "gspeech dataset synth",
    )
}

/// A path made absolute against the working folder (graphs resolve relative
/// paths against their own file, which these command-built graphs do not have).
pub(super) fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Runs `node` fed by a `face.model` node loading `face` (alone when there
/// is none), like any graph, after applying `--param NAME=VALUE` overrides
/// to it.
pub(super) fn run_on_face(
    face_path: Option<&Path>,
    mut node: NodeEntry,
    args: &NodeArgs,
    plugins: &[PathBuf],
    origin: &str,
) -> u8 {
    let (overrides, events) = (&args.params, args.events.is_some());
    let registry = load_registry(plugins);
    let spec = registry.get(&node.type_id).map(|t| t.spec.clone());
    for text in overrides {
        let parsed = text.split_once('=').and_then(|(name, value)| {
            let param = spec.as_ref()?.param_named(name)?;
            Some(param.kind.parse_text(value).map(|v| (name, v)))
        });
        match parsed {
            Some(Ok((name, value))) => {
                node.params.insert(name.into(), value.to_json());
            }
            Some(Err(e)) => {
                eprintln!("error: --param {text}: {e}");
                return EXIT_INVALID;
            }
            None => {
                eprintln!(
                    "error: --param {text}: expected NAME=VALUE with a parameter of {}",
                    node.type_id
                );
                return EXIT_INVALID;
            }
        }
    }
    let mut doc = GraphDoc::new();
    if let Some(face_path) = face_path {
        let mut face = NodeEntry::new("face", "face.model", 1);
        face.params.insert("path".into(), json!(absolute(face_path)));
        doc.edges = vec![Edge {
            from: Endpoint::new("face", "face"),
            to: Endpoint::new(&node.id, "face"),
        }];
        doc.nodes.push(face);
    }
    doc.nodes.push(node);
    let plan = match plan(&doc, &registry, Path::new(origin)) {
        Ok(plan) => plan,
        Err(code) => return code,
    };
    execute(
        &plan,
        Vec::new(),
        &Execution {
            events,
            cache: None,
            jobs: None,
        },
    )
}

/// `gspeech dataset preview`: renders, encodes and says where the files are.
fn preview_command(sequence: &Path, face: &Path, out: Option<&Path>, size: usize, show_sets: bool) -> u8 {
    let rig = match read_asset(face) {
        Ok(rig) => rig,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let out = out.map_or_else(|| sequence.join("preview"), Path::to_path_buf);
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel);
    let reporter = TerminalReporter::new("preview");
    let options = PreviewOptions { size, show_sets };
    let result = preview(sequence, &rig, &out, options, &reporter, &cancel);
    reporter.clear();
    match result {
        Ok(done) => {
            println!("wrote {}: {}", done.video.display(), done.summary);
            println!("wrote {} frames as PNG to {}", done.frames, done.frames_dir.display());
            EXIT_OK
        }
        Err(NodeError::Cancelled) => EXIT_CANCELLED,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_NODE_FAILED
        }
    }
}
