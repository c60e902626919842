//! An example plugin written in Rust: `org.gspeech.examples.motion.smooth`
//! smooths face motion over time with a Gaussian kernel and scales it, to calm
//! jittery tracking or to exaggerate a performance.
//!
//! Build it with `cargo build --release -p gspeech-plugin-smooth-motion`; the
//! library is `target/release/libgspeech_plugin_smooth_motion.so`.

use gspeech_sdk::{
    Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, Record, RunContext, Tensor,
    Value,
};

/// Gaussian temporal smoothing and exaggeration of a `Motion`.
pub struct Smooth;

/// Smooths `frames` rows of `width` values along time with a Gaussian of
/// `sigma` frames (edges clamped), then multiplies by `gain`.
pub fn smooth(data: &[f32], frames: usize, width: usize, sigma: f64, gain: f64) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let kernel: Vec<f64> = (-radius..=radius)
        .map(|i| (-0.5 * (i as f64 / sigma.max(1e-9)).powi(2)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    let mut out = vec![0f32; data.len()];
    for t in 0..frames {
        for (k, w) in kernel.iter().enumerate() {
            let src = (t as isize + k as isize - radius).clamp(0, frames as isize - 1) as usize;
            let weight = (w / total * gain) as f32;
            let (row, dst) = (
                &data[src * width..(src + 1) * width],
                &mut out[t * width..(t + 1) * width],
            );
            for (d, s) in dst.iter_mut().zip(row) {
                *d += weight * s;
            }
        }
    }
    out
}

impl Node for Smooth {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("org.gspeech.examples.motion.smooth", 1, "Smooth Motion")
            .category("motion")
            .doc(
                "Smooths vertex offsets and blendshape weights over time with a Gaussian kernel, then scales them \
                 (above 1 exaggerates, below 1 calms). Weights stay within [0, 1].",
            )
            .input(PortSpec::new("motion", PortType::Motion, "The motion to smooth."))
            .output(PortSpec::new("motion", PortType::Motion, "The smoothed motion."))
            .param(ParamSpec::float(
                "sigma",
                1.0,
                (Some(0.0), Some(50.0)),
                "Kernel width in frames (0: no smoothing).",
            ))
            .param(ParamSpec::float(
                "gain",
                1.0,
                (Some(0.0), Some(4.0)),
                "Scale applied after smoothing.",
            ))
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let motion = inputs.record("motion", PortType::Motion)?;
        let (sigma, gain) = (params.float("sigma")?, params.float("gain")?);
        let mut out = Record::new(PortType::Motion);
        for (name, value) in motion.attrs() {
            out = out.with_attr(name.clone(), value.clone());
        }
        for (name, tensor) in motion.tensors() {
            ctx.check_cancelled()?;
            let smoothed = match (name.as_str(), tensor.as_f32()) {
                ("vertex_offsets" | "weights", Some(data)) if !tensor.is_empty() => {
                    let frames = tensor.shape()[0];
                    let mut values = smooth(data, frames, data.len() / frames, sigma, gain);
                    if name == "weights" {
                        values.iter_mut().for_each(|w| *w = w.clamp(0.0, 1.0));
                    }
                    Tensor::from_f32(tensor.shape(), values).map_err(|e| NodeError::input("motion", e.to_string()))?
                }
                _ => tensor.clone(),
            };
            out = out.with_tensor(name.clone(), smoothed);
        }
        ctx.info(&format!("smoothed motion with sigma {sigma} frames, gain {gain}"));
        Ok(Outputs::new().with("motion", Value::data(out)))
    }
}

gspeech_sdk::export_plugin!(id: "org.gspeech.examples.motion", version: "1.0.0", nodes: [Smooth]);

#[cfg(test)]
mod tests {
    use super::smooth;

    #[test]
    fn a_constant_signal_is_unchanged_and_a_spike_spreads_symmetrically() {
        assert_eq!(
            smooth(&[2.0; 5], 5, 1, 1.5, 1.0)
                .iter()
                .map(|v| (v * 1e4).round())
                .collect::<Vec<_>>(),
            vec![20000.0; 5]
        );
        let mut signal = [0.0f32; 11];
        signal[5] = 1.0;
        let spike = smooth(&signal, 11, 1, 1.0, 1.0);
        assert!((spike[4] - spike[6]).abs() < 1e-6 && spike[5] > spike[4] && spike[4] > spike[3]);
        assert!(
            (spike.iter().sum::<f32>() - 1.0).abs() < 1e-5,
            "away from the edges nothing is lost"
        );
        assert_eq!(
            smooth(&[1.0, 2.0], 2, 1, 0.0, 2.0),
            vec![2.0, 4.0],
            "sigma 0 only scales"
        );
    }
}
