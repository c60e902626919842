//! Audio as a waveform: the min/max envelope of each pixel column.

use egui::{Color32, Pos2, Rect, Stroke, Ui};

use super::transport::Sound;

/// The envelope of `samples` over `columns` columns: (min, max) per column.
pub fn envelope(samples: &[f32], columns: usize) -> Vec<(f32, f32)> {
    if samples.is_empty() || columns == 0 {
        return Vec::new();
    }
    (0..columns)
        .map(|c| {
            let a = c * samples.len() / columns;
            let b = ((c + 1) * samples.len() / columns).max(a + 1).min(samples.len());
            samples[a..b]
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &s| {
                    (lo.min(s), hi.max(s))
                })
        })
        .collect()
}

/// Draws the waveform of a sound into `rect`.
pub fn paint(ui: &Ui, rect: Rect, sound: &Sound, color: Color32) {
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let mid = rect.center().y;
    let half = rect.height() * 0.48;
    painter.line_segment(
        [Pos2::new(rect.left(), mid), Pos2::new(rect.right(), mid)],
        Stroke::new(1.0, ui.visuals().weak_text_color()),
    );
    for (i, (lo, hi)) in envelope(&sound.samples, rect.width() as usize).into_iter().enumerate() {
        let x = rect.left() + i as f32 + 0.5;
        let (y0, y1) = (mid - hi.clamp(-1.0, 1.0) * half, mid - lo.clamp(-1.0, 1.0) * half);
        painter.line_segment(
            [Pos2::new(x, y0), Pos2::new(x, y1.max(y0 + 1.0))],
            Stroke::new(1.0, color),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keeps_the_extremes_of_each_column() {
        let samples = [0.0, 1.0, -0.5, 0.25, -1.0, 0.0];
        assert_eq!(envelope(&samples, 2), vec![(-0.5, 1.0), (-1.0, 0.25)]);
        assert_eq!(
            envelope(&samples, 12).len(),
            12,
            "more columns than samples repeat them"
        );
    }
}
