//! `debug.inspect`: a value's summary in the log.

use gspeech_sdk::{
    Caching, Inputs, Node, NodeError, NodeSpec, Outputs, ParamSpec, Params, PortSpec, PortType, RunContext, Tensor,
    Value,
};

/// Logs a one-line summary of its input, then statistics of each tensor.
pub struct Inspect;

impl Node for Inspect {
    fn spec(&self) -> NodeSpec {
        NodeSpec::new("debug.inspect", 1, "Inspect")
            .doc(
                "Writes a summary of any value to the log: scalars in full; for data values the kind, each \
                 tensor's type and shape with its minimum, maximum, mean and count of non-finite values, and the \
                 attributes.",
            )
            .input(PortSpec::new("value", PortType::Any, "The value to describe."))
            .param(ParamSpec::text(
                "label",
                "",
                "Printed before the summary (the node id when empty).",
            ))
            .caching(Caching::Never)
    }

    fn run(&self, ctx: &RunContext, inputs: &Inputs, params: &Params) -> Result<Outputs, NodeError> {
        let value = inputs.value("value")?;
        let label = match params.text("label")? {
            "" => ctx.node_id(),
            label => label,
        };
        ctx.info(&format!("{label}: {value}"));
        if let Value::Data(record) = value {
            for (name, tensor) in record.tensors() {
                ctx.info(&format!("{label}: {name} {}", TensorStats::of(tensor)));
            }
        }
        Ok(Outputs::new())
    }
}

/// Summary statistics of a tensor's finite elements.
#[derive(Debug, PartialEq)]
pub struct TensorStats {
    /// Smallest finite element.
    pub min: f64,
    /// Largest finite element.
    pub max: f64,
    /// Mean of the finite elements.
    pub mean: f64,
    /// Count of NaN and infinite elements.
    pub non_finite: usize,
}

impl TensorStats {
    /// Statistics of any tensor, its elements widened to `f64`.
    pub fn of(tensor: &Tensor) -> TensorStats {
        fn fold(values: impl Iterator<Item = f64>) -> TensorStats {
            let (mut min, mut max, mut sum, mut n, mut bad) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize, 0);
            for v in values {
                if v.is_finite() {
                    min = min.min(v);
                    max = max.max(v);
                    sum += v;
                    n += 1;
                } else {
                    bad += 1;
                }
            }
            let mean = if n > 0 { sum / n as f64 } else { f64::NAN };
            TensorStats {
                min,
                max,
                mean,
                non_finite: bad,
            }
        }
        fold(tensor.values_f64())
    }
}

impl std::fmt::Display for TensorStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "min {:.6} max {:.6} mean {:.6}", self.min, self.max, self.mean)?;
        if self.non_finite > 0 {
            write!(f, " non-finite {}", self.non_finite)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::testing::TestRun;
    use gspeech_sdk::{LogLevel, Record};
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn logs_summary_and_statistics() {
        let features = Record::new(PortType::Features)
            .with_tensor(
                "values",
                Tensor::from_f32(&[2, 2], vec![1.0, 3.0, f32::NAN, -2.0]).unwrap(),
            )
            .with_attr("rate", 50.0);
        let run = TestRun::new();
        let inputs = Inputs::new(BTreeMap::from([("value".to_string(), Value::data(features))]));
        run.run(&Inspect, inputs, json!({"label": "w2v"})).unwrap();
        let logs: Vec<String> = run
            .logs()
            .into_iter()
            .map(|(l, m)| {
                assert_eq!(l, LogLevel::Info);
                m
            })
            .collect();
        assert_eq!(logs[0], "w2v: features values:f32[2, 2] rate=50.0");
        assert_eq!(
            logs[1],
            "w2v: values min -2.000000 max 3.000000 mean 0.666667 non-finite 1"
        );
    }
}
