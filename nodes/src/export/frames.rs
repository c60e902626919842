//! A read-only view of a Frames value, and the colour conventions exports
//! rely on.
//!
//! Frames hold sRGB-encoded (display-referred) colour, `u8` (0–255) or `f32`
//! (1.0 is white; values above 1 are kept for OpenEXR). Alpha is straight
//! unless the record's attribute `premultiplied` is `true`, which a renderer
//! that composites splats over transparent black sets.

use gspeech_sdk::Record;

/// The pixel storage of a Frames value.
enum Pixels<'a> {
    U8(&'a [u8]),
    F32(&'a [f32]),
}

/// Frames in canonical form: `rgba` `[frames, height, width, 4]` at `fps`.
pub struct FramesView<'a> {
    /// Number of frames.
    pub count: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Frames per second.
    pub fps: f64,
    /// Whether colour is premultiplied by alpha.
    pub premultiplied: bool,
    pixels: Pixels<'a>,
}

impl<'a> FramesView<'a> {
    /// Views a record in the Frames canonical form.
    pub fn of(record: &'a Record) -> Result<FramesView<'a>, String> {
        record.validate()?;
        let tensor = record.tensor("rgba").expect("validated");
        let shape = tensor.shape();
        let pixels = match (tensor.as_u8(), tensor.as_f32()) {
            (Some(p), _) => Pixels::U8(p),
            (_, Some(p)) => Pixels::F32(p),
            _ => unreachable!("validated as u8 or f32"),
        };
        Ok(FramesView {
            count: shape[0],
            height: shape[1],
            width: shape[2],
            fps: record.attr("fps").and_then(|v| v.as_f64()).expect("validated"),
            premultiplied: record.attr("premultiplied").and_then(|v| v.as_bool()).unwrap_or(false),
            pixels,
        })
    }

    /// Whether the frames are stored as floats.
    pub fn is_float(&self) -> bool {
        matches!(self.pixels, Pixels::F32(_))
    }

    /// Pixel (x, y) of a frame as straight-alpha RGBA with 1.0 for white and opaque.
    #[inline]
    pub fn pixel(&self, frame: usize, x: usize, y: usize) -> [f32; 4] {
        let at = ((frame * self.height + y) * self.width + x) * 4;
        let px = match self.pixels {
            Pixels::U8(p) => [p[at], p[at + 1], p[at + 2], p[at + 3]].map(|v| v as f32 / 255.0),
            Pixels::F32(p) => [p[at], p[at + 1], p[at + 2], p[at + 3]],
        };
        if self.premultiplied && px[3] > 0.0 {
            [px[0] / px[3], px[1] / px[3], px[2] / px[3], px[3]]
        } else {
            px
        }
    }

    /// Row `y` of a frame composited over an opaque `background` colour
    /// (sRGB-encoded, like the frames), written to `out` (one RGB per column).
    /// Colour is clamped to [0, 1] before compositing.
    pub fn row_over(&self, frame: usize, y: usize, background: [f32; 3], out: &mut [[f32; 3]]) {
        let start = (frame * self.height + y) * self.width * 4;
        let range = start..start + self.width * 4;
        let premultiplied = self.premultiplied;
        let blend = move |px: [f32; 4]| {
            let a = px[3].clamp(0.0, 1.0);
            let behind = 1.0 - a;
            // Straight colour is scaled by alpha; premultiplied colour already is.
            let colour = |c: f32| {
                if premultiplied {
                    c.clamp(0.0, a)
                } else {
                    c.clamp(0.0, 1.0) * a
                }
            };
            [0, 1, 2].map(|i| colour(px[i]) + background[i] * behind)
        };
        match self.pixels {
            Pixels::U8(p) => {
                for (o, px) in out.iter_mut().zip(p[range].chunks_exact(4)) {
                    *o = blend([px[0], px[1], px[2], px[3]].map(|v| v as f32 * (1.0 / 255.0)));
                }
            }
            Pixels::F32(p) => {
                for (o, px) in out.iter_mut().zip(p[range].chunks_exact(4)) {
                    *o = blend([px[0], px[1], px[2], px[3]]);
                }
            }
        }
    }
}

/// The sRGB transfer function's inverse: encoded value to linear light.
/// Negative values mirror the curve, so the function is odd.
pub fn srgb_to_linear(c: f32) -> f32 {
    let a = c.abs();
    let linear = if a <= 0.04045 {
        a / 12.92
    } else {
        ((a + 0.055) / 1.055).powf(2.4)
    };
    linear.copysign(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::{PortType, Tensor};

    #[test]
    fn premultiplied_pixels_are_unpremultiplied_and_composited() {
        let rgba = Tensor::from_f32(&[1, 1, 2, 4], vec![0.25, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0]).unwrap();
        let record = Record::new(PortType::Frames)
            .with_tensor("rgba", rgba)
            .with_attr("fps", 25)
            .with_attr("premultiplied", true);
        let view = FramesView::of(&record).unwrap();
        assert_eq!(view.pixel(0, 0, 0), [0.5, 0.0, 0.0, 0.5]);
        let mut row = [[9.0; 3]; 2];
        view.row_over(0, 0, [0.0, 0.0, 1.0], &mut row);
        assert_eq!(row, [[0.25, 0.0, 0.5], [0.0, 0.0, 1.0]]);
    }

    #[test]
    fn srgb_decoding_matches_the_standard_points() {
        assert_eq!(srgb_to_linear(0.0), 0.0);
        assert!((srgb_to_linear(1.0) - 1.0).abs() < 1e-6);
        assert!((srgb_to_linear(0.5) - 0.214_041).abs() < 1e-5);
        assert_eq!(srgb_to_linear(-0.5), -srgb_to_linear(0.5));
    }
}
