//! Every action over a real WebSocket: success paths and every error path.

mod common;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use common::*;
use serde_json::{json, Value};
use smooth_operator::config::Config;
use smooth_operator::protocol::MessageDirection::{Inbound, Outbound};
use smooth_operator::server::ServerHandle;
use smooth_operator::store::sqlite::SqliteStore;
use uuid::Uuid;

const AGENT_ID: &str = "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11";
const SESSION_IDS: [&str; 6] = [
    "sessionId",
    "conversationId",
    "agentId",
    "agentName",
    "userParticipantId",
    "agentParticipantId",
];

fn assert_uuid(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    Uuid::parse_str(text).unwrap_or_else(|e| panic!("{what} is not a UUID ({e}): {text}"));
}

fn ids(data: &Value) -> Vec<String> {
    data["messages"]
        .as_array()
        .expect("messages is an array")
        .iter()
        .map(|m| m["id"].as_str().expect("message id").to_string())
        .collect()
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

// ---------------------------------------------------------------------------------------------
// ping
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn ping_echoes_request_id_and_one_timestamp() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let pong = client
        .request(json!({"action": "ping", "requestId": "p-1"}))
        .await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["requestId"], "p-1");
    assert!(
        pong["timestamp"].is_u64(),
        "timestamp is an integer: {pong}"
    );
    assert_eq!(pong["data"]["timestamp"], pong["timestamp"]);
    // A plausible clock: within a day of the test's clock, in milliseconds.
    let now = u64::try_from(Utc::now().timestamp_millis()).unwrap();
    let ts = pong["timestamp"].as_u64().unwrap();
    assert!(
        now.abs_diff(ts) < 86_400_000,
        "timestamp {ts} is not epoch ms (now {now})"
    );
    assert!(pong.get("status").is_none() && pong.get("message").is_none());
}

#[tokio::test]
async fn ping_without_request_id_gets_pong_without_request_id() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let pong = client.request(json!({"action": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    assert!(
        pong.get("requestId").is_none(),
        "unexpected requestId: {pong}"
    );
    assert_eq!(pong["data"]["timestamp"], pong["timestamp"]);
}

#[tokio::test]
async fn ping_with_empty_request_id_echoes_it() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let pong = client
        .request(json!({"action": "ping", "requestId": ""}))
        .await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(
        pong["requestId"], "",
        "an empty requestId is still an id: {pong}"
    );
}

// ---------------------------------------------------------------------------------------------
// create_conversation_session
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn create_session_returns_six_ids() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let ack = client
        .request(json!({
            "action": "create_conversation_session",
            "requestId": "c-1",
            "agentId": AGENT_ID,
            "userName": "Ada",
            "userEmail": "ada@example.com",
            "browserFingerprint": "fp-123"
        }))
        .await;
    assert_eq!(ack["type"], "immediate_response", "{ack}");
    assert_eq!(ack["status"], 200);
    assert_eq!(ack["message"], "Session created");
    assert_eq!(ack["requestId"], "c-1");
    let data = &ack["data"];
    assert_matches_def("create-conversation-session", "Response", data);
    let keys: Vec<&str> = data
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 6, "exactly six keys: {data}");
    for key in SESSION_IDS {
        assert!(data.get(key).is_some(), "missing {key}: {data}");
    }
    for key in [
        "sessionId",
        "conversationId",
        "userParticipantId",
        "agentParticipantId",
    ] {
        assert_uuid(&data[key], key);
    }
    assert_eq!(data["agentId"], AGENT_ID);
    assert_eq!(data["agentName"], "smooth-agent");
    // Four distinct fresh ids.
    let mut fresh: Vec<&str> = [
        "sessionId",
        "conversationId",
        "userParticipantId",
        "agentParticipantId",
    ]
    .iter()
    .map(|k| data[*k].as_str().unwrap())
    .collect();
    fresh.sort_unstable();
    fresh.dedup();
    assert_eq!(fresh.len(), 4, "ids must be distinct: {data}");
}

#[tokio::test]
async fn create_session_twice_gives_different_sessions() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let a = client.create_session().await;
    let b = client.create_session().await;
    assert_ne!(a["sessionId"], b["sessionId"]);
    assert_ne!(a["conversationId"], b["conversationId"]);
    // Stored ids are UUID v7, so the later session's ids sort after the earlier one's (their
    // indexes grow at one end).
    for key in [
        "sessionId",
        "conversationId",
        "userParticipantId",
        "agentParticipantId",
    ] {
        let (first, second) = (a[key].as_str().unwrap(), b[key].as_str().unwrap());
        for id in [first, second] {
            assert_eq!(
                uuid::Uuid::parse_str(id).unwrap().get_version_num(),
                7,
                "{key} {id}"
            );
        }
        assert!(first < second, "{key}: {first} then {second}");
    }
}

#[tokio::test]
async fn create_session_echoes_non_uuid_agent_id_verbatim() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let ack = client
        .request(json!({
            "action": "create_conversation_session",
            "requestId": "c-2",
            "agentId": "support-bot"
        }))
        .await;
    assert_eq!(ack["type"], "immediate_response", "{ack}");
    assert_eq!(ack["data"]["agentId"], "support-bot");
    assert_matches_def("create-conversation-session", "Response", &ack["data"]);
}

#[tokio::test]
async fn create_session_accepts_metadata_object() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let ack = client
        .request(json!({
            "action": "create_conversation_session",
            "requestId": "c-meta",
            "agentId": AGENT_ID,
            "metadata": {"page": "/pricing", "nested": {"a": [1, 2, 3]}, "flag": true}
        }))
        .await;
    assert_eq!(ack["type"], "immediate_response", "{ack}");
    assert_eq!(ack["status"], 200);
    assert_eq!(ack["requestId"], "c-meta");
    assert_matches_def("create-conversation-session", "Response", &ack["data"]);
    // The session is really stored.
    let got = client
        .request(json!({"action": "get_session", "sessionId": ack["data"]["sessionId"]}))
        .await;
    assert_eq!(got["type"], "immediate_response", "{got}");
}

#[tokio::test]
async fn create_session_validation_errors_echo_request_id() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let cases: Vec<(&str, Value)> = vec![
        (
            "missing agentId",
            json!({"action": "create_conversation_session", "requestId": "v"}),
        ),
        (
            "empty agentId",
            json!({"action": "create_conversation_session", "requestId": "v", "agentId": ""}),
        ),
        (
            "blank agentId",
            json!({"action": "create_conversation_session", "requestId": "v", "agentId": "   "}),
        ),
        (
            "tab/newline agentId",
            json!({"action": "create_conversation_session", "requestId": "v", "agentId": "\t\n "}),
        ),
        (
            "numeric agentId",
            json!({"action": "create_conversation_session", "requestId": "v", "agentId": 42}),
        ),
        (
            "null agentId",
            json!({"action": "create_conversation_session", "requestId": "v", "agentId": null}),
        ),
        (
            "bad userEmail",
            json!({"action": "create_conversation_session", "requestId": "v",
                   "agentId": AGENT_ID, "userEmail": "not-an-email"}),
        ),
        (
            "userName not a string",
            json!({"action": "create_conversation_session", "requestId": "v",
                   "agentId": AGENT_ID, "userName": ["Ada"]}),
        ),
        (
            "metadata not an object",
            json!({"action": "create_conversation_session", "requestId": "v",
                   "agentId": AGENT_ID, "metadata": "x"}),
        ),
        (
            "unknown field",
            json!({"action": "create_conversation_session", "requestId": "v",
                   "agentId": AGENT_ID, "surprise": 1}),
        ),
        (
            "agentId too long",
            json!({"action": "create_conversation_session", "requestId": "v",
                   "agentId": "a".repeat(257)}),
        ),
        (
            "incomplete authContext",
            json!({"action": "create_conversation_session", "requestId": "v",
                   "agentId": AGENT_ID, "authContext": {"userId": "u"}}),
        ),
    ];
    for (name, frame) in cases {
        let event = client.request(frame).await;
        assert_eq!(
            event["type"], "error",
            "{name}: expected an error, got {event}"
        );
        assert_error(&event, "VALIDATION_ERROR", Some("v"));
    }
    // Nothing broke the connection, and a correct frame still works.
    client.create_session().await;
}

#[tokio::test]
async fn create_session_error_without_request_id_has_none() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let event = client
        .request(json!({"action": "create_conversation_session", "agentId": " "}))
        .await;
    assert_error(&event, "VALIDATION_ERROR", None);
}

// ---------------------------------------------------------------------------------------------
// get_session
// ---------------------------------------------------------------------------------------------

fn assert_descriptor(got: &Value, created: &Value) {
    assert_eq!(got["type"], "immediate_response", "{got}");
    assert_eq!(got["status"], 200);
    assert_eq!(got["message"], "Session");
    let data = &got["data"];
    assert_matches_def("get-session", "Response", data);
    for key in SESSION_IDS {
        assert_eq!(
            data[key], created[key],
            "{key} differs: {data} vs {created}"
        );
    }
    assert_eq!(data["threadId"], created["conversationId"]);
    assert_eq!(data["status"], "active");
}

#[tokio::test]
async fn get_session_returns_the_created_descriptor() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let created = client.create_session().await;
    let got = client
        .request(
            json!({"action": "get_session", "requestId": "g-1", "sessionId": created["sessionId"]}),
        )
        .await;
    assert_eq!(got["requestId"], "g-1");
    assert_descriptor(&got, &created);
}

#[tokio::test]
async fn get_session_accepts_uppercase_uuid() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let created = client.create_session().await;
    let upper = created["sessionId"].as_str().unwrap().to_uppercase();
    let got = client
        .request(json!({"action": "get_session", "sessionId": upper}))
        .await;
    assert_descriptor(&got, &created);
}

#[tokio::test]
async fn get_session_is_visible_from_another_connection() {
    let server = start_memory().await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    let created = a.create_session().await;
    let got = b
        .request(json!({"action": "get_session", "requestId": "from-b", "sessionId": created["sessionId"]}))
        .await;
    assert_eq!(got["requestId"], "from-b");
    assert_descriptor(&got, &created);
    // And after A has gone away.
    drop(a);
    let got = b
        .request(json!({"action": "get_session", "sessionId": created["sessionId"]}))
        .await;
    assert_descriptor(&got, &created);
}

#[tokio::test]
async fn get_session_unknown_is_session_not_found() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let unknown = Uuid::new_v4().to_string();
    let event = client
        .request(json!({"action": "get_session", "requestId": "g-404", "sessionId": unknown}))
        .await;
    assert_error(&event, "SESSION_NOT_FOUND", Some("g-404"));
    let message = event["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&unknown),
        "message names the id: {message}"
    );
}

#[tokio::test]
async fn get_session_bad_session_id_is_validation_error() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let cases = [
        json!({"action": "get_session", "requestId": "g", "sessionId": "not-a-uuid"}),
        json!({"action": "get_session", "requestId": "g", "sessionId": ""}),
        json!({"action": "get_session", "requestId": "g", "sessionId": 7}),
        json!({"action": "get_session", "requestId": "g", "sessionId": null}),
        json!({"action": "get_session", "requestId": "g"}),
        json!({"action": "get_session", "requestId": "g", "sessionId": Uuid::new_v4().to_string(), "extra": true}),
    ];
    for frame in cases {
        let event = client.request(frame.clone()).await;
        assert_eq!(event["type"], "error", "{frame} → {event}");
        assert_error(&event, "VALIDATION_ERROR", Some("g"));
    }
    client.assert_alive().await;
}

// ---------------------------------------------------------------------------------------------
// get_conversation_messages
// ---------------------------------------------------------------------------------------------

/// A server on a SQLite file, a second store on the same file, a client and one session.
struct Fixture {
    _dir: tempfile::TempDir,
    _server: ServerHandle,
    store: SqliteStore,
    client: Client,
    session: Value,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("chat.db");
        let server = start_file(&path).await;
        let mut client = Client::connect(&server).await;
        let session = client.create_session().await;
        let store = open_store(&path).await;
        Fixture {
            _dir: dir,
            _server: server,
            store,
            client,
            session,
        }
    }

    /// Appends `n` messages "m1".."mn", alternating inbound/outbound; returns their ids.
    async fn append_n(&self, n: usize) -> Vec<String> {
        let mut ids = Vec::with_capacity(n);
        for i in 1..=n {
            let direction = if i % 2 == 1 { Inbound } else { Outbound };
            let message =
                append_text(&self.store, &self.session, direction, &format!("m{i}")).await;
            ids.push(message.id.to_string());
        }
        ids
    }

    /// Requests one page with the extra fields of `extra` and returns the reply event.
    async fn request_page(&mut self, extra: Value) -> Value {
        let mut frame = json!({
            "action": "get_conversation_messages",
            "requestId": "h",
            "sessionId": self.session["sessionId"],
        });
        for (k, v) in extra.as_object().expect("extra is an object") {
            frame[k] = v.clone();
        }
        self.client.request(frame).await
    }

    /// Requests one page and checks the reply and the page invariants; returns `data`.
    async fn page(&mut self, extra: Value) -> Value {
        let event = self.request_page(extra).await;
        assert_eq!(event["type"], "immediate_response", "{event}");
        assert_eq!(event["status"], 200);
        assert_eq!(event["message"], "ConversationMessages");
        assert_eq!(event["requestId"], "h");
        let data = event["data"].clone();
        assert_matches_def("get-conversation-messages", "Response", &data);
        let has_more = data["hasMore"].as_bool().expect("hasMore is a bool");
        assert_eq!(
            has_more,
            !data["nextCursor"].is_null(),
            "nextCursor is null exactly when hasMore is false: {data}"
        );
        if has_more {
            let ids = ids(&data);
            assert_eq!(
                data["nextCursor"].as_str(),
                ids.last().map(String::as_str),
                "nextCursor names the oldest message of the page"
            );
        }
        data
    }
}

fn newest_first(ids: &[String]) -> Vec<String> {
    ids.iter().rev().cloned().collect()
}

#[tokio::test]
async fn messages_of_empty_session() {
    let mut fx = Fixture::new().await;
    let data = fx.page(json!({})).await;
    assert_eq!(
        data,
        json!({"messages": [], "hasMore": false, "nextCursor": null})
    );
}

#[tokio::test]
async fn messages_come_newest_first_with_participants() {
    let mut fx = Fixture::new().await;
    let appended = fx.append_n(3).await;
    let data = fx.page(json!({})).await;
    assert_eq!(ids(&data), newest_first(&appended));
    assert_eq!(data["hasMore"], false);
    assert_eq!(data["nextCursor"], Value::Null);
    let messages = data["messages"].as_array().unwrap();
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["content"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m3", "m2", "m1"]);
    let user = &fx.session["userParticipantId"];
    let agent = &fx.session["agentParticipantId"];
    for message in messages {
        let (from_type, to_type, from_id, to_id) = match message["direction"].as_str().unwrap() {
            "inbound" => ("user", "ai-agent", user, agent),
            "outbound" => ("ai-agent", "user", agent, user),
            other => panic!("bad direction {other}"),
        };
        assert_eq!(message["from"]["type"], from_type, "{message}");
        assert_eq!(message["from"]["id"], *from_id, "{message}");
        assert_eq!(message["to"]["type"], to_type, "{message}");
        assert_eq!(message["to"]["id"], *to_id, "{message}");
        let created = message["createdAt"].as_str().unwrap();
        DateTime::parse_from_rfc3339(created).expect("createdAt is RFC 3339");
    }
    // m3 is inbound (odd), m2 outbound.
    assert_eq!(messages[0]["direction"], "inbound");
    assert_eq!(messages[1]["direction"], "outbound");
    assert_eq!(messages[0]["from"]["name"], "Ada");
    assert_eq!(messages[0]["to"]["name"], "smooth-agent");
}

#[tokio::test]
async fn messages_default_limit_is_50() {
    let mut fx = Fixture::new().await;
    let appended = fx.append_n(55).await;
    let first = fx.page(json!({})).await;
    assert_eq!(ids(&first).len(), 50);
    assert_eq!(ids(&first), newest_first(&appended)[..50]);
    assert_eq!(first["hasMore"], true);
    let rest = fx.page(json!({"cursor": first["nextCursor"]})).await;
    assert_eq!(ids(&rest), newest_first(&appended)[50..]);
    assert_eq!(rest["hasMore"], false);
}

#[tokio::test]
async fn messages_exactly_limit_has_no_more() {
    let mut fx = Fixture::new().await;
    let appended = fx.append_n(4).await;
    let data = fx.page(json!({"limit": 4})).await;
    assert_eq!(ids(&data), newest_first(&appended));
    assert_eq!(data["hasMore"], false);
    assert_eq!(data["nextCursor"], Value::Null);
}

#[tokio::test]
async fn messages_limit_is_capped_to_100() {
    let mut fx = Fixture::new().await;
    let appended = fx.append_n(120).await;
    let data = fx.page(json!({"limit": 200})).await;
    assert_eq!(ids(&data).len(), 100);
    assert_eq!(ids(&data), newest_first(&appended)[..100]);
    assert_eq!(data["hasMore"], true);
    let huge = fx.page(json!({"limit": u64::MAX})).await;
    assert_eq!(ids(&huge).len(), 100);
    let rest = fx
        .page(json!({"cursor": data["nextCursor"], "limit": 100}))
        .await;
    assert_eq!(ids(&rest), newest_first(&appended)[100..]);
    assert_eq!(rest["hasMore"], false);
}

#[tokio::test]
async fn messages_bad_limit_is_validation_error() {
    let mut fx = Fixture::new().await;
    fx.append_n(2).await;
    for limit in [json!(0), json!(-1), json!("10"), json!(2.5), json!(null)] {
        let event = fx.request_page(json!({"limit": limit})).await;
        assert_eq!(event["type"], "error", "limit {limit}: {event}");
        assert_error(&event, "VALIDATION_ERROR", Some("h"));
    }
    fx.client.assert_alive().await;
}

#[tokio::test]
async fn messages_cursor_walk() {
    let mut fx = Fixture::new().await;
    let m = fx.append_n(5).await; // m[0] = m1 … m[4] = m5
    let p1 = fx.page(json!({"limit": 2})).await;
    assert_eq!(ids(&p1), [m[4].clone(), m[3].clone()]);
    assert_eq!(p1["hasMore"], true);
    assert_eq!(p1["nextCursor"], m[3].as_str());
    let p2 = fx
        .page(json!({"limit": 2, "cursor": p1["nextCursor"]}))
        .await;
    assert_eq!(ids(&p2), [m[2].clone(), m[1].clone()]);
    assert_eq!(p2["hasMore"], true);
    assert_eq!(p2["nextCursor"], m[1].as_str());
    let p3 = fx
        .page(json!({"limit": 2, "cursor": p2["nextCursor"]}))
        .await;
    assert_eq!(ids(&p3), [m[0].clone()]);
    assert_eq!(p3["hasMore"], false);
    assert_eq!(p3["nextCursor"], Value::Null);
    // A cursor at the oldest message yields an empty final page.
    let p4 = fx.page(json!({"limit": 2, "cursor": m[0]})).await;
    assert_eq!(
        p4,
        json!({"messages": [], "hasMore": false, "nextCursor": null})
    );
}

#[tokio::test]
async fn messages_page_ending_at_oldest_has_null_cursor() {
    let mut fx = Fixture::new().await;
    let m = fx.append_n(4).await;
    let p1 = fx.page(json!({"limit": 2})).await;
    let p2 = fx
        .page(json!({"limit": 2, "cursor": p1["nextCursor"]}))
        .await;
    assert_eq!(ids(&p2), [m[1].clone(), m[0].clone()]);
    assert_eq!(p2["hasMore"], false);
    assert_eq!(p2["nextCursor"], Value::Null);
}

#[tokio::test]
async fn messages_unknown_cursor_is_validation_error() {
    let mut fx = Fixture::new().await;
    fx.append_n(3).await;
    let event = fx
        .request_page(json!({"cursor": Uuid::new_v4().to_string()}))
        .await;
    assert_error(&event, "VALIDATION_ERROR", Some("h"));
    let event = fx.request_page(json!({"cursor": "nope"})).await;
    assert_error(&event, "VALIDATION_ERROR", Some("h"));
    let event = fx.request_page(json!({"cursor": ""})).await;
    assert_error(&event, "VALIDATION_ERROR", Some("h"));
    let event = fx.request_page(json!({"cursor": 5})).await;
    assert_error(&event, "VALIDATION_ERROR", Some("h"));
}

#[tokio::test]
async fn messages_cursor_of_another_conversation_is_validation_error() {
    let mut fx = Fixture::new().await;
    fx.append_n(2).await;
    let other = fx.client.create_session().await;
    let foreign = append_text(&fx.store, &other, Inbound, "elsewhere").await;
    let event = fx
        .request_page(json!({"cursor": foreign.id.to_string()}))
        .await;
    assert_error(&event, "VALIDATION_ERROR", Some("h"));
}

#[tokio::test]
async fn messages_before_filters_strictly_older() {
    let mut fx = Fixture::new().await;
    let mut appended = Vec::new();
    for i in 1..=4 {
        // The fixture store's stepping clock gives each message a later timestamp, so that
        // "strictly before" is unambiguous.
        appended.push(append_text(&fx.store, &fx.session, Inbound, &format!("m{i}")).await);
    }
    let id = |i: usize| appended[i].id.to_string();
    let cut = appended[2].created_at; // m3
    let data = fx.page(json!({"before": rfc3339(cut)})).await;
    assert_eq!(
        ids(&data),
        [id(1), id(0)],
        "only m2, m1 are strictly before m3"
    );
    assert_eq!(data["hasMore"], false);

    // The same instant written with a non-UTC offset means the same thing.
    let offset = cut
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(SecondsFormat::Micros, false);
    let data = fx.page(json!({"before": offset})).await;
    assert_eq!(
        ids(&data),
        [id(1), id(0)],
        "offset form of the same instant"
    );

    // before + limit paginates.
    let data = fx.page(json!({"before": rfc3339(cut), "limit": 1})).await;
    assert_eq!(ids(&data), [id(1)]);
    assert_eq!(data["hasMore"], true);
    let data = fx
        .page(json!({"before": rfc3339(cut), "limit": 1, "cursor": data["nextCursor"]}))
        .await;
    assert_eq!(ids(&data), [id(0)]);
    assert_eq!(data["hasMore"], false);

    // Before everything: empty. After everything: all.
    let data = fx.page(json!({"before": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(ids(&data), Vec::<String>::new());
    let data = fx.page(json!({"before": "2999-01-01T00:00:00Z"})).await;
    assert_eq!(ids(&data).len(), 4);

    // A malformed date-time is rejected.
    let event = fx.request_page(json!({"before": "yesterday"})).await;
    assert_error(&event, "VALIDATION_ERROR", Some("h"));
}

#[tokio::test]
async fn messages_are_scoped_to_their_session() {
    let mut fx = Fixture::new().await;
    let mine = fx.append_n(2).await;
    let other = fx.client.create_session().await;
    append_text(&fx.store, &other, Outbound, "not yours").await;
    let data = fx.page(json!({})).await;
    assert_eq!(ids(&data), newest_first(&mine));
}

#[tokio::test]
async fn messages_unknown_session_is_session_not_found() {
    let mut fx = Fixture::new().await;
    let unknown = Uuid::new_v4().to_string();
    let event = fx
        .client
        .request(json!({"action": "get_conversation_messages", "requestId": "h-404", "sessionId": unknown}))
        .await;
    assert_error(&event, "SESSION_NOT_FOUND", Some("h-404"));
    let event = fx
        .client
        .request(json!({"action": "get_conversation_messages", "requestId": "h-v"}))
        .await;
    assert_error(&event, "VALIDATION_ERROR", Some("h-v"));
    let event = fx
        .client
        .request(
            json!({"action": "get_conversation_messages", "requestId": "h-v", "sessionId": "x"}),
        )
        .await;
    assert_error(&event, "VALIDATION_ERROR", Some("h-v"));
}

#[tokio::test]
async fn messages_work_on_the_memory_store_too() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    let created = client.create_session().await;
    let event = client
        .request(json!({"action": "get_conversation_messages", "sessionId": created["sessionId"], "limit": 10}))
        .await;
    assert_eq!(event["type"], "immediate_response", "{event}");
    assert!(event.get("requestId").is_none());
    assert_matches_def("get-conversation-messages", "Response", &event["data"]);
    assert_eq!(event["data"]["messages"], json!([]));
}

#[tokio::test]
async fn storage_failures_are_storage_errors_and_the_socket_stays_open() {
    let store = SqliteStore::open_memory().await.expect("store opens");
    let server = start_with_store(Config::for_tests(), Arc::new(store.clone())).await;
    let mut client = Client::connect(&server).await;
    let session = client.create_session().await;
    store.close().await;

    let event = client
        .request(json!({
            "action": "create_conversation_session",
            "requestId": "c2",
            "agentId": AGENT_ID
        }))
        .await;
    assert_error(&event, "STORAGE_ERROR", Some("c2"));
    // The agent was read a moment ago and comes from the cache (store::Cached): the write fails.
    assert_eq!(event["error"]["message"], "could not create the session");
    for (action, message) in [
        ("get_session", "could not read the session"),
        ("get_conversation_messages", "could not read the session"),
    ] {
        let event = client
            .request(json!({
                "action": action,
                "requestId": action,
                "sessionId": session["sessionId"]
            }))
            .await;
        assert_error(&event, "STORAGE_ERROR", Some(action));
        assert_eq!(event["error"]["message"], message, "{event}");
    }
    client.assert_alive().await;
}
