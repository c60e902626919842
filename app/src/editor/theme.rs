//! Colours shared by the canvas, the palette and the previews: one per port
//! type, one per run state.

use egui::Color32;
use gspeech_sdk::PortType;

/// The colour of a socket and its wires, by what flows through it.
pub fn port_color(ty: PortType) -> Color32 {
    match ty {
        PortType::Audio => Color32::from_rgb(80, 200, 120),
        PortType::Features => Color32::from_rgb(230, 190, 60),
        PortType::Motion => Color32::from_rgb(230, 110, 60),
        PortType::FaceModel => Color32::from_rgb(220, 150, 200),
        PortType::Avatar => Color32::from_rgb(200, 90, 220),
        PortType::MotionModel => Color32::from_rgb(150, 110, 230),
        PortType::Camera => Color32::from_rgb(90, 160, 240),
        PortType::Frames => Color32::from_rgb(60, 200, 220),
        PortType::Dataset => Color32::from_rgb(160, 130, 90),
        PortType::File => Color32::from_rgb(170, 170, 170),
        PortType::Int => Color32::from_rgb(100, 140, 255),
        PortType::Float => Color32::from_rgb(140, 190, 255),
        PortType::Bool => Color32::from_rgb(240, 100, 100),
        PortType::Text => Color32::from_rgb(240, 240, 160),
        PortType::Path => Color32::from_rgb(200, 200, 120),
        PortType::Any => Color32::from_rgb(210, 210, 210),
    }
}

/// The tint of a node's header, by palette category.
pub fn category_color(category: &str) -> Color32 {
    // A stable hue per category name, kept dark enough for white text.
    let hash = category
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    let hue = (hash % 360) as f32 / 360.0;
    egui::ecolor::Hsva::new(hue, 0.45, 0.42, 1.0).into()
}

/// Header colour of a bypassed node.
pub const BYPASSED: Color32 = Color32::from_rgb(150, 105, 20);
/// Header colour of a muted node.
pub const MUTED: Color32 = Color32::from_rgb(70, 70, 70);
/// Text and bars of a failed node.
pub const FAILED: Color32 = Color32::from_rgb(235, 80, 70);
/// Text of a finished node.
pub const DONE: Color32 = Color32::from_rgb(110, 210, 120);
/// Text of a node served from a cache.
pub const CACHED: Color32 = Color32::from_rgb(120, 180, 230);
/// Text of a node waiting to run.
pub const QUEUED: Color32 = Color32::from_rgb(200, 200, 200);
