//! Image sequences (`rgba` `[frames, height, width, 4]`, u8 or f32 in [0, 1]).

use egui::{Color32, ColorImage};
use gspeech_sdk::Record;

/// The number of frames, their size and rate.
pub fn layout(record: &Record) -> Option<(usize, [usize; 2], f64)> {
    let t = record.tensor("rgba")?;
    let s = t.shape();
    let fps = record.attr("fps")?.as_f64()?;
    (s.len() == 4).then(|| (s[0], [s[2], s[1]], fps))
}

/// Frame `index` as an image.
pub fn frame(record: &Record, index: usize) -> Option<ColorImage> {
    let t = record.tensor("rgba")?;
    let (count, [w, h], _) = layout(record)?;
    let index = index.min(count.checked_sub(1)?);
    let n = w * h * 4;
    let pixels = if let Some(bytes) = t.as_u8() {
        bytes[index * n..(index + 1) * n]
            .chunks_exact(4)
            .map(|p| Color32::from_rgba_unmultiplied(p[0], p[1], p[2], p[3]))
            .collect()
    } else {
        let floats = t.as_f32()?;
        let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0 + 0.5) as u8;
        floats[index * n..(index + 1) * n]
            .chunks_exact(4)
            .map(|p| Color32::from_rgba_unmultiplied(byte(p[0]), byte(p[1]), byte(p[2]), byte(p[3])))
            .collect()
    };
    Some(ColorImage::new([w, h], pixels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gspeech_sdk::{PortType, Tensor};

    #[test]
    fn picks_the_frame_and_converts_floats() {
        let data = vec![0.0f32, 0.0, 0.0, 1.0, 1.0, 0.5, 0.0, 1.0];
        let record = Record::new(PortType::Frames)
            .with_tensor("rgba", Tensor::from_f32(&[2, 1, 1, 4], data).unwrap())
            .with_attr("fps", 25);
        assert_eq!(layout(&record), Some((2, [1, 1], 25.0)));
        let img = frame(&record, 1).unwrap();
        assert_eq!(img.pixels[0], Color32::from_rgba_unmultiplied(255, 128, 0, 255));
        assert_eq!(
            frame(&record, 9).unwrap().pixels[0],
            img.pixels[0],
            "clamped to the last frame"
        );
    }
}
