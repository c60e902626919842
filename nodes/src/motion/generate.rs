//! `motion.generate`: features → motion. Long audio runs in overlapping
//! windows blended with linear cross-fades, so the network's working memory
//! stays that of one window however long the take.

use candle_core::{Device, Tensor};
use gspeech_sdk::{
    Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, Record, RunContext, Value,
};

use super::checkpoint::MotionModel;
use super::config::Config;
use super::model::{Masks, styles};
use crate::audio::AudioView;
use crate::face::FaceRig;
use crate::features::{frame_count, interpolate_linear};

/// How one take is generated.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// The speaker style (empty: the average style).
    pub speaker: String,
    /// Scales the motion (1: as predicted).
    pub intensity: f32,
    /// Standard deviation of a temporal Gaussian smoothing, frames (0: none).
    /// Half a frame by default: it takes the frame-to-frame flicker out of
    /// the mouth while keeping the brief closures of /p b m/ (measured on the
    /// default model's validation sequences; see BENCHMARKS.md).
    pub smoothing: f32,
    /// Most frames per window.
    pub window: usize,
    /// Fewest frames shared by neighbouring windows.
    pub overlap: usize,
    /// Windows run together as one batch (more is faster, and uses more memory).
    pub batch: usize,
}

impl Default for GenerateOptions {
    fn default() -> GenerateOptions {
        GenerateOptions {
            speaker: String::new(),
            intensity: 1.0,
            smoothing: 0.5,
            window: 200,
            overlap: 25,
            batch: 16,
        }
    }
}

/// A generated take.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    /// Vertex offsets on the model's moved vertices, `[frames, moved · 3]`.
    pub offsets: Vec<f32>,
    /// Expression codes, `[frames, codes]` (GaussianSpeech models).
    pub codes: Option<Vec<f32>>,
    /// Frames.
    pub frames: usize,
}

/// Features `[rows, dims]` at `rate` → the network's input for `frames` video
/// frames: resampled to `steps_per_frame` rows per frame (linear, aligned
/// corners), normalised, `[frames, steps · dims]`.
pub fn prepare(model: &MotionModel, values: &[f32], dims: usize, frames: usize) -> Vec<f32> {
    let mut rows = interpolate_linear(values, dims, frames * model.config.steps_per_frame);
    model.stats.apply(&mut rows);
    rows
}

/// The windows `(first frame, frames)` covering `frames`: as few as windows
/// of at most `window` frames sharing at least `overlap` allow, all of one
/// length (so they batch without padding), the last one ending on the last frame.
pub fn windows(frames: usize, window: usize, overlap: usize) -> Vec<(usize, usize)> {
    let window = window.max(overlap + 1);
    if frames <= window {
        return vec![(0, frames)];
    }
    let count = (frames - overlap).div_ceil(window - overlap);
    let len = (frames + (count - 1) * overlap).div_ceil(count);
    (0..count)
        .map(|i| (if i + 1 == count { frames - len } else { i * (len - overlap) }, len))
        .collect()
}

/// Windows of one length run together as one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowBatch {
    /// Each window's first frame.
    pub starts: Vec<usize>,
    /// Frames per window.
    pub frames: usize,
}

impl WindowBatch {
    /// `[windows, frames, width]`: each window's rows of `values` (rows of `width`).
    pub fn tensor(&self, values: &[f32], width: usize) -> candle_core::Result<Tensor> {
        let rows = self.frames * width;
        let out: Vec<f32> = self.starts.iter().flat_map(|&start| &values[start * width..][..rows]).copied().collect();
        Tensor::from_vec(out, (self.starts.len(), self.frames, width), &Device::Cpu)
    }

    /// The attention masks of the batch.
    pub fn masks(&self, config: &Config) -> candle_core::Result<Masks> {
        Masks::new(config, self.frames, &vec![self.frames; self.starts.len()], &Device::Cpu)
    }
}

/// The windows of `frames` (see [`windows`]) in batches of at most
/// `options.batch`, as even as possible.
pub fn window_batches(frames: usize, options: &GenerateOptions) -> Vec<WindowBatch> {
    let plan = windows(frames, options.window, options.overlap);
    let count = plan.len().div_ceil(options.batch.max(1));
    plan.chunks(plan.len().div_ceil(count))
        .map(|spans| WindowBatch {
            starts: spans.iter().map(|&(start, _)| start).collect(),
            frames: spans[0].1,
        })
        .collect()
}

/// Runs `run` on batches of the windows of `frames` (see [`window_batches`]),
/// each call returning one `[windows, frames, width]` stream per entry of
/// `widths`, and blends the windows' streams with linear cross-fades over
/// their overlaps.
pub fn blend_windows(
    frames: usize,
    options: &GenerateOptions,
    widths: &[usize],
    cancelled: &dyn Fn() -> bool,
    mut run: impl FnMut(&WindowBatch) -> Result<Vec<Vec<f32>>, NodeError>,
) -> Result<Vec<Vec<f32>>, NodeError> {
    let mut streams: Vec<Vec<f32>> = widths.iter().map(|w| vec![0f32; frames * w]).collect();
    let mut total = vec![0f32; frames];
    let batches = window_batches(frames, options);
    for batch in &batches {
        if cancelled() {
            return Err(NodeError::Cancelled);
        }
        let outputs = run(batch)?;
        let len = batch.frames;
        let fade = options.overlap.min(len) as f32;
        for (j, &start) in batch.starts.iter().enumerate() {
            for t in 0..len {
                let rising = if start > 0 { ((t as f32 + 1.0) / (fade + 1.0)).min(1.0) } else { 1.0 };
                let falling = if start + len < frames { ((len - t) as f32 / (fade + 1.0)).min(1.0) } else { 1.0 };
                let w = rising.min(falling);
                total[start + t] += w;
                for ((stream, output), &width) in streams.iter_mut().zip(&outputs).zip(widths) {
                    let target = &mut stream[(start + t) * width..][..width];
                    let source = &output[(j * batch.frames + t) * width..][..width];
                    target.iter_mut().zip(source).for_each(|(o, v)| *o += w * v);
                }
            }
        }
    }
    for (stream, &width) in streams.iter_mut().zip(widths) {
        for (row, &w) in stream.chunks_exact_mut(width.max(1)).zip(&total) {
            row.iter_mut().for_each(|v| *v /= w);
        }
    }
    Ok(streams)
}

/// A tensor's values, flattened.
pub fn values(t: &Tensor) -> Result<Vec<f32>, NodeError> {
    t.flatten_all().and_then(|t| t.to_vec1()).map_err(model_error)
}

/// A candle error as a node error.
pub fn model_error(e: candle_core::Error) -> NodeError {
    NodeError::other(format!("motion model: {e}"))
}

/// Runs the model over `input` (from [`prepare`]) window by window.
///
/// The windows blend the decoder's output before the vertex mapper, and the
/// smoothing and intensity act there too: the mapper is affine, so this is
/// the same as blending, smoothing and scaling the offsets, but the wide
/// offsets are computed once, in one product, straight into the result.
pub fn generate(
    model: &MotionModel,
    input: &[f32],
    frames: usize,
    options: &GenerateOptions,
    cancelled: &dyn Fn() -> bool,
) -> Result<Generated, NodeError> {
    let config = &model.config;
    let speaker = config.speaker_index(&options.speaker).map_err(|e| NodeError::param("speaker", e))?;
    let width = config.features.dims * config.steps_per_frame;
    let has_codes = config.architecture == super::config::Architecture::GaussianSpeech;
    let style = styles(&[speaker], config.speakers.len(), &Device::Cpu).map_err(model_error)?;
    let code_width = if has_codes { config.expression_names.len() } else { 0 };
    let mut streams = blend_windows(frames, options, &[config.sizes.hidden, code_width], cancelled, |batch| {
        let audio = batch.tensor(input, width).map_err(model_error)?;
        let masks = batch.masks(config).map_err(model_error)?;
        let (hidden, codes) = model.network.hidden(&audio, &style, &masks).map_err(model_error)?;
        let codes = codes.as_ref().map(values).transpose()?.unwrap_or_default();
        Ok(vec![values(&hidden)?, codes])
    })?;
    let mut codes = streams.pop().expect("two streams");
    let mut hidden = streams.pop().expect("two streams");
    for (stream, width) in [(&mut hidden, config.sizes.hidden), (&mut codes, code_width)] {
        smooth(stream, width, options.smoothing);
        stream.iter_mut().for_each(|v| *v *= options.intensity);
    }
    if cancelled() {
        return Err(NodeError::Cancelled);
    }
    Ok(Generated {
        offsets: model.mapper.apply(&hidden, options.intensity),
        codes: has_codes.then_some(codes),
        frames,
    })
}

/// An affine map `y = W x + b` (the vertex mapper) held as one matrix
/// `[outputs, inputs + 1]` with the bias as its last column, so one product
/// writes the (large) result once, on every thread, and never reads it back.
#[derive(Clone, Debug)]
pub struct Affine {
    inputs: usize,
    matrix: Vec<f32>,
}

impl Affine {
    /// `weight` `[outputs, inputs]` and `bias` `[outputs]` (or empty: zero).
    pub fn new(weight: &[f32], bias: &[f32], inputs: usize) -> Affine {
        let outputs = weight.len() / inputs.max(1);
        assert_eq!(weight.len(), outputs * inputs, "rows of {inputs}");
        assert!(bias.is_empty() || bias.len() == outputs, "one bias per output");
        let mut matrix = Vec::with_capacity(outputs * (inputs + 1));
        for (o, row) in weight.chunks_exact(inputs.max(1)).enumerate().take(outputs) {
            matrix.extend_from_slice(row);
            matrix.push(bias.get(o).copied().unwrap_or(0.0));
        }
        Affine { inputs, matrix }
    }

    /// The map of a linear layer.
    pub fn from_linear(linear: &candle_nn::Linear) -> candle_core::Result<Affine> {
        let inputs = linear.weight().dim(1)?;
        let bias = linear.bias().map(|b| b.to_vec1::<f32>()).transpose()?.unwrap_or_default();
        Ok(Affine::new(&linear.weight().flatten_all()?.to_vec1()?, &bias, inputs))
    }

    /// Values per output row.
    pub fn outputs(&self) -> usize {
        self.matrix.len() / (self.inputs + 1)
    }

    /// `W x + bias_scale · b` for every row `x` of `rows` `[n, inputs]`:
    /// `[n, outputs]`, multi-threaded.
    pub fn apply(&self, rows: &[f32], bias_scale: f32) -> Vec<f32> {
        let (k, outputs) = (self.inputs + 1, self.outputs());
        let n = rows.len() / self.inputs.max(1);
        assert_eq!(rows.len(), n * self.inputs, "rows of {}", self.inputs);
        let x: Vec<f32> = rows
            .chunks_exact(self.inputs.max(1))
            .take(n)
            .flat_map(|row| row.iter().copied().chain([bias_scale]))
            .collect();
        let mut out = Vec::with_capacity(n * outputs);
        if n > 0 && outputs > 0 {
            // SAFETY: `out` has room for `n × outputs` values with rows
            // `outputs` apart; `x` is `n × k` with rows `k` apart; `matrix`
            // read as its transpose, `k × outputs`, has rows 1 apart and
            // columns `k` apart. Every element addressed lies in its buffer.
            // Without `read_dst` every element of `out` is written (never
            // read), so it is initialised when its length is set.
            unsafe {
                gemm::gemm(
                    n,
                    outputs,
                    k,
                    out.as_mut_ptr(),
                    1,
                    outputs as isize,
                    false,
                    x.as_ptr(),
                    1,
                    k as isize,
                    self.matrix.as_ptr(),
                    k as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::Rayon(0),
                );
                out.set_len(n * outputs);
            }
        }
        out
    }
}

/// A temporal Gaussian filter of standard deviation `sigma` frames over
/// `[frames, width]` values, with the edges held.
pub fn smooth(values: &mut [f32], width: usize, sigma: f32) {
    if sigma <= 0.0 || width == 0 {
        return;
    }
    let frames = values.len() / width;
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f32> = (-radius..=radius).map(|k| (-(k * k) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let norm: f32 = kernel.iter().sum();
    let source = values.to_vec();
    for f in 0..frames as isize {
        let out = &mut values[f as usize * width..][..width];
        out.fill(0.0);
        for (k, &w) in (-radius..=radius).zip(&kernel) {
            let g = (f + k).clamp(0, frames as isize - 1) as usize;
            for (o, v) in out.iter_mut().zip(&source[g * width..][..width]) {
                *o += w / norm * v;
            }
        }
    }
}

/// The `motion` record of a generated take.
pub fn motion_record(model: &MotionModel, generated: Generated, weights_only: bool) -> Record {
    let config = &model.config;
    let moved = config.face.moved_vertices();
    let mut record = Record::new(PortType::Motion).with_attr("fps", config.fps);
    if let Some(codes) = generated.codes.filter(|_| config.codes_are_weights) {
        let k = config.expression_names.len();
        let clamped = codes.into_iter().map(|c| c.clamp(0.0, 1.0)).collect();
        record = record
            .with_tensor("weights", gspeech_sdk::Tensor::from_f32(&[generated.frames, k], clamped).expect("shape"))
            .with_attr("weight_names", config.expression_names.clone());
        if weights_only {
            return record;
        }
    }
    record = record.with_tensor(
        "vertex_offsets",
        gspeech_sdk::Tensor::from_f32(&[generated.frames, moved.len(), 3], generated.offsets).expect("shape"),
    );
    if moved.len() != config.face.vertices {
        record = record.with_tensor(
            "vertex_indices",
            gspeech_sdk::Tensor::from_u32(&[moved.len()], moved).expect("1-D"),
        );
    }
    record
}

/// Checks that a face model is the one `model` was trained on.
pub fn check_face(model: &MotionModel, face: &FaceRig) -> Result<(), String> {
    let spec = &model.config.face;
    if face.vertex_count() != spec.vertices || face.digest() != spec.digest {
        return Err(format!(
            "the face model `{}` ({} vertices, digest {}…) is not the one the motion model was trained on, `{}` ({} \
             vertices, digest {}…)",
            face.name,
            face.vertex_count(),
            &face.digest()[..12],
            spec.name,
            spec.vertices,
            spec.digest.get(..12).unwrap_or(&spec.digest)
        ));
    }
    Ok(())
}

/// Generates motion from features with a motion model.
pub struct Generate;

impl Node for Generate {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("motion.generate", 1, "Generate Motion")
            .doc(
                "Turns speech features into face motion with a motion model: per-frame vertex offsets on the face \
                 model's template and, for ARKit rigs, blendshape weights (for CSV and glTF exports). Connect 50 Hz \
                 features of the kind the model was trained on (mel by default); connect the audio too for an exact \
                 frame count. Long takes run in overlapping windows blended seamlessly.",
            )
            .input(PortSpec::new("features", PortType::Features, "Audio features (50 Hz)."))
            .input(PortSpec::new("model", PortType::MotionModel, "The motion model."))
            .input(PortSpec::optional("audio", PortType::Audio, "The audio, for its duration."))
            .input(PortSpec::optional(
                "face",
                PortType::FaceModel,
                "The face model, checked against the one the model was trained on.",
            ))
            .output(PortSpec::new("motion", PortType::Motion, "The motion at the model's frame rate."))
            .param(ParamSpec::text(
                "speaker",
                "",
                "Speaker style by name (empty: the average of the model's styles).",
            ))
            .param(ParamSpec::float("intensity", 1.0, (Some(0.0), Some(3.0)), "Scales the motion."))
            .param(ParamSpec::float(
                "smoothing",
                GenerateOptions::default().smoothing as f64,
                (Some(0.0), Some(10.0)),
                "Temporal Gaussian smoothing, standard deviation in frames (0: none).",
            ))
            .param(ParamSpec::int(
                "window",
                200,
                (Some(8), Some(2000)),
                "Most frames per window (the windows of a take share one length).",
            ))
            .param(ParamSpec::int(
                "overlap",
                25,
                (Some(0), Some(500)),
                "Fewest frames neighbouring windows share, cross-faded.",
            ))
            .param(ParamSpec::choice(
                "output",
                "offsets and weights",
                &["offsets and weights", "weights"],
                "What the motion holds: blendshape weights alone keep an hour-long take small (ARKit rigs only).",
            ))
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let model = model_input(inputs)?;
        if let Some(face) = inputs.get("face").and_then(Value::as_record) {
            let face = FaceRig::from_record(face).map_err(|e| NodeError::input("face", e))?;
            check_face(&model, &face).map_err(|e| NodeError::input("face", e))?;
        }
        let (input, frames) = audio_input(&model, inputs)?;
        let options = GenerateOptions {
            speaker: params.text("speaker")?.to_string(),
            intensity: params.float("intensity")? as f32,
            smoothing: params.float("smoothing")? as f32,
            window: params.int("window")? as usize,
            overlap: params.int("overlap")? as usize,
            ..GenerateOptions::default()
        };
        if options.overlap >= options.window {
            return Err(NodeError::param("overlap", "must be shorter than `window`"));
        }
        let weights_only = params.text("output")? == "weights";
        if weights_only && !model.config.codes_are_weights {
            return Err(NodeError::param("output", "this model predicts no blendshape weights"));
        }
        let generated = generate(&model, &input, frames, &options, &|| ctx.is_cancelled())?;
        ctx.info(&format!("{frames} frames at {} fps", model.config.fps));
        Ok(Outputs::new().with("motion", Value::data(motion_record(&model, generated, weights_only))))
    }
}

/// The model on a node's `model` input, built once per model value (see
/// [`MotionModel::shared`]).
pub fn model_input(inputs: &Inputs) -> Result<std::sync::Arc<MotionModel>, NodeError> {
    MotionModel::shared(inputs.record("model", PortType::MotionModel)?).map_err(|e| NodeError::input("model", e))
}

/// The network's input from a node's `features` input (and `audio`, when
/// connected, for the frame count): the prepared rows and the frame count.
pub fn audio_input(model: &MotionModel, inputs: &Inputs) -> Result<(Vec<f32>, usize), NodeError> {
    let features = inputs.record("features", PortType::Features)?;
    let (values, dims, rate) = features_of(model, features)?;
    let frames = match inputs.get("audio").and_then(Value::as_record) {
        Some(audio) => {
            let view = AudioView::of(audio).map_err(|e| NodeError::input("audio", e))?;
            frame_count(view.frames, view.sample_rate as f64, model.config.fps)
        }
        None => frame_count(values.len() / dims, rate, model.config.fps),
    };
    if frames == 0 {
        return Err(NodeError::input(
            "features",
            format!("are shorter than one frame at {} fps", model.config.fps),
        ));
    }
    Ok((prepare(model, values, dims, frames), frames))
}

/// A features value's rows, checked against what the model reads.
pub fn features_of<'a>(model: &MotionModel, features: &'a Record) -> Result<(&'a [f32], usize, f64), NodeError> {
    let tensor = features.tensor("values").ok_or_else(|| NodeError::input("features", "has no values"))?;
    let dims = tensor.shape()[1];
    let rate = features.attr("rate").and_then(|r| r.as_f64()).unwrap_or(0.0);
    let source = features.attr("source").and_then(|s| s.as_str()).unwrap_or("features");
    let spec = &model.config.features;
    if dims != spec.dims || (source != spec.kind && source != "features") {
        return Err(NodeError::input(
            "features",
            format!(
                "are {source} features of {dims} dimensions, but the model reads {} features of {} dimensions",
                spec.kind, spec.dims
            ),
        ));
    }
    if tensor.shape()[0] == 0 {
        return Err(NodeError::input("features", "have no frames"));
    }
    Ok((tensor.as_f32().expect("validated"), dims, rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_frame_with_the_overlap() {
        assert_eq!(windows(10, 200, 25), vec![(0, 10)]);
        assert_eq!(windows(10, 4, 1), vec![(0, 4), (3, 4), (6, 4)]);
        assert_eq!(windows(11, 4, 1), vec![(0, 4), (3, 4), (6, 4), (7, 4)]);
        assert_eq!(windows(250, 200, 25), vec![(0, 138), (112, 138)]);
        for frames in [201, 376, 1500, 90_000] {
            let plan = windows(frames, 200, 25);
            assert!(plan.iter().all(|&(_, len)| len <= 200 && len == plan[0].1), "{frames}: equal, at most 200");
            assert_eq!(plan[0].0, 0);
            assert_eq!(plan.last().map(|&(s, len)| s + len), Some(frames));
            assert!(plan.windows(2).all(|p| p[0].0 + p[0].1 >= p[1].0 + 25), "{frames}: overlaps of 25 at least");
        }
    }

    #[test]
    fn smoothing_keeps_constants_and_softens_steps() {
        let mut flat = vec![2.0f32; 10];
        smooth(&mut flat, 1, 1.5);
        assert!(flat.iter().all(|v| (v - 2.0).abs() < 1e-5));
        let mut step: Vec<f32> = (0..10).map(|i| if i < 5 { 0.0 } else { 1.0 }).collect();
        smooth(&mut step, 1, 1.0);
        assert!(step[4] > 0.0 && step[5] < 1.0 && step[4] < step[5]);
    }
}

/// Per-frame rows of a `Features` input produced by another part node,
/// checked to be `width` wide; returns the rows and their frame count.
pub fn part_input<'a>(inputs: &'a Inputs, socket: &str, width: usize) -> Result<(&'a [f32], usize), NodeError> {
    let record = inputs.record(socket, PortType::Features)?;
    let tensor = record.tensor("values").ok_or_else(|| NodeError::input(socket, "has no values"))?;
    if tensor.shape()[1] != width {
        return Err(NodeError::input(
            socket,
            format!("has {} values per frame, the model's parts exchange {width}", tensor.shape()[1]),
        ));
    }
    Ok((tensor.as_f32().expect("validated"), tensor.shape()[0]))
}

/// Adds the `model` input every part node has.
pub fn part_spec(spec: NodeSpec) -> NodeSpec {
    spec.input(PortSpec::new("model", PortType::MotionModel, "The motion model whose part runs."))
}

/// Runs one part of `model` over windows of `frames`, giving one stream of `width`.
pub fn run_part(
    ctx: &RunContext,
    frames: usize,
    width: usize,
    part: impl Fn(&WindowBatch, &Masks) -> candle_core::Result<Tensor>,
    model: &MotionModel,
) -> Result<Vec<f32>, NodeError> {
    let options = GenerateOptions::default();
    let mut streams = blend_windows(frames, &options, &[width], &|| ctx.is_cancelled(), |batch| {
        let masks = batch.masks(&model.config).map_err(model_error)?;
        Ok(vec![values(&part(batch, &masks).map_err(model_error)?)?])
    })?;
    Ok(streams.pop().expect("one stream"))
}
