//! Regenerates `generated/protocol.rs` and the protocol documentation (`generated/asyncapi.json`,
//! `generated/protocol.md`, `generated/protocol.html`) from `spec/` (see `src/codegen`). Each file
//! is written only when its content changed, so an unchanged spec never dirties the tree or
//! forces a rebuild.

#[path = "src/codegen/mod.rs"]
#[allow(dead_code, unused_imports)]
mod codegen;

use std::path::Path;

/// Every file this script writes, relative to the crate root.
const OUTPUTS: [&str; 4] = [
    "generated/protocol.rs",
    "generated/asyncapi.json",
    "generated/protocol.md",
    "generated/protocol.html",
];

fn main() {
    println!("cargo:rerun-if-changed=spec/envelope.schema.json");
    println!("cargo:rerun-if-changed=spec/actions");
    println!("cargo:rerun-if-changed=spec/events");
    println!("cargo:rerun-if-changed=spec/domain");
    println!("cargo:rerun-if-changed=spec/conformance/frames/valid");
    println!("cargo:rerun-if-changed=src/codegen");
    println!("cargo:rerun-if-changed=build.rs");
    for out in OUTPUTS {
        println!("cargo:rerun-if-changed={out}");
    }

    let spec = Path::new("spec");
    let generated = codegen::generate(spec).and_then(|code| {
        let docs = codegen::docs::generate(spec)?;
        Ok([code, docs.asyncapi, docs.markdown, docs.html])
    });
    let texts = match generated {
        Ok(texts) => texts,
        Err(e) => {
            eprintln!("error: protocol generation failed: {e}");
            println!("cargo::error=protocol generation failed: {e}");
            std::process::exit(1);
        }
    };
    for (out, text) in OUTPUTS.iter().zip(texts) {
        let path = Path::new(out);
        if std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()) {
            std::fs::create_dir_all("generated").expect("create generated/");
            std::fs::write(path, text).unwrap_or_else(|e| panic!("write {out}: {e}"));
        }
    }
}
