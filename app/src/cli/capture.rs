//! `gspeech capture`: synthesizing, importing, describing, checking and previewing multi-view captures.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use gspeech_nodes::capture::Capture;
use gspeech_nodes::capture::format::SPLITS;
use serde_json::json;

use gspeech_nodes::capture::format::encode_png;
use gspeech_nodes::capture::import::nerf::CyOrigin;
use gspeech_nodes::capture::import::{ImportOptions, Source, import};
use gspeech_nodes::capture::preview::{Clip, camera_video, contact_sheet};
use gspeech_nodes::face::flame::FlameConfig;
use gspeech_sdk::fs::write_atomic;
use gspeech_sdk::{CancelToken, NodeError};

use super::commands::install_interrupt_handler;
use super::dataset::{FactoryInputs, NodeArgs, absolute, run_on_face};
use super::progress::TerminalReporter;
use super::{EXIT_CANCELLED, EXIT_INVALID, EXIT_NODE_FAILED, EXIT_OK};
use crate::graph::NodeEntry;

/// The `capture` subcommands.
#[derive(Subcommand, Debug)]
pub enum CaptureCommand {
    /// Describe a capture folder (cameras, frames per split, face model, audio) and list every
    /// problem in it; exits 2 when there is one.
    Info {
        /// The capture folder (holding capture.json).
        dir: PathBuf,
    },
    /// Check a capture by eye: a contact sheet of every camera at one frame, the tracked mesh drawn
    /// over each picture as dots, and an MP4 of one camera with the take's sound.
    Preview {
        /// The capture folder (holding capture.json).
        dir: PathBuf,
        /// The sheet's frame and the video's first [default: the first frame].
        #[arg(long)]
        frame: Option<usize>,
        /// The video's camera [default: the first camera that is not held out].
        #[arg(long)]
        camera: Option<String>,
        /// The video's length in seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// The width of each camera's picture on the sheet, in pixels.
        #[arg(long, default_value_t = 256)]
        cell: u32,
        /// Leave the mesh's dots off the sheet.
        #[arg(long)]
        no_mesh: bool,
        /// Where to write [default: `preview` inside the capture folder].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Convert a capture in another tool's layout into a new capture folder (see the README's
    /// "Importing captures").
    Import(ImportArgs),
    /// Film the face model talking and pulling faces from a ring of cameras into a capture folder
    /// (the `capture.synthesize` node); an interrupted run resumes.
    Synth(SynthArgs),
}

/// `gspeech capture import`'s arguments.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The source's layout.
    #[arg(long = "from", value_name = "FORMAT")]
    from: ImportFormat,
    /// The folder holding the source's transforms files.
    src: PathBuf,
    /// The capture folder to write: new, or empty.
    dir: PathBuf,
    /// gaussian-avatars: the FLAME model the parameters were tracked on (converted by
    /// scripts/convert_flame.py).
    #[arg(long, value_name = "FILE")]
    flame: Option<PathBuf>,
    /// transforms: the meshes' face model (a .json manifest or a FLAME file) [default: a model
    /// of the first mesh's topology, written into the capture].
    #[arg(long, value_name = "FILE")]
    face: Option<PathBuf>,
    /// transforms: a folder of NNNNN.obj or NNNNN.ply meshes named by timestep, instead of the
    /// frames' mesh_path.
    #[arg(long, value_name = "DIR")]
    meshes: Option<PathBuf>,
    /// transforms: the length unit of the meshes and cameras, for a model of the first mesh
    /// [default: m].
    #[arg(long)]
    units: Option<String>,
    /// The rate the timesteps were taken at: a frame's time is its timestep over it.
    #[arg(long, default_value_t = 25.0, value_name = "RATE")]
    fps: f64,
    /// Where the files' cy counts from [default: bottom for gaussian-avatars, as VHAP writes
    /// it; top for transforms].
    #[arg(long, value_name = "ORIGIN")]
    cy_origin: Option<CyOriginArg>,
    /// How many of a FLAME file's shape directions are identity (300 in FLAME 2020 and 2023).
    #[arg(long, default_value_t = 300, value_name = "N")]
    flame_shape_params: usize,
}

/// The layouts `capture import` reads.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportFormat {
    /// GaussianAvatars / NeRSemble as VHAP exports it: transforms_{train,val,test}.json, images,
    /// fg_masks and per-timestep FLAME parameters.
    GaussianAvatars,
    /// NeRF transforms.json with one OBJ or PLY mesh per timestep.
    Transforms,
}

/// Where `cy` counts from.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CyOriginArg {
    /// The top row (OpenCV, instant-ngp, nerfstudio).
    Top,
    /// The bottom row (VHAP's OpenGL cameras).
    Bottom,
}

/// Options of `gspeech capture synth`; those left out take the node's defaults.
#[derive(clap::Args, Debug)]
pub struct SynthArgs {
    /// The capture folder to write (new, empty, or an interrupted run of the same settings).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The face model and the sentences.
    #[command(flatten)]
    pub inputs: FactoryInputs,
    /// How many sentences are spoken, the corpus's first [default: 5; 0: none].
    #[arg(long, value_name = "N")]
    pub sentences: Option<i64>,
    /// The voice: eSpeak NG (en-us, en+f2) or Flite (flite:slt) [default: en-us+f2].
    #[arg(long)]
    pub voice: Option<String>,
    /// Frames per expression move, up to full and back [default: 5; 0: no expressions].
    #[arg(long, value_name = "N")]
    pub expression_frames: Option<i64>,
    /// Whose face: neutral or one of the face model's identities (identity000, …) [default: neutral].
    #[arg(long, value_name = "NAME")]
    pub identity: Option<String>,
    /// Seed of the skin, eye and hair colours and every pore [default: 1].
    #[arg(long, value_name = "SEED")]
    pub appearance: Option<i64>,
    /// Image width and height in pixels [default: 512].
    #[arg(long, value_name = "PIXELS")]
    pub resolution: Option<i64>,
    /// Cameras on the ring [default: 16].
    #[arg(long, value_name = "N")]
    pub cameras: Option<i64>,
    /// Cameras kept out of fitting [default: 2].
    #[arg(long, value_name = "N")]
    pub held_out_cameras: Option<i64>,
    /// Frames per second [default: 25].
    #[arg(long)]
    pub fps: Option<f64>,
    /// Keep only the first N frames of the take, for a quick look [default: 0, all].
    #[arg(long, value_name = "N")]
    pub frames: Option<i64>,
    /// Seed of the speech and its motion [default: 1].
    #[arg(long)]
    pub seed: Option<i64>,
    /// Parameter overrides and event output.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Runs a `capture` subcommand.
pub fn main(command: &CaptureCommand, plugins: &[PathBuf]) -> u8 {
    match command {
        CaptureCommand::Info { dir } => info(dir),
        CaptureCommand::Preview {
            dir,
            frame,
            camera,
            seconds,
            cell,
            no_mesh,
            out,
        } => {
            let out = out.clone().unwrap_or_else(|| dir.join("preview"));
            let options = PreviewArgs {
                frame: *frame,
                camera: camera.clone(),
                seconds: *seconds,
                cell: *cell,
                mesh: !no_mesh,
            };
            match preview(dir, &options, &out) {
                Ok(()) => EXIT_OK,
                Err(NodeError::Cancelled) => EXIT_CANCELLED,
                Err(e) => {
                    eprintln!("error: {e}");
                    EXIT_NODE_FAILED
                }
            }
        }
        CaptureCommand::Import(args) => import_command(args),
        CaptureCommand::Synth(args) => synth(args, plugins),
    }
}

impl ImportArgs {
    /// The source the arguments describe, or what is wrong with them.
    fn source(&self) -> Result<Source, &'static str> {
        match self.from {
            ImportFormat::GaussianAvatars => {
                if self.face.is_some() || self.meshes.is_some() || self.units.is_some() {
                    return Err("--face, --meshes and --units are for --from transforms");
                }
                let flame = self.flame.clone().ok_or(
                    "--from gaussian-avatars needs --flame FILE, the FLAME model the parameters were tracked on",
                )?;
                Ok(Source::GaussianAvatars { flame })
            }
            ImportFormat::Transforms => {
                if self.flame.is_some() {
                    return Err("--flame is for --from gaussian-avatars; give a FLAME face model with --face");
                }
                Ok(Source::Transforms {
                    meshes: self.meshes.clone(),
                    face: self.face.clone(),
                    units: self.units.clone().unwrap_or_else(|| "m".into()),
                })
            }
        }
    }
}

fn import_command(args: &ImportArgs) -> u8 {
    let source = match args.source() {
        Ok(source) => source,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_INVALID;
        }
    };
    let options = ImportOptions {
        fps: args.fps,
        cy_origin: args.cy_origin.map(|origin| match origin {
            CyOriginArg::Top => CyOrigin::Top,
            CyOriginArg::Bottom => CyOrigin::Bottom,
        }),
        flame: FlameConfig {
            shape_params: args.flame_shape_params,
        },
    };
    let (src, dir) = (&args.src, &args.dir);
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel);
    let reporter = TerminalReporter::new("importing");
    let result = import(&source, src, dir, &options, &reporter, &cancel);
    reporter.clear();
    let capture = match result {
        Ok(capture) => capture,
        Err(NodeError::Cancelled) => return EXIT_CANCELLED,
        Err(NodeError::Param { message, .. }) => {
            eprintln!("error: {message}");
            return EXIT_INVALID;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_NODE_FAILED;
        }
    };
    let index = &capture.index;
    let held_out = index.cameras.iter().filter(|c| c.held_out).count();
    let per_split: Vec<String> = SPLITS
        .iter()
        .map(|split| format!("{} {split}", capture.split(split).count()))
        .collect();
    let face = &index.face_model;
    println!(
        "{} cameras ({held_out} held out), {} frames ({}), meshes on \"{}\" ({} vertices, {}){}",
        index.cameras.len(),
        index.frames.len(),
        per_split.join(", "),
        face.name,
        face.vertices,
        face.units,
        face.path
            .as_ref()
            .map_or(String::new(), |p| format!(", written as {p}"))
    );
    println!("wrote {}", dir.display());
    EXIT_OK
}

/// A two-node graph, `face.model` → `capture.synthesize`, run like any graph;
/// on success, the folder and what is in it on standard output.
fn synth(args: &SynthArgs, plugins: &[PathBuf]) -> u8 {
    let mut node = NodeEntry::new("synth", "capture.synthesize", 1);
    let given = [
        ("out", Some(json!(absolute(&args.out)))),
        ("corpus", Some(json!(absolute(&args.inputs.corpus)))),
        ("sentences", args.sentences.map(|v| json!(v))),
        ("voice", args.voice.as_ref().map(|v| json!(v))),
        ("expression_frames", args.expression_frames.map(|v| json!(v))),
        ("identity", args.identity.as_ref().map(|v| json!(v))),
        ("appearance", args.appearance.map(|v| json!(v))),
        ("resolution", args.resolution.map(|v| json!(v))),
        ("cameras", args.cameras.map(|v| json!(v))),
        ("held_out_cameras", args.held_out_cameras.map(|v| json!(v))),
        ("fps", args.fps.map(|v| json!(v))),
        ("frames", args.frames.map(|v| json!(v))),
        ("seed", args.seed.map(|v| json!(v))),
    ];
    for (name, value) in given {
        if let Some(value) = value {
            node.params.insert(name.into(), value);
        }
    }
    let code = run_on_face(
        Some(&args.inputs.face),
        node,
        &args.node,
        plugins,
        "gspeech capture synth",
    );
    if code == EXIT_OK
        && let Ok(capture) = Capture::read(&args.out)
    {
        let index = &capture.index;
        let per_split: Vec<String> = SPLITS
            .iter()
            .map(|split| format!("{} {split}", capture.split(split).count()))
            .collect();
        let size = index
            .cameras
            .first()
            .map_or(String::new(), |c| format!(" of {}×{}", c.width, c.height));
        let seconds = index.fps.map_or(String::new(), |fps| {
            format!(", {:.1} s at {fps} fps", index.frames.len() as f64 / fps)
        });
        println!("{}", args.out.display());
        println!(
            "{} cameras ({} held out) × {} frames ({}) = {} images{size}{seconds}, audio: {}",
            index.cameras.len(),
            index.cameras.iter().filter(|c| c.held_out).count(),
            index.frames.len(),
            per_split.join(", "),
            index.cameras.len() * index.frames.len(),
            index.audio.as_deref().unwrap_or("none")
        );
    }
    code
}

fn info(dir: &Path) -> u8 {
    let capture = match Capture::read(dir) {
        Ok(capture) => capture,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    let index = &capture.index;
    let rate = index.fps.map_or(String::new(), |fps| format!(" at {fps} fps"));
    println!(
        "{}: {} cameras, {} frames{rate}",
        dir.display(),
        index.cameras.len(),
        index.frames.len()
    );
    println!("cameras:");
    for camera in &index.cameras {
        // `+ 0.0` prints −0 as 0.
        let [x, y, z] = camera.position().map(|v| v + 0.0);
        println!(
            "  {:<16} {:>5}×{:<5} focal {:.1}, {:.1} px  at ({x:.3}, {y:.3}, {z:.3}){}",
            camera.name,
            camera.width,
            camera.height,
            camera.fx,
            camera.fy,
            if camera.held_out { "  held out" } else { "" }
        );
    }
    let per_split: Vec<String> = SPLITS
        .iter()
        .map(|split| format!("{} {split}", capture.split(split).count()))
        .collect();
    println!("frames: {}", per_split.join(", "));
    if !index.weight_names.is_empty() {
        let with = index.frames.iter().filter(|f| f.weights.is_some()).count();
        println!(
            "expression codes: {} ({} frames have them)",
            index.weight_names.join(" "),
            with
        );
    }
    let face = &index.face_model;
    println!(
        "face model: \"{}\", {} vertices, units {}, digest {}…{}",
        face.name,
        face.vertices,
        face.units,
        face.digest.get(..12).unwrap_or(&face.digest),
        face.path.as_ref().map_or(String::new(), |p| format!(", file {p}"))
    );
    if let Ok(meshes) = capture.meshes() {
        println!("meshes: {} of {} vertices", meshes.frames, meshes.vertices);
    }
    println!("audio: {}", index.audio.as_deref().unwrap_or("none"));
    let problems = capture.problems();
    if problems.is_empty() {
        println!("no problems");
        return EXIT_OK;
    }
    println!("{} problem(s):", problems.len());
    for problem in &problems {
        println!("  {problem}");
    }
    eprintln!(
        "error: {} is not a valid capture ({} problem(s))",
        dir.display(),
        problems.len()
    );
    EXIT_INVALID
}

/// What `capture preview` shows.
struct PreviewArgs {
    frame: Option<usize>,
    camera: Option<String>,
    seconds: f64,
    cell: u32,
    mesh: bool,
}

/// `gspeech capture preview`: the sheet, then the video, saying where each is.
fn preview(dir: &Path, args: &PreviewArgs, out: &Path) -> Result<(), NodeError> {
    let capture = Capture::read(dir)?;
    let index = &capture.index;
    let first = index
        .frames
        .first()
        .ok_or_else(|| NodeError::file(capture.index_path(), "has no frames"))?;
    let frame = args.frame.unwrap_or(first.index);
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel);

    let sheet = contact_sheet(&capture, frame, args.cell, args.mesh)?;
    let path = out.join(format!("sheet-{frame:05}.png"));
    let png = encode_png(&sheet.rgb, sheet.width, sheet.height).map_err(|e| NodeError::file(&path, e))?;
    write_atomic(&path, &png, &cancel)?;
    println!(
        "wrote {}: {} cameras of frame {frame}, row by row:",
        path.display(),
        sheet.cameras.len()
    );
    for row in sheet.cameras.chunks(sheet.columns) {
        println!("  {}", row.join("  "));
    }
    if sheet.cameras.len() > 1 {
        println!(
            "  (held-out cameras are framed in orange{})",
            if args.mesh {
                "; green dots are the frame's mesh"
            } else {
                ""
            }
        );
    }

    if index.fps.is_none() {
        println!("no video: capture.json gives no `fps`, so its frames are not a regular video");
        return Ok(());
    }
    let camera = match &args.camera {
        Some(name) => name.clone(),
        None => index
            .cameras
            .iter()
            .find(|c| !c.held_out)
            .unwrap_or(&index.cameras[0])
            .name
            .clone(),
    };
    if !(args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(NodeError::param(
            "seconds",
            format!("{} is not between 0 and 3600", args.seconds),
        ));
    }
    let count = (args.seconds * index.fps.unwrap_or(25.0)).round().max(1.0) as usize;
    let clip = Clip {
        camera,
        first: frame,
        count,
    };
    let path = out.join(format!("{}-{frame:05}.mp4", clip.camera));
    let reporter = TerminalReporter::new("video");
    let result = camera_video(&capture, &clip, &path, &reporter, &cancel);
    reporter.clear();
    println!("wrote {}: {}", path.display(), result?);
    Ok(())
}
