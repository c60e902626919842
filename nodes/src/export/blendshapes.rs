//! `export.blendshapes`: ARKit blendshape curves as a Live Link Face CSV file,
//! which Unreal's Live Link Face importer, Unity and Maya tools read.

use gspeech_sdk::{
    Caching, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, RunContext,
};

use super::weights::NamedWeights;
use super::{output_path, write_file};

/// Writes a motion's blendshape weights as Live Link Face CSV.
pub struct Blendshapes;

/// The columns after `Timecode` and `BlendShapeCount`, in Live Link Face's
/// order: Apple ARKit's 52 blendshapes, then head and eye rotations.
pub const LIVE_LINK_FACE_COLUMNS: [&str; 61] = [
    "EyeBlinkLeft",
    "EyeLookDownLeft",
    "EyeLookInLeft",
    "EyeLookOutLeft",
    "EyeLookUpLeft",
    "EyeSquintLeft",
    "EyeWideLeft",
    "EyeBlinkRight",
    "EyeLookDownRight",
    "EyeLookInRight",
    "EyeLookOutRight",
    "EyeLookUpRight",
    "EyeSquintRight",
    "EyeWideRight",
    "JawForward",
    "JawRight",
    "JawLeft",
    "JawOpen",
    "MouthClose",
    "MouthFunnel",
    "MouthPucker",
    "MouthRight",
    "MouthLeft",
    "MouthSmileLeft",
    "MouthSmileRight",
    "MouthFrownLeft",
    "MouthFrownRight",
    "MouthDimpleLeft",
    "MouthDimpleRight",
    "MouthStretchLeft",
    "MouthStretchRight",
    "MouthRollLower",
    "MouthRollUpper",
    "MouthShrugLower",
    "MouthShrugUpper",
    "MouthPressLeft",
    "MouthPressRight",
    "MouthLowerDownLeft",
    "MouthLowerDownRight",
    "MouthUpperUpLeft",
    "MouthUpperUpRight",
    "BrowDownLeft",
    "BrowDownRight",
    "BrowInnerUp",
    "BrowOuterUpLeft",
    "BrowOuterUpRight",
    "CheekPuff",
    "CheekSquintLeft",
    "CheekSquintRight",
    "NoseSneerLeft",
    "NoseSneerRight",
    "TongueOut",
    "HeadYaw",
    "HeadPitch",
    "HeadRoll",
    "LeftEyeYaw",
    "LeftEyePitch",
    "LeftEyeRoll",
    "RightEyeYaw",
    "RightEyePitch",
    "RightEyeRoll",
];

/// A SMPTE-style timecode `HH:MM:SS:FF`, as a frame count at `rate` frames per second.
fn parse_timecode(text: &str, rate: u64) -> Result<u64, String> {
    let parts: Vec<u64> = text
        .split(':')
        .map(|p| p.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("`{text}` is not a timecode HH:MM:SS:FF"))?;
    let [h, m, s, f] = parts[..] else {
        return Err(format!("`{text}` is not a timecode HH:MM:SS:FF"));
    };
    if m >= 60 || s >= 60 || f >= rate {
        return Err(format!("`{text}` is out of range at {rate} frames per second"));
    }
    Ok(((h * 60 + m) * 60 + s) * rate + f)
}

/// Frame `frame` at `rate` frames per second as Live Link Face writes it:
/// `HH:MM:SS:FF.fff`, the fraction being the sub-frame (always whole here).
fn timecode(frame: u64, rate: u64) -> String {
    let seconds = frame / rate;
    format!(
        "{:02}:{:02}:{:02}:{:02}.000",
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
        frame % rate
    )
}

impl Node for Blendshapes {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("export.blendshapes", 1, "Export Blendshape Curves")
            .doc(
                "Writes the motion's per-frame blendshape weights as CSV in Live Link Face's layout (Timecode, \
                 BlendShapeCount, then the 52 ARKit curves and 9 head and eye rotations, in the app's order), for \
                 Unreal, Unity and Maya. Weights are matched to ARKit curves by name (eyeBlinkLeft, EyeBlinkLeft and \
                 eyeBlink_L all match); curves the motion lacks are 0. Needs a motion with `weights`.",
            )
            .input(PortSpec::new(
                "motion",
                PortType::Motion,
                "Motion with blendshape `weights` and their `weight_names`.",
            ))
            .param(output_path("CSV", &["csv"]))
            .param(ParamSpec::text(
                "start_timecode",
                "00:00:00:00",
                "Timecode of the first frame, HH:MM:SS:FF at the motion's (rounded) frame rate.",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let motion = inputs.record("motion", PortType::Motion)?;
        let Some(weights) = NamedWeights::of(motion)? else {
            return Err(NodeError::input(
                "motion",
                "has vertex offsets but no blendshape weights; curves need `weights`",
            ));
        };
        if weights.frames == 0 {
            return Err(NodeError::input("motion", "has no frames"));
        }
        let curves = weights.matching(&LIVE_LINK_FACE_COLUMNS, "an ARKit blendshape")?;
        let unused = curves.unused();
        if !unused.is_empty() {
            ctx.info(&format!("not ARKit curves, left out: {}", unused.join(", ")));
        }

        let fps = motion.attr("fps").and_then(|v| v.as_f64()).expect("validated");
        let rate = (fps.round() as u64).max(1);
        let start =
            parse_timecode(params.text("start_timecode")?, rate).map_err(|e| NodeError::param("start_timecode", e))?;
        let mut csv = format!("Timecode,BlendShapeCount,{}\n", LIVE_LINK_FACE_COLUMNS.join(","));
        for t in 0..weights.frames {
            csv += &timecode(start + t as u64, rate);
            csv += &format!(",{}", LIVE_LINK_FACE_COLUMNS.len());
            for value in curves.frame(t) {
                csv += &format!(",{value:.6}");
            }
            csv.push('\n');
        }
        let path = params.path("path")?;
        write_file(ctx, path, csv.as_bytes())?;
        ctx.info(&format!(
            "wrote {}: {} frames, {} of 61 curves from the motion",
            path.display(),
            weights.frames,
            curves.found()
        ));
        Ok(Outputs::new())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::export::testing::inputs;
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{Record, Tensor, Value};

    /// The header of a CSV file recorded with the Live Link Face app.
    const RECORDED_HEADER: &str = "Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,EyeLookInLeft,\
        EyeLookOutLeft,EyeLookUpLeft,EyeSquintLeft,EyeWideLeft,EyeBlinkRight,EyeLookDownRight,EyeLookInRight,\
        EyeLookOutRight,EyeLookUpRight,EyeSquintRight,EyeWideRight,JawForward,JawRight,JawLeft,JawOpen,MouthClose,\
        MouthFunnel,MouthPucker,MouthRight,MouthLeft,MouthSmileLeft,MouthSmileRight,MouthFrownLeft,MouthFrownRight,\
        MouthDimpleLeft,MouthDimpleRight,MouthStretchLeft,MouthStretchRight,MouthRollLower,MouthRollUpper,\
        MouthShrugLower,MouthShrugUpper,MouthPressLeft,MouthPressRight,MouthLowerDownLeft,MouthLowerDownRight,\
        MouthUpperUpLeft,MouthUpperUpRight,BrowDownLeft,BrowDownRight,BrowInnerUp,BrowOuterUpLeft,BrowOuterUpRight,\
        CheekPuff,CheekSquintLeft,CheekSquintRight,NoseSneerLeft,NoseSneerRight,TongueOut,HeadYaw,HeadPitch,\
        HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll";

    fn motion(names: &[&str], weights: Vec<f32>, fps: f64) -> Value {
        let frames = weights.len() / names.len();
        Value::data(
            Record::new(PortType::Motion)
                .with_tensor("weights", Tensor::from_f32(&[frames, names.len()], weights).unwrap())
                .with_attr("fps", fps)
                .with_attr("weight_names", names.to_vec()),
        )
    }

    #[test]
    fn curves_land_in_live_link_face_columns_with_timecodes() {
        let run = TestRun::new();
        let path = run.dir().join("take.csv");
        let names = ["jawOpen", "eyeBlink_L", "mouthSmile_R", "neckStretch"];
        let weights = vec![0.5, 0.25, 1.0, 9.0, 0.0, 0.125, 0.75, 9.0, 1.0, 0.0, 0.0, 9.0];
        run.run(
            &Blendshapes,
            inputs([("motion", motion(&names, weights, 30.0))]),
            json!({"path": path.to_str().unwrap(), "start_timecode": "01:00:00:28"}),
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), RECORDED_HEADER.replace(char::is_whitespace, ""));
        let column = |name: &str| {
            RECORDED_HEADER
                .replace(char::is_whitespace, "")
                .split(',')
                .position(|c| c == name)
                .unwrap()
        };
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows.iter().map(|r| r[0]).collect::<Vec<_>>(),
            ["01:00:00:28.000", "01:00:00:29.000", "01:00:01:00.000"]
        );
        for row in &rows {
            assert_eq!(row.len(), 63);
            assert_eq!(row[1], "61");
        }
        let value = |row: usize, name: &str| rows[row][column(name)].parse::<f32>().unwrap();
        assert_eq!(value(0, "JawOpen"), 0.5);
        assert_eq!(value(1, "EyeBlinkLeft"), 0.125);
        assert_eq!(value(0, "MouthSmileRight"), 1.0);
        assert_eq!(value(2, "JawOpen"), 1.0);
        assert_eq!(value(1, "TongueOut"), 0.0);
        assert!(run.logs().iter().any(|(_, m)| m.contains("neckStretch")));
    }

    #[test]
    fn motions_without_arkit_weights_are_refused() {
        let run = TestRun::new();
        let params = json!({"path": run.dir().join("x.csv").to_str().unwrap()});
        let offsets = Value::data(
            Record::new(PortType::Motion)
                .with_tensor("vertex_offsets", Tensor::from_f32(&[1, 1, 3], vec![0.0; 3]).unwrap())
                .with_attr("fps", 25),
        );
        let err = run
            .run(&Blendshapes, inputs([("motion", offsets)]), params.clone())
            .unwrap_err();
        assert!(err.to_string().contains("no blendshape weights"), "{err}");
        let err = run
            .run(
                &Blendshapes,
                inputs([("motion", motion(&["a", "b"], vec![0.0; 2], 25.0))]),
                params.clone(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("none of its weights"), "{err}");
        let err = run
            .run(
                &Blendshapes,
                inputs([("motion", motion(&["jawOpen"], vec![0.0], 25.0))]),
                json!({"path": run.dir().join("x.csv").to_str().unwrap(), "start_timecode": "00:00:00:25"}),
            )
            .unwrap_err();
        assert!(
            matches!(&err, NodeError::Param { name, .. } if name == "start_timecode"),
            "{err}"
        );
    }
}
