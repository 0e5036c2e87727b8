//! Generator defects found while writing the golden and lint tests. Each test states the correct
//! behaviour (a fix may either generate correct types or reject the spec with an error naming the
//! file, whichever the test allows).
//!
//! - "FIXED" tests were failing against the generator of 6d2f8bf and pass since cc3959b; they stay
//!   as regression tests.
//! - "FIXED later" tests failed against cc3959b (`bundle::name_inline_types` named and claimed
//!   only inline types directly under `properties.<p>` and `properties.<p>.items`, and claimed
//!   author titles via `pascal_case` while typify converts them its own way) and pass with the
//!   `lint::Place` rule that rejects inline objects/enums elsewhere and non-PascalCase titles.
//! - "OPEN" tests fail: typify also creates named types `{Parent}{Prop}` for properties that are
//!   neither objects nor enums — constrained strings (`minLength`/`maxLength`/`pattern` →
//!   newtype), `oneOf`/`anyOf` unions and multi-type `type: [..]` (→ enum) — which
//!   `bundle::is_named_type` / `lint::defines_type` do not count, so they are never claimed and
//!   can collide with a definition name.

mod codegen_support;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use codegen_support::codegen::generate;
use codegen_support::{action, closed_object, object, Spec};
use serde_json::{json, Value};

/// Top-level types of a generated file: name → (declaration count, field name → type tokens);
/// structs, enums and type aliases all count, since they share one namespace.
fn structs(code: &str) -> BTreeMap<String, (usize, BTreeMap<String, String>)> {
    let file = syn::parse_file(code).expect("generated code parses");
    let mut out: BTreeMap<String, (usize, BTreeMap<String, String>)> = BTreeMap::new();
    for item in file.items {
        let (name, fields) = match item {
            syn::Item::Struct(s) => (s.ident.to_string(), Some(s.fields)),
            syn::Item::Enum(e) => (e.ident.to_string(), None),
            syn::Item::Type(t) => (t.ident.to_string(), None),
            _ => continue,
        };
        let entry = out.entry(name).or_default();
        entry.0 += 1;
        for f in fields.iter().flatten() {
            if let Some(ident) = &f.ident {
                let ty = quote::ToTokens::to_token_stream(&f.ty)
                    .to_string()
                    .replace(' ', "");
                entry.1.insert(ident.to_string(), ty);
            }
        }
    }
    out
}

/// Either the generator refuses the spec naming a file, or the output declares every struct once
/// and still has every listed field somewhere: no two schemas were merged into one type.
fn assert_no_schema_lost(spec: &Spec, fields: &[&str]) {
    let code = match generate(spec.path()) {
        Err(e) => {
            assert!(
                e.to_string().contains("spec/"),
                "a rejection must name the file: {e}"
            );
            return;
        }
        Ok(code) => code,
    };
    let structs = structs(&code);
    for (name, (count, _)) in &structs {
        assert_eq!(
            *count, 1,
            "type `{name}` is declared {count} times: the output does not compile"
        );
    }
    for field in fields {
        assert!(
            structs.values().any(|(_, f)| f.contains_key(*field)),
            "no generated struct has the field `{field}`: its schema was merged into another \
             type with the same name"
        );
    }
}

/// FIXED: bundle.rs only checked the names it assigns itself; typify then derives `{Parent}{Prop}`
/// names for inline objects without checking them against those. Here the inline `data` object of
/// `events/pong` (typify: `PongEventData`) meets `domain/pong-event-data` (bundle:
/// `PongEventData`): `generate` returns Ok with `pub struct PongEventData` declared twice.
#[test]
fn derived_name_equal_to_a_definition_name_is_not_duplicated() {
    let spec = Spec::new();
    spec.put(
        "events/pong.schema.json",
        &json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["type"],
            "properties": {
                "type": { "const": "pong" },
                "data": object(json!({ "a": { "type": "string" } }))
            }
        }),
    );
    spec.put(
        "domain/pong-event-data.schema.json",
        &object(json!({ "b": { "type": "integer" } })),
    );
    assert_no_schema_lost(&spec, &["a", "b"]);
}

/// FIXED: two inline objects whose derived names coincide are silently merged (the lint only
/// catches equal `title`s). `conversation.messageContent` and `conversation-message.content` are
/// both `ConversationMessageContent`; one type is emitted, so `ConversationMessage.content` loses
/// its field `y` and accepts the other object's shape.
#[test]
fn inline_objects_with_the_same_derived_name_are_not_merged() {
    let spec = Spec::with_domain(&[
        (
            "conversation",
            object(json!({ "messageContent": object(json!({ "x": { "type": "string" } })) })),
        ),
        (
            "conversation-message",
            object(json!({ "content": object(json!({ "y": { "type": "integer" } })) })),
        ),
    ]);
    assert_no_schema_lost(&spec, &["x", "y"]);
}

/// FIXED: the title lint compared nested titles only with each other, not with the names the
/// bundle gives definitions. A nested `"title": "Note"` next to `domain/note.schema.json` (type
/// `Note`) makes typify reuse `Note`: `PingRequest.x` gets `Note`'s fields and loses `z`.
#[test]
fn nested_title_equal_to_a_definition_name_is_not_merged() {
    let spec = Spec::empty();
    spec.put(
        "actions/ping.schema.json",
        &action(
            "ping",
            json!({ "x": { "title": "Note", "type": "object", "properties": { "z": { "type": "boolean" } } } }),
        ),
    );
    spec.put(
        "domain/note.schema.json",
        &object(json!({ "b": { "type": "integer" } })),
    );
    assert_no_schema_lost(&spec, &["z", "b"]);
}

/// FIXED: `rewrite_refs` skipped every object key named `const`, `enum`, `default` or `examples` to
/// avoid rewriting data, but it also skips *properties* with those names. A property called
/// `default` holding a cross-file `$ref` reaches typify unrewritten and typify panics ("external
/// references are not supported"), so a valid spec is rejected.
#[test]
fn property_named_like_a_data_keyword_still_gets_its_ref_rewritten() {
    for property in ["default", "const", "enum", "examples"] {
        let spec = Spec::empty();
        let mut extra = serde_json::Map::new();
        extra.insert(
            property.to_string(),
            json!({ "$ref": "../domain/note.schema.json" }),
        );
        spec.put(
            "actions/ping.schema.json",
            &action("ping", Value::Object(extra)),
        );
        spec.put(
            "domain/note.schema.json",
            &object(json!({ "b": { "type": "integer" } })),
        );
        let code = generate(spec.path())
            .unwrap_or_else(|e| panic!("property `{property}` with a valid $ref: {e}"));
        let structs = structs(&code);
        // The property's field (its Rust name may differ, e.g. `const_`), not `request_id`.
        let ty = structs["PingRequest"]
            .1
            .iter()
            .find(|(name, _)| *name != "request_id")
            .map(|(_, ty)| ty.clone())
            .unwrap_or_default();
        assert_eq!(ty, "::std::option::Option<Note>", "property `{property}`");
    }
}

/// FIXED: file names could start with a digit (the kebab-case check allows `[a-z0-9-]`), but the
/// generated identifiers cannot, and `generate` panics (outside its typify `catch_unwind`) instead
/// of returning a `CodegenError` naming the file.
#[test]
fn file_name_starting_with_a_digit_is_an_error_not_a_panic() {
    let spec = Spec::empty();
    spec.put("actions/2fa.schema.json", &action("2fa", json!({})));
    let result = catch_unwind(AssertUnwindSafe(|| generate(spec.path())));
    match result {
        Err(_) => panic!("generate panicked on spec/actions/2fa.schema.json"),
        Ok(Err(e)) => assert!(
            e.to_string().contains("spec/actions/2fa.schema.json"),
            "{e}"
        ),
        Ok(Ok(code)) => {
            syn::parse_file(&code).expect("generated code parses");
        }
    }
}

/// FIXED (docs): `frame_enum` looked up a variant's doc comment by wire name among all non-domain
/// files, so when an action and an event share a wire name the `Event` variant gets the action
/// file's description.
#[test]
fn event_variant_doc_comes_from_the_event_file() {
    let spec = Spec::empty();
    let mut ping = action("ping", json!({}));
    ping["description"] = json!("ACTION DESCRIPTION");
    spec.put("actions/ping.schema.json", &ping);
    spec.put(
        "events/ping.schema.json",
        &json!({
            "description": "EVENT DESCRIPTION",
            "type": "object",
            "additionalProperties": false,
            "required": ["type"],
            "properties": { "type": { "const": "ping" } }
        }),
    );
    let code = generate(spec.path()).expect("generates");
    let file = syn::parse_file(&code).unwrap();
    let event = file
        .items
        .iter()
        .find_map(|i| match i {
            syn::Item::Enum(e) if e.ident == "Event" => Some(e),
            _ => None,
        })
        .expect("enum Event");
    let doc = quote::ToTokens::to_token_stream(&event.variants[0].attrs[0]).to_string();
    assert!(doc.contains("EVENT DESCRIPTION"), "Event::Ping doc: {doc}");
}

// ---- FIXED later ----

/// FIXED later: an inline object inside `anyOf` is neither titled nor claimed. typify names it
/// `ConversationMessageContent` (from the property), the same as `conversation-message.content`:
/// generation succeeds and one type is emitted, so `ConversationMessage.content` loses `y`.
#[test]
fn inline_object_under_any_of_is_not_merged() {
    let spec = Spec::with_domain(&[
        (
            "conversation",
            object(
                json!({ "messageContent": { "anyOf": [closed_object("x", "string"), { "type": "null" }] } }),
            ),
        ),
        (
            "conversation-message",
            object(json!({ "content": closed_object("y", "integer") })),
        ),
    ]);
    assert_no_schema_lost(&spec, &["x", "y"]);
}

/// FIXED later: an inline object as `additionalProperties` (typify: `{Parent}{Prop}Value`) is not
/// claimed; next to `domain/conversation-messages-value` both are emitted as
/// `pub struct ConversationMessagesValue`, and the generated file does not compile.
#[test]
fn inline_object_under_additional_properties_is_not_duplicated() {
    let spec = Spec::with_domain(&[
        (
            "conversation",
            object(
                json!({ "messages": { "type": "object", "additionalProperties": closed_object("x", "string") } }),
            ),
        ),
        ("conversation-messages-value", closed_object("y", "integer")),
    ]);
    assert_no_schema_lost(&spec, &["x", "y"]);
}

/// FIXED later: the `items` of a file-root array (typify: `{Name}Item`) is not claimed; with
/// `domain/list-item` there are two `pub struct ListItem`.
#[test]
fn root_array_items_are_not_duplicated() {
    let spec = Spec::with_domain(&[
        (
            "list",
            json!({ "type": "array", "items": closed_object("x", "string") }),
        ),
        ("list-item", closed_object("y", "integer")),
    ]);
    assert_no_schema_lost(&spec, &["x", "y"]);
}

/// FIXED later: items of nested arrays (typify: `{Parent}{Prop}ItemItem`) are not claimed; with
/// `domain/board-grid-item-item` there are two `pub struct BoardGridItemItem`.
#[test]
fn nested_array_items_are_not_duplicated() {
    let spec = Spec::with_domain(&[
        (
            "board",
            object(
                json!({ "grid": { "type": "array", "items": { "type": "array", "items": closed_object("x", "string") } } }),
            ),
        ),
        ("board-grid-item-item", closed_object("y", "integer")),
    ]);
    assert_no_schema_lost(&spec, &["x", "y"]);
}

/// FIXED later: a nested `"title": "my part"` is claimed as `My part` (`pascal_case` only splits on `-`
/// and `_`) but typify names the type `MyPart`, so the collision with `domain/my-part` (`MyPart`)
/// goes unnoticed and `Thing.a` is typed with `MyPart`'s fields, losing `x`.
#[test]
fn title_with_spaces_is_claimed_under_the_name_typify_uses() {
    let spec = Spec::with_domain(&[
        (
            "thing",
            object(
                json!({ "a": { "title": "my part", "type": "object", "additionalProperties": false, "properties": { "x": { "type": "string" } } } }),
            ),
        ),
        ("my-part", closed_object("y", "integer")),
    ]);
    assert_no_schema_lost(&spec, &["x", "y"]);
}

// ---- OPEN ----

/// OPEN: a string property with `maxLength` becomes the newtype `CitationSnippet`, which is not
/// claimed; next to `domain/citation-snippet` (struct `CitationSnippet`) both are emitted.
#[test]
fn constrained_string_newtype_is_not_duplicated() {
    let spec = Spec::with_domain(&[
        (
            "citation",
            object(
                json!({ "snippet": { "type": "string", "maxLength": 281 }, "x": { "type": "string" } }),
            ),
        ),
        ("citation-snippet", closed_object("y", "integer")),
    ]);
    assert_no_schema_lost(&spec, &["x", "y"]);
}

/// OPEN: a `oneOf` property becomes the enum `ThingContent`, which is not claimed; next to
/// `domain/thing-content` (struct `ThingContent`) both are emitted.
#[test]
fn one_of_property_enum_is_not_duplicated() {
    let spec = Spec::with_domain(&[
        (
            "thing",
            json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "content": { "oneOf": [{ "$ref": "#/$defs/A" }, { "$ref": "#/$defs/B" }] }
                },
                "$defs": {
                    "A": closed_object("x", "string"),
                    "B": closed_object("y", "integer")
                }
            }),
        ),
        ("thing-content", closed_object("z", "integer")),
    ]);
    assert_no_schema_lost(&spec, &["x", "y", "z"]);
}

/// OPEN: a property with `type: ["string", "integer"]` becomes the enum `CellValue`, which is not
/// claimed; next to `domain/cell-value` (struct `CellValue`) both are emitted.
#[test]
fn multi_type_property_enum_is_not_duplicated() {
    let spec = Spec::with_domain(&[
        (
            "cell",
            object(
                json!({ "value": { "type": ["string", "integer"] }, "x": { "type": "string" } }),
            ),
        ),
        ("cell-value", closed_object("y", "integer")),
    ]);
    assert_no_schema_lost(&spec, &["x", "y"]);
}
