//! Shared by the generator tests (`codegen_golden`, `codegen_lints`, `codegen_bugs`,
//! `compiler_guard`): the generator itself and the helpers that write temporary spec trees.
//!
//! The server crate does not contain the generator (only `build.rs` runs it), so each test binary
//! compiles it from its source, the same way `build.rs` does. Each binary uses only part of this
//! module, hence `dead_code` is allowed.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use serde_json::{json, Value};

/// The generator, compiled from `src/codegen` into this test binary (the path is relative to this
/// directory). Its `pub use` re-exports are unused in some binaries.
#[path = "../../src/codegen/mod.rs"]
#[allow(unused_imports)]
pub mod codegen;

/// The `$id` prefix every spec file must use.
pub const BASE: &str = "https://smooth-operator.invalid/spec/";

/// A spec tree in a temp dir.
pub struct Spec {
    dir: tempfile::TempDir,
}

impl Spec {
    /// An empty spec folder (no files yet).
    pub fn empty() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A valid minimal spec: one `ping` action.
    pub fn new() -> Self {
        let spec = Self::empty();
        spec.put("actions/ping.schema.json", &action("ping", json!({})));
        spec
    }

    /// A `ping` action plus the given `domain/<stem>.schema.json` files.
    pub fn with_domain(files: &[(&str, Value)]) -> Self {
        let spec = Self::new();
        for (stem, schema) in files {
            spec.put(&format!("domain/{stem}.schema.json"), schema);
        }
        spec
    }

    /// The spec folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `schema` (pretty-printed) to `rel` under the spec folder.
    pub fn put(&self, rel: &str, schema: &Value) -> &Self {
        self.put_text(rel, &serde_json::to_string_pretty(schema).unwrap())
    }

    /// Writes `text` to `rel` under the spec folder, creating its directory.
    pub fn put_text(&self, rel: &str, text: &str) -> &Self {
        let path = self.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
        self
    }

    /// Runs the generator on this spec.
    pub fn generate(&self) -> Result<String, String> {
        codegen::generate(self.path()).map_err(|e| e.to_string())
    }

    /// The generator's error, failing the test when generation succeeds.
    pub fn error(&self) -> String {
        match self.generate() {
            Ok(_) => panic!("expected the generator to reject the spec, but it succeeded"),
            Err(e) => e,
        }
    }

    /// Asserts the error names `file` (as `spec/<file>`) and contains every needle.
    pub fn rejects(&self, file: &str, needles: &[&str]) -> String {
        let error = self.error();
        let file = format!("spec/{file}");
        assert!(error.contains(&file), "error does not name {file}: {error}");
        for needle in needles {
            assert!(error.contains(needle), "error lacks {needle:?}: {error}");
        }
        error
    }
}

/// A lint-clean action file whose Request has the given extra properties.
pub fn action(wire: &str, extra: Value) -> Value {
    let stem = wire.replace('_', "-");
    let mut properties = json!({
        "action": { "const": wire },
        "requestId": { "type": "string" }
    });
    for (k, v) in extra.as_object().unwrap() {
        properties[k] = v.clone();
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{BASE}actions/{stem}.schema.json"),
        "title": wire,
        "$defs": {
            "Request": {
                "type": "object",
                "additionalProperties": false,
                "required": ["action"],
                "properties": properties
            }
        }
    })
}

/// A lint-clean event file with the given extra properties.
pub fn event(wire: &str, extra: Value) -> Value {
    let stem = wire.replace('_', "-");
    let mut properties = json!({
        "type": { "const": wire },
        "timestamp": { "type": "integer", "minimum": 0 }
    });
    for (k, v) in extra.as_object().unwrap() {
        properties[k] = v.clone();
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{BASE}events/{stem}.schema.json"),
        "title": wire,
        "type": "object",
        "additionalProperties": false,
        "required": ["type", "timestamp"],
        "properties": properties
    })
}

/// A lint-clean domain file with the given properties and `$defs`.
pub fn domain(stem: &str, properties: Value, defs: Value) -> Value {
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{BASE}domain/{stem}.schema.json"),
        "title": stem,
        "type": "object",
        "additionalProperties": false,
        "properties": properties
    });
    if defs.as_object().is_some_and(|d| !d.is_empty()) {
        schema["$defs"] = defs;
    }
    schema
}

/// A closed object schema (`additionalProperties: false`) with the given properties, usable as a
/// file root or nested.
pub fn object(properties: Value) -> Value {
    json!({ "type": "object", "additionalProperties": false, "properties": properties })
}

/// A closed object with one property `field` of JSON type `ty`.
pub fn closed_object(field: &str, ty: &str) -> Value {
    object(json!({ field: { "type": ty } }))
}
