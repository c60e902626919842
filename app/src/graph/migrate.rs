//! Migration of older graph documents, one version step at a time.
//!
//! Each step is a function that rewrites the JSON of version `N` into version
//! `N + 1`. A step is added whenever [`FORMAT_VERSION`](super::FORMAT_VERSION) is
//! bumped, so every document ever written stays loadable.

/// Rewrites a document's JSON from one version to the next.
pub type Migration = fn(&mut serde_json::Value) -> Result<(), String>;

/// `(from_version, step)` pairs. Version 1 is the first released format.
pub const MIGRATIONS: &[(u32, Migration)] = &[];

/// Brings `doc` up to version `current` by applying `steps` in order; a newer
/// document, or an old one with no path to `current`, is refused.
pub fn migrate(
    mut doc: serde_json::Value,
    steps: &[(u32, Migration)],
    current: u32,
) -> Result<serde_json::Value, String> {
    loop {
        let version = doc["version"].as_u64().ok_or("`version` is missing")? as u32;
        if version == current {
            return Ok(doc);
        }
        if version > current {
            return Err(format!(
                "the graph is format version {version}, newer than this build reads ({current}); update gspeech"
            ));
        }
        let (_, step) = steps.iter().find(|(from, _)| *from == version).ok_or_else(|| {
            format!(
                "format version {version} cannot be migrated (no step to {})",
                version + 1
            )
        })?;
        step(&mut doc).map_err(|e| format!("migrating from version {version}: {e}"))?;
        doc["version"] = (version + 1).into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A step of the kind a future version would add: `inputs` renamed to `edges`.
    fn rename_inputs(doc: &mut serde_json::Value) -> Result<(), String> {
        let obj = doc.as_object_mut().ok_or("not an object")?;
        let edges = obj.remove("inputs").unwrap_or(json!([]));
        obj.insert("edges".into(), edges);
        Ok(())
    }

    fn bump_type_versions(doc: &mut serde_json::Value) -> Result<(), String> {
        for node in doc["nodes"].as_array_mut().ok_or("no nodes")? {
            node["type_version"] = json!(node["type_version"].as_u64().unwrap_or(0) + 1);
        }
        Ok(())
    }

    #[test]
    fn applies_each_step_in_order() {
        let old = json!({"format": "gspeech-graph", "version": 1, "nodes": [{"type_version": 1}], "inputs": [1]});
        let steps: &[(u32, Migration)] = &[(2, bump_type_versions), (1, rename_inputs)];
        let new = migrate(old, steps, 3).unwrap();
        assert_eq!(new["version"], 3);
        assert_eq!(new["edges"], json!([1]));
        assert!(new.get("inputs").is_none());
        assert_eq!(new["nodes"][0]["type_version"], 2);
    }

    #[test]
    fn refuses_newer_and_unreachable_versions() {
        let doc = json!({"version": 9});
        assert!(
            migrate(doc, MIGRATIONS, 1)
                .unwrap_err()
                .contains("newer than this build")
        );
        let doc = json!({"version": 0});
        assert!(migrate(doc, MIGRATIONS, 1).unwrap_err().contains("cannot be migrated"));
    }

    #[test]
    fn a_failing_step_names_its_version() {
        let doc = json!({"version": 1, "nodes": 5});
        let err = migrate(doc, &[(1, bump_type_versions)], 2).unwrap_err();
        assert_eq!(err, "migrating from version 1: no nodes");
    }
}
