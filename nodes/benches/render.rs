//! Splat rendering speed: the wgpu renderer stage by stage, and the CPU
//! reference in the same run, for head-sized scenes of 35k, 100k and 1M
//! Gaussians (spherical harmonics of degree 3) at 512×512 and 1920×1080.
//!
//! `cargo bench -p gspeech-nodes --bench render` prints Markdown tables.
//! `-- --quick` runs only the 35k scene; `-- --write-ply DIR` also writes the
//! scenes as `.ply` files, to render them with other tools.

use std::time::{Duration, Instant};

use gspeech_nodes::camera::Camera;
use gspeech_nodes::render::{SplatRenderer, StageTimes, cpu};
use gspeech_nodes::splats::{Gaussians, ply, synthetic};
use gspeech_sdk::gpu::Gpu;

const GPU_STAGES: [&str; 8] = [
    "upload",
    "project",
    "depth sort",
    "tile counts",
    "emit pairs",
    "tile sort",
    "tile ranges",
    "rasterize",
];
const CPU_STAGES: [&str; 4] = ["project", "depth sort", "binning", "rasterize"];

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// The stage times of the run with the median total.
fn median_stages(mut runs: Vec<StageTimes>) -> StageTimes {
    runs.sort_by_key(StageTimes::total);
    runs.swap_remove(runs.len() / 2)
}

struct Case {
    count: usize,
    width: u32,
    height: u32,
    pairs: u32,
    colour: f64,
    gpu_stages: StageTimes,
    gpu_frame: Duration,
    gpu_read_back: Duration,
    cpu_stages: StageTimes,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let ply_dir = args
        .iter()
        .position(|a| a == "--write-ply")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let counts: &[usize] = if quick {
        &[35_000]
    } else {
        &[35_000, 100_000, 1_000_000]
    };
    let gpu = Gpu::headless().expect("a GPU adapter (Mesa's lavapipe without a GPU)");
    let mut renderer = SplatRenderer::new(&gpu.device, &gpu.queue);
    let mut cases = Vec::new();
    for &count in counts {
        let scene: Gaussians = synthetic::head(count, 3, 1);
        if let Some(dir) = &ply_dir {
            let path = dir.join(format!("head-{count}.ply"));
            ply::write(&path, &scene, &Default::default()).expect("a writable folder");
            eprintln!("wrote {}", path.display());
        }
        let repeats = if count >= 1_000_000 { 3 } else { 5 };
        for (width, height) in [(512, 512), (1920, 1080)] {
            // A 30° vertical field of view from 60 cm: the head fills most of the frame's height.
            let camera = Camera::new(width, height, 30.0)
                .looking_at([0.0, 0.0, 60.0], [0.0; 3], [0.0, 1.0, 0.0])
                .unwrap();
            let background = [0.0; 4];
            eprintln!("{count} Gaussians at {width}×{height}…");
            // Warm up: allocation and kernel compilation happen here.
            renderer.render(&scene, &camera, background).unwrap();
            renderer.finish().unwrap();
            let gpu_frame = median(
                (0..repeats)
                    .map(|_| {
                        let t = Instant::now();
                        renderer.render(&scene, &camera, background).unwrap();
                        renderer.finish().unwrap();
                        t.elapsed()
                    })
                    .collect(),
            );
            let gpu_read_back = median(
                (0..repeats)
                    .map(|_| {
                        let t = Instant::now();
                        renderer.read_back().unwrap();
                        t.elapsed()
                    })
                    .collect(),
            );
            let gpu_stages = median_stages(
                (0..repeats)
                    .map(|_| renderer.render_profiled(&scene, &camera, background).unwrap())
                    .collect(),
            );
            let pairs = renderer.pairs();
            let gpu_image = renderer.read_back().unwrap();
            let cpu_runs: Vec<_> = (0..repeats.min(3))
                .map(|_| cpu::render_timed(&scene, &camera, background))
                .collect();
            let psnr = gpu_image.psnr(&cpu_runs[0].0);
            assert!(psnr >= 45.0, "the GPU and CPU images differ: PSNR {psnr:.1} dB");
            // Over a black background: the mean of the colour channels, to compare with other renderers.
            let colour = gpu_image
                .rgba
                .iter()
                .map(|p| (p[0] + p[1] + p[2]) as f64 / 3.0)
                .sum::<f64>()
                / gpu_image.rgba.len() as f64;
            cases.push(Case {
                count,
                width,
                height,
                pairs,
                colour,
                gpu_stages,
                gpu_frame,
                gpu_read_back,
                cpu_stages: median_stages(cpu_runs.into_iter().map(|(_, t)| t).collect()),
            });
        }
    }

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "Splat rendering on {}; CPU reference on {threads} threads (rayon).",
        gpu.describe()
    );
    println!("Head-sized scenes with spherical harmonics of degree 3; median frame times in ms.\n");
    println!(
        "| Gaussians | image | tile pairs | mean colour | GPU frame | GPU fps | read back | CPU frame | CPU fps | GPU vs CPU |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for c in &cases {
        let cpu = c.cpu_stages.total();
        println!(
            "| {} | {}×{} | {} | {:.3} | {} | {:.1} | {} | {} | {:.2} | {:.1}× |",
            c.count,
            c.width,
            c.height,
            c.pairs,
            c.colour,
            ms(c.gpu_frame),
            1.0 / c.gpu_frame.as_secs_f64(),
            ms(c.gpu_read_back),
            ms(cpu),
            1.0 / cpu.as_secs_f64(),
            cpu.as_secs_f64() / c.gpu_frame.as_secs_f64(),
        );
    }
    print_stages(
        "GPU stages (each submitted and waited for on its own)",
        &GPU_STAGES,
        &cases,
        |c| &c.gpu_stages,
    );
    print_stages("CPU reference stages", &CPU_STAGES, &cases, |c| &c.cpu_stages);
}

/// A table of stage times, one row per case.
fn print_stages(title: &str, names: &[&str], cases: &[Case], stages_of: impl Fn(&Case) -> &StageTimes) {
    println!("\n{title}, ms:\n");
    println!("| Gaussians | image | {} | sum |", names.join(" | "));
    println!("|---:|---|{}---:|", "---:|".repeat(names.len()));
    for c in cases {
        let stages = stages_of(c);
        let cells: Vec<String> = names.iter().map(|s| ms(stages.get(s))).collect();
        println!(
            "| {} | {}×{} | {} | {} |",
            c.count,
            c.width,
            c.height,
            cells.join(" | "),
            ms(stages.total())
        );
    }
}
