//! Units: what the vertex coordinates are measured in, and metric values
//! as published VOCASET and BIWI tables print them.
//!
//! The tables (FaceFormer, CodeTalker and their successors) compute with
//! CodeTalker's `cal_metric.py` on the data as stored: LVE is the mean over
//! all frames of the largest *squared* L2 error over the lip vertices, FDD the
//! mean over sequences of the upper-face vertices' mean standard deviation
//! over time of the squared displacement from the template, ground truth
//! minus prediction. Both are squared data units, printed scaled: VOCASET
//! LVE ×10⁻⁵ (data in metres, so m²); BIWI LVE ×10⁻⁴ and FDD ×10⁻⁵ (BIWI's
//! unit-area coordinates). The project's `motion::metrics` computes the same
//! definitions in millimetres (`lve_squared_mm2`, `fdd_mm2`).

use super::Kind;

/// The unit of a dataset's vertex coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Metres (VOCASET's FLAME meshes).
    Metres,
    /// BIWI as CodeTalker's `creatDataset_BIWI.m` writes it: each frame
    /// centred on its mean and divided by the square root of its surface
    /// area, so a mesh has unit area; dimensionless, no millimetre equivalent.
    UnitSurfaceArea,
}

/// A lip-sync metric of squared distances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Lip vertex error (CodeTalker's: the largest squared lip error per frame, averaged).
    Lve,
    /// Upper-face dynamics deviation.
    Fdd,
}

/// What a metric value is measured in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricUnit {
    /// Square millimetres, as `motion::metrics` reports.
    SquareMillimetres,
    /// Squares of the dataset's own coordinate unit.
    SquareDataUnits,
}

/// The power of ten a published table scales `metric` by on `kind`
/// (−5 for VOCASET LVE, −4 for BIWI LVE, −5 for BIWI FDD); `None` where the
/// tables do not report it (VOCASET FDD).
pub fn published_exponent(kind: Kind, metric: Metric) -> Option<i32> {
    match (kind, metric) {
        (Kind::Vocaset, Metric::Lve) => Some(-5),
        (Kind::Vocaset, Metric::Fdd) => None,
        (Kind::Biwi, Metric::Lve) => Some(-4),
        (Kind::Biwi, Metric::Fdd) => Some(-5),
    }
}

/// `value` (in `unit`) as the published table for `kind` prints `metric`:
/// converted to squared data units, then divided by the table's power of ten.
pub fn published(kind: Kind, metric: Metric, value: f64, unit: MetricUnit) -> Result<f64, String> {
    let exponent = published_exponent(kind, metric)
        .ok_or_else(|| format!("published {kind:?} tables do not report {metric:?}"))?;
    let in_data_units = match (unit, kind.unit()) {
        (MetricUnit::SquareDataUnits, _) => value,
        (MetricUnit::SquareMillimetres, Unit::Metres) => value * 1e-6,
        (MetricUnit::SquareMillimetres, Unit::UnitSurfaceArea) => {
            return Err(format!(
                "{kind:?} coordinates are scaled to unit surface area, not millimetres: compute {metric:?} on the data's own units"
            ));
        }
    };
    Ok(in_data_units / 10f64.powi(exponent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::metrics::{Accumulator, MetricSets, Scored};

    #[test]
    fn faceformer_lve_by_hand_in_published_units() {
        // Two frames, three lip vertices, errors in mm:
        //   frame 0: (1, 2, 2) → 1+4+4 = 9 mm², (0, 0, 1) → 1, (2, 0, 0) → 4; largest 9
        //   frame 1: (0, 3, 4) → 9+16 = 25 mm², (1, 1, 1) → 3, (0, 0, 0) → 0; largest 25
        // LVE = (9 + 25) / 2 = 17 mm² = 17·10⁻⁶ m² = 1.7 ×10⁻⁵ m² → VOCASET prints 1.7.
        let truth = vec![0.0f32; 18];
        let predicted = vec![
            1.0, 2.0, 2.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, // frame 0
            0.0, 3.0, 4.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, // frame 1
        ];
        let sets = MetricSets {
            lip: vec![0, 1, 2],
            upper: vec![],
            inner_lips: None,
        };
        let mut accumulator = Accumulator::default();
        let scored = Scored {
            predicted: &predicted,
            truth: &truth,
            frames: 2,
            rest_gap: 0.0,
            bilabials: vec![],
        };
        accumulator.add(&sets, &scored);
        let lve_mm2 = accumulator.finish().lve_squared_mm2;
        assert!((lve_mm2 - 17.0).abs() < 1e-9, "{lve_mm2}");

        let vocaset = published(Kind::Vocaset, Metric::Lve, lve_mm2, MetricUnit::SquareMillimetres).unwrap();
        assert!((vocaset - 1.7).abs() < 1e-9, "{vocaset}");
        // The same numbers as BIWI's own units: 17 ×10⁰ = 1.7 ×10⁵ ×10⁻⁴ → 170000; FDD ×10⁻⁵ → 1700000.
        let biwi = published(Kind::Biwi, Metric::Lve, lve_mm2, MetricUnit::SquareDataUnits).unwrap();
        assert!((biwi - 170_000.0).abs() < 1e-6, "{biwi}");
        let fdd = published(Kind::Biwi, Metric::Fdd, 17.0, MetricUnit::SquareDataUnits).unwrap();
        assert!((fdd - 1_700_000.0).abs() < 1e-4, "{fdd}");
        assert!(published(Kind::Biwi, Metric::Lve, lve_mm2, MetricUnit::SquareMillimetres).is_err());
        assert!(published(Kind::Vocaset, Metric::Fdd, 1.0, MetricUnit::SquareDataUnits).is_err());
    }
}
