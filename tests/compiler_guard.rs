//! "The compiler is the protocol checklist": adding an action to the spec must break every
//! dispatcher that does not handle it.
//!
//! `tests/fixtures/codegen/extra_action/spec/` (three actions) is generated into the checked-in
//! `tests/ui/extra_action_protocol.rs`; `tests/ui/missing_handler.rs` matches only two of the three
//! `Action` variants and must fail with E0004, `tests/ui/all_handled.rs` handles all three and must
//! build and run. `tests/ui/basic_golden.rs` compiles and exercises the golden output of the
//! `basic` fixture (see `codegen_golden.rs`).
//!
//! Refresh the golden with `UPDATE_GOLDEN=1` and the expected compiler output with
//! `TRYBUILD=overwrite`, then review both.

mod codegen_support;

use std::fs;
use std::path::Path;
use std::sync::Mutex;

use codegen_support::codegen::generate;

/// The golden test may rewrite a file the trybuild test compiles; never run them concurrently.
static UI_FILES: Mutex<()> = Mutex::new(());

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn extra_action_protocol_matches_generator_output() {
    let _guard = UI_FILES.lock().unwrap_or_else(|e| e.into_inner());
    let spec = manifest_dir().join("tests/fixtures/codegen/extra_action/spec");
    let code = generate(&spec).unwrap_or_else(|e| panic!("generate failed: {e}"));
    let golden = manifest_dir().join("tests/ui/extra_action_protocol.rs");
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        fs::write(&golden, &code).unwrap();
        return;
    }
    let expected = fs::read_to_string(&golden).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run with UPDATE_GOLDEN=1",
            golden.display()
        )
    });
    assert!(
        expected == code,
        "{} is stale: run `UPDATE_GOLDEN=1 cargo test --test compiler_guard` and review",
        golden.display()
    );
    // The three actions the UI tests rely on.
    for variant in [
        "DeleteThing(DeleteThingRequest)",
        "GetThing(GetThingRequest)",
        "Ping(PingRequest)",
    ] {
        assert!(code.contains(variant), "no `Action::{variant}` generated");
    }
}

#[test]
fn unhandled_action_fails_to_compile_and_full_dispatch_builds() {
    let _guard = UI_FILES.lock().unwrap_or_else(|e| e.into_inner());
    {
        // Runs when `t` is dropped; with TRYBUILD=overwrite it (re)writes the .stderr file.
        let t = trybuild::TestCases::new();
        t.compile_fail("tests/ui/missing_handler.rs");
        t.pass("tests/ui/all_handled.rs");
        t.pass("tests/ui/basic_golden.rs");
    }
    // The checked-in expectation must be the error this guard is about.
    let stderr = fs::read_to_string(manifest_dir().join("tests/ui/missing_handler.stderr"))
        .expect("tests/ui/missing_handler.stderr exists (create it with TRYBUILD=overwrite)");
    assert!(
        stderr.contains("error[E0004]: non-exhaustive patterns"),
        "{stderr}"
    );
    assert!(stderr.contains("Action::DeleteThing(_)"), "{stderr}");
    assert!(!stderr.contains("GetThing(_)` not covered"), "{stderr}");
    assert!(!stderr.contains("Ping(_)` not covered"), "{stderr}");
}
