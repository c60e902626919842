//! Blendshape weights (motion `weights` `[frames, K]`) as curves over time,
//! like a dope sheet's graph editor; hovering names the nearest curve.

use egui::{Color32, Pos2, Rect, Stroke, Ui};

/// A distinct colour for curve `i` of `n`.
pub fn curve_color(i: usize, n: usize) -> Color32 {
    egui::ecolor::Hsva::new(i as f32 / n.max(1) as f32, 0.7, 0.95, 1.0).into()
}

/// Draws the curves of `weights` (`frames` × `k`, row-major) into `rect`, the
/// value range fitted to the data; returns the name of the curve under the
/// pointer with its value.
pub fn paint(ui: &Ui, rect: Rect, weights: &[f32], frames: usize, k: usize, names: &[String]) -> Option<String> {
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    if frames == 0 || k == 0 {
        return None;
    }
    let (lo, hi) = weights
        .iter()
        .fold((0.0f32, 1e-6f32), |(lo, hi), &w| (lo.min(w), hi.max(w)));
    let x = |f: usize| rect.left() + rect.width() * f as f32 / (frames.max(2) - 1) as f32;
    let y = |w: f32| rect.bottom() - rect.height() * (w - lo) / (hi - lo);
    // At most one point per pixel column per curve keeps long takes cheap.
    let stride = (frames / rect.width().max(1.0) as usize).max(1);
    for c in 0..k {
        let points: Vec<Pos2> = (0..frames)
            .step_by(stride)
            .map(|f| Pos2::new(x(f), y(weights[f * k + c])))
            .collect();
        painter.add(egui::Shape::line(points, Stroke::new(1.2, curve_color(c, k))));
    }
    let pointer = ui.ctx().pointer_hover_pos().filter(|p| rect.contains(*p))?;
    let f = (((pointer.x - rect.left()) / rect.width()) * (frames - 1) as f32).round() as usize;
    let f = f.min(frames - 1);
    let (c, w) = (0..k)
        .map(|c| (c, weights[f * k + c]))
        .min_by(|a, b| (y(a.1) - pointer.y).abs().total_cmp(&(y(b.1) - pointer.y).abs()))?;
    painter.circle_filled(Pos2::new(x(f), y(w)), 3.5, curve_color(c, k));
    let name = names.get(c).cloned().unwrap_or_else(|| format!("weight {c}"));
    Some(format!("{name} = {w:.3} at frame {f}"))
}
