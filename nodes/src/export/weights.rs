//! A motion's blendshape weights, matched by name to the curves or morph
//! targets an export writes.

use gspeech_sdk::{NodeError, Record};

use crate::face::find_name;

/// The `weights` `[frames, count]` of a motion with their `weight_names`.
pub struct NamedWeights<'a> {
    /// Frames of animation.
    pub frames: usize,
    names: Vec<&'a str>,
    values: &'a [f32],
}

/// Wanted names, each with the weight that feeds it (if any).
pub struct Matches<'a> {
    weights: &'a NamedWeights<'a>,
    sources: Vec<Option<usize>>,
}

impl<'a> NamedWeights<'a> {
    /// The weights of a motion (`None` when it has only vertex offsets); an
    /// error names the `motion` socket when the names do not fit the weights.
    pub fn of(motion: &'a Record) -> Result<Option<NamedWeights<'a>>, NodeError> {
        let Some(weights) = motion.tensor("weights") else {
            return Ok(None);
        };
        let (frames, count) = (weights.shape()[0], weights.shape()[1]);
        let names: Vec<&str> = motion
            .attr("weight_names")
            .and_then(|n| n.as_array())
            .map(|n| n.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        if names.len() != count {
            return Err(NodeError::input(
                "motion",
                format!("has {count} weights per frame but {} `weight_names`", names.len()),
            ));
        }
        Ok(Some(NamedWeights {
            frames,
            names,
            values: weights.as_f32().expect("validated"),
        }))
    }

    /// Matches `wanted` names to the weights; an error names the `motion`
    /// socket when no name matches at all (`what` says what was wanted).
    pub fn matching<S: AsRef<str>>(&'a self, wanted: &[S], what: &str) -> Result<Matches<'a>, NodeError> {
        let sources: Vec<Option<usize>> = wanted.iter().map(|w| find_name(&self.names, w.as_ref())).collect();
        if sources.iter().all(Option::is_none) {
            return Err(NodeError::input(
                "motion",
                format!("none of its weights ({}) is named like {what}", self.names.join(", ")),
            ));
        }
        Ok(Matches { weights: self, sources })
    }
}

impl Matches<'_> {
    /// The motion's weights that no wanted name takes, for a log line.
    pub fn unused(&self) -> Vec<&str> {
        (0..self.weights.names.len())
            .filter(|k| !self.sources.contains(&Some(*k)))
            .map(|k| self.weights.names[k])
            .collect()
    }

    /// How many wanted names found a weight.
    pub fn found(&self) -> usize {
        self.sources.iter().flatten().count()
    }

    /// The wanted names' weights at a frame, 0 where the motion has none.
    pub fn frame(&self, frame: usize) -> impl Iterator<Item = f32> + '_ {
        let count = self.weights.names.len();
        let row = &self.weights.values[frame * count..(frame + 1) * count];
        self.sources.iter().map(move |s| s.map_or(0.0, |k| row[k]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::{PortType, Tensor};

    #[test]
    fn wanted_names_take_matching_weights_or_zero() {
        let motion = Record::new(PortType::Motion)
            .with_tensor("weights", Tensor::from_f32(&[2, 2], vec![0.1, 0.2, 0.3, 0.4]).unwrap())
            .with_attr("weight_names", vec!["jawOpen", "extra"])
            .with_attr("fps", 25);
        let weights = NamedWeights::of(&motion).unwrap().unwrap();
        let matches = weights.matching(&["TongueOut", "JawOpen"], "an ARKit curve").unwrap();
        assert_eq!(matches.frame(1).collect::<Vec<_>>(), [0.0, 0.3]);
        assert_eq!(matches.unused(), ["extra"]);
        assert_eq!(matches.found(), 1);
        let Err(err) = weights.matching(&["smile"], "an expression") else {
            panic!("no name matches");
        };
        assert!(
            err.to_string().contains("(jawOpen, extra) is named like an expression"),
            "{err}"
        );
    }
}
