//! Golden-file tests of the protocol generator (`codegen::generate`, compiled in from `src/codegen`
//! through `codegen_support`).
//!
//! - `tests/fixtures/codegen/basic/spec/` → `tests/fixtures/codegen/basic/expected.rs`
//! - `spec/`: generation is deterministic and covers every file (its structure, not its text)
//!
//! Regenerate the fixture goldens with `UPDATE_GOLDEN=1 cargo test --test codegen_golden`,
//! then review the diff. `generated/protocol.rs` is never rewritten here: `cargo build` does that,
//! and CI (`.ci/run`) fails when that leaves `generated/` different from what is committed.

mod codegen_support;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use codegen_support::codegen::{generate, pascal_case};

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn basic_spec() -> PathBuf {
    manifest_dir().join("tests/fixtures/codegen/basic/spec")
}

fn generate_ok(spec: &Path) -> String {
    generate(spec).unwrap_or_else(|e| panic!("generate({}) failed: {e}", spec.display()))
}

/// Compares `actual` with the golden file, or rewrites the golden when `UPDATE_GOLDEN=1`.
fn assert_golden(actual: &str, golden: &Path) {
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        fs::write(golden, actual)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", golden.display()));
        eprintln!("updated golden file {}", golden.display());
        return;
    }
    let expected = fs::read_to_string(golden).unwrap_or_else(|e| {
        panic!(
            "cannot read golden file {}: {e}\nrun with UPDATE_GOLDEN=1 to create it",
            golden.display()
        )
    });
    if expected != actual {
        panic!(
            "generator output differs from {}\n{}\nrun with UPDATE_GOLDEN=1 to accept the new \
             output, then review the diff",
            golden.display(),
            first_difference(&expected, actual)
        );
    }
}

fn first_difference(expected: &str, actual: &str) -> String {
    let mut expected_lines = expected.lines();
    let mut actual_lines = actual.lines();
    let mut line = 1;
    loop {
        match (expected_lines.next(), actual_lines.next()) {
            (Some(e), Some(a)) if e == a => line += 1,
            (None, None) => return "(the texts differ only in line endings)".to_string(),
            (e, a) => {
                return format!(
                    "first difference at line {line}:\n  expected: {}\n  actual:   {}",
                    e.unwrap_or("<end of file>"),
                    a.unwrap_or("<end of file>")
                )
            }
        }
    }
}

/// Copies a directory tree (the spec folders are two levels deep).
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

// ---- a small structural view of the generated file, via syn ----

struct Generated {
    /// Top-level struct and enum names, with how often each is declared.
    type_counts: BTreeMap<String, usize>,
    structs: BTreeMap<String, syn::ItemStruct>,
    enums: BTreeMap<String, syn::ItemEnum>,
    spec_files: Vec<(String, String)>,
}

fn parse_generated(code: &str) -> Generated {
    let file = syn::parse_file(code).expect("generated code parses as a Rust file");
    let mut out = Generated {
        type_counts: BTreeMap::new(),
        structs: BTreeMap::new(),
        enums: BTreeMap::new(),
        spec_files: Vec::new(),
    };
    for item in file.items {
        match item {
            syn::Item::Struct(s) => {
                let name = s.ident.to_string();
                *out.type_counts.entry(name.clone()).or_default() += 1;
                out.structs.insert(name, s);
            }
            syn::Item::Enum(e) => {
                let name = e.ident.to_string();
                *out.type_counts.entry(name.clone()).or_default() += 1;
                out.enums.insert(name, e);
            }
            syn::Item::Const(c) if c.ident == "SPEC_FILES" => {
                out.spec_files = spec_files_table(&c.expr);
            }
            _ => {}
        }
    }
    out
}

fn spec_files_table(expr: &syn::Expr) -> Vec<(String, String)> {
    let syn::Expr::Reference(reference) = expr else {
        panic!("SPEC_FILES must be `&[...]`");
    };
    let syn::Expr::Array(array) = &*reference.expr else {
        panic!("SPEC_FILES must be `&[...]`");
    };
    array
        .elems
        .iter()
        .map(|elem| {
            let syn::Expr::Tuple(tuple) = elem else {
                panic!("SPEC_FILES entries must be tuples");
            };
            let strings: Vec<String> = tuple
                .elems
                .iter()
                .map(|e| match e {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => s.value(),
                    _ => panic!("SPEC_FILES entries must be string pairs"),
                })
                .collect();
            assert_eq!(strings.len(), 2, "SPEC_FILES entries are (path, text)");
            (strings[0].clone(), strings[1].clone())
        })
        .collect()
}

fn tokens(t: &impl quote::ToTokens) -> String {
    t.to_token_stream().to_string().replace(' ', "")
}

impl Generated {
    fn field_names(&self, ty: &str) -> Vec<String> {
        let s = self
            .structs
            .get(ty)
            .unwrap_or_else(|| panic!("no struct `{ty}` generated"));
        s.fields
            .iter()
            .map(|f| f.ident.as_ref().expect("named field").to_string())
            .collect()
    }

    fn field_type(&self, ty: &str, field: &str) -> String {
        let s = &self.structs[ty];
        let f = s
            .fields
            .iter()
            .find(|f| f.ident.as_ref().is_some_and(|i| i == field))
            .unwrap_or_else(|| panic!("`{ty}` has no field `{field}`"));
        tokens(&f.ty)
    }

    /// `(variant, payload type, serde rename)` of a frame enum.
    fn variants(&self, name: &str) -> Vec<(String, String, String)> {
        let e = self
            .enums
            .get(name)
            .unwrap_or_else(|| panic!("no enum `{name}` generated"));
        e.variants
            .iter()
            .map(|v| {
                let payload = tokens(&v.fields);
                let rename = v
                    .attrs
                    .iter()
                    .filter(|a| a.path().is_ident("serde"))
                    .map(tokens)
                    .find_map(|a| {
                        a.split_once("rename=\"")
                            .map(|(_, rest)| rest.split('"').next().unwrap().to_string())
                    })
                    .unwrap_or_default();
                (v.ident.to_string(), payload, rename)
            })
            .collect()
    }

    fn enum_attr(&self, name: &str) -> String {
        self.enums[name]
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("serde"))
            .map(tokens)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

// ---- the basic fixture ----

#[test]
fn basic_spec_matches_golden_file() {
    let code = generate_ok(&basic_spec());
    assert_golden(
        &code,
        &manifest_dir().join("tests/fixtures/codegen/basic/expected.rs"),
    );
}

#[test]
fn basic_spec_generation_is_deterministic_and_path_independent() {
    let first = generate_ok(&basic_spec());
    let second = generate_ok(&basic_spec());
    assert!(first == second, "two runs on the same spec differ");

    // The same files at another path generate the same text.
    let copy = tempfile::tempdir().unwrap();
    copy_tree(&basic_spec(), copy.path());
    let third = generate_ok(copy.path());
    assert!(
        first == third,
        "output depends on where the spec lives:\n{}",
        first_difference(&first, &third)
    );
}

#[test]
fn basic_spec_follows_the_naming_rules() {
    let g = parse_generated(&generate_ok(&basic_spec()));

    // `{FileStem}{Def}` for $defs, `{Stem}Event` for event roots, `{Stem}` for domain roots;
    // action roots and the envelope produce no type.
    for ty in [
        "EchoRequest",
        "EchoResponse",
        "PingRequest",
        "EchoedEvent",
        "PongEvent",
        "Note",
        "NoteMood",
    ] {
        assert_eq!(g.type_counts.get(ty), Some(&1), "`{ty}` declared once");
    }
    for absent in [
        "Echo",
        "Ping",
        "Echoed",
        "Pong",
        "Envelope",
        "ActionEnvelope",
        "EnvelopeActionEnvelope",
        "Mood",
    ] {
        assert!(
            !g.type_counts.contains_key(absent),
            "no type `{absent}` expected"
        );
    }
    for (name, count) in &g.type_counts {
        assert_eq!(*count, 1, "type `{name}` declared {count} times");
    }

    // Discriminators are stripped from the payloads: the frame enums own the tags.
    assert_eq!(
        g.field_names("EchoRequest"),
        ["mood", "request_id", "text"],
        "EchoRequest fields"
    );
    assert_eq!(g.field_names("PingRequest"), ["request_id"]);
    assert_eq!(
        g.field_names("EchoedEvent"),
        ["at", "mood", "request_id", "text"]
    );
    assert_eq!(
        g.field_names("PongEvent"),
        ["data", "request_id", "timestamp"]
    );

    // Cross-file refs: relative with a $defs fragment, relative to a file root, and absolute.
    assert_eq!(
        g.field_type("EchoRequest", "mood"),
        "::std::option::Option<NoteMood>"
    );
    assert_eq!(g.field_type("EchoResponse", "note"), "Note");
    assert_eq!(g.field_type("EchoedEvent", "mood"), "NoteMood");
    assert_eq!(g.field_type("Note", "mood"), "NoteMood");
    assert_eq!(g.field_type("Note", "id"), "::uuid::Uuid");

    // The frame enums: tag, variants in file order, wire names, payload types.
    assert!(g.enum_attr("Action").contains("tag=\"action\""));
    assert!(g.enum_attr("Event").contains("tag=\"type\""));
    assert_eq!(
        g.variants("Action"),
        [
            ("Echo".into(), "(EchoRequest)".into(), "echo".into()),
            ("Ping".into(), "(PingRequest)".into(), "ping".into()),
        ]
    );
    assert_eq!(
        g.variants("Event"),
        [
            ("Echoed".into(), "(EchoedEvent)".into(), "echoed".into()),
            ("Pong".into(), "(PongEvent)".into(), "pong".into()),
        ]
    );

    // Every spec file, envelope first, with its text verbatim.
    let paths: Vec<&str> = g.spec_files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "envelope.schema.json",
            "actions/echo.schema.json",
            "actions/ping.schema.json",
            "events/echoed.schema.json",
            "events/pong.schema.json",
            "domain/note.schema.json",
        ]
    );
    for (path, text) in &g.spec_files {
        let on_disk = fs::read_to_string(basic_spec().join(path)).unwrap();
        assert!(
            *text == on_disk,
            "SPEC_FILES text of {path} differs from the file"
        );
    }
}

// ---- the real spec ----

#[test]
fn real_spec_generation_is_deterministic() {
    let spec = manifest_dir().join("spec");
    assert!(generate_ok(&spec) == generate_ok(&spec));
}

/// Lists `<folder>/*.schema.json` under the real spec, without hard-coding the protocol.
fn spec_stems(folder: &str) -> Vec<String> {
    // Sorted by file name, as the generator does (`a-b.schema.json` sorts before `a.schema.json`).
    let mut names: Vec<String> = fs::read_dir(manifest_dir().join("spec").join(folder))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".schema.json"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| n.trim_end_matches(".schema.json").to_string())
        .collect()
}

#[test]
fn real_spec_every_file_becomes_a_frame_and_a_spec_files_entry() {
    let g = parse_generated(&generate_ok(&manifest_dir().join("spec")));
    for (name, count) in &g.type_counts {
        assert_eq!(*count, 1, "type `{name}` declared {count} times");
    }
    for (folder, enum_name, suffix) in [
        ("actions", "Action", "Request"),
        ("events", "Event", "Event"),
    ] {
        let expected: Vec<(String, String, String)> = spec_stems(folder)
            .iter()
            .map(|stem| {
                let pascal = pascal_case(stem);
                (
                    pascal.clone(),
                    format!("({pascal}{suffix})"),
                    stem.replace('-', "_"),
                )
            })
            .collect();
        assert_eq!(g.variants(enum_name), expected, "`{enum_name}` variants");
    }
    let mut expected_paths = Vec::new();
    if manifest_dir().join("spec/envelope.schema.json").exists() {
        expected_paths.push("envelope.schema.json".to_string());
    }
    for folder in ["actions", "events", "domain", "interactions"] {
        for stem in spec_stems(folder) {
            expected_paths.push(format!("{folder}/{stem}.schema.json"));
        }
    }
    let paths: Vec<String> = g.spec_files.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(paths, expected_paths);
}
