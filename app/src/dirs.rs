//! The per-user folders, XDG-style: the on-disk cache, the editor's state
//! (recent files, crash recovery) and the plugin folder.
//!
//! Each is `gspeech` under its XDG variable when that is set, else under its
//! usual place in the home folder. The cache and the state folder can be
//! moved with their own variable, and fall back to the temporary folder
//! where there is no home at all; the plugin folder does not (plugins are
//! never looked for in a shared temporary folder).

use std::ffi::OsString;
use std::path::PathBuf;

/// The on-disk cache: `$GSPEECH_CACHE_DIR`, else `$XDG_CACHE_HOME/gspeech`,
/// else `~/.cache/gspeech`.
pub fn cache() -> PathBuf {
    CACHE.locate(&env)
}

/// The editor's state folder: `$GSPEECH_STATE_DIR`, else
/// `$XDG_STATE_HOME/gspeech`, else `~/.local/state/gspeech`.
pub fn state() -> PathBuf {
    STATE.locate(&env)
}

/// The per-user plugin folder: `$XDG_DATA_HOME/gspeech/plugins`, else
/// `~/.local/share/gspeech/plugins`; none without a home folder.
pub fn plugins() -> Option<PathBuf> {
    plugins_in(&env)
}

/// Looks up an environment variable.
type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

/// A set, non-empty environment variable.
fn env(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// A folder that its own variable can move.
struct Movable {
    /// The variable that moves it.
    own: &'static str,
    /// The XDG variable it is under by default.
    xdg: &'static str,
    /// Where that XDG folder is in the home folder when the variable is not set.
    home: &'static str,
    /// Its name in the temporary folder, when there is no home.
    temp: &'static str,
}

const CACHE: Movable = Movable {
    own: "GSPEECH_CACHE_DIR",
    xdg: "XDG_CACHE_HOME",
    home: ".cache",
    temp: "gspeech-cache",
};

const STATE: Movable = Movable {
    own: "GSPEECH_STATE_DIR",
    xdg: "XDG_STATE_HOME",
    home: ".local/state",
    temp: "gspeech-state",
};

impl Movable {
    fn locate(&self, env: Env) -> PathBuf {
        env(self.own)
            .map(PathBuf::from)
            .or_else(|| gspeech_under(self.xdg, self.home, env))
            .unwrap_or_else(|| std::env::temp_dir().join(self.temp))
    }
}

fn plugins_in(env: Env) -> Option<PathBuf> {
    Some(gspeech_under("XDG_DATA_HOME", ".local/share", env)?.join("plugins"))
}

/// `gspeech` under the XDG variable `xdg`, else under `~/{home}`.
fn gspeech_under(xdg: &str, home: &str, env: Env) -> Option<PathBuf> {
    let base = env(xdg)
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(home)))?;
    Some(base.join("gspeech"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment holding only these variables.
    fn only(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| OsString::from(v))
    }

    #[test]
    fn own_variables_then_xdg_then_home_then_temp() {
        let all = only(&[
            ("HOME", "/home/ann"),
            ("GSPEECH_CACHE_DIR", "/fast/cache"),
            ("XDG_CACHE_HOME", "/xdg/cache"),
            ("XDG_STATE_HOME", "/xdg/state"),
            ("XDG_DATA_HOME", "/xdg/data"),
        ]);
        assert_eq!(CACHE.locate(&all), PathBuf::from("/fast/cache"));
        assert_eq!(STATE.locate(&all), PathBuf::from("/xdg/state/gspeech"));
        assert_eq!(plugins_in(&all), Some(PathBuf::from("/xdg/data/gspeech/plugins")));

        let home = only(&[("HOME", "/home/ann")]);
        assert_eq!(CACHE.locate(&home), PathBuf::from("/home/ann/.cache/gspeech"));
        assert_eq!(STATE.locate(&home), PathBuf::from("/home/ann/.local/state/gspeech"));
        assert_eq!(
            plugins_in(&home),
            Some(PathBuf::from("/home/ann/.local/share/gspeech/plugins"))
        );

        let nothing = only(&[]);
        assert_eq!(CACHE.locate(&nothing), std::env::temp_dir().join("gspeech-cache"));
        assert_eq!(STATE.locate(&nothing), std::env::temp_dir().join("gspeech-state"));
        assert_eq!(plugins_in(&nothing), None, "no plugins from a shared temporary folder");
    }
}
