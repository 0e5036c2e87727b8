//! Shared by the generator tests (`codegen_golden`, `codegen_lints`, `codegen_bugs`,
//! `compiler_guard`): the generator itself.
//!
//! The server crate does not contain the generator (only `build.rs` runs it), so each test binary
//! compiles it from its source, the same way `build.rs` does. Each binary uses only part of it,
//! hence `dead_code` is allowed.
#![allow(dead_code)]

/// The generator, compiled from `src/codegen` into this test binary (the path is relative to this
/// directory). Its `pub use` re-exports are unused in some binaries.
#[path = "../../src/codegen/mod.rs"]
#[allow(unused_imports)]
pub mod codegen;
