//! `gspeech face`: converting and describing face models.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use gspeech_nodes::face::asset::{read_asset, write_asset};
use gspeech_nodes::face::import::{ImportOptions, RegionLayout, RigSources, import};
use gspeech_nodes::face::{FaceRig, ict};
use gspeech_sdk::fs::write_atomic;
use gspeech_sdk::{CancelToken, NodeError};
use serde_json::json;

use super::commands::install_interrupt_handler;
use super::{EXIT_CANCELLED, EXIT_INVALID, EXIT_NODE_FAILED, EXIT_OK};

/// The `face` subcommands.
#[derive(Subcommand, Debug)]
pub enum FaceCommand {
    /// Convert a folder of OBJ blendshapes (ICT-FaceKit's layout, or neutral.obj plus
    /// expression and identity*.obj meshes) into a face model asset.
    Import {
        /// The folder of OBJ files.
        dir: PathBuf,
        /// The manifest to write (`name.json`; the arrays go to `name.safetensors` beside it).
        #[arg(long, value_name = "FILE.json")]
        out: PathBuf,
        /// Regions to keep, comma-separated, or `all` [default: ICT-FaceKit's face, head and
        /// neck, mouth, teeth and eyes; every region for other rigs].
        #[arg(long, value_name = "LIST")]
        regions: Option<String>,
        /// Keep at most this many identity shapes.
        #[arg(long, value_name = "N")]
        identities: Option<usize>,
        /// Drop per-vertex deltas whose largest component is at most this (model units).
        #[arg(long, default_value_t = 0.001, value_name = "DISTANCE")]
        threshold: f32,
        /// The model's name [default: from the folder].
        #[arg(long)]
        name: Option<String>,
        /// The length unit of the positions [default: cm for ICT-FaceKit].
        #[arg(long)]
        units: Option<String>,
    },
    /// Describe a face model asset: counts, regions, expressions, vertex sets.
    Info {
        /// The manifest (`.json`).
        model: PathBuf,
    },
}

/// Runs a `face` subcommand.
pub fn main(command: &FaceCommand) -> u8 {
    match command {
        FaceCommand::Import {
            dir,
            out,
            regions,
            identities,
            threshold,
            name,
            units,
        } => import_command(dir, out, regions.as_deref(), *identities, *threshold, name, units),
        FaceCommand::Info { model } => info(model),
    }
}

fn import_command(
    dir: &Path,
    out: &Path,
    regions: Option<&str>,
    identities: Option<usize>,
    threshold: f32,
    name: &Option<String>,
    units: &Option<String>,
) -> u8 {
    if out.extension().is_none_or(|e| e != "json") {
        eprintln!("error: --out {}: the manifest must be a .json file", out.display());
        return EXIT_INVALID;
    }
    let mut sources = match RigSources::from_folder(dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    if let Some(name) = name {
        sources.name = name.clone();
    }
    if let Some(units) = units {
        sources.units = units.clone();
    }
    let is_ict = matches!(sources.layout, RegionLayout::Ranges(_));
    let kept: Option<Vec<String>> = match regions {
        Some("all") => None,
        Some(list) => Some(
            list.split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect(),
        ),
        None if is_ict => Some(ict::AVATAR_REGIONS.iter().map(|r| r.to_string()).collect()),
        None => None,
    };
    let options = ImportOptions {
        regions: kept,
        max_identities: identities,
    };
    let cancel = CancelToken::new();
    install_interrupt_handler(&cancel);
    let terminal = std::io::stderr().is_terminal();
    let progress = |fraction: f32, what: &str| {
        if terminal {
            eprint!("\r\x1b[2Kimporting {:>3.0}% {what}", fraction * 100.0);
            let _ = std::io::stderr().flush();
        }
    };
    let result = import(&sources, &options, &progress, &|| cancel.is_cancelled());
    if terminal {
        eprint!("\r\x1b[2K");
    }
    let rig = match result {
        Ok(rig) => rig,
        Err(NodeError::Cancelled) => return EXIT_CANCELLED,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_NODE_FAILED;
        }
    };
    let notes = notes(dir, &sources, &rig, threshold);
    let written = match write_asset(&rig, out, threshold, notes, &cancel) {
        Ok(w) => w,
        Err(NodeError::Cancelled) => return EXIT_CANCELLED,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_NODE_FAILED;
        }
    };
    let license = dir.join("LICENSE");
    if license.is_file() {
        let target = out.with_file_name("LICENSE");
        let copied = std::fs::read(&license)
            .map_err(|e| NodeError::file(&license, e))
            .and_then(|bytes| write_atomic(&target, &bytes, &cancel));
        if let Err(e) = copied {
            eprintln!("error: {e}");
            return EXIT_NODE_FAILED;
        }
        println!("copied the model's licence to {}", target.display());
    }
    println!(
        "wrote {} and {} ({:.2} MB): {} vertices, {} triangles, {} expressions, {} identities; kept {} of {} deltas \
         (threshold {threshold} {})",
        out.display(),
        written.tensors.display(),
        written.tensor_bytes as f64 / 1e6,
        rig.vertex_count(),
        rig.triangle_count(),
        rig.expression_names.len(),
        rig.identity_names.len(),
        written.kept_deltas,
        written.kept_deltas + written.dropped_deltas,
        rig.units,
    );
    EXIT_OK
}

/// What the manifest records about where the model came from and what was left out.
fn notes(dir: &Path, sources: &RigSources, rig: &FaceRig, threshold: f32) -> serde_json::Value {
    let mut used: Vec<&Path> = vec![&sources.neutral];
    used.extend(sources.expressions.iter().map(|(_, p)| p.as_path()));
    used.extend(
        sources
            .identities
            .iter()
            .take(rig.identity_names.len())
            .map(|(_, p)| p.as_path()),
    );
    let mut unused: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "obj") && !used.contains(&p.as_path()))
                .map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    unused.sort();
    let dropped: Vec<String> = match &sources.layout {
        RegionLayout::Ranges(all) => all
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| rig.region(n).is_none())
            .collect(),
        RegionLayout::Groups => Vec::new(),
    };
    json!({
        "source": sources.name,
        "license": if dir.join("LICENSE").is_file() { "LICENSE" } else { "" },
        "regions_left_out": dropped,
        "files_left_out": unused,
        "identity_shapes_left_out": sources.identities.len() - rig.identity_names.len(),
        "delta_threshold": threshold,
        "converted_by": "gspeech face import",
    })
}

fn info(model: &Path) -> u8 {
    let rig = match read_asset(model) {
        Ok(rig) => rig,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INVALID;
        }
    };
    println!(
        "{}: {} ({})",
        model.display(),
        rig.name,
        if rig.units.is_empty() { "no units" } else { &rig.units }
    );
    println!(
        "  {} vertices, {} triangles, {} expressions, {} identities, {}",
        rig.vertex_count(),
        rig.triangle_count(),
        rig.expression_names.len(),
        rig.identity_names.len(),
        if rig.uvs.is_some() { "UVs" } else { "no UVs" }
    );
    println!(
        "  {} lip vertices, {} upper-face vertices, {} landmarks",
        rig.lip_vertices.len(),
        rig.upper_face_vertices.len(),
        rig.landmarks.len()
    );
    println!("regions:");
    for region in &rig.regions {
        println!(
            "  {:<20} {:>6} vertices {:>6} triangles",
            region.name,
            region.vertex_indices().count(),
            region.triangles.iter().map(|r| r.len()).sum::<usize>()
        );
    }
    println!("expressions: {}", rig.expression_names.join(" "));
    EXIT_OK
}
