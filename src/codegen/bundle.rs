//! Flattening the spec into one namespace of named definitions that typify can consume.
//!
//! typify 0.8 panics on cross-file `$ref`s and resolves local ones by their last path segment,
//! so every definition gets a globally unique name (`{FileStem}{Def}`, e.g. `GetSessionRequest`,
//! `PongEvent`, `ErrorCode`) and every `$ref` is rewritten to `#/$defs/<that name>`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::lint::SPEC_BASE_URI;
use super::load::{SpecFile, SpecKind};
use super::{pascal_case, CodegenError};

/// The flattened spec: definitions by generated type name, plus the frame types.
#[derive(Debug, Default)]
pub struct Bundle {
    /// Every named definition, refs rewritten, discriminators stripped.
    pub defs: BTreeMap<String, Value>,
    /// `(wire name, request type name)` per action, in file order.
    pub actions: Vec<(String, String)>,
    /// `(wire name, event type name)` per event, in file order.
    pub events: Vec<(String, String)>,
}

/// Names the generated type for a file root (`None`) or one of its `$defs` entries.
pub fn type_name(file: &SpecFile, def: Option<&str>) -> Option<String> {
    let base = pascal_case(&file.stem);
    match (file.kind, def) {
        (SpecKind::Envelope, _) | (SpecKind::Action, None) | (SpecKind::Interaction, None) => None,
        (SpecKind::Event, None) => Some(format!("{base}Event")),
        (SpecKind::Domain, None) => Some(base),
        (_, Some(def)) => Some(format!("{base}{def}")),
    }
}

/// Builds the bundle from lint-clean files, discriminators stripped (for typify).
pub fn bundle(files: &[SpecFile]) -> Result<Bundle, CodegenError> {
    build(files, true)
}

/// Builds the bundle with the `action` / `type` discriminators kept: the frames exactly as sent,
/// for the protocol documentation.
pub fn bundle_with_tags(files: &[SpecFile]) -> Result<Bundle, CodegenError> {
    build(files, false)
}

fn build(files: &[SpecFile], strip_tags: bool) -> Result<Bundle, CodegenError> {
    let mut out = Bundle::default();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    for file in files {
        if file.kind == SpecKind::Envelope {
            continue;
        }
        let mut entries: Vec<(Option<String>, Value)> = Vec::new();
        if let Some(defs) = file.json.get("$defs").and_then(Value::as_object) {
            for (def, schema) in defs {
                entries.push((Some(def.clone()), schema.clone()));
            }
        }
        if !matches!(file.kind, SpecKind::Action | SpecKind::Interaction) {
            entries.push((None, file.json.clone()));
        }
        for (def, mut schema) in entries {
            let pointer = def
                .as_ref()
                .map(|d| format!("/$defs/{d}"))
                .unwrap_or_default();
            let name = type_name(file, def.as_deref()).expect("typed kinds always have a name");
            strip_root_keywords(&mut schema);
            match (file.kind, def.as_deref()) {
                (SpecKind::Action, Some("Request")) => {
                    if strip_tags {
                        strip_discriminator(&mut schema, "action");
                    }
                    out.actions.push((file.wire_name(), name.clone()));
                }
                (SpecKind::Event, None) => {
                    if strip_tags {
                        strip_discriminator(&mut schema, "type");
                    }
                    out.events.push((file.wire_name(), name.clone()));
                }
                _ => {}
            }
            rewrite_refs(files, file, &mut schema, &pointer)?;
            let here = format!("spec/{}{}", file.rel_path, pointer);
            claim(&mut origin, &name, &here)?;
            out.defs.insert(name, schema);
        }
    }
    // Inline objects and enums become types too: name them explicitly and make sure no two
    // generated types share a name (typify would silently merge or duplicate them).
    for (name, schema) in out.defs.iter_mut() {
        let here = origin.get(name).cloned().unwrap_or_default();
        name_inline_types(schema, name, &here, &mut origin)?;
    }
    Ok(out)
}

/// Records that `here` produces the type `name`; two producers of one name are an error.
fn claim(
    origin: &mut BTreeMap<String, String>,
    name: &str,
    here: &str,
) -> Result<(), CodegenError> {
    if let Some(first) = origin.insert(name.to_string(), here.to_string()) {
        return Err(CodegenError(format!(
            "{here}: generated type name `{name}` is also produced by {first}; rename one \
             (or add a distinct `title`)"
        )));
    }
    Ok(())
}

/// Whether typify turns this inline schema into a named type of its own.
fn is_named_type(schema: &Value) -> bool {
    let Some(obj) = schema.as_object() else {
        return false;
    };
    if obj.contains_key("$ref") {
        return false;
    }
    defines_named_type(obj)
}

/// Whether typify gives this (non-`$ref`) schema a named type: objects with properties, enums,
/// constrained strings (newtypes), unions, and properties of several non-null types.
pub fn defines_named_type(obj: &serde_json::Map<String, Value>) -> bool {
    if obj.contains_key("$ref") {
        return false;
    }
    let several_types = obj
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|types| types.iter().filter(|t| *t != "null").count() > 1);
    [
        "properties",
        "enum",
        "oneOf",
        "anyOf",
        "minLength",
        "maxLength",
        "pattern",
    ]
    .iter()
    .any(|keyword| obj.contains_key(*keyword))
        || several_types
}

/// Gives every inline object/enum under `schema` a `title` (`{Parent}{Property}`, `…Item` for
/// array items) unless the author gave one, and claims each name.
fn name_inline_types(
    schema: &mut Value,
    parent: &str,
    here: &str,
    origin: &mut BTreeMap<String, String>,
) -> Result<(), CodegenError> {
    let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    for (prop, sub) in properties.iter_mut() {
        let child = format!("{parent}{}", pascal_case(prop));
        let child_here = format!("{here}/properties/{prop}");
        let mut targets: Vec<(&mut Value, String, String)> = Vec::new();
        if is_named_type(sub) {
            targets.push((sub, child, child_here));
        } else if let Some(items) = sub.get_mut("items").filter(|i| is_named_type(i)) {
            targets.push((items, format!("{child}Item"), format!("{child_here}/items")));
        }
        for (target, default_name, target_here) in targets {
            let obj = target.as_object_mut().expect("named types are objects");
            let name = match obj.get("title").and_then(Value::as_str) {
                Some(title) => pascal_case(title),
                None => {
                    obj.insert("title".to_string(), Value::String(default_name.clone()));
                    default_name
                }
            };
            claim(origin, &name, &target_here)?;
            name_inline_types(target, &name, &target_here, origin)?;
        }
    }
    Ok(())
}

fn strip_root_keywords(schema: &mut Value) {
    if let Some(obj) = schema.as_object_mut() {
        for keyword in ["$schema", "$id", "$defs", "title"] {
            obj.remove(keyword);
        }
    }
}

/// Removes the tag property: the generated enum reads and writes it.
fn strip_discriminator(schema: &mut Value, tag: &str) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
        props.remove(tag);
    }
    if let Some(required) = obj.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|v| v != tag);
        if required.is_empty() {
            obj.remove("required");
        }
    }
}

fn rewrite_refs(
    files: &[SpecFile],
    file: &SpecFile,
    schema: &mut Value,
    pointer: &str,
) -> Result<(), CodegenError> {
    match schema {
        Value::Object(obj) => {
            if let Some(reference) = obj.get("$ref") {
                let target = resolve(files, file, reference, pointer)?;
                obj.insert(
                    "$ref".to_string(),
                    Value::String(format!("#/$defs/{target}")),
                );
            }
            for (key, value) in obj.iter_mut() {
                let here = format!("{pointer}/{key}");
                match key.as_str() {
                    // `const`, `enum`, `default` and `examples` hold data, not schemas.
                    "const" | "enum" | "default" | "examples" => {}
                    // Maps from names to schemas: every value is a schema, whatever its name.
                    "properties" | "$defs" => {
                        if let Value::Object(map) = value {
                            for (name, sub) in map.iter_mut() {
                                rewrite_refs(files, file, sub, &format!("{here}/{name}"))?;
                            }
                        }
                    }
                    _ => rewrite_refs(files, file, value, &here)?,
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                rewrite_refs(files, file, item, &format!("{pointer}/{i}"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Resolves a `$ref` value written in `file` to the generated type name it denotes.
fn resolve(
    files: &[SpecFile],
    file: &SpecFile,
    reference: &Value,
    pointer: &str,
) -> Result<String, CodegenError> {
    let unresolvable = |why: &str| {
        CodegenError(format!(
            "spec/{} at {pointer}: keyword `$ref` {reference} cannot be resolved: {why}",
            file.rel_path
        ))
    };
    let text = reference
        .as_str()
        .ok_or_else(|| unresolvable("it must be a string"))?;
    let text = text.strip_prefix(SPEC_BASE_URI).map_or_else(
        || text.to_string(),
        |rest| {
            // An absolute spec URI: make it relative to this file's folder.
            let depth = file.rel_path.matches('/').count();
            format!("{}{rest}", "../".repeat(depth))
        },
    );
    let (path_part, fragment) = match text.split_once('#') {
        Some((p, f)) => (p, f),
        None => (text.as_str(), ""),
    };
    if path_part.contains("://") {
        return Err(unresolvable("only references into spec/ are allowed"));
    }
    let target_path = if path_part.is_empty() {
        file.rel_path.clone()
    } else {
        join(&file.rel_path, path_part).ok_or_else(|| unresolvable("the path leaves spec/"))?
    };
    let target = files
        .iter()
        .find(|f| f.rel_path == target_path)
        .ok_or_else(|| unresolvable(&format!("no file spec/{target_path}")))?;
    let def = match fragment {
        "" => None,
        f => Some(
            f.strip_prefix("/$defs/")
                .filter(|d| !d.contains('/'))
                .ok_or_else(|| unresolvable("the fragment must be empty or #/$defs/<Name>"))?,
        ),
    };
    if let Some(def) = def {
        let exists = target.json.get("$defs").and_then(|d| d.get(def)).is_some();
        if !exists {
            return Err(unresolvable(&format!(
                "spec/{target_path} has no $defs entry `{def}`"
            )));
        }
    }
    type_name(target, def).ok_or_else(|| match target.kind {
        SpecKind::Envelope => unresolvable("the envelope is validation-only"),
        SpecKind::Interaction => {
            unresolvable("an interaction file root is not a type; point at #/$defs/<Name>")
        }
        _ => unresolvable("an action file root is not a type; point at #/$defs/<Name>"),
    })
}

/// Joins a relative reference onto the folder of `from` (both `/`-separated, relative to spec/).
fn join(from: &str, relative: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for segment in relative.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// The `description` of a schema, used as the doc comment of generated enum variants.
pub fn description(schema: &Value) -> Option<String> {
    schema
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_string)
}
