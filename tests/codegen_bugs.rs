//! Generator defects found while writing the golden and lint tests. All of them are fixed; each
//! test stays as a regression test and states the correct behaviour (the generator may either
//! generate correct types or refuse the spec with an error naming the files involved, whichever
//! the test allows).
//!
//! - Fixed in cc3959b (they failed against 6d2f8bf): derived names checked against definition
//!   names, nested titles checked against definition names, `$ref`s rewritten under properties
//!   named like data keywords, stems starting with a digit refused, per-kind variant docs.
//! - Fixed in 57c7977 (they failed against cc3959b, whose `bundle::name_inline_types` named and
//!   claimed only inline types directly under `properties.<p>` and `properties.<p>.items`, and
//!   claimed author titles via `pascal_case` while typify converts them its own way): the
//!   `lint::Place` rule refuses inline objects/enums anywhere else, and titles must be PascalCase.
//! - Fixed in c2d8f17 (they failed against 57c7977): typify also creates named types
//!   `{Parent}{Prop}` for properties that are neither objects nor enums — constrained strings
//!   (`minLength`/`maxLength`/`pattern` → newtype), `oneOf`/`anyOf` unions and multi-type
//!   `type: [..]` (→ enum). `bundle::defines_named_type` (also behind `lint::defines_type`) now
//!   counts them, so they are claimed and collision-checked like objects and enums.

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

/// No two schemas were merged into one type: either the generator refuses the spec for the
/// reason the test is about, or the output declares every type once and still has every listed
/// field in some struct.
///
/// A refusal passes only when its message names every file in `files` (as `spec/<file>`: both
/// files whose definitions collide, or the file holding a construct the generator cannot name)
/// and contains `definition` (the colliding type name in backticks, or `at <pointer>:` for the
/// refused construct). Any other error fails the test.
fn assert_no_schema_lost(spec: &Spec, files: &[&str], definition: &str, fields: &[&str]) {
    assert!(
        !files.is_empty() && !definition.is_empty(),
        "say what a refusal must name"
    );
    let code = match generate(spec.path()) {
        Err(e) => {
            let e = e.to_string();
            for file in files {
                let file = format!("spec/{file}");
                assert!(
                    e.contains(&file),
                    "the generator refused the spec without naming {file}: {e}"
                );
            }
            assert!(
                e.contains(definition),
                "the generator refused the spec without naming {definition}: {e}"
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

// ---- fixed in cc3959b ----

/// Fixed in cc3959b: bundle.rs only checked the names it assigns itself; typify then derived
/// `{Parent}{Prop}` names for inline objects without checking them against those. Here the inline
/// `data` object of `events/pong` (typify: `PongEventData`) meets `domain/pong-event-data`
/// (bundle: `PongEventData`): `generate` returned Ok with `pub struct PongEventData` declared
/// twice.
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
    assert_no_schema_lost(
        &spec,
        &[
            "events/pong.schema.json",
            "domain/pong-event-data.schema.json",
        ],
        "`PongEventData`",
        &["a", "b"],
    );
}

/// Fixed in cc3959b: two inline objects whose derived names coincide were silently merged (the
/// lint only caught equal `title`s). `conversation.messageContent` and
/// `conversation-message.content` are both `ConversationMessageContent`; one type was emitted, so
/// `ConversationMessage.content` lost its field `y` and accepted the other object's shape.
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
    assert_no_schema_lost(
        &spec,
        &[
            "domain/conversation.schema.json",
            "domain/conversation-message.schema.json",
        ],
        "`ConversationMessageContent`",
        &["x", "y"],
    );
}

/// Fixed in cc3959b: the title lint compared nested titles only with each other, not with the
/// names the bundle gives definitions. A nested `"title": "Note"` next to
/// `domain/note.schema.json` (type `Note`) made typify reuse `Note`: `PingRequest.x` got `Note`'s
/// fields and lost `z`.
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
    assert_no_schema_lost(
        &spec,
        &["actions/ping.schema.json", "domain/note.schema.json"],
        "`Note`",
        &["z", "b"],
    );
}

/// Fixed in cc3959b: `rewrite_refs` skipped every object key named `const`, `enum`, `default` or
/// `examples` to avoid rewriting data, but it also skipped *properties* with those names. A
/// property called `default` holding a cross-file `$ref` reached typify unrewritten and typify
/// panicked ("external references are not supported"), so a valid spec was rejected.
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

/// Fixed in cc3959b: file names could start with a digit (the kebab-case check allows
/// `[a-z0-9-]`), but the generated identifiers cannot, and `generate` panicked (outside its typify
/// `catch_unwind`) instead of returning a `CodegenError` naming the file.
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

/// Fixed in cc3959b (docs): `frame_enum` looked up a variant's doc comment by wire name among all
/// non-domain files, so when an action and an event shared a wire name the `Event` variant got the
/// action file's description.
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

// ---- fixed in 57c7977 ----

/// Fixed in 57c7977: an inline object inside `anyOf` was neither titled nor claimed. typify named
/// it `ConversationMessageContent` (from the property), the same as
/// `conversation-message.content`: generation succeeded and one type was emitted, so
/// `ConversationMessage.content` lost `y`.
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
    assert_no_schema_lost(
        &spec,
        &["domain/conversation.schema.json"],
        "at /properties/messageContent/anyOf/0:",
        &["x", "y"],
    );
}

/// Fixed in 57c7977: an inline object as `additionalProperties` (typify: `{Parent}{Prop}Value`) was
/// not claimed; next to `domain/conversation-messages-value` both were emitted as
/// `pub struct ConversationMessagesValue`, and the generated file did not compile.
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
    assert_no_schema_lost(
        &spec,
        &["domain/conversation.schema.json"],
        "at /properties/messages/additionalProperties:",
        &["x", "y"],
    );
}

/// Fixed in 57c7977: the `items` of a file-root array (typify: `{Name}Item`) was not claimed; with
/// `domain/list-item` there were two `pub struct ListItem`.
#[test]
fn root_array_items_are_not_duplicated() {
    let spec = Spec::with_domain(&[
        (
            "list",
            json!({ "type": "array", "items": closed_object("x", "string") }),
        ),
        ("list-item", closed_object("y", "integer")),
    ]);
    assert_no_schema_lost(
        &spec,
        &["domain/list.schema.json"],
        "at /items:",
        &["x", "y"],
    );
}

/// Fixed in 57c7977: items of nested arrays (typify: `{Parent}{Prop}ItemItem`) were not claimed;
/// with `domain/board-grid-item-item` there were two `pub struct BoardGridItemItem`.
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
    assert_no_schema_lost(
        &spec,
        &["domain/board.schema.json"],
        "at /properties/grid/items/items:",
        &["x", "y"],
    );
}

/// Fixed in 57c7977: a nested `"title": "my part"` was claimed as `My part` (`pascal_case` only
/// splits on `-` and `_`) but typify names the type `MyPart`, so the collision with
/// `domain/my-part` (`MyPart`) went unnoticed and `Thing.a` was typed with `MyPart`'s fields,
/// losing `x`.
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
    assert_no_schema_lost(
        &spec,
        &["domain/thing.schema.json"],
        "at /properties/a:",
        &["x", "y"],
    );
}

// ---- fixed in c2d8f17 ----

/// Fixed in c2d8f17: a string property with `maxLength` becomes the newtype `CitationSnippet`,
/// which was not claimed; next to `domain/citation-snippet` (struct `CitationSnippet`) both were
/// emitted.
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
    assert_no_schema_lost(
        &spec,
        &[
            "domain/citation.schema.json",
            "domain/citation-snippet.schema.json",
        ],
        "`CitationSnippet`",
        &["x", "y"],
    );
}

/// Fixed in c2d8f17: a `oneOf` property becomes the enum `ThingContent`, which was not claimed;
/// next to `domain/thing-content` (struct `ThingContent`) both were emitted.
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
    assert_no_schema_lost(
        &spec,
        &[
            "domain/thing.schema.json",
            "domain/thing-content.schema.json",
        ],
        "`ThingContent`",
        &["x", "y", "z"],
    );
}

/// Fixed in c2d8f17: a property with `type: ["string", "integer"]` becomes the enum `CellValue`,
/// which was not claimed; next to `domain/cell-value` (struct `CellValue`) both were emitted.
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
    assert_no_schema_lost(
        &spec,
        &["domain/cell.schema.json", "domain/cell-value.schema.json"],
        "`CellValue`",
        &["x", "y"],
    );
}
