//! Reading spec files from disk and classifying them by folder.

use std::fs;
use std::path::Path;

use serde_json::Value;

use super::CodegenError;

/// Which part of the protocol a spec file describes, decided by its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpecKind {
    /// `spec/envelope.schema.json`: validation only, no generated types.
    Envelope,
    /// `spec/actions/<name>.schema.json`: `$defs.Request` (+ `$defs.Response`).
    Action,
    /// `spec/events/<name>.schema.json`: the file root is the event object.
    Event,
    /// `spec/domain/<object>.schema.json`: the file root is the object.
    Domain,
    /// `spec/interactions/<kind>.schema.json`: `$defs.Spec`, `$defs.Values`, `$defs.Payload`
    /// (and their parts) of one interaction kind; the file root is not a type.
    Interaction,
}

/// One parsed schema file.
#[derive(Debug, Clone)]
pub struct SpecFile {
    /// What the file describes.
    pub kind: SpecKind,
    /// File name without `.schema.json`, kebab-case (`get-session`).
    pub stem: String,
    /// Path relative to the spec root with `/` separators (`actions/get-session.schema.json`).
    pub rel_path: String,
    /// The parsed schema.
    pub json: Value,
    /// The file's text as written, embedded in the generated code for validation.
    pub text: String,
}

impl SpecFile {
    /// The wire name of an action or event: the stem in snake_case (`get_session`).
    pub fn wire_name(&self) -> String {
        self.stem.replace('-', "_")
    }
}

const SUFFIX: &str = ".schema.json";

/// Reads the envelope and every action, event, domain and interaction schema under `spec_dir`,
/// sorted by path.
pub fn load_spec(spec_dir: &Path) -> Result<Vec<SpecFile>, CodegenError> {
    let mut files = Vec::new();
    let envelope = spec_dir.join("envelope.schema.json");
    if envelope.exists() {
        files.push(read(spec_dir, "envelope.schema.json", SpecKind::Envelope)?);
    }
    for (folder, kind) in [
        ("actions", SpecKind::Action),
        ("events", SpecKind::Event),
        ("domain", SpecKind::Domain),
        ("interactions", SpecKind::Interaction),
    ] {
        let dir = spec_dir.join(folder);
        if !dir.exists() {
            continue;
        }
        let entries = fs::read_dir(&dir)
            .map_err(|e| CodegenError(format!("cannot read {}: {e}", dir.display())))?;
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(SUFFIX))
            .collect();
        names.sort();
        for name in names {
            files.push(read(spec_dir, &format!("{folder}/{name}"), kind)?);
        }
    }
    if !files.iter().any(|f| f.kind == SpecKind::Action) {
        return Err(CodegenError(format!(
            "{}: no action schemas found under actions/",
            spec_dir.display()
        )));
    }
    Ok(files)
}

fn read(spec_dir: &Path, rel_path: &str, kind: SpecKind) -> Result<SpecFile, CodegenError> {
    let path = spec_dir.join(rel_path);
    let text = fs::read_to_string(&path)
        .map_err(|e| CodegenError(format!("spec/{rel_path}: cannot read: {e}")))?;
    let json: Value = serde_json::from_str(&text)
        .map_err(|e| CodegenError(format!("spec/{rel_path}: invalid JSON: {e}")))?;
    let file_name = rel_path.rsplit('/').next().unwrap_or(rel_path);
    let stem = file_name.trim_end_matches(SUFFIX).to_string();
    if !stem.starts_with(|c: char| c.is_ascii_lowercase())
        || !stem
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(CodegenError(format!(
            "spec/{rel_path}: file names must be kebab-case starting with a letter ([a-z][a-z0-9-]*) before .schema.json"
        )));
    }
    Ok(SpecFile {
        kind,
        stem,
        rel_path: rel_path.to_string(),
        json,
        text,
    })
}
