//! `gspeech capture`: describing and checking multi-view captures.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use gspeech_nodes::capture::Capture;
use gspeech_nodes::capture::format::SPLITS;

use super::{EXIT_INVALID, EXIT_OK};

/// The `capture` subcommands.
#[derive(Subcommand, Debug)]
pub enum CaptureCommand {
    /// Describe a capture folder (cameras, frames per split, face model, audio) and list every
    /// problem in it; exits 2 when there is one.
    Info {
        /// The capture folder (holding capture.json).
        dir: PathBuf,
    },
}

/// Runs a `capture` subcommand.
pub fn main(command: &CaptureCommand) -> u8 {
    match command {
        CaptureCommand::Info { dir } => info(dir),
    }
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
