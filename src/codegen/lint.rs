//! Generator lints: schema features that typify 0.8 would silently mishandle fail the build.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::load::{SpecFile, SpecKind};
use super::CodegenError;

/// Base URI every spec file's `$id` must be under (`<base><path relative to spec/>`).
pub const SPEC_BASE_URI: &str = "https://smooth-operator.invalid/spec/";

/// Keywords typify 0.8 ignores or mistranslates; using one would make the generated types
/// accept or reject different frames than the schema, so the build fails instead.
const UNSUPPORTED: &[&str] = &[
    "unevaluatedProperties",
    "unevaluatedItems",
    "prefixItems",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$anchor",
    "contains",
    "minContains",
    "maxContains",
    "patternProperties",
    "propertyNames",
];

/// Runs every lint over every file; the first problem found is reported.
pub fn lint(files: &[SpecFile]) -> Result<(), CodegenError> {
    let mut titles: BTreeMap<String, String> = BTreeMap::new();
    let codes = error_codes(files);
    for file in files {
        let root = file
            .json
            .as_object()
            .ok_or_else(|| err(file, "", "the file root must be a JSON object"))?;
        check_root(file, root)?;
        check_annotations(file, root, &codes)?;
        walk(file, &file.json, "", Place::Root, &mut titles)?;
    }
    Ok(())
}

/// The `Code` enum of `events/error.schema.json`: every error code the server may send.
pub fn error_codes(files: &[SpecFile]) -> Vec<String> {
    files
        .iter()
        .find(|f| f.rel_path == "events/error.schema.json")
        .and_then(|f| f.json.pointer("/$defs/Code/enum"))
        .and_then(Value::as_array)
        .map(|codes| {
            codes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The documentation annotations: `x-protocol-version` (a string, on the envelope) and
/// `x-error-codes` (on an action file root: codes from the error `Code` enum).
fn check_annotations(
    file: &SpecFile,
    root: &Map<String, Value>,
    codes: &[String],
) -> Result<(), CodegenError> {
    if let Some(version) = root.get("x-protocol-version") {
        if file.kind != SpecKind::Envelope || !version.is_string() {
            return Err(err(
                file,
                "/x-protocol-version",
                "keyword `x-protocol-version` must be a string on the envelope",
            ));
        }
    }
    let Some(listed) = root.get("x-error-codes") else {
        return Ok(());
    };
    let listed = match (file.kind, listed.as_array()) {
        (SpecKind::Action, Some(listed)) => listed,
        _ => {
            return Err(err(
                file,
                "/x-error-codes",
                "keyword `x-error-codes` must be an array of error codes on an action file",
            ))
        }
    };
    for code in listed {
        let known = code.as_str().is_some_and(|c| codes.iter().any(|k| k == c));
        if !known {
            return Err(err(
                file,
                "/x-error-codes",
                &format!(
                    "keyword `x-error-codes` lists {code}, which is not in the Code enum of \
                     spec/events/error.schema.json"
                ),
            ));
        }
    }
    Ok(())
}

fn err(file: &SpecFile, pointer: &str, what: &str) -> CodegenError {
    let at = if pointer.is_empty() { "/" } else { pointer };
    CodegenError(format!("spec/{} at {at}: {what}", file.rel_path))
}

fn check_root(file: &SpecFile, root: &Map<String, Value>) -> Result<(), CodegenError> {
    if let Some(schema) = root.get("$schema") {
        if schema != "https://json-schema.org/draft/2020-12/schema" {
            return Err(err(
                file,
                "/$schema",
                "keyword `$schema` must name draft 2020-12",
            ));
        }
    }
    if let Some(id) = root.get("$id") {
        let expected = format!("{SPEC_BASE_URI}{}", file.rel_path);
        if id.as_str() != Some(expected.as_str()) {
            return Err(err(
                file,
                "/$id",
                &format!("keyword `$id` must be \"{expected}\""),
            ));
        }
    }
    match file.kind {
        SpecKind::Action => {
            if root.contains_key("properties") || root.contains_key("type") {
                return Err(err(
                    file,
                    "",
                    "an action file root is not a type: put the frame under `$defs.Request`",
                ));
            }
            let request = root
                .get("$defs")
                .and_then(|d| d.get("Request"))
                .ok_or_else(|| err(file, "/$defs", "keyword `$defs` must define `Request`"))?;
            check_discriminator(file, request, "/$defs/Request", "action")
        }
        SpecKind::Event => check_discriminator(file, &file.json, "", "type"),
        SpecKind::Domain | SpecKind::Interaction | SpecKind::Envelope => Ok(()),
    }
}

/// The discriminator property must be a required `const` equal to the file's wire name.
fn check_discriminator(
    file: &SpecFile,
    schema: &Value,
    pointer: &str,
    tag: &str,
) -> Result<(), CodegenError> {
    let expected = file.wire_name();
    let constant = schema
        .get("properties")
        .and_then(|p| p.get(tag))
        .and_then(|t| t.get("const"));
    if constant.and_then(Value::as_str) != Some(expected.as_str()) {
        return Err(err(
            file,
            &format!("{pointer}/properties/{tag}"),
            &format!("keyword `const` must be \"{expected}\" (the file name in snake_case)"),
        ));
    }
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|v| v == tag));
    if !required {
        return Err(err(
            file,
            &format!("{pointer}/required"),
            &format!("keyword `required` must list \"{tag}\""),
        ));
    }
    if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
        return Err(err(
            file,
            pointer,
            "keyword `additionalProperties` must be false on every frame",
        ));
    }
    Ok(())
}

/// Where a schema sits, which decides whether it may define an inline type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The file root.
    Root,
    /// A `$defs` entry.
    Def,
    /// The value of a property.
    Property,
    /// The `items` of a property's array.
    PropertyItems,
    /// Anywhere else (`anyOf`, `additionalProperties`, nested `items`…).
    Other,
}

/// Whether typify turns this schema into a named type of its own.
fn defines_type(obj: &Map<String, Value>) -> bool {
    super::bundle::defines_named_type(obj)
}

fn walk(
    file: &SpecFile,
    schema: &Value,
    pointer: &str,
    place: Place,
    titles: &mut BTreeMap<String, String>,
) -> Result<(), CodegenError> {
    let is_root = place == Place::Root;
    let Some(obj) = schema.as_object() else {
        if schema.is_boolean() {
            return Ok(());
        }
        return Err(err(
            file,
            pointer,
            "a schema must be an object or a boolean",
        ));
    };
    for keyword in UNSUPPORTED {
        if obj.contains_key(*keyword) {
            return Err(err(
                file,
                pointer,
                &format!("keyword `{keyword}` is not supported by the generator"),
            ));
        }
    }
    if let Some(values) = obj.get("enum") {
        match values.as_array() {
            Some(values) if !values.is_empty() => {}
            _ => {
                return Err(err(
                    file,
                    pointer,
                    "keyword `enum` must list at least one value",
                ))
            }
        }
    }
    if !is_root && obj.contains_key("$defs") {
        return Err(err(
            file,
            pointer,
            "keyword `$defs` is only allowed at the file root",
        ));
    }
    if obj.contains_key("definitions") {
        return Err(err(
            file,
            pointer,
            "keyword `definitions` is draft-07; use `$defs`",
        ));
    }
    if place == Place::Other && defines_type(obj) {
        return Err(err(
            file,
            pointer,
            "an inline type here (an object, enum, union or constrained string) has no stable \
             generated name: move it to `$defs` and point at it with `$ref`",
        ));
    }
    if !is_root {
        if let Some(title) = obj.get("title").and_then(Value::as_str) {
            let valid = title.starts_with(|c: char| c.is_ascii_uppercase())
                && title.chars().all(|c| c.is_ascii_alphanumeric());
            if !valid {
                return Err(err(
                    file,
                    pointer,
                    &format!(
                        "keyword `title` \"{title}\" names a generated type and must be \
                         PascalCase letters and digits"
                    ),
                ));
            }
            let here = format!("spec/{} at {pointer}", file.rel_path);
            if let Some(first) = titles.insert(title.to_string(), here.clone()) {
                return Err(err(
                    file,
                    pointer,
                    &format!(
                        "keyword `title` \"{title}\" is also used at {first}; nested titles name \
                         generated types, and two schemas with one title would be merged"
                    ),
                ));
            }
        }
    }
    for (map_keyword, child) in [("properties", Place::Property), ("$defs", Place::Def)] {
        if let Some(map) = obj.get(map_keyword).and_then(Value::as_object) {
            for (name, sub) in map {
                walk(
                    file,
                    sub,
                    &format!("{pointer}/{map_keyword}/{name}"),
                    child,
                    titles,
                )?;
            }
        }
    }
    for single in ["items", "additionalProperties", "not"] {
        if let Some(sub) = obj.get(single) {
            let child = if single == "items" && place == Place::Property {
                Place::PropertyItems
            } else {
                Place::Other
            };
            walk(file, sub, &format!("{pointer}/{single}"), child, titles)?;
        }
    }
    for list in ["allOf", "anyOf", "oneOf"] {
        if let Some(subs) = obj.get(list) {
            let subs = subs
                .as_array()
                .ok_or_else(|| err(file, pointer, &format!("keyword `{list}` must be an array")))?;
            for (i, sub) in subs.iter().enumerate() {
                walk(
                    file,
                    sub,
                    &format!("{pointer}/{list}/{i}"),
                    Place::Other,
                    titles,
                )?;
            }
        }
    }
    Ok(())
}
