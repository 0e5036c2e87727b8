//! `GET /metrics`: a scrape after a scripted turn shows the counters moved by exactly what
//! happened. The metrics recorder is global per process, so the server runs as its own process
//! (the real binary), configured through its environment like a deployment.

mod common;
#[path = "common/tool_server.rs"]
mod tool_server;

use std::collections::{BTreeMap, HashMap};
use std::process::Child;
use std::time::Duration;

use common::gateway::{MockGateway, Reply, ReplyToolCall};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tool_server::{Endpoint, ToolServer};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const TOKEN: &str = "scrape-secret-1";

/// The server process; killed when dropped, so a failing test leaves nothing running.
struct Server {
    child: Child,
    ws_url: String,
    http_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server binary with in-memory storage and `envs`.
fn start_binary(envs: &[(&str, &str)]) -> Server {
    let mut settings = vec![
        ("SMOOTH_AGENT_STORAGE", "memory".to_string()),
        ("SMOOTH_AGENT_GATEWAY_RETRIES", "0".to_string()),
    ];
    settings.extend(envs.iter().map(|(k, v)| (*k, v.to_string())));
    let (child, ws_url) = common::spawn_server(&settings);
    let http_url = ws_url
        .replacen("ws://", "http://", 1)
        .trim_end_matches("/ws")
        .to_string();
    Server {
        child,
        ws_url,
        http_url,
    }
}

/// One sample line of the exposition.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed scrape: every sample, plus the `# TYPE` and `# HELP` of each family.
#[derive(Debug, Default)]
struct Scrape {
    samples: Vec<Sample>,
    types: HashMap<String, String>,
    helps: HashMap<String, String>,
}

impl Scrape {
    /// The value of the sample `name` whose labels include `labels`, summed over the rest (0
    /// when there is none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }

    /// Every sample of `name` by its value of `label`.
    fn by_label(&self, name: &str, label: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for s in self.samples.iter().filter(|s| s.name == name) {
            if let Some(v) = s.labels.get(label) {
                *out.entry(v.clone()).or_insert(0.0) += s.value;
            }
        }
        out
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `{k="v",…}` (with `\\`, `\"` and `\n` escapes); `rest` starts after the `{`.
fn parse_labels(rest: &str, line: &str) -> (BTreeMap<String, String>, String) {
    let mut labels = BTreeMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        match chars.peek() {
            Some('}') => {
                chars.next();
                break;
            }
            Some(',') => {
                chars.next();
                continue;
            }
            None => panic!("unterminated labels: {line}"),
            _ => {}
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert!(is_label_name(&key), "bad label name {key:?}: {line}");
        assert_eq!(
            chars.next(),
            Some('"'),
            "label value must be quoted: {line}"
        );
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        }
        assert!(
            labels.insert(key.clone(), value).is_none(),
            "label {key} twice: {line}"
        );
    }
    (labels, chars.collect())
}

fn parse_value(text: &str, line: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => text
            .parse()
            .unwrap_or_else(|_| panic!("bad sample value {text:?}: {line}")),
    }
}

/// The family a sample belongs to (`x_bucket`, `x_sum`, `x_count` of histogram `x`).
fn family<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if matches!(
                types.get(base).map(String::as_str),
                Some("histogram" | "summary")
            ) {
                return base;
            }
        }
    }
    name
}

/// Parses a whole scrape, failing on anything that is not valid text exposition format.
fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            match parts.next() {
                Some("TYPE") => {
                    let name = parts.next().expect("TYPE names a metric");
                    let kind = parts.next().expect("TYPE has a type");
                    assert!(is_metric_name(name), "bad metric name: {line}");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "bad type: {line}"
                    );
                    assert!(
                        scrape.types.insert(name.into(), kind.into()).is_none(),
                        "TYPE twice: {line}"
                    );
                }
                Some("HELP") => {
                    let name = parts.next().expect("HELP names a metric");
                    let help = parts.next().unwrap_or_default();
                    assert!(is_metric_name(name), "bad metric name: {line}");
                    scrape.helps.insert(name.into(), help.into());
                }
                _ => {}
            }
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .unwrap_or_else(|| panic!("no value: {line}"));
        let name = &line[..name_end];
        assert!(is_metric_name(name), "bad metric name {name:?}: {line}");
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end + 1..], line)
        } else {
            (BTreeMap::new(), line[name_end..].to_string())
        };
        let mut fields = rest.split_whitespace();
        let value = parse_value(fields.next().expect("a sample value"), line);
        if let Some(timestamp) = fields.next() {
            timestamp
                .parse::<i64>()
                .unwrap_or_else(|_| panic!("bad timestamp: {line}"));
        }
        assert!(fields.next().is_none(), "trailing text: {line}");
        let base = family(name, &scrape.types);
        assert!(
            scrape.types.contains_key(base),
            "sample before (or without) its TYPE line: {line}"
        );
        scrape.samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    scrape
}

/// Whether `text` contains something shaped like a UUID (8-4-4-4-12 hex digits).
fn has_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    let groups = [8, 4, 4, 4, 12];
    let len: usize = groups.iter().sum::<usize>() + 4;
    (0..bytes.len().saturating_sub(len - 1)).any(|start| {
        let mut i = start;
        groups.iter().enumerate().all(|(g, n)| {
            let ok = bytes[i..i + n].iter().all(u8::is_ascii_hexdigit);
            i += n;
            if g < 4 {
                let dash = bytes[i] == b'-';
                i += 1;
                ok && dash
            } else {
                ok
            }
        })
    })
}

/// Checks what every scrape must hold: each family has HELP, histograms are cumulative and end
/// in `+Inf` equal to their count, counters are never negative, and no label value looks like
/// an id.
fn check_well_formed(scrape: &Scrape) {
    for (name, kind) in &scrape.types {
        assert!(
            scrape.helps.get(name).is_some_and(|h| !h.is_empty()),
            "{name} ({kind}) has no description"
        );
        assert!(
            name.starts_with("smooth_"),
            "{name} lacks the smooth_ prefix"
        );
        if kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "counter {name} must end in _total"
            );
        }
    }
    for sample in &scrape.samples {
        for (key, value) in &sample.labels {
            assert!(
                !has_uuid(value),
                "{}: label {key}={value:?} looks like an id",
                sample.name
            );
            assert!(value.len() <= 64, "{}: label {key} is long", sample.name);
        }
        if scrape.types.get(&sample.name).map(String::as_str) == Some("counter") {
            assert!(sample.value >= 0.0, "{sample:?}");
        }
    }
    for (name, kind) in &scrape.types {
        if kind != "histogram" {
            continue;
        }
        // Group buckets by their labels without `le`.
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in scrape
            .samples
            .iter()
            .filter(|s| s.name == format!("{name}_bucket"))
        {
            let le = parse_value(s.labels.get("le").expect("a bucket has le"), name);
            let mut rest = s.labels.clone();
            rest.remove("le");
            series
                .entry(format!("{rest:?}"))
                .or_default()
                .push((le, s.value));
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{name}{labels}: buckets are not cumulative"
            );
            let (last_le, last) = *buckets.last().expect("buckets");
            assert_eq!(last_le, f64::INFINITY, "{name}{labels}: no +Inf bucket");
            let count = scrape
                .samples
                .iter()
                .find(|s| s.name == format!("{name}_count") && format!("{:?}", s.labels) == labels)
                .unwrap_or_else(|| panic!("{name}{labels}: no _count"))
                .value;
            assert_eq!(
                last, count,
                "{name}{labels}: +Inf bucket differs from _count"
            );
        }
    }
}

/// Scrapes `/metrics` with the token and parses it.
async fn scrape(http: &reqwest::Client, server: &Server) -> Scrape {
    let answer = http
        .get(format!("{}/metrics", server.http_url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("scrape");
    assert_eq!(answer.status(), 200);
    let content_type = answer
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = answer.text().await.expect("scrape body");
    let parsed = parse(&text);
    check_well_formed(&parsed);
    parsed
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.to_string().into()))
        .await
        .expect("send");
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let next = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("an event in time")
            .expect("the socket is open")
            .expect("a frame");
        match next {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_scripted_turn_moves_the_counters_by_exactly_what_happened() {
    let invented = format!("invented_{}", uuid::Uuid::new_v4());
    let gateway = MockGateway::start(vec![
        Reply {
            tool_calls: vec![
                ReplyToolCall {
                    name: "lookup_order".into(),
                    arguments: json!({"orderId": "42"}),
                    id: None,
                },
                ReplyToolCall {
                    name: invented.clone(),
                    arguments: json!({}),
                    id: None,
                },
            ],
            ..Reply::default()
        },
        Reply::tokens(&["Order ", "42 ", "has ", "shipped."]),
        Reply {
            status: Some(500),
            body: Some(json!({"error": "upstream down"})),
            ..Reply::default()
        },
    ])
    .await;
    let tools = ToolServer::start(HashMap::from([(
        "lookup".to_string(),
        Endpoint {
            body: Some(json!({"status": "shipped"})),
            ..Endpoint::default()
        },
    )]))
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let tools_file = dir.path().join("tools.json");
    let declared = json!([{
        "name": "lookup_order",
        "description": "Looks up an order.",
        "parameters": {
            "type": "object",
            "properties": {"orderId": {"type": "string"}},
            "required": ["orderId"]
        },
        "http": {"url": format!("{}/lookup", tools.base_url())}
    }]);
    std::fs::write(&tools_file, declared.to_string()).expect("write tools file");
    let server = start_binary(&[
        ("SMOOAI_GATEWAY_URL", &gateway.base_url()),
        ("SMOOTH_AGENT_TOOLS_FILE", &tools_file.display().to_string()),
        ("SMOOTH_AGENT_METRICS_TOKEN", TOKEN),
    ]);
    let http = reqwest::Client::new();

    // The token is required, and compared exactly.
    let url = format!("{}/metrics", server.http_url);
    let missing = http.get(&url).send().await.expect("scrape");
    assert_eq!(missing.status(), 401);
    let wrong = http.get(&url).bearer_auth("scrape-secret-2").send().await;
    assert_eq!(wrong.expect("scrape").status(), 401);

    let before = scrape(&http, &server).await;
    // Described metrics exist before anything happened, the backplane ones at 0.
    for name in [
        "smooth_backplane_publishes_total",
        "smooth_backplane_deliveries_total",
        "smooth_backplane_reconnects_total",
    ] {
        assert_eq!(before.types.get(name).map(String::as_str), Some("counter"));
        assert_eq!(before.value(name, &[]), 0.0, "{name}");
    }
    assert_eq!(before.value("smooth_turns_running", &[]), 0.0);
    // The two refused scrapes were errors answered over HTTP.
    for code in ["UNAUTHENTICATED", "INVALID_TOKEN"] {
        assert_eq!(
            before.value(
                "smooth_client_errors_total",
                &[("code", code), ("transport", "http")]
            ),
            1.0,
            "{code}"
        );
    }

    let (mut ws, _) = tokio_tungstenite::connect_async(&server.ws_url)
        .await
        .expect("ws connects");
    let mut seen: BTreeMap<String, f64> = BTreeMap::new();
    let mut note = |event: &Value| {
        *seen
            .entry(event["type"].as_str().expect("type").to_string())
            .or_default() += 1.0;
    };

    send(
        &mut ws,
        &json!({"action": "create_conversation_session", "requestId": "create",
                "agentId": "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11", "userName": "Ada"})
        .to_string(),
    )
    .await;
    let created = recv(&mut ws).await;
    note(&created);
    assert_eq!(created["type"], "immediate_response", "{created}");
    let session_id = created["data"]["sessionId"].clone();

    // While connected, the connection counts.
    let during = scrape(&http, &server).await;
    assert_eq!(
        during.value("smooth_ws_connections", &[]) - before.value("smooth_ws_connections", &[]),
        1.0
    );

    send(
        &mut ws,
        &json!({"action": "send_message", "requestId": "turn-1", "sessionId": session_id,
                "message": "Where is order 42?", "stream": true})
        .to_string(),
    )
    .await;
    let mut tokens = 0;
    loop {
        let event = recv(&mut ws).await;
        note(&event);
        match event["type"].as_str() {
            Some("stream_token") => tokens += 1,
            Some("eventual_response") => break,
            Some("error" | "cancelled") => panic!("the turn failed: {event}"),
            _ => {}
        }
    }
    assert_eq!(tokens, 4);

    // Two frames that do not decode: not JSON, and an action nobody defined.
    send(&mut ws, "{not json").await;
    let invalid = recv(&mut ws).await;
    note(&invalid);
    assert_eq!(invalid["error"]["code"], "VALIDATION_ERROR", "{invalid}");
    let unknown_action = format!("frobnicate_{}", uuid::Uuid::new_v4());
    send(
        &mut ws,
        &json!({"action": unknown_action, "requestId": "x"}).to_string(),
    )
    .await;
    let unsupported = recv(&mut ws).await;
    note(&unsupported);
    assert_eq!(
        unsupported["error"]["code"], "UNSUPPORTED_ACTION",
        "{unsupported}"
    );

    let after = scrape(&http, &server).await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let deltas = |name: &str, label: &str| -> BTreeMap<String, f64> {
        let old = before.by_label(name, label);
        after
            .by_label(name, label)
            .into_iter()
            .map(|(k, v)| {
                let moved = v - old.get(&k).copied().unwrap_or(0.0);
                (k, moved)
            })
            .filter(|(_, v)| *v != 0.0)
            .collect()
    };

    // Frames in, by action: the two actions, and both rejected frames as `unknown`.
    let expected_in: BTreeMap<String, f64> = [
        ("create_conversation_session", 1.0),
        ("send_message", 1.0),
        ("unknown", 2.0),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(
        deltas("smooth_ws_frames_received_total", "action"),
        expected_in
    );

    // Frames out, by event: exactly what the client received.
    assert_eq!(deltas("smooth_ws_frames_sent_total", "event"), seen);
    assert_eq!(seen.get("stream_token"), Some(&4.0));
    assert_eq!(seen.get("eventual_response"), Some(&1.0));
    assert_eq!(
        seen.get("immediate_response"),
        Some(&2.0),
        "create ack and 202"
    );

    // Errors, by code: one each.
    let expected_errors: BTreeMap<String, f64> =
        [("UNSUPPORTED_ACTION", 1.0), ("VALIDATION_ERROR", 1.0)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    assert_eq!(
        deltas("smooth_client_errors_total", "code"),
        expected_errors
    );
    assert_eq!(
        delta("smooth_client_errors_total", &[("transport", "ws")]),
        2.0
    );

    // The turn: started once, completed once, nothing running.
    assert_eq!(delta("smooth_turns_started_total", &[]), 1.0);
    let finished = deltas("smooth_turns_finished_total", "outcome");
    assert_eq!(finished, BTreeMap::from([("completed".to_string(), 1.0)]));
    assert_eq!(after.value("smooth_turns_running", &[]), 0.0);
    assert_eq!(delta("smooth_turn_first_token_seconds_count", &[]), 1.0);
    assert_eq!(
        delta(
            "smooth_turn_duration_seconds_count",
            &[("outcome", "completed")]
        ),
        1.0
    );
    assert!(delta("smooth_turn_duration_seconds_sum", &[]) > 0.0);

    // The gateway: two chat calls (the tool round and the answer), both 200.
    assert_eq!(gateway.request_count(), 2);
    let statuses = deltas("smooth_llm_requests_total", "status");
    assert_eq!(statuses, BTreeMap::from([("200".to_string(), 2.0)]));
    assert_eq!(
        delta("smooth_llm_requests_total", &[("operation", "chat")]),
        2.0
    );
    assert_eq!(
        delta(
            "smooth_llm_request_duration_seconds_count",
            &[("operation", "chat")]
        ),
        2.0
    );

    // Tools: the declared one by name, the invented one as `undeclared`.
    assert_eq!(
        delta(
            "smooth_tool_calls_total",
            &[("tool", "lookup_order"), ("outcome", "ok")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "smooth_tool_calls_total",
            &[("tool", "undeclared"), ("outcome", "error")]
        ),
        1.0
    );
    assert_eq!(delta("smooth_tool_calls_total", &[]), 2.0);
    assert_eq!(tools.requests_to("lookup").len(), 1);

    // Storage: one session created; the user's message and the reply appended.
    let store = |op: &str| {
        delta(
            "smooth_store_operation_duration_seconds_count",
            &[("operation", op)],
        )
    };
    assert_eq!(store("create_session"), 1.0);
    assert_eq!(store("append_message"), 2.0);

    // The turn's client stayed: nothing went through the backplane.
    for name in [
        "smooth_backplane_publishes_total",
        "smooth_backplane_deliveries_total",
    ] {
        assert_eq!(delta(name, &[]), 0.0, "{name}");
    }

    // Nothing a client or the model chose became a label.
    let text = format!("{:?}", after.samples);
    assert!(
        !text.contains(&invented),
        "a model-made tool name is a label"
    );
    assert!(
        !text.contains("frobnicate"),
        "a client-made action is a label"
    );
    assert!(!text.contains("turn-1"), "a request id is a label");

    // A second turn the gateway fails: counted as failed, with the 500 as its status label.
    send(
        &mut ws,
        &json!({"action": "send_message", "requestId": "turn-2", "sessionId": session_id,
                "message": "And order 43?", "stream": true})
        .to_string(),
    )
    .await;
    let mut second: BTreeMap<String, f64> = BTreeMap::new();
    loop {
        let event = recv(&mut ws).await;
        *second
            .entry(event["type"].as_str().expect("type").to_string())
            .or_default() += 1.0;
        match event["type"].as_str() {
            Some("error") => {
                assert_eq!(event["error"]["code"], "AGENT_ERROR", "{event}");
                break;
            }
            Some("eventual_response" | "cancelled") => panic!("the turn should fail: {event}"),
            _ => {}
        }
    }
    let failed = scrape(&http, &server).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        failed.value(name, labels) - after.value(name, labels)
    };
    assert_eq!(moved("smooth_turns_started_total", &[]), 1.0);
    assert_eq!(
        moved("smooth_turns_finished_total", &[("outcome", "failed")]),
        1.0
    );
    assert_eq!(moved("smooth_turns_finished_total", &[]), 1.0);
    assert_eq!(failed.value("smooth_turns_running", &[]), 0.0);
    assert_eq!(
        moved(
            "smooth_turn_duration_seconds_count",
            &[("outcome", "failed")]
        ),
        1.0
    );
    assert_eq!(
        moved("smooth_turn_first_token_seconds_count", &[]),
        0.0,
        "no token came"
    );
    assert_eq!(
        moved(
            "smooth_llm_requests_total",
            &[("operation", "chat"), ("status", "500")]
        ),
        1.0
    );
    assert_eq!(moved("smooth_llm_requests_total", &[]), 1.0);
    assert_eq!(
        moved(
            "smooth_client_errors_total",
            &[("code", "AGENT_ERROR"), ("transport", "ws")]
        ),
        1.0
    );
    assert_eq!(moved("smooth_client_errors_total", &[]), 1.0);
    for (event, count) in &second {
        assert_eq!(
            moved("smooth_ws_frames_sent_total", &[("event", event)]),
            *count,
            "{event}"
        );
    }
    assert_eq!(
        moved("smooth_ws_frames_sent_total", &[]),
        second.values().sum::<f64>()
    );

    // The connection gauge goes back down when the client leaves.
    ws.close(None).await.expect("close");
    drop(ws);
    let connections_before = before.value("smooth_ws_connections", &[]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = scrape(&http, &server).await;
        if now.value("smooth_ws_connections", &[]) == connections_before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the connection gauge stayed up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn the_exposition_checks_catch_ids_and_broken_histograms() {
    assert!(has_uuid("x-7d7f3a52-3d3a-4a8e-9d0b-3b8f8f0b6c1a"));
    assert!(!has_uuid("create_conversation_session"));
    assert!(!has_uuid("7d7f3a52-3d3a-4a8e-9d0b"));
    let good = "# HELP smooth_x_seconds t\n# TYPE smooth_x_seconds histogram\n\
        smooth_x_seconds_bucket{le=\"1\"} 1\nsmooth_x_seconds_bucket{le=\"+Inf\"} 2\n\
        smooth_x_seconds_sum 1.5\nsmooth_x_seconds_count 2\n";
    check_well_formed(&parse(good));
    let broken = good.replace("smooth_x_seconds_count 2", "smooth_x_seconds_count 3");
    assert!(std::panic::catch_unwind(|| check_well_formed(&parse(&broken))).is_err());
    let id = "# HELP smooth_a_total t\n# TYPE smooth_a_total counter\n\
        smooth_a_total{session=\"7d7f3a52-3d3a-4a8e-9d0b-3b8f8f0b6c1a\"} 1\n";
    assert!(std::panic::catch_unwind(|| check_well_formed(&parse(id))).is_err());
    let untyped = "smooth_b_total 1\n";
    assert!(std::panic::catch_unwind(|| parse(untyped)).is_err());
}
