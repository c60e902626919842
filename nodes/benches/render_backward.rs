//! The CPU renderer's backward pass against its forward, on the render
//! benchmark's 35k-Gaussian head at 512×512 (spherical harmonics of degree
//! 3, and the same colours given as RGB, as avatar fitting renders).
//!
//! `cargo bench -p gspeech-nodes --bench render_backward` prints Markdown
//! tables of median times; `-- --repeats N` sets the number of runs
//! (default 7).

use std::time::Duration;

use gspeech_nodes::camera::Camera;
use gspeech_nodes::render::StageTimes;
use gspeech_nodes::render::backward::backward_timed;
use gspeech_nodes::render::cpu::forward_timed;
use gspeech_nodes::render::project::Colors;
use gspeech_nodes::splats::synthetic::{Rng, head};

/// The run with the median total.
fn median(mut runs: Vec<StageTimes>) -> StageTimes {
    runs.sort_by_key(StageTimes::total);
    runs.swap_remove(runs.len() / 2)
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let repeats = args
        .iter()
        .position(|a| a == "--repeats")
        .and_then(|i| args.get(i + 1)?.parse().ok())
        .unwrap_or(7usize);
    let scene = head(35_000, 3, 1);
    // As the render benchmark: a 30° vertical field of view from 60 cm.
    let camera = Camera::new(512, 512, 30.0)
        .looking_at([0.0, 0.0, 60.0], [0.0; 3], [0.0, 1.0, 0.0])
        .unwrap();
    let background = [0.0; 4];
    let position = camera.position();
    let rgb: Vec<[f32; 3]> = (0..scene.len()).map(|i| Colors::Sh.of(&scene, i, position)).collect();
    // The gradient of Σ w ⊙ image for fixed random weights.
    let mut rng = Rng::new(3);
    let pixels = (camera.width * camera.height) as usize;
    let d_rgb: Vec<[f32; 3]> = (0..pixels).map(|_| [0; 3].map(|_| rng.range(-1.0, 1.0))).collect();
    let d_alpha: Vec<f32> = (0..pixels).map(|_| rng.range(-1.0, 1.0)).collect();

    let mut rows = Vec::new();
    for (name, colors) in [("SH degree 3", Colors::Sh), ("RGB", Colors::Rgb(&rgb))] {
        eprintln!("{name}…");
        let run = || {
            let (forward, forward_times) = forward_timed(&scene, colors, &camera, background);
            let (_, backward_times) =
                backward_timed(&scene, colors, &camera, background, &forward, &d_rgb, Some(&d_alpha));
            (forward.tile_splats.len(), forward_times, backward_times)
        };
        let (pairs, _, _) = run();
        let (forward_runs, backward_runs): (Vec<_>, Vec<_>) =
            (0..repeats).map(|_| run()).map(|(_, f, b)| (f, b)).unzip();
        rows.push((name, pairs, median(forward_runs), median(backward_runs)));
    }

    let threads = rayon::current_num_threads();
    println!(
        "CPU splat rendering, 35000 Gaussians at 512×512, rayon on {threads} threads; median of {repeats} runs, ms.\n"
    );
    println!("| colours | tile pairs | forward | backward | backward / forward |");
    println!("|---|---:|---:|---:|---:|");
    for (name, pairs, f, b) in &rows {
        let ratio = b.total().as_secs_f64() / f.total().as_secs_f64();
        println!(
            "| {name} | {pairs} | {} | {} | {ratio:.2}× |",
            ms(f.total()),
            ms(b.total())
        );
    }
    println!("\nStages, ms:\n");
    println!(
        "| colours | project | depth sort | binning | rasterize | rasterize backward | reduce | project backward |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (name, _, f, b) in &rows {
        let cells: Vec<String> = ["project", "depth sort", "binning", "rasterize"]
            .map(|s| ms(f.get(s)))
            .into_iter()
            .chain(["rasterize backward", "reduce", "project backward"].map(|s| ms(b.get(s))))
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}
