//! `export.gltf` read back with the `gltf` crate, and checked against the
//! glTF validator's rules on bounds, alignment and animation.

use ::gltf::animation::util::ReadOutputs;
use ::gltf::buffer::Target;
use serde_json::json;

use super::*;
use crate::export::testing::inputs;
use gspeech_sdk::testing::TestRun;
use gspeech_sdk::{Tensor, Value};

/// A square of two triangles in centimetres, with two expressions: the
/// top edge lifts (`jawOpen`) or the left edge moves in (`eyeBlink_L`).
fn face_model() -> Value {
    let neutral = vec![0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 10.0, 10.0, 0.0, 0.0, 10.0, 0.0];
    let mut expressions = vec![0.0; 2 * 4 * 3];
    expressions[2 * 3 + 1] = 5.0; // jawOpen: vertex 2 up 5 cm
    expressions[3 * 3 + 1] = 5.0; // and vertex 3
    expressions[12] = 2.0; // eyeBlink_L: vertex 0 right 2 cm
    Value::data(
        Record::new(PortType::FaceModel)
            .with_tensor("neutral", Tensor::from_f32(&[4, 3], neutral).unwrap())
            .with_tensor("triangles", Tensor::from_u32(&[2, 3], vec![0, 1, 2, 0, 2, 3]).unwrap())
            .with_tensor("expressions", Tensor::from_f32(&[2, 4, 3], expressions).unwrap())
            .with_tensor(
                "uvs",
                Tensor::from_f32(&[4, 2], vec![0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]).unwrap(),
            )
            .with_attr("expression_names", vec!["jawOpen", "eyeBlink_L"])
            .with_attr("units", "cm"),
    )
}

/// Whether two vectors agree to a millionth (unit conversion rounds).
fn close<const N: usize>(a: [f32; N], b: [f32; N]) -> bool {
    a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6)
}

fn export(run: &TestRun, name: &str, motion: Option<Value>) -> (::gltf::Document, Vec<u8>) {
    let path = run.dir().join(name);
    let mut values = vec![("face_model".to_string(), face_model())];
    values.extend(motion.map(|m| ("motion".to_string(), m)));
    run.run(
        &Gltf,
        Inputs::new(values.into_iter().collect()),
        json!({"path": path.to_str().unwrap()}),
    )
    .unwrap();
    let file = ::gltf::Gltf::from_slice(&std::fs::read(&path).unwrap()).expect("a valid GLB");
    let blob = file.blob.clone().expect("a binary chunk");
    (file.document, blob)
}

/// The validator's rules this writer must keep, checked on the document.
fn assert_follows_validator_rules(doc: &::gltf::Document) {
    for view in doc.views() {
        assert_eq!(view.offset() % 4, 0, "buffer view {} is aligned", view.index());
    }
    let mesh = doc.meshes().next().unwrap();
    for primitive in mesh.primitives() {
        let (_, positions) = primitive
            .attributes()
            .find(|(s, _)| *s == ::gltf::Semantic::Positions)
            .unwrap();
        assert!(
            positions.min().is_some() && positions.max().is_some(),
            "POSITION has bounds"
        );
        assert_eq!(positions.view().unwrap().target(), Some(Target::ArrayBuffer));
        assert_eq!(
            primitive.indices().unwrap().view().unwrap().target(),
            Some(Target::ElementArrayBuffer)
        );
        for target in primitive.morph_targets() {
            let accessor = target.positions().unwrap();
            assert!(
                accessor.min().is_some() && accessor.max().is_some(),
                "morph target POSITION has bounds"
            );
        }
    }
    for animation in doc.animations() {
        for sampler in animation.samplers() {
            let input = sampler.input();
            assert!(
                input.min().is_some() && input.max().is_some(),
                "animation input has bounds"
            );
            assert_eq!(
                input.view().unwrap().target(),
                None,
                "animation data has no buffer target"
            );
            assert_eq!(sampler.output().view().unwrap().target(), None);
        }
    }
}

#[test]
fn a_static_mesh_carries_its_expressions_as_named_morph_targets() {
    let run = TestRun::new();
    let (doc, blob) = export(&run, "face.glb", None);
    assert_follows_validator_rules(&doc);
    let mesh = doc.meshes().next().unwrap();
    let primitive = mesh.primitives().next().unwrap();
    let reader = primitive.reader(|_| Some(&blob));
    let positions: Vec<[f32; 3]> = reader.read_positions().unwrap().collect();
    assert!(close(positions[2], [0.1, 0.1, 0.0]), "centimetres become metres");
    let normals: Vec<[f32; 3]> = reader.read_normals().unwrap().collect();
    assert!(normals.iter().all(|n| *n == [0.0, 0.0, 1.0]));
    let uvs: Vec<[f32; 2]> = reader.read_tex_coords(0).unwrap().into_f32().collect();
    assert_eq!(uvs[0], [0.0, 1.0], "texture origin moves to the top left");
    let indices: Vec<u32> = reader.read_indices().unwrap().into_u32().collect();
    assert_eq!(indices, [0, 1, 2, 0, 2, 3]);
    let targets: Vec<Vec<[f32; 3]>> = reader
        .read_morph_targets()
        .map(|(p, _, _)| p.unwrap().collect())
        .collect();
    assert_eq!(targets.len(), 2);
    assert!(close(targets[0][3], [0.0, 0.05, 0.0]));
    assert!(close(targets[1][0], [0.02, 0.0, 0.0]));
    assert_eq!(mesh.weights(), Some(&[0.0, 0.0][..]));
    let extras: serde_json::Value = serde_json::from_str(mesh.extras().as_ref().unwrap().get()).unwrap();
    assert_eq!(extras["targetNames"], json!(["jawOpen", "eyeBlink_L"]));
    assert_eq!(doc.animations().count(), 0);
}

#[test]
fn blendshape_weights_animate_the_expressions_by_name() {
    let run = TestRun::new();
    let motion = Value::data(
        Record::new(PortType::Motion)
            .with_tensor(
                "weights",
                Tensor::from_f32(&[3, 3], vec![0.0, 0.5, 7.0, 0.5, 1.0, 7.0, 1.0, 0.25, 7.0]).unwrap(),
            )
            .with_attr("weight_names", vec!["eyeBlinkLeft", "jawOpen", "neckTense"])
            .with_attr("fps", 25),
    );
    let (doc, blob) = export(&run, "talk.glb", Some(motion));
    assert_follows_validator_rules(&doc);
    let animation = doc.animations().next().unwrap();
    let channel = animation.channels().next().unwrap();
    assert_eq!(
        channel.target().property(),
        ::gltf::animation::Property::MorphTargetWeights
    );
    assert_eq!(
        channel.sampler().interpolation(),
        ::gltf::animation::Interpolation::Linear
    );
    let reader = channel.reader(|_| Some(&blob));
    let times: Vec<f32> = reader.read_inputs().unwrap().collect();
    assert_eq!(times, [0.0, 0.04, 0.08]);
    let Some(ReadOutputs::MorphTargetWeights(weights)) = reader.read_outputs() else {
        panic!("weights are animated");
    };
    // Targets in the face model's order: jawOpen, eyeBlink_L.
    let weights: Vec<f32> = weights.into_f32().collect();
    assert_eq!(weights, [0.5, 0.0, 1.0, 0.5, 0.25, 1.0]);
    assert!(run.logs().iter().any(|(_, m)| m.contains("neckTense")));
}

#[test]
fn vertex_offsets_become_one_target_per_frame_weighted_in_turn() {
    let run = TestRun::new();
    let offsets: Vec<f32> = (0..3)
        .flat_map(|t| (0..4).flat_map(move |v| [t as f32, v as f32, 0.0]))
        .collect();
    let motion = Value::data(
        Record::new(PortType::Motion)
            .with_tensor("vertex_offsets", Tensor::from_f32(&[3, 4, 3], offsets).unwrap())
            .with_attr("fps", 30),
    );
    let (doc, blob) = export(&run, "cache.glb", Some(motion));
    assert_follows_validator_rules(&doc);
    let primitive = doc.meshes().next().unwrap().primitives().next().unwrap();
    let targets: Vec<Vec<[f32; 3]>> = primitive
        .reader(|_| Some(&blob))
        .read_morph_targets()
        .map(|(p, _, _)| p.unwrap().collect())
        .collect();
    assert_eq!(targets.len(), 3);
    assert!(close(targets[2][3], [0.02, 0.03, 0.0]));
    let channel = doc.animations().next().unwrap().channels().next().unwrap();
    let reader = channel.reader(|_| Some(&blob));
    let Some(ReadOutputs::MorphTargetWeights(weights)) = reader.read_outputs() else {
        panic!("weights are animated");
    };
    let weights: Vec<f32> = weights.into_f32().collect();
    assert_eq!(weights, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn mismatched_inputs_are_named() {
    let run = TestRun::new();
    let path = run.dir().join("bad.glb");
    let offsets = Value::data(
        Record::new(PortType::Motion)
            .with_tensor("vertex_offsets", Tensor::from_f32(&[1, 5, 3], vec![0.0; 15]).unwrap())
            .with_attr("fps", 25),
    );
    let err = run
        .run(
            &Gltf,
            inputs([("face_model", face_model()), ("motion", offsets)]),
            json!({"path": path.to_str().unwrap()}),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("vertex offsets are for 5 vertices, the face model has 4"),
        "{err}"
    );
    let unnamed = Value::data(
        Record::new(PortType::Motion)
            .with_tensor("weights", Tensor::from_f32(&[1, 1], vec![0.0]).unwrap())
            .with_attr("weight_names", vec!["smile"])
            .with_attr("fps", 25),
    );
    let err = run
        .run(
            &Gltf,
            inputs([("face_model", face_model()), ("motion", unnamed)]),
            json!({"path": path.to_str().unwrap()}),
        )
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::Input { socket, .. } if socket == "motion"),
        "{err}"
    );
    assert!(!path.exists());
}
