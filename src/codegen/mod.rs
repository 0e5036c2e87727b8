//! The protocol code generator: turns the JSON Schemas under `spec/` into Rust types.
//!
//! `build.rs` includes this module by path and writes its output to `generated/protocol.rs`;
//! the generator tests include it the same way (`tests/codegen_support`). The server library and
//! binary do not contain it. The pipeline:
//!
//! 1. [`load`] reads every schema file and classifies it (action, event, domain, envelope);
//! 2. [`lint`] rejects schema features the generator cannot honour, naming file and keyword;
//! 3. [`bundle`] flattens every file into one namespace of named definitions with local `$ref`s
//!    and strips the `action` / `type` discriminators (the generated enums own those tags);
//! 4. [`emit`] runs typify on the bundle and appends the `Action` / `Event` enums and the table of
//!    schema texts used for runtime validation.
//!
//! [`docs`] turns the same loaded, linted and bundled spec into the protocol documentation
//! (`generated/asyncapi.json`, `generated/protocol.md`, `generated/protocol.html`).

mod bundle;
pub mod docs;
mod emit;
mod lint;
mod load;

use std::fmt;
use std::path::Path;

pub use load::{SpecFile, SpecKind};

/// A generator failure, worded for the protocol author who has to fix the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodegenError(pub String);

impl fmt::Display for CodegenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodegenError {}

/// Generates the full `generated/protocol.rs` text for the spec rooted at `spec_dir`.
pub fn generate(spec_dir: &Path) -> Result<String, CodegenError> {
    let files = load::load_spec(spec_dir)?;
    lint::lint(&files)?;
    let bundle = bundle::bundle(&files)?;
    emit::emit(&files, &bundle)
}

/// Converts a kebab- or snake-case name to PascalCase (`get-session` → `GetSession`).
pub fn pascal_case(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}
