//! Motion-model checkpoints: one `.safetensors` file holding a `motion_model`
//! value (the format `io.save` writes, with a checksum of every tensor): the
//! network's weights, the feature statistics it normalises with, and its
//! [`Config`] as JSON. Loading checks every tensor's name and shape.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, Weak};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use gspeech_sdk::{CancelToken, NodeError, PortType, Record, Value, store};

use super::config::Config;
use super::generate::Affine;
use super::model::MotionTransformer;

/// Name of the value inside a checkpoint file.
pub const VALUE: &str = "motion_model";
/// Tensor names of the feature statistics.
const MEAN: &str = "features.mean";
const STD: &str = "features.std";

/// Per-dimension statistics of the training features, for normalisation.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureStats {
    /// Mean of each feature dimension.
    pub mean: Vec<f32>,
    /// Standard deviation of each (never below 1e-5).
    pub std: Vec<f32>,
    /// Whether each take is centred on its own mean first ([`centre`]).
    pub per_utterance: bool,
}

impl FeatureStats {
    /// Statistics that leave `dims`-dimensional features as they are.
    pub fn identity(dims: usize) -> FeatureStats {
        FeatureStats {
            mean: vec![0.0; dims],
            std: vec![1.0; dims],
            per_utterance: false,
        }
    }

    /// Statistics over the rows of several `[frames, dims]` takes, each
    /// centred on its own mean first when `per_utterance`.
    pub fn measure<'a>(takes: impl IntoIterator<Item = &'a [f32]>, dims: usize, per_utterance: bool) -> FeatureStats {
        let mut sum = vec![0f64; dims];
        let mut square = vec![0f64; dims];
        let mut rows = 0usize;
        for take in takes {
            let mut take = take.to_vec();
            if per_utterance {
                centre(&mut take, dims);
            }
            for row in take.chunks_exact(dims) {
                for (d, &v) in row.iter().enumerate() {
                    sum[d] += v as f64;
                    square[d] += (v as f64) * (v as f64);
                }
                rows += 1;
            }
        }
        let n = rows.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        FeatureStats {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: square
                .iter()
                .zip(&mean)
                .map(|(s, m)| (s / n - m * m).max(0.0).sqrt().max(1e-5) as f32)
                .collect(),
            per_utterance,
        }
    }

    /// Normalises one whole take's `[frames, dims]` values in place.
    pub fn apply(&self, values: &mut [f32]) {
        if self.per_utterance {
            centre(values, self.mean.len());
        }
        self.scale(values);
    }

    /// The second half of [`FeatureStats::apply`]: standardises rows already
    /// centred (when `per_utterance`) with the training statistics.
    pub fn scale(&self, values: &mut [f32]) {
        let dims = self.mean.len();
        for row in values.chunks_exact_mut(dims) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }
}

/// Subtracts each dimension's mean over a take's `[frames, dims]` rows.
pub fn centre(values: &mut [f32], dims: usize) {
    let rows = values.len() / dims.max(1);
    if rows == 0 {
        return;
    }
    let mut mean = vec![0f64; dims];
    for row in values.chunks_exact(dims) {
        mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / rows as f64) as f32).collect();
    for row in values.chunks_exact_mut(dims) {
        row.iter_mut().zip(&mean).for_each(|(v, m)| *v -= m);
    }
}

/// A loaded motion model: configuration, feature statistics and network.
#[derive(Clone, Debug)]
pub struct MotionModel {
    /// What it is and what it was trained on.
    pub config: Config,
    /// How it normalises features.
    pub stats: FeatureStats,
    /// The network.
    pub network: MotionTransformer,
    /// The network's vertex mapper, ready for inference.
    pub mapper: Affine,
}

impl MotionModel {
    /// A model of `network`, normalising features with `stats`.
    pub fn new(stats: FeatureStats, network: MotionTransformer) -> candle_core::Result<MotionModel> {
        Ok(MotionModel {
            config: network.config.clone(),
            mapper: Affine::from_linear(network.vertex_mapper())?,
            stats,
            network,
        })
    }

    /// Builds the model from a `motion_model` record; problems name the tensor.
    pub fn from_record(record: &Record, device: &Device) -> Result<MotionModel, String> {
        let config: Config = serde_json::from_value(record.attr("config").cloned().unwrap_or_default())
            .map_err(|e| format!("its `config` is not a motion-model configuration: {e}"))?;
        config.check().map_err(|e| format!("its configuration is invalid: {e}"))?;
        let mut tensors = HashMap::new();
        for (name, tensor) in record.tensors() {
            let values = tensor
                .as_f32()
                .ok_or_else(|| format!("tensor `{name}` must be f32"))?;
            let t = Tensor::from_slice(values, tensor.shape(), device).map_err(|e| e.to_string())?;
            tensors.insert(name.clone(), t);
        }
        let dims = config.features.dims;
        let stat = |name: &str| -> Result<Vec<f32>, String> {
            let t = record
                .tensor(name)
                .ok_or_else(|| format!("tensor `{name}` is missing"))?;
            if t.shape() != [dims] {
                return Err(format!("tensor `{name}` has shape {:?}, the features have {dims} dimensions", t.shape()));
            }
            Ok(t.as_f32().expect("checked above").to_vec())
        };
        let stats = FeatureStats {
            mean: stat(MEAN)?,
            std: stat(STD)?,
            per_utterance: config.features.per_utterance,
        };
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let network = MotionTransformer::new(vb, &config).map_err(|e| e.to_string())?;
        MotionModel::new(stats, network).map_err(|e| e.to_string())
    }

    /// The model of a `motion_model` value on the CPU, built on first use and
    /// kept while the value lives: a graph that runs again, or several nodes
    /// reading one model, do not rebuild the network from its weights.
    pub fn shared(record: &Arc<Record>) -> Result<Arc<MotionModel>, String> {
        static BUILT: Mutex<Vec<(Weak<Record>, Arc<MotionModel>)>> = Mutex::new(Vec::new());
        let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
        built.retain(|(value, _)| value.strong_count() > 0);
        if let Some((_, model)) = built.iter().find(|(value, _)| std::ptr::eq(value.as_ptr(), Arc::as_ptr(record))) {
            return Ok(model.clone());
        }
        let model = Arc::new(MotionModel::from_record(record, &Device::Cpu)?);
        built.push((Arc::downgrade(record), model.clone()));
        Ok(model)
    }

    /// Reads a checkpoint file onto the CPU.
    pub fn load(path: &Path) -> Result<MotionModel, NodeError> {
        let record = read(path)?;
        MotionModel::from_record(&record, &Device::Cpu).map_err(|e| NodeError::file(path, e))
    }
}

/// The `motion_model` record of a network's weights (`name → tensor`), its
/// statistics and configuration.
pub fn to_record(config: &Config, stats: &FeatureStats, weights: &BTreeMap<String, Tensor>) -> Result<Record, String> {
    let mut record = Record::new(PortType::MotionModel)
        .with_attr("architecture", config.architecture.name())
        .with_attr("config", serde_json::to_value(config).map_err(|e| e.to_string())?);
    for (name, tensor) in weights {
        let values: Vec<f32> = tensor
            .flatten_all()
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec1())
            .map_err(|e| e.to_string())?;
        let t = gspeech_sdk::Tensor::from_f32(tensor.dims(), values).map_err(|e| e.to_string())?;
        record = record.with_tensor(name.clone(), t);
    }
    let dims = [stats.mean.len()];
    Ok(record
        .with_tensor(MEAN, gspeech_sdk::Tensor::from_f32(&dims, stats.mean.clone()).expect("1-D"))
        .with_tensor(STD, gspeech_sdk::Tensor::from_f32(&dims, stats.std.clone()).expect("1-D")))
}

/// Writes a checkpoint atomically: a reader sees the old file or the new one.
pub fn save(path: &Path, record: Record, cancel: &CancelToken) -> Result<(), NodeError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| NodeError::file(dir, e))?;
    }
    let values = BTreeMap::from([(VALUE.to_string(), Value::data(record))]);
    store::save(path, &values, cancel)
}

/// Reads a checkpoint's record, checking its kind.
pub fn read(path: &Path) -> Result<Record, NodeError> {
    let values = store::load(path)?;
    match values.get(VALUE) {
        Some(Value::Data(record)) if record.kind() == PortType::MotionModel => Ok((**record).clone()),
        _ => Err(NodeError::file(
            path,
            format!("is not a motion-model checkpoint (it holds no `{VALUE}` value)"),
        )),
    }
}

/// `motion.model`: loads a checkpoint once for every node that uses it.
pub struct LoadModel;

impl gspeech_sdk::Node for LoadModel {
    fn spec(&self) -> gspeech_sdk::NodeSpec {
        use gspeech_sdk::{FileFilter, ParamSpec, PathRole, PortSpec};
        gspeech_sdk::NodeSpec::new("motion.model", 1, "Motion Model")
            .doc(
                "Loads a speech-to-motion checkpoint (`.safetensors` from `gspeech train motion`; the default model \
                 ships in projects/assets/motion). Its configuration says what it reads (feature kind and \
                 dimensions), the face model it drives, its speaker styles and how it was trained; every tensor is \
                 checked by name and shape.",
            )
            .output(PortSpec::new("model", PortType::MotionModel, "The model."))
            .param(ParamSpec::path(
                "path",
                PathRole::InputFile,
                vec![FileFilter::new("Motion model", &["safetensors"])],
                "",
                "The checkpoint.",
            ))
    }

    fn run(
        &self,
        ctx: &gspeech_sdk::RunContext,
        _inputs: &gspeech_sdk::Inputs,
        params: &gspeech_sdk::Params,
    ) -> Result<gspeech_sdk::Outputs, NodeError> {
        let path = params.path("path")?;
        let record = Arc::new(read(path)?);
        // Built here once, checking the checkpoint, and shared with every node
        // that reads this value.
        let model = MotionModel::shared(&record).map_err(|e| NodeError::file(path, e))?;
        let c = &model.config;
        ctx.info(&format!(
            "{} model: {} {}-dimensional features, {} fps, {} speakers, face `{}` ({} of {} vertices moved)",
            c.architecture.name(),
            c.features.kind,
            c.features.dims,
            c.fps,
            c.speakers.len(),
            c.face.name,
            c.face.moved_vertices().len(),
            c.face.vertices
        ));
        Ok(gspeech_sdk::Outputs::new().with("model", Value::Data(record)))
    }
}
