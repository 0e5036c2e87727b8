//! A table of malformed frames, all sent on one connection: each gets exactly one `error` with
//! the right code and `requestId` echo rule, and the socket keeps working afterwards.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const SID: &str = "2b1f7a52-3c1e-4f7e-9a1d-5d2f8c9e0a11";

enum Input {
    Text(String),
    Binary(Vec<u8>),
}

struct Case {
    name: &'static str,
    input: Input,
    code: &'static str,
    request_id: Option<&'static str>,
    /// Substrings the error message must contain.
    message_has: &'static [&'static str],
}

fn text(s: impl Into<String>) -> Input {
    Input::Text(s.into())
}

fn nested_arrays(depth: usize) -> String {
    let mut s = String::with_capacity(depth * 2);
    s.push_str(&"[".repeat(depth));
    s.push_str(&"]".repeat(depth));
    s
}

fn cases() -> Vec<Case> {
    let huge_unicode = "é😀中\u{200d}".repeat(40_000); // ~400 KB of multi-byte text
    vec![
        Case {
            name: "invalid JSON",
            input: text(r#"{"action": "ping", "requestId": "r1""#),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["invalid JSON"],
        },
        Case {
            name: "garbage text",
            input: text("hello, server"),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["invalid JSON"],
        },
        Case {
            name: "empty string",
            input: text(""),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["invalid JSON"],
        },
        Case {
            name: "JSON array",
            input: text(r#"[{"action": "ping", "requestId": "r1"}]"#),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["action"],
        },
        Case {
            name: "JSON string",
            input: text(r#""ping""#),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["action"],
        },
        Case {
            name: "JSON number",
            input: text("42"),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["action"],
        },
        Case {
            name: "JSON null",
            input: text("null"),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["action"],
        },
        Case {
            name: "JSON true",
            input: text("true"),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["action"],
        },
        Case {
            name: "object without action",
            input: text(json!({"requestId": "r-noaction", "sessionId": SID}).to_string()),
            code: "VALIDATION_ERROR",
            request_id: Some("r-noaction"),
            message_has: &["action"],
        },
        Case {
            name: "empty object",
            input: text("{}"),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["action"],
        },
        Case {
            name: "action is a number",
            input: text(json!({"action": 1, "requestId": "r-num"}).to_string()),
            code: "VALIDATION_ERROR",
            request_id: Some("r-num"),
            message_has: &["action"],
        },
        Case {
            name: "action is an object",
            input: text(json!({"action": {"name": "ping"}, "requestId": "r-obj"}).to_string()),
            code: "VALIDATION_ERROR",
            request_id: Some("r-obj"),
            message_has: &["action"],
        },
        Case {
            name: "action is null",
            input: text(json!({"action": null, "requestId": "r-null"}).to_string()),
            code: "VALIDATION_ERROR",
            request_id: Some("r-null"),
            message_has: &["action"],
        },
        Case {
            name: "unknown action",
            input: text(json!({"action": "fly_to_moon", "requestId": "r-unk"}).to_string()),
            code: "UNSUPPORTED_ACTION",
            request_id: Some("r-unk"),
            message_has: &["fly_to_moon"],
        },
        Case {
            name: "get_messages is not an action",
            input: text(
                json!({"action": "get_messages", "requestId": "r-gm", "sessionId": SID})
                    .to_string(),
            ),
            code: "UNSUPPORTED_ACTION",
            request_id: Some("r-gm"),
            message_has: &["get_messages"],
        },
        Case {
            name: "an action no protocol version has",
            input: text(json!({"action": "submit_survey", "requestId": "r-otp"}).to_string()),
            code: "UNSUPPORTED_ACTION",
            request_id: Some("r-otp"),
            message_has: &["submit_survey"],
        },
        Case {
            name: "empty action",
            input: text(json!({"action": "", "requestId": "r-empty"}).to_string()),
            code: "UNSUPPORTED_ACTION",
            request_id: Some("r-empty"),
            message_has: &[],
        },
        Case {
            name: "action with different case",
            input: text(json!({"action": "PING", "requestId": "r-case"}).to_string()),
            code: "UNSUPPORTED_ACTION",
            request_id: Some("r-case"),
            message_has: &["PING"],
        },
        Case {
            name: "sessionId as number",
            input: text(
                json!({"action": "get_session", "requestId": "r-sid", "sessionId": 12345})
                    .to_string(),
            ),
            code: "VALIDATION_ERROR",
            request_id: Some("r-sid"),
            message_has: &["sessionId"],
        },
        Case {
            name: "limit as string",
            input: text(
                json!({"action": "get_conversation_messages", "requestId": "r-ls",
                       "sessionId": SID, "limit": "10"})
                .to_string(),
            ),
            code: "VALIDATION_ERROR",
            request_id: Some("r-ls"),
            message_has: &["limit"],
        },
        Case {
            name: "limit as float",
            input: text(
                json!({"action": "get_conversation_messages", "requestId": "r-lf",
                       "sessionId": SID, "limit": 10.5})
                .to_string(),
            ),
            code: "VALIDATION_ERROR",
            request_id: Some("r-lf"),
            message_has: &["limit"],
        },
        Case {
            name: "metadata as array",
            input: text(
                json!({"action": "create_conversation_session", "requestId": "r-md",
                       "agentId": "a", "metadata": [1, 2]})
                .to_string(),
            ),
            code: "VALIDATION_ERROR",
            request_id: Some("r-md"),
            message_has: &["metadata"],
        },
        Case {
            name: "unknown field on ping",
            input: text(json!({"action": "ping", "requestId": "r-uf", "extra": 1}).to_string()),
            code: "VALIDATION_ERROR",
            request_id: Some("r-uf"),
            message_has: &[],
        },
        Case {
            name: "10k nested arrays",
            input: text(nested_arrays(10_000)),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["invalid JSON"],
        },
        Case {
            name: "10k nested arrays inside an action",
            input: text(format!(
                r#"{{"action":"ping","requestId":"r-deep","x":{}}}"#,
                nested_arrays(10_000)
            )),
            // Parsing gives up before the requestId can be trusted.
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["invalid JSON"],
        },
        Case {
            name: "10k nested objects",
            input: text(format!(
                "{}{}",
                r#"{"a":"#.repeat(10_000),
                "}".repeat(10_000)
            )),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["invalid JSON"],
        },
        Case {
            name: "moderately nested unknown field",
            input: text(format!(
                r#"{{"action":"ping","requestId":"r-nest","x":{}}}"#,
                nested_arrays(100)
            )),
            code: "VALIDATION_ERROR",
            request_id: Some("r-nest"),
            message_has: &[],
        },
        Case {
            name: "huge unicode string in an unknown field",
            input: text(
                json!({"action": "ping", "requestId": "r-huge", "blob": huge_unicode}).to_string(),
            ),
            code: "VALIDATION_ERROR",
            request_id: Some("r-huge"),
            message_has: &[],
        },
        Case {
            name: "requestId is a number",
            input: text(json!({"action": "ping", "requestId": 7}).to_string()),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["requestId"],
        },
        Case {
            name: "requestId is a number on an unknown action",
            input: text(json!({"action": "nope", "requestId": 7}).to_string()),
            code: "UNSUPPORTED_ACTION",
            request_id: None,
            message_has: &["nope"],
        },
        Case {
            name: "requestId is an object without action",
            input: text(json!({"requestId": {"id": "r"}}).to_string()),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["action"],
        },
        Case {
            name: "duplicate keys with a non-string action last",
            input: text(r#"{"action":"ping","action":5,"requestId":"r-dup"}"#),
            code: "VALIDATION_ERROR",
            request_id: Some("r-dup"),
            message_has: &["action"],
        },
        Case {
            name: "trailing garbage after the object",
            input: text(r#"{"action":"ping","requestId":"r-tail"} x"#),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["invalid JSON"],
        },
        Case {
            name: "two objects in one frame",
            input: text(r#"{"action":"ping"}{"action":"ping"}"#),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["invalid JSON"],
        },
        Case {
            name: "binary frame holding a valid ping",
            input: Input::Binary(br#"{"action":"ping","requestId":"r-bin"}"#.to_vec()),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["binary"],
        },
        Case {
            name: "empty binary frame",
            input: Input::Binary(Vec::new()),
            code: "VALIDATION_ERROR",
            request_id: None,
            message_has: &["binary"],
        },
    ]
}

#[tokio::test]
async fn malformed_frames_table_on_one_connection() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let cases = cases();
    assert!(cases.len() >= 18);
    for case in cases {
        match case.input {
            Input::Text(t) => client.send_text(&t).await,
            Input::Binary(b) => client.send_raw(Message::Binary(b.into())).await,
        }
        let event = client.recv().await;
        assert_eq!(
            event["type"], "error",
            "{}: expected one error event, got {event}",
            case.name
        );
        assert_eq!(
            event["error"]["code"], case.code,
            "{}: wrong code: {event}",
            case.name
        );
        assert_error(&event, case.code, case.request_id);
        let message = event["error"]["message"].as_str().unwrap();
        for needle in case.message_has {
            assert!(
                message.contains(needle),
                "{}: message should mention {needle:?}: {message}",
                case.name
            );
        }
        assert!(
            message.len() <= 512,
            "{}: error message must not echo big input ({} bytes)",
            case.name,
            message.len()
        );
        // Exactly one event: the next thing on the socket is the pong for this ping.
        client.assert_alive().await;
    }
    // After all that, real work still succeeds on the same socket.
    let created = client.create_session().await;
    assert_matches_def("create-conversation-session", "Response", &created);
    let got = client
        .request(json!({"action": "get_session", "requestId": "after", "sessionId": created["sessionId"]}))
        .await;
    assert_eq!(got["type"], "immediate_response", "{got}");
    assert_eq!(got["requestId"], "after");
}

#[tokio::test]
async fn long_unknown_action_name_is_truncated_in_the_message() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let name = "x".repeat(10_000);
    let event = client
        .request(json!({"action": name, "requestId": "long"}))
        .await;
    assert_error(&event, "UNSUPPORTED_ACTION", Some("long"));
    let message = event["error"]["message"].as_str().unwrap();
    assert!(message.contains("xxxx"), "{message}");
    assert!(
        message.len() < 256,
        "message echoes the whole name: {} bytes",
        message.len()
    );
    client.assert_alive().await;
}

#[tokio::test]
async fn huge_unknown_field_name_is_not_echoed_whole() {
    // Client-chosen names shown in error messages are bounded (the action name is cut to 64
    // characters); an unknown field's name must be too, or one frame buys a reply as big as
    // itself.
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let key = "k".repeat(100_000);
    let mut frame = json!({"action": "ping", "requestId": "big-key"});
    frame[key.as_str()] = json!(1);
    let event = client.request(frame).await;
    assert_error(&event, "VALIDATION_ERROR", Some("big-key"));
    let message = event["error"]["message"].as_str().unwrap();
    assert!(
        message.len() < 1024,
        "error message echoes the whole unknown field name: {} bytes",
        message.len()
    );
    client.assert_alive().await;
}

#[tokio::test]
async fn integral_float_limit_error_names_the_field() {
    // 10.0 passes the schema's "integer" check (JSON Schema counts it as an integer) but not the
    // typed decode. Whichever layer rejects it, the client must learn which field was wrong,
    // as it does for every other wrong-typed field, without Rust type names.
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let created = client.create_session().await;
    let event = client
        .request(
            json!({"action": "get_conversation_messages", "requestId": "f",
                        "sessionId": created["sessionId"], "limit": 10.0}),
        )
        .await;
    assert_error(&event, "VALIDATION_ERROR", Some("f"));
    let message = event["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("limit"),
        "message must name 'limit': {message}"
    );
    assert!(
        !message.contains("u64"),
        "message leaks a Rust type: {message}"
    );
    client.assert_alive().await;
}

#[tokio::test]
async fn error_message_does_not_leak_field_values() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let secret = "s3cr3t-value-do-not-echo";
    let event = client
        .request(json!({"action": "get_session", "requestId": "leak", "sessionId": secret}))
        .await;
    assert_error(&event, "VALIDATION_ERROR", Some("leak"));
    let message = event["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains(secret),
        "message echoes the value: {message}"
    );
}

#[tokio::test]
async fn a_burst_of_bad_frames_gets_one_error_each_in_order() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    for i in 0..50 {
        client
            .send(json!({"action": "bogus", "requestId": format!("b{i}")}))
            .await;
    }
    for i in 0..50 {
        let event = client.recv().await;
        assert_error(&event, "UNSUPPORTED_ACTION", Some(&format!("b{i}")));
    }
    client.assert_alive().await;
    client.expect_silence(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn bad_frames_on_one_connection_do_not_disturb_another() {
    let server = start_memory().await;
    let mut bad = Client::connect(&server).await;
    let mut good = Client::connect(&server).await;
    bad.send_text(&nested_arrays(10_000)).await;
    bad.send_text("{").await;
    let e1 = bad.recv().await;
    let e2 = bad.recv().await;
    assert_error(&e1, "VALIDATION_ERROR", None);
    assert_error(&e2, "VALIDATION_ERROR", None);
    good.assert_alive().await;
    good.expect_silence(Duration::from_millis(100)).await;
    bad.assert_alive().await;
}
