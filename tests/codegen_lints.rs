//! Generator lints: each test builds a minimal spec in a temp dir that breaks one rule and checks
//! that `codegen::generate` fails with a message naming the file (as `spec/<path>`), the place
//! and the offending keyword, so the protocol author knows what to fix. The spec-building helpers
//! (`Spec`, `action`, `event`, `domain`) live in `codegen_support`, shared with `codegen_bugs`.

mod codegen_support;

use codegen_support::{action, domain, event, Spec, BASE};
use serde_json::{json, Value};

fn set(schema: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    schema
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"))
        .as_object_mut()
        .unwrap()
        .insert(key.to_string(), value);
}

fn remove(schema: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    schema
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"))
        .as_object_mut()
        .unwrap()
        .remove(key)
        .unwrap_or_else(|| panic!("no {pointer}"));
}

// ---- baselines: the helpers build lint-clean specs ----

#[test]
fn minimal_spec_generates() {
    let spec = Spec::new();
    spec.put("events/pong.schema.json", &event("pong", json!({})));
    spec.put(
        "domain/thing.schema.json",
        &domain("thing", json!({ "name": { "type": "string" } }), json!({})),
    );
    let code = spec.generate().expect("minimal spec generates");
    assert!(code.contains("pub struct PingRequest"));
    assert!(code.contains("pub struct PongEvent"));
    assert!(code.contains("pub struct Thing"));
}

#[test]
fn cross_file_refs_resolve_without_typify_panic() {
    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain(
            "thing",
            json!({ "kind": { "$ref": "#/$defs/Kind" }, "name": { "type": "string" } }),
            json!({ "Kind": { "type": "string", "enum": ["a", "b"] } }),
        ),
    );
    spec.put(
        "actions/get-thing.schema.json",
        &action(
            "get_thing",
            json!({
                "relative": { "$ref": "../domain/thing.schema.json" },
                "relativeDef": { "$ref": "../domain/thing.schema.json#/$defs/Kind" },
                "absolute": { "$ref": format!("{BASE}domain/thing.schema.json#/$defs/Kind") },
                "list": { "type": "array", "items": { "$ref": "../domain/thing.schema.json" } },
                "either": { "anyOf": [
                    { "$ref": "../domain/thing.schema.json" },
                    { "type": "null" }
                ] }
            }),
        ),
    );
    spec.put(
        "events/thing-found.schema.json",
        &event(
            "thing_found",
            json!({ "thing": { "$ref": "../domain/thing.schema.json" } }),
        ),
    );
    let code = spec
        .generate()
        .unwrap_or_else(|e| panic!("cross-file refs must resolve: {e}"));
    assert!(
        code.contains("pub relative: ::std::option::Option<Thing>"),
        "{code}"
    );
    assert!(code.contains("pub relative_def: ::std::option::Option<ThingKind>"));
    assert!(code.contains("pub absolute: ::std::option::Option<ThingKind>"));
    assert!(code.contains("pub list: ::std::vec::Vec<Thing>"));
    assert!(code.contains("pub thing: ::std::option::Option<Thing>"));
}

// ---- unsupported keywords ----

/// A keyword and a plausible value for it.
type KeywordUse = (&'static str, fn() -> Value);

/// Every keyword the generator refuses, placed on a nested property schema.
const UNSUPPORTED: &[KeywordUse] = &[
    ("unevaluatedProperties", || json!(false)),
    ("unevaluatedItems", || json!(false)),
    ("prefixItems", || json!([{ "type": "string" }])),
    ("if", || json!({ "type": "string" })),
    ("then", || json!({ "minLength": 1 })),
    ("else", || json!({ "type": "integer" })),
    ("dependentRequired", || json!({ "a": ["b"] })),
    ("dependentSchemas", || json!({ "a": { "required": ["b"] } })),
    ("dependencies", || json!({ "a": ["b"] })),
    ("$dynamicRef", || json!("#node")),
    ("$dynamicAnchor", || json!("node")),
    ("$recursiveRef", || json!("#")),
    ("$recursiveAnchor", || json!(true)),
    ("$anchor", || json!("here")),
    ("contains", || json!({ "type": "string" })),
    ("minContains", || json!(1)),
    ("maxContains", || json!(2)),
    (
        "patternProperties",
        || json!({ "^x": { "type": "string" } }),
    ),
    ("propertyNames", || json!({ "maxLength": 3 })),
];

#[test]
fn every_unsupported_keyword_is_rejected_with_file_pointer_and_keyword() {
    for (keyword, value) in UNSUPPORTED {
        let spec = Spec::new();
        let mut schema = action("ping", json!({ "field": { "type": "object" } }));
        set(
            &mut schema,
            &format!("/$defs/Request/properties/field/{keyword}"),
            value(),
        );
        spec.put("actions/ping.schema.json", &schema);
        spec.rejects(
            "actions/ping.schema.json",
            &[
                "at /$defs/Request/properties/field",
                &format!("keyword `{keyword}` is not supported"),
            ],
        );
    }
}

#[test]
fn unevaluated_properties_on_a_frame_is_rejected() {
    let spec = Spec::new();
    let mut schema = action("ping", json!({}));
    set(
        &mut schema,
        "/$defs/Request/unevaluatedProperties",
        json!(false),
    );
    spec.put("actions/ping.schema.json", &schema);
    spec.rejects(
        "actions/ping.schema.json",
        &["at /$defs/Request:", "`unevaluatedProperties`"],
    );
}

#[test]
fn prefix_items_in_an_event_array_is_rejected() {
    let spec = Spec::new();
    spec.put(
        "events/pair.schema.json",
        &event(
            "pair",
            json!({ "pair": { "type": "array", "prefixItems": [{ "type": "string" }, { "type": "integer" }] } }),
        ),
    );
    spec.rejects(
        "events/pair.schema.json",
        &["at /properties/pair", "`prefixItems`"],
    );
}

#[test]
fn if_then_else_is_rejected_each_keyword_alone() {
    for keyword in ["if", "then", "else"] {
        let spec = Spec::new();
        let mut schema = domain("thing", json!({ "n": { "type": "integer" } }), json!({}));
        set(
            &mut schema,
            &format!("/{keyword}"),
            json!({ "required": ["n"] }),
        );
        spec.put("domain/thing.schema.json", &schema);
        spec.rejects(
            "domain/thing.schema.json",
            &["at /:", &format!("`{keyword}`")],
        );
    }
}

#[test]
fn dependent_required_is_rejected() {
    let spec = Spec::new();
    let mut schema = domain(
        "thing",
        json!({ "a": { "type": "string" }, "b": { "type": "string" } }),
        json!({}),
    );
    set(&mut schema, "/dependentRequired", json!({ "a": ["b"] }));
    spec.put("domain/thing.schema.json", &schema);
    spec.rejects("domain/thing.schema.json", &["`dependentRequired`"]);
}

#[test]
fn unsupported_keywords_are_found_in_every_nested_position() {
    let bad = || json!({ "type": "array", "prefixItems": [{ "type": "string" }] });
    let places: Vec<(&str, Value)> = vec![
        (
            "/properties/x/items",
            json!({ "type": "array", "items": bad() }),
        ),
        (
            "/properties/x/additionalProperties",
            json!({ "type": "object", "additionalProperties": bad() }),
        ),
        ("/properties/x/not", json!({ "not": bad() })),
        ("/properties/x/allOf/1", json!({ "allOf": [{}, bad()] })),
        (
            "/properties/x/anyOf/0",
            json!({ "anyOf": [bad(), { "type": "null" }] }),
        ),
        (
            "/properties/x/oneOf/1",
            json!({ "oneOf": [{ "type": "null" }, bad()] }),
        ),
        (
            "/properties/x/properties/y/properties/z",
            json!({ "type": "object", "properties": { "y": { "type": "object", "properties": { "z": bad() } } } }),
        ),
    ];
    for (pointer, x) in places {
        let spec = Spec::new();
        spec.put(
            "domain/thing.schema.json",
            &domain("thing", json!({ "x": x }), json!({})),
        );
        spec.rejects(
            "domain/thing.schema.json",
            &[&format!("at {pointer}:"), "`prefixItems`"],
        );
    }
    // In a $defs entry of another file kind.
    let spec = Spec::new();
    let mut schema = action("ping", json!({}));
    set(&mut schema, "/$defs/Extra", bad());
    spec.put("actions/ping.schema.json", &schema);
    spec.rejects(
        "actions/ping.schema.json",
        &["at /$defs/Extra:", "`prefixItems`"],
    );
}

#[test]
fn keywords_inside_data_are_not_mistaken_for_schemas() {
    // `const`, `enum`, `default` and `examples` hold data that may look like schema keywords.
    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain(
            "thing",
            json!({
                "a": { "type": "object", "default": { "if": 1, "prefixItems": [] } },
                "b": { "type": "object", "examples": [{ "$ref": "nowhere.json" }] },
                "c": { "enum": [{ "then": 2 }] }
            }),
            json!({}),
        ),
    );
    spec.generate()
        .unwrap_or_else(|e| panic!("data values are not schemas: {e}"));
}

// ---- titles ----

#[test]
fn duplicate_nested_titles_in_one_file_are_rejected() {
    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain(
            "thing",
            json!({
                "a": { "title": "Part", "type": "object", "properties": { "x": { "type": "string" } } },
                "b": { "title": "Part", "type": "object", "properties": { "y": { "type": "integer" } } }
            }),
            json!({}),
        ),
    );
    spec.rejects(
        "domain/thing.schema.json",
        &[
            "at /properties/b",
            "keyword `title` \"Part\" is also used at spec/domain/thing.schema.json at /properties/a",
        ],
    );
}

#[test]
fn duplicate_nested_titles_across_files_are_rejected() {
    let spec = Spec::new();
    spec.put(
        "actions/get-thing.schema.json",
        &action(
            "get_thing",
            json!({ "filter": { "title": "Filter", "type": "object" } }),
        ),
    );
    spec.put(
        "events/found.schema.json",
        &event(
            "found",
            json!({ "filter": { "title": "Filter", "type": "object" } }),
        ),
    );
    spec.rejects(
        "events/found.schema.json",
        &[
            "at /properties/filter",
            "`title` \"Filter\"",
            "spec/actions/get-thing.schema.json at /$defs/Request/properties/filter",
        ],
    );
}

#[test]
fn file_root_titles_may_repeat() {
    // Root titles are the wire names and never name types.
    let spec = Spec::new();
    let mut thing = domain("thing", json!({}), json!({}));
    set(&mut thing, "/title", json!("ping"));
    spec.put("domain/thing.schema.json", &thing);
    spec.generate().expect("root titles do not collide");
}

// ---- $ref resolution ----

#[test]
fn ref_to_a_missing_file_is_rejected() {
    let spec = Spec::new();
    spec.put(
        "actions/ping.schema.json",
        &action(
            "ping",
            json!({ "t": { "$ref": "../domain/nope.schema.json" } }),
        ),
    );
    spec.rejects(
        "actions/ping.schema.json",
        &[
            "at /$defs/Request/properties/t",
            "keyword `$ref` \"../domain/nope.schema.json\" cannot be resolved",
            "no file spec/domain/nope.schema.json",
        ],
    );
}

#[test]
fn ref_to_a_missing_defs_entry_is_rejected() {
    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain(
            "thing",
            json!({}),
            json!({ "Kind": { "type": "string", "enum": ["a"] } }),
        ),
    );
    spec.put(
        "events/found.schema.json",
        &event(
            "found",
            json!({ "k": { "$ref": "../domain/thing.schema.json#/$defs/Sort" } }),
        ),
    );
    spec.rejects(
        "events/found.schema.json",
        &[
            "at /properties/k",
            "`$ref`",
            "spec/domain/thing.schema.json has no $defs entry `Sort`",
        ],
    );
}

#[test]
fn ref_to_a_missing_local_defs_entry_is_rejected() {
    let spec = Spec::new();
    spec.put(
        "actions/ping.schema.json",
        &action("ping", json!({ "k": { "$ref": "#/$defs/Kind" } })),
    );
    spec.rejects(
        "actions/ping.schema.json",
        &["`$ref` \"#/$defs/Kind\"", "has no $defs entry `Kind`"],
    );
}

#[test]
fn unresolvable_ref_shapes_are_rejected() {
    let cases: &[(Value, &str)] = &[
        (
            json!("../domain/thing.schema.json#/properties/a"),
            "the fragment must be empty or #/$defs/<Name>",
        ),
        (
            json!("../domain/thing.schema.json#/$defs/Kind/items"),
            "the fragment must be empty or #/$defs/<Name>",
        ),
        (json!("../../outside.schema.json"), "the path leaves spec/"),
        (
            json!("https://example.com/thing.schema.json"),
            "only references into spec/ are allowed",
        ),
        (
            json!("../actions/other.schema.json"),
            "an action file root is not a type",
        ),
        (
            json!("../envelope.schema.json#/$defs/EventEnvelope"),
            "the envelope is validation-only",
        ),
        (json!(42), "it must be a string"),
    ];
    for (reference, why) in cases {
        let spec = Spec::new();
        spec.put(
            "envelope.schema.json",
            &json!({
                "$id": format!("{BASE}envelope.schema.json"),
                "$defs": { "EventEnvelope": { "type": "object" } }
            }),
        );
        spec.put("actions/other.schema.json", &action("other", json!({})));
        spec.put(
            "domain/thing.schema.json",
            &domain(
                "thing",
                json!({ "a": { "type": "string" } }),
                json!({ "Kind": { "type": "array", "items": { "type": "string" } } }),
            ),
        );
        spec.put(
            "events/found.schema.json",
            &event("found", json!({ "r": { "$ref": reference } })),
        );
        let error = spec.rejects(
            "events/found.schema.json",
            &[
                "at /properties/r",
                "keyword `$ref`",
                "cannot be resolved",
                why,
            ],
        );
        assert!(error.contains(&reference.to_string()), "{error}");
    }
}

// ---- enum ----

#[test]
fn empty_enum_is_rejected() {
    let spec = Spec::new();
    spec.put(
        "actions/ping.schema.json",
        &action("ping", json!({ "mode": { "type": "string", "enum": [] } })),
    );
    spec.rejects(
        "actions/ping.schema.json",
        &[
            "at /$defs/Request/properties/mode",
            "keyword `enum` must list at least one value",
        ],
    );
}

#[test]
fn non_array_enum_is_rejected() {
    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain("thing", json!({}), json!({ "Kind": { "enum": "a" } })),
    );
    spec.rejects(
        "domain/thing.schema.json",
        &[
            "at /$defs/Kind",
            "keyword `enum` must list at least one value",
        ],
    );
}

// ---- discriminators and frame shape ----

#[test]
fn wrong_action_discriminator_const_is_rejected() {
    let spec = Spec::new();
    let mut schema = action("getThing", json!({}));
    set(
        &mut schema,
        "/$id",
        json!(format!("{BASE}actions/get-thing.schema.json")),
    );
    spec.put("actions/get-thing.schema.json", &schema);
    spec.rejects(
        "actions/get-thing.schema.json",
        &[
            "at /$defs/Request/properties/action",
            "keyword `const` must be \"get_thing\" (the file name in snake_case)",
        ],
    );
}

#[test]
fn kebab_case_discriminator_const_is_rejected() {
    let spec = Spec::new();
    spec.put(
        "actions/get-thing.schema.json",
        &action("get-thing", json!({})),
    );
    spec.rejects(
        "actions/get-thing.schema.json",
        &["keyword `const` must be \"get_thing\""],
    );
}

#[test]
fn wrong_event_discriminator_const_is_rejected() {
    let spec = Spec::new();
    let mut schema = event("ping", json!({}));
    set(
        &mut schema,
        "/$id",
        json!(format!("{BASE}events/pong.schema.json")),
    );
    spec.put("events/pong.schema.json", &schema);
    spec.rejects(
        "events/pong.schema.json",
        &["at /properties/type", "keyword `const` must be \"pong\""],
    );
}

#[test]
fn discriminator_without_const_is_rejected() {
    let spec = Spec::new();
    let mut schema = event("pong", json!({}));
    set(&mut schema, "/properties/type", json!({ "type": "string" }));
    spec.put("events/pong.schema.json", &schema);
    spec.rejects(
        "events/pong.schema.json",
        &["keyword `const` must be \"pong\""],
    );

    let spec = Spec::new();
    let mut schema = action("ping", json!({}));
    remove(&mut schema, "/$defs/Request/properties/action");
    spec.put("actions/ping.schema.json", &schema);
    spec.rejects(
        "actions/ping.schema.json",
        &["at /$defs/Request/properties/action", "`const`"],
    );
}

#[test]
fn discriminator_not_required_is_rejected() {
    let spec = Spec::new();
    let mut schema = action("ping", json!({}));
    set(&mut schema, "/$defs/Request/required", json!([]));
    spec.put("actions/ping.schema.json", &schema);
    spec.rejects(
        "actions/ping.schema.json",
        &[
            "at /$defs/Request/required",
            "keyword `required` must list \"action\"",
        ],
    );

    let spec = Spec::new();
    let mut schema = event("pong", json!({}));
    set(&mut schema, "/required", json!(["timestamp"]));
    spec.put("events/pong.schema.json", &schema);
    spec.rejects(
        "events/pong.schema.json",
        &["at /required", "keyword `required` must list \"type\""],
    );
}

#[test]
fn frame_without_closed_properties_is_rejected() {
    let spec = Spec::new();
    let mut schema = action("ping", json!({}));
    remove(&mut schema, "/$defs/Request/additionalProperties");
    spec.put("actions/ping.schema.json", &schema);
    spec.rejects(
        "actions/ping.schema.json",
        &[
            "at /$defs/Request:",
            "keyword `additionalProperties` must be false",
        ],
    );

    let spec = Spec::new();
    let mut schema = event("pong", json!({}));
    set(&mut schema, "/additionalProperties", json!(true));
    spec.put("events/pong.schema.json", &schema);
    spec.rejects(
        "events/pong.schema.json",
        &["at /:", "keyword `additionalProperties` must be false"],
    );
}

#[test]
fn action_file_without_request_is_rejected() {
    let spec = Spec::new();
    let mut schema = action("get_thing", json!({}));
    let request = schema["$defs"]["Request"].take();
    remove(&mut schema, "/$defs/Request");
    set(&mut schema, "/$defs/Query", request);
    spec.put("actions/get-thing.schema.json", &schema);
    spec.rejects(
        "actions/get-thing.schema.json",
        &["at /$defs", "keyword `$defs` must define `Request`"],
    );

    let spec = Spec::new();
    spec.put_text(
        "actions/get-thing.schema.json",
        r#"{ "$id": "https://smooth-operator.invalid/spec/actions/get-thing.schema.json" }"#,
    );
    spec.rejects(
        "actions/get-thing.schema.json",
        &["keyword `$defs` must define `Request`"],
    );
}

#[test]
fn action_file_root_with_a_type_is_rejected() {
    for keyword in ["properties", "type"] {
        let spec = Spec::new();
        let mut schema = action("ping", json!({}));
        let value = schema["$defs"]["Request"][keyword].clone();
        set(&mut schema, &format!("/{keyword}"), value);
        spec.put("actions/ping.schema.json", &schema);
        spec.rejects(
            "actions/ping.schema.json",
            &["an action file root is not a type", "`$defs.Request`"],
        );
    }
}

// ---- $defs placement ----

#[test]
fn nested_defs_are_rejected() {
    let spec = Spec::new();
    let mut schema = action("ping", json!({ "x": { "type": "object" } }));
    set(
        &mut schema,
        "/$defs/Request/properties/x/$defs",
        json!({ "Inner": { "type": "string" } }),
    );
    spec.put("actions/ping.schema.json", &schema);
    spec.rejects(
        "actions/ping.schema.json",
        &[
            "at /$defs/Request/properties/x",
            "keyword `$defs` is only allowed at the file root",
        ],
    );

    // A $defs entry with its own $defs.
    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain(
            "thing",
            json!({}),
            json!({ "Kind": { "type": "string", "$defs": { "Deeper": { "type": "string" } } } }),
        ),
    );
    spec.rejects(
        "domain/thing.schema.json",
        &[
            "at /$defs/Kind",
            "keyword `$defs` is only allowed at the file root",
        ],
    );
}

#[test]
fn draft07_definitions_are_rejected() {
    let spec = Spec::new();
    let mut schema = domain("thing", json!({}), json!({}));
    set(
        &mut schema,
        "/definitions",
        json!({ "Kind": { "type": "string" } }),
    );
    spec.put("domain/thing.schema.json", &schema);
    spec.rejects(
        "domain/thing.schema.json",
        &["keyword `definitions` is draft-07; use `$defs`"],
    );
}

// ---- file identity ----

#[test]
fn bad_id_is_rejected() {
    let cases = [
        // another file's id
        json!(format!("{BASE}actions/pong.schema.json")),
        // wrong base
        json!("https://example.com/spec/actions/ping.schema.json"),
        // relative
        json!("ping.schema.json"),
        json!(7),
    ];
    for id in cases {
        let spec = Spec::new();
        let mut schema = action("ping", json!({}));
        set(&mut schema, "/$id", id);
        spec.put("actions/ping.schema.json", &schema);
        spec.rejects(
            "actions/ping.schema.json",
            &[
                "at /$id",
                "keyword `$id` must be \"https://smooth-operator.invalid/spec/actions/ping.schema.json\"",
            ],
        );
    }
}

#[test]
fn bad_schema_dialect_is_rejected() {
    let spec = Spec::new();
    let mut schema = event("pong", json!({}));
    set(
        &mut schema,
        "/$schema",
        json!("http://json-schema.org/draft-07/schema#"),
    );
    spec.put("events/pong.schema.json", &schema);
    spec.rejects(
        "events/pong.schema.json",
        &["at /$schema", "keyword `$schema` must name draft 2020-12"],
    );
}

#[test]
fn non_kebab_file_names_are_rejected() {
    for name in [
        "get_thing",
        "getThing",
        "GetThing",
        "get thing",
        "gét-thing",
    ] {
        let spec = Spec::new();
        spec.put(
            &format!("actions/{name}.schema.json"),
            &action("get_thing", json!({})),
        );
        spec.rejects(
            &format!("actions/{name}.schema.json"),
            &["file names must be kebab-case"],
        );
    }
    let spec = Spec::new();
    spec.put(
        "domain/Thing.schema.json",
        &domain("thing", json!({}), json!({})),
    );
    spec.rejects("domain/Thing.schema.json", &["kebab-case"]);
}

#[test]
fn invalid_json_is_rejected() {
    let spec = Spec::new();
    spec.put_text(
        "actions/broken.schema.json",
        r#"{ "$defs": { "Request": { "type": "object", } } }"#,
    );
    spec.rejects("actions/broken.schema.json", &["invalid JSON", "line 1"]);

    let spec = Spec::new();
    spec.put_text("envelope.schema.json", "");
    spec.rejects("envelope.schema.json", &["invalid JSON"]);
}

#[test]
fn non_object_schemas_are_rejected() {
    let spec = Spec::new();
    spec.put_text("domain/thing.schema.json", "[]");
    spec.rejects(
        "domain/thing.schema.json",
        &["at /:", "the file root must be a JSON object"],
    );

    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain("thing", json!({ "n": 5 }), json!({})),
    );
    spec.rejects(
        "domain/thing.schema.json",
        &[
            "at /properties/n",
            "a schema must be an object or a boolean",
        ],
    );

    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain(
            "thing",
            json!({ "n": { "anyOf": { "type": "string" } } }),
            json!({}),
        ),
    );
    spec.rejects(
        "domain/thing.schema.json",
        &["at /properties/n", "keyword `anyOf` must be an array"],
    );
}

#[test]
fn spec_without_actions_is_rejected() {
    let spec = Spec::empty();
    spec.put("events/pong.schema.json", &event("pong", json!({})));
    let error = spec.error();
    assert!(
        error.contains("no action schemas found under actions/"),
        "{error}"
    );
}

#[test]
fn colliding_generated_type_names_are_rejected() {
    // `domain/thing-kind.schema.json` and `domain/thing.schema.json#/$defs/Kind` are both `ThingKind`.
    let spec = Spec::new();
    spec.put(
        "domain/thing.schema.json",
        &domain(
            "thing",
            json!({}),
            json!({ "Kind": { "type": "string", "enum": ["a"] } }),
        ),
    );
    spec.put(
        "domain/thing-kind.schema.json",
        &domain("thing-kind", json!({}), json!({})),
    );
    spec.rejects(
        "domain/thing.schema.json",
        &[
            "generated type name `ThingKind` is also produced by spec/domain/thing-kind.schema.json",
        ],
    );
}

#[test]
fn non_spec_files_are_ignored() {
    let spec = Spec::new();
    spec.put_text("actions/README.md", "not a schema");
    spec.put_text("actions/notes.json", "{ not json");
    spec.put_text("conformance/frames/valid/x.json", "{ not json");
    spec.generate().expect("only *.schema.json files are read");
}
