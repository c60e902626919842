//! `capture.load`: a multi-view capture folder, checked, as a `dataset` value.

use gspeech_sdk::{
    Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PathRole, PortSpec, PortType, Record, RunContext,
    Value,
};
use serde_json::json;

use super::format::{Capture, INDEX, SPLITS};

/// Opens a capture folder, checks it and describes it as a `dataset` record.
pub struct LoadCapture;

impl Node for LoadCapture {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("capture.load", 1, "Load Capture")
            .doc(
                "Opens a multi-view capture folder (capture.json with calibrated cameras, frames and splits; \
                 meshes.safetensors with a tracked mesh per frame; images/<camera>/<frame>.png) and checks it: \
                 cameras' intrinsics and rigid poses, frame splits, the mesh count and vertex count against the \
                 face model, and the presence and size of every image. Fails listing every problem. Outputs a \
                 dataset whose `splits` hold frame indices.",
            )
            .output(PortSpec::new(
                "dataset",
                PortType::Dataset,
                "The capture: its folder, splits, cameras and face model.",
            ))
            .param(ParamSpec::path(
                "path",
                PathRole::InputDir,
                vec![],
                "",
                "The capture folder, relative to the graph file.",
            ))
    }

    fn run(&self, ctx: &RunContext, _inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let capture = Capture::open(params.path("path")?)?;
        ctx.info(&describe(&capture));
        Ok(Outputs::new().with("dataset", Value::data(dataset_record(&capture))))
    }
}

/// One line about a capture: its folder, cameras, frames per split and face model.
pub(super) fn describe(capture: &Capture) -> String {
    let index = &capture.index;
    let count = |split: &str| capture.split(split).count();
    let face = &index.face_model;
    format!(
        "{}: {} cameras ({} held out), {} frames ({} train, {} val, {} test), face model \"{}\" ({} vertices, {})",
        capture.root.display(),
        index.cameras.len(),
        index.cameras.iter().filter(|c| c.held_out).count(),
        index.frames.len(),
        count("train"),
        count("val"),
        count("test"),
        face.name,
        face.vertices,
        face.units,
    )
}

/// A checked capture as a `dataset` record: its folder, frame indices per
/// split, cameras and face model.
pub(super) fn dataset_record(capture: &Capture) -> Record {
    let index = &capture.index;
    let mut splits = serde_json::Map::new();
    for split in SPLITS {
        let frames: Vec<usize> = capture.split(split).map(|f| f.index).collect();
        splits.insert(split.into(), json!(frames));
    }
    let held_out: Vec<&str> = index
        .cameras
        .iter()
        .filter(|c| c.held_out)
        .map(|c| c.name.as_str())
        .collect();
    let face = &index.face_model;
    let mut record = Record::new(PortType::Dataset)
        .with_attr("root", capture.root.to_string_lossy().into_owned())
        .with_attr("splits", splits)
        .with_attr("kind", "capture")
        .with_attr("index", INDEX)
        .with_attr("cameras", index.cameras.len())
        .with_attr("held_out_cameras", held_out)
        .with_attr("frames", index.frames.len())
        .with_attr(
            "face_model",
            json!({"name": face.name, "vertices": face.vertices, "digest": face.digest, "units": face.units}),
        );
    if let Some(fps) = index.fps {
        record = record.with_attr("fps", fps);
    }
    if !index.weight_names.is_empty() {
        record = record.with_attr("weight_names", index.weight_names.clone());
    }
    record
}
