//! The `gspeech` command line: run, validate, list and describe graphs.
//!
//! Exit codes: 0 success; 1 a node failed; 2 invalid graph, file or usage;
//! 130 cancelled (Ctrl-C).

mod capture;
pub mod commands;
mod dataset;
mod eval;
mod face;
mod progress;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Exit code: every needed node produced its outputs.
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one node failed.
pub const EXIT_NODE_FAILED: u8 = 1;
/// Exit code: the graph, a file or the command line is invalid.
pub const EXIT_INVALID: u8 = 2;
/// Exit code: the run was cancelled.
pub const EXIT_CANCELLED: u8 = 130;

/// GaussianSpeech Studio: speech to lip-synced Gaussian-splat talking heads, as node graphs.
#[derive(Parser, Debug)]
#[command(
    name = "gspeech",
    version,
    about,
    after_help = "Exit codes: 0 ok, 1 a node failed, 2 invalid graph or usage, 130 cancelled."
)]
pub struct Cli {
    /// Load a plugin library, or every library in a folder, before anything else (repeatable).
    #[arg(long = "plugin", value_name = "PATH", global = true)]
    plugins: Vec<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a graph: everything its sinks need, or up to --until nodes.
    Run(RunArgs),
    /// Check a graph without running it; lists every problem.
    Validate {
        /// The .gsgraph file.
        graph: PathBuf,
        /// Print the problems as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the node types this build knows.
    Nodes {
        /// Print the full specs as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Describe a graph: its nodes, settings, connections and outputs.
    Info {
        /// The .gsgraph file.
        graph: PathBuf,
    },
    /// List the plugin libraries found on the search path: loaded, or refused and why.
    Plugins {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Convert and describe face models.
    #[command(subcommand)]
    Face(face::FaceCommand),
    /// Make synthetic speech-motion datasets and look at their sequences.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// Synthesize, describe and check multi-view captures.
    #[command(subcommand)]
    Capture(capture::CaptureCommand),
    /// Train models: the speech-to-motion model.
    #[command(subcommand)]
    Train(train::TrainCommand),
    /// Evaluate models on held-out data beside baselines.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Open the desktop editor (also what `gspeech` alone does).
    #[cfg(feature = "editor")]
    Edit(EditArgs),
}

/// Options of `gspeech edit`.
#[cfg(feature = "editor")]
#[derive(clap::Args, Debug, Default)]
pub struct EditArgs {
    /// The .gsgraph file to open.
    pub graph: Option<PathBuf>,
    /// Write a PNG screenshot of the window once it has drawn, then quit.
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<PathBuf>,
    /// The folder for recent files and crash-recovery copies
    /// [default: $GSPEECH_STATE_DIR, else ~/.local/state/gspeech].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The on-disk cache folder [default: $GSPEECH_CACHE_DIR, else ~/.cache/gspeech].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// Options of `gspeech run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The .gsgraph file.
    pub graph: PathBuf,
    /// Override a parameter for this run, e.g. --set load.path=take2.wav (repeatable).
    #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
    pub set: Vec<String>,
    /// Run only this node and what it needs (repeatable).
    #[arg(long, value_name = "NODE")]
    pub until: Vec<String>,
    /// Print machine-readable events on standard output.
    #[arg(long, value_name = "FORMAT")]
    pub events: Option<EventFormat>,
    /// Neither read nor write any cache.
    #[arg(long)]
    pub no_cache: bool,
    /// The on-disk cache folder [default: $GSPEECH_CACHE_DIR, else ~/.cache/gspeech].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Nodes to run at once [default: the number of cores].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
}

/// Machine-readable event formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFormat {
    /// One JSON object per line.
    Jsonl,
}

/// Parses the command line and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_INVALID } else { EXIT_OK });
        }
    };
    let plugins = &cli.plugins;
    let code = match cli.command {
        Some(Command::Run(args)) => commands::run(&args, plugins),
        Some(Command::Validate { graph, json }) => commands::validate(&graph, json, plugins),
        Some(Command::Nodes { json }) => commands::nodes(json, plugins),
        Some(Command::Info { graph }) => commands::info(&graph, plugins),
        Some(Command::Plugins { json }) => commands::plugins(json, plugins),
        Some(Command::Face(command)) => face::main(&command),
        Some(Command::Dataset(command)) => dataset::main(&command, plugins),
        Some(Command::Capture(command)) => capture::main(&command, plugins),
        Some(Command::Train(command)) => train::main(&command, plugins),
        Some(Command::Eval(command)) => eval::main(&command),
        #[cfg(feature = "editor")]
        Some(Command::Edit(args)) => commands::edit(&args, plugins),
        #[cfg(feature = "editor")]
        None => commands::edit(&EditArgs::default(), plugins),
        #[cfg(not(feature = "editor"))]
        None => {
            let _ = <Cli as clap::CommandFactory>::command().print_help();
            EXIT_INVALID
        }
    };
    ExitCode::from(code)
}
