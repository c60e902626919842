//! Keyboard shortcuts, chosen from the habits of ComfyUI, Blender and Nuke
//! users, and the help window that lists them.

use egui::{Context, Key, KeyboardShortcut, Modifiers};

/// Something the user can ask for from the keyboard or the menus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start a new, empty graph.
    New,
    /// Open a graph file.
    Open,
    /// Save the graph.
    Save,
    /// Save the graph under a new name.
    SaveAs,
    /// Quit the editor.
    Quit,
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
    /// Copy the selected nodes (as graph JSON).
    Copy,
    /// Cut the selected nodes.
    Cut,
    /// Paste nodes copied here or in another window.
    Paste,
    /// Duplicate the selected nodes.
    Duplicate,
    /// Delete the selected nodes.
    Delete,
    /// Toggle bypass on the selected nodes.
    Bypass,
    /// Toggle mute on the selected nodes.
    Mute,
    /// Put a backdrop behind the selected nodes.
    Frame,
    /// Open the node palette.
    AddNode,
    /// Run the graph.
    Run,
    /// Run what the selected node needs, and it.
    RunToSelected,
    /// Cancel the run.
    Cancel,
    /// Fit every node in view.
    FrameAll,
    /// Play or pause the preview.
    PlayPause,
    /// Show this list.
    Help,
}

const CTRL: Modifiers = Modifiers::COMMAND;
const CTRL_SHIFT: Modifiers = Modifiers {
    shift: true,
    ..Modifiers::COMMAND
};
const NONE: Modifiers = Modifiers::NONE;
const SHIFT: Modifiers = Modifiers::SHIFT;

/// One binding: the key, what it does, and whose habit it is.
pub struct Binding {
    /// The keys.
    pub shortcut: KeyboardShortcut,
    /// What they do.
    pub action: Action,
    /// The description in the help window.
    pub what: &'static str,
    /// The tools that use the same key.
    pub habit: &'static str,
}

const fn bind(modifiers: Modifiers, key: Key, action: Action, what: &'static str, habit: &'static str) -> Binding {
    Binding {
        shortcut: KeyboardShortcut::new(modifiers, key),
        action,
        what,
        habit,
    }
}

/// Every binding. More specific ones (with Shift) come before the plain ones
/// so that they win.
pub const BINDINGS: &[Binding] = &[
    bind(CTRL_SHIFT, Key::Z, Action::Redo, "Redo", "all"),
    bind(CTRL_SHIFT, Key::S, Action::SaveAs, "Save as…", "all"),
    bind(CTRL, Key::N, Action::New, "New graph", "all"),
    bind(CTRL, Key::O, Action::Open, "Open a graph…", "all"),
    bind(CTRL, Key::S, Action::Save, "Save", "all"),
    bind(CTRL, Key::Q, Action::Quit, "Quit", "all"),
    bind(CTRL, Key::Z, Action::Undo, "Undo", "all"),
    bind(CTRL, Key::Y, Action::Redo, "Redo", "ComfyUI, Nuke"),
    bind(CTRL, Key::C, Action::Copy, "Copy the selected nodes", "all"),
    bind(CTRL, Key::X, Action::Cut, "Cut the selected nodes", "all"),
    bind(
        CTRL,
        Key::V,
        Action::Paste,
        "Paste nodes (also from another window)",
        "all",
    ),
    bind(
        CTRL,
        Key::D,
        Action::Duplicate,
        "Duplicate the selected nodes",
        "Nuke, Houdini",
    ),
    bind(
        SHIFT,
        Key::D,
        Action::Duplicate,
        "Duplicate the selected nodes",
        "Blender",
    ),
    bind(CTRL, Key::B, Action::Bypass, "Bypass the selected nodes", "ComfyUI"),
    bind(
        CTRL,
        Key::M,
        Action::Mute,
        "Mute the selected nodes (left out of runs)",
        "ComfyUI",
    ),
    bind(
        CTRL,
        Key::G,
        Action::Frame,
        "Put a backdrop behind the selected nodes",
        "ComfyUI",
    ),
    bind(
        CTRL_SHIFT,
        Key::Enter,
        Action::RunToSelected,
        "Run to the selected node",
        "—",
    ),
    bind(CTRL, Key::Enter, Action::Run, "Run the graph", "ComfyUI"),
    bind(NONE, Key::Delete, Action::Delete, "Delete the selected nodes", "all"),
    bind(
        NONE,
        Key::Backspace,
        Action::Delete,
        "Delete the selected nodes",
        "Nuke",
    ),
    bind(NONE, Key::X, Action::Delete, "Delete the selected nodes", "Blender"),
    bind(
        NONE,
        Key::Tab,
        Action::AddNode,
        "Add a node (also double-click the canvas)",
        "Nuke, ComfyUI",
    ),
    bind(SHIFT, Key::A, Action::AddNode, "Add a node", "Blender"),
    bind(NONE, Key::Home, Action::FrameAll, "Fit every node in view", "Blender"),
    bind(NONE, Key::F, Action::FrameAll, "Fit every node in view", "Nuke"),
    bind(
        NONE,
        Key::Space,
        Action::PlayPause,
        "Play or pause the preview",
        "Blender",
    ),
    bind(NONE, Key::Escape, Action::Cancel, "Cancel the run", "—"),
    bind(NONE, Key::F1, Action::Help, "This list of shortcuts", "—"),
];

/// Mouse habits, listed in the help window.
pub const MOUSE: &[(&str, &str)] = &[
    ("Double-click the canvas", "Add a node"),
    ("Drag the canvas (any button) / scroll", "Pan"),
    ("Ctrl + scroll, pinch", "Zoom"),
    ("Shift + drag", "Box select"),
    ("Click a node, Shift+click", "Select, add to the selection"),
    (
        "Drag from a socket to a socket",
        "Connect (incompatible types are refused with the reason)",
    ),
    ("Right-click a socket or a wire", "Disconnect"),
    (
        "Right-click a node",
        "Node menu: run to here, bypass, mute, duplicate, delete",
    ),
];

/// The actions whose keys were pressed this frame, except those in `done`
/// (clipboard events from the platform, which also send their keys). Keys
/// typed into a text field stay with it: only Ctrl shortcuts other than the
/// clipboard's apply then.
pub fn pressed(ctx: &Context, done: &[Action]) -> Vec<Action> {
    let typing = ctx.egui_wants_keyboard_input();
    let clipboard = [Action::Copy, Action::Cut, Action::Paste];
    let mut actions = Vec::new();
    ctx.input_mut(|input| {
        for b in BINDINGS {
            let skip = (typing && (!b.shortcut.modifiers.command || clipboard.contains(&b.action)))
                || done.contains(&b.action);
            if !skip && input.consume_shortcut(&b.shortcut) {
                actions.push(b.action);
            }
        }
    });
    actions
}

/// The help window.
pub fn help_window(ctx: &Context, open: &mut bool) {
    egui::Window::new("Keyboard and mouse")
        .open(open)
        .resizable(true)
        .default_width(480.0)
        .show(ctx, |ui| {
            egui::Grid::new("shortcuts")
                .striped(true)
                .num_columns(3)
                .show(ui, |ui| {
                    ui.strong("Keys");
                    ui.strong("Does");
                    ui.strong("Habit from");
                    ui.end_row();
                    for b in BINDINGS {
                        ui.monospace(ctx.format_shortcut(&b.shortcut));
                        ui.label(b.what);
                        ui.weak(b.habit);
                        ui.end_row();
                    }
                    for (how, what) in MOUSE {
                        ui.monospace(*how);
                        ui.label(*what);
                        ui.weak("all");
                        ui.end_row();
                    }
                });
        });
}

/// The keys of an action, for menus.
pub fn keys_of(ctx: &Context, action: Action) -> String {
    BINDINGS
        .iter()
        .find(|b| b.action == action)
        .map(|b| ctx.format_shortcut(&b.shortcut))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_two_bindings_share_keys() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                assert!(
                    a.shortcut != b.shortcut,
                    "{:?} and {:?} share a shortcut",
                    a.action,
                    b.action
                );
            }
        }
    }
}
