//! The plugin host: finds plugin libraries, checks and loads them, and
//! registers their node types next to the built-in ones.
//!
//! Where plugins are looked for, in order: `--plugin PATH` (a library or a
//! folder), the folders and files in `GSPEECH_PLUGIN_PATH` (separated like
//! `PATH`), and the per-user folder `$XDG_DATA_HOME/gspeech/plugins` (by
//! default `~/.local/share/gspeech/plugins`).
//!
//! A library is loaded once and never unloaded: tensors a plugin handed over
//! may still be alive, and their release functions live in the library's code.

mod node;
mod pool;

use std::collections::HashMap;
use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gspeech_sdk::NodeSpec;
use gspeech_sdk::plugin::abi::{self, GspEntry, GspPlugin};

pub use node::{CANCEL_GRACE, Descriptor, PluginNode};

use crate::registry::{Origin, Registry};

/// What happened to one library found on the search path.
#[derive(Clone, Debug, PartialEq)]
pub struct PluginStatus {
    /// The library file.
    pub path: PathBuf,
    /// Loaded, or refused and why.
    pub outcome: Outcome,
}

/// The result of loading one library.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Loaded and registered.
    Loaded {
        /// Plugin id.
        id: String,
        /// Plugin version.
        version: String,
        /// The node types it added.
        nodes: Vec<String>,
    },
    /// Not loaded.
    Refused(String),
}

/// The places searched, in order: `extra` (from `--plugin`), `GSPEECH_PLUGIN_PATH`, the user folder.
pub fn search_path(extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths = extra.to_vec();
    if let Some(env) = std::env::var_os("GSPEECH_PLUGIN_PATH") {
        paths.extend(std::env::split_paths(&env).filter(|p| !p.as_os_str().is_empty()));
    }
    paths.extend(crate::dirs::plugins());
    paths
}

fn is_library(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
}

/// The library files at these places: files as given, folders' libraries
/// sorted by name, each file once.
pub fn libraries(places: &[PathBuf]) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    for place in places {
        if place.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(place)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_file() && is_library(p))
                        .collect()
                })
                .unwrap_or_default();
            inside.sort();
            found.extend(inside);
        } else if place.exists() {
            found.push(place.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    found
}

/// Loads every library on the search path into `registry`.
pub fn load_all(registry: &mut Registry, extra: &[PathBuf]) -> Vec<PluginStatus> {
    let mut loaded_from: HashMap<String, PathBuf> = HashMap::new();
    let mut statuses = Vec::new();
    for path in libraries(&search_path(extra)) {
        let outcome = match load(registry, &path, &loaded_from) {
            Ok((id, version, nodes)) => {
                loaded_from.insert(id.clone(), path.clone());
                Outcome::Loaded { id, version, nodes }
            }
            Err(why) => Outcome::Refused(why),
        };
        statuses.push(PluginStatus { path, outcome });
    }
    statuses
}

type Loaded = (String, String, Vec<String>);

fn load(registry: &mut Registry, path: &Path, loaded_from: &HashMap<String, PathBuf>) -> Result<Loaded, String> {
    // SAFETY: loading a library runs its initialisers; plugins are trusted code by design.
    let library = unsafe { libloading::Library::new(path) }.map_err(|e| format!("cannot be loaded: {e}"))?;
    // SAFETY: the symbol has the ABI's entry type by contract.
    let entry = unsafe { library.get::<GspEntry>(abi::ENTRY_SYMBOL) }
        .map(|symbol| *symbol)
        .map_err(|_| "has no `gspeech_plugin_entry` function: it is not a gspeech plugin".to_string());
    // Never unloaded, whatever happens next (see the module docs).
    std::mem::forget(library);
    let descriptor = unsafe { entry?() };
    unsafe { register(registry, descriptor, path, loaded_from) }
}

/// Checks a plugin descriptor and registers its node types.
///
/// # Safety
/// `descriptor` must be null or point to a descriptor valid for the life of the process.
pub unsafe fn register(
    registry: &mut Registry,
    descriptor: *const GspPlugin,
    path: &Path,
    loaded_from: &HashMap<String, PathBuf>,
) -> Result<Loaded, String> {
    if descriptor.is_null() {
        return Err("its entry point returned no descriptor".into());
    }
    // SAFETY: by contract; the two version fields are the same in every ABI version.
    let d = unsafe { &*descriptor };
    if d.abi_major != abi::ABI_MAJOR || d.abi_minor > abi::ABI_MINOR {
        return Err(format!(
            "was built for plugin ABI {}.{}, but this gspeech supports {}.0 to {}.{}; rebuild it against this SDK",
            d.abi_major,
            d.abi_minor,
            abi::ABI_MAJOR,
            abi::ABI_MAJOR,
            abi::ABI_MINOR
        ));
    }
    let text = |p: *const std::ffi::c_char, what: &str| -> Result<String, String> {
        if p.is_null() {
            return Err(format!("its descriptor has no {what}"));
        }
        // SAFETY: non-null NUL-terminated strings by contract.
        unsafe { CStr::from_ptr(p) }
            .to_str()
            .map(str::to_string)
            .map_err(|_| format!("its {what} is not UTF-8"))
    };
    let id = text(d.id, "id")?;
    let version = text(d.version, "version")?;
    let id_ok = id.split('.').count() >= 2
        && id.split('.').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
    if !id_ok {
        return Err(format!(
            "its id `{id}` is not a reverse-domain name such as `com.example.tool`"
        ));
    }
    if let Some(first) = loaded_from.get(&id) {
        return Err(format!(
            "plugin id `{id}` is already loaded from {}; this copy at {} was not loaded (remove one of them)",
            first.display(),
            path.display()
        ));
    }
    let specs: Vec<NodeSpec> = serde_json::from_str(&text(d.nodes_json, "node list")?)
        .map_err(|e| format!("its node list is not valid: {e}"))?;
    let mut nodes = Vec::new();
    for spec in specs {
        if !spec.type_id.starts_with(&format!("{id}.")) {
            return Err(format!(
                "node type `{}` must start with the plugin id `{id}.`",
                spec.type_id
            ));
        }
        spec.check()?;
        if registry.get(&spec.type_id).is_some() {
            return Err(format!("node type `{}` is already registered", spec.type_id));
        }
        let type_id = spec.type_id.clone();
        let node = PluginNode::new(spec, &id, Descriptor(descriptor))
            .ok_or_else(|| format!("could not create node type `{type_id}`"))?;
        nodes.push((type_id, node));
    }
    let origin = Origin::Plugin {
        id: id.clone(),
        version: version.clone(),
        path: path.to_path_buf(),
    };
    let mut names = Vec::new();
    for (type_id, node) in nodes {
        registry.register(Arc::new(node), origin.clone())?;
        names.push(type_id);
    }
    Ok((id, version, names))
}
