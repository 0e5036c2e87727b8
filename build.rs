//! Regenerates `generated/protocol.rs` from `spec/` (see `src/codegen`). The file is written only
//! when its content changed, so an unchanged spec never dirties the tree or forces a rebuild.

#[path = "src/codegen/mod.rs"]
#[allow(dead_code, unused_imports)]
mod codegen;

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=spec/envelope.schema.json");
    println!("cargo:rerun-if-changed=spec/actions");
    println!("cargo:rerun-if-changed=spec/events");
    println!("cargo:rerun-if-changed=spec/domain");
    println!("cargo:rerun-if-changed=src/codegen");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=generated/protocol.rs");

    let code = match codegen::generate(Path::new("spec")) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: protocol generation failed: {e}");
            println!("cargo::error=protocol generation failed: {e}");
            std::process::exit(1);
        }
    };
    let out = Path::new("generated/protocol.rs");
    if std::fs::read_to_string(out).ok().as_deref() != Some(code.as_str()) {
        std::fs::create_dir_all("generated").expect("create generated/");
        std::fs::write(out, code).expect("write generated/protocol.rs");
    }
}
