//! What an attacker (or a prompt-injected model) might try against a public chat endpoint with
//! paid model calls and internal tools — each test failed before the hardening it proves.

mod common;
#[path = "common/tool_server.rs"]
mod tool_server;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::gateway::{MockGateway, Reply};
use common::*;
use serde_json::{json, Value};
use smooth_operator::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tool_server::{Endpoint, ToolServer};

/// Everything logged during this test binary, at debug level.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn reply(value: Value) -> Reply {
    serde_json::from_value(value).expect("reply script")
}

/// A server whose gateway is scripted with `replies` and whose tools file declares `tools`
/// (each `{"name", "url", "method"?, "properties"}`) on the returned tool server.
struct Setup {
    server: smooth_operator::server::ServerHandle,
    gateway: MockGateway,
    tools: ToolServer,
    _dir: tempfile::TempDir,
}

async fn setup(
    replies: Vec<Value>,
    endpoints: &[(&str, Value)],
    declare: impl FnOnce(&str) -> Value,
    tweak: impl FnOnce(&mut Config),
) -> Setup {
    let _ = logs();
    let gateway = MockGateway::start(replies.into_iter().map(reply).collect()).await;
    let mut scripted = HashMap::new();
    for (key, endpoint) in endpoints {
        scripted.insert(
            key.to_string(),
            serde_json::from_value::<Endpoint>(endpoint.clone()).unwrap(),
        );
    }
    let tools = ToolServer::start(scripted).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tools.json");
    std::fs::write(&file, declare(&tools.base_url()).to_string()).unwrap();
    let mut config = Config::for_tests();
    config.agent.gateway_url = Some(gateway.base_url());
    config.agent.tools_file = Some(file);
    tweak(&mut config);
    let server = start_with(config).await;
    Setup {
        server,
        gateway,
        tools,
        _dir: dir,
    }
}

fn tool(name: &str, url: String, method: &str, properties: Value) -> Value {
    json!({"name": name, "description": format!("The {name} tool"),
           "parameters": {"type": "object", "properties": properties},
           "http": {"url": url, "method": method}})
}

async fn turn(client: &mut Client, stream: bool) -> Vec<Value> {
    let session = client.create_session().await["sessionId"].clone();
    client
        .send(
            json!({"action": "send_message", "requestId": "r", "sessionId": session,
                     "message": "go", "stream": stream}),
        )
        .await;
    let mut events = Vec::new();
    loop {
        let event = client.recv().await;
        let kind = event["type"].as_str().unwrap().to_string();
        events.push(event);
        if kind == "eventual_response" || kind == "write_confirmation_required" || kind == "error" {
            return events;
        }
    }
}

fn results(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| {
            let r = &e["data"]["state"]["rawResponse"]["toolResult"];
            r.is_object().then(|| r.clone())
        })
        .collect()
}

#[tokio::test]
async fn an_approval_prompt_shows_every_argument_even_without_streaming() {
    let filler = "x".repeat(3000);
    let s = setup(
        vec![json!({"toolCalls": [{"name": "refund", "arguments":
            {"note": filler, "amount": 5000, "memo": "\", amount = 1"}}]})],
        &[("refund", json!({"body": "ok"}))],
        |base| {
            json!([tool(
                "refund",
                format!("{base}/refund"),
                "POST",
                json!({"note": {"type": "string"}, "amount": {"type": "integer"},
                               "memo": {"type": "string"}})
            )])
        },
        |c| c.agent.confirm_tools = vec!["refund".into()],
    )
    .await;
    let mut client = Client::connect(&s.server).await;
    let events = turn(&mut client, false).await;
    let prompt = events.last().unwrap();
    let description = prompt["data"]["data"]["actionDescription"]
        .as_str()
        .unwrap();
    assert!(
        description.contains(r#""amount":5000"#),
        "the payload is hidden: {description:.300}"
    );
    assert!(description.contains(&filler), "the prompt was cut");
    assert!(
        description.contains(r#""memo":"\", amount = 1""#),
        "a value posed as an argument"
    );
    // With stream:false the structured call still follows the prompt.
    let call = client.recv().await;
    let raw = &call["data"]["state"]["rawResponse"]["toolCall"];
    assert_eq!(raw["name"], "refund", "{call}");
    let arguments: Value = serde_json::from_str(raw["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments["amount"], 5000);
    assert!(
        s.tools.requests_to("refund").is_empty(),
        "ran before approval"
    );
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_arguments_are_refused_before_any_prompt() {
    let s = setup(
        vec![
            json!({"toolCalls": [{"name": "refund", "arguments": {"note": "y".repeat(20_000)}}]}),
            json!({"tokens": ["Too big."]}),
        ],
        &[("refund", json!({"body": "ok"}))],
        |base| {
            json!([tool(
                "refund",
                format!("{base}/refund"),
                "POST",
                json!({"note": {"type": "string"}})
            )])
        },
        |c| c.agent.confirm_tools = vec!["refund".into()],
    )
    .await;
    let mut client = Client::connect(&s.server).await;
    let events = turn(&mut client, true).await;
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "write_confirmation_required"),
        "{events:?}"
    );
    let result = &results(&events)[0];
    assert_eq!(result["isError"], true);
    assert!(
        result["result"].as_str().unwrap().contains("larger than"),
        "{result}"
    );
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn undeclared_arguments_and_fixed_query_keys_never_reach_the_tool() {
    let s = setup(
        vec![
            json!({"toolCalls": [
                {"name": "lookup", "arguments": {"orderId": "A-1", "admin": true}, "id": "c1"},
                {"name": "lookup", "arguments": {"orderId": "A-1", "scope": "everyone"}, "id": "c2"},
                {"name": "lookup", "arguments": {"orderId": "A-1"}, "id": "c3"}
            ]}),
            json!({"tokens": ["Done."]}),
        ],
        &[("orders", json!({"body": "order"}))],
        |base| {
            json!([tool("lookup", format!("{base}/orders?scope=own"), "GET",
                        json!({"orderId": {"type": "string"}, "scope": {"type": "string"}}))])
        },
        |_| {},
    )
    .await;
    let mut client = Client::connect(&s.server).await;
    let events = turn(&mut client, true).await;
    let results = results(&events);
    assert_eq!(results.len(), 3, "{events:?}");
    assert_eq!(results[0]["isError"], true);
    assert!(
        results[0]["result"]
            .as_str()
            .unwrap()
            .contains("undeclared"),
        "{}",
        results[0]
    );
    assert_eq!(results[1]["isError"], true);
    assert!(
        results[1]["result"].as_str().unwrap().contains("fixed"),
        "{}",
        results[1]
    );
    assert_eq!(results[2]["isError"], false, "{}", results[2]);
    let calls = s.tools.requests_to("orders");
    assert_eq!(
        calls.len(),
        1,
        "only the well-formed call may reach the endpoint"
    );
    let query = calls[0].query_pairs();
    assert_eq!(query.get("scope").map(String::as_str), Some("own"));
    assert!(!query.contains_key("admin"));
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_ninth_tool_call_of_one_response_gets_an_error_result() {
    let calls: Vec<Value> = (0..9)
        .map(|i| json!({"name": "lookup", "arguments": {"orderId": format!("A-{i}")}, "id": format!("c{i}")}))
        .collect();
    let s = setup(
        vec![json!({"toolCalls": calls}), json!({"tokens": ["Done."]})],
        &[("orders", json!({"body": "order"}))],
        |base| {
            json!([tool(
                "lookup",
                format!("{base}/orders"),
                "POST",
                json!({"orderId": {"type": "string"}})
            )])
        },
        |_| {},
    )
    .await;
    let mut client = Client::connect(&s.server).await;
    let results = results(&turn(&mut client, true).await);
    assert_eq!(results.len(), 9);
    assert!(results[..8].iter().all(|r| r["isError"] == false));
    assert_eq!(results[8]["isError"], true);
    assert!(results[8]["result"]
        .as_str()
        .unwrap()
        .contains("too many tool calls"));
    assert_eq!(s.tools.requests_to("orders").len(), 8);
    s.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_connection_runs_at_most_eight_turns_at_once() {
    let hanging: Vec<Value> = (0..8).map(|_| json!({"hang": true})).collect();
    let s = setup(hanging, &[], |_| json!([]), |_| {}).await;
    let mut client = Client::connect(&s.server).await;
    for i in 0..8 {
        let session = client.create_session().await["sessionId"].clone();
        let ack = client
            .request(
                json!({"action": "send_message", "requestId": format!("r{i}"),
                            "sessionId": session, "message": "hi"}),
            )
            .await;
        assert_eq!(ack["status"], 202, "turn {i}: {ack}");
    }
    let session = client.create_session().await["sessionId"].clone();
    let refused = client
        .request(json!({"action": "send_message", "requestId": "r8", "sessionId": session, "message": "hi"}))
        .await;
    assert_error(&refused, "OVERLOADED", Some("r8"));
    // Another connection is not limited by this one's turns.
    let mut other = Client::connect(&s.server).await;
    let session = other.create_session().await["sessionId"].clone();
    let ack = other
        .request(
            json!({"action": "send_message", "requestId": "o", "sessionId": session,
                        "message": "hi", "model": "test-model"}),
        )
        .await;
    // The gateway script is used up, but the turn is accepted.
    assert_eq!(ack["status"], 202, "{ack}");
    drop(s.gateway);
    s.server.shutdown_token().cancel();
}

#[tokio::test]
async fn session_metadata_is_capped_at_16_kib() {
    let server = start_with(Config::for_tests()).await;
    let mut client = Client::connect(&server).await;
    let create = |size: usize| {
        json!({"action": "create_conversation_session", "requestId": "c",
               "agentId": "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11",
               "metadata": {"blob": "m".repeat(size)}})
    };
    let refused = client.request(create(17 * 1024)).await;
    assert_error(&refused, "VALIDATION_ERROR", Some("c"));
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .contains("metadata"));
    let ok = client.request(create(15 * 1024)).await;
    assert_eq!(ok["status"], 200, "{ok}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_client_may_pick_only_the_configured_model_unless_any_is_allowed() {
    for (allow_any, expect_ok) in [(false, false), (true, true)] {
        let gateway = MockGateway::start(vec![reply(json!({"tokens": ["ok"]}))]).await;
        let mut config = Config::for_tests();
        config.agent.gateway_url = Some(gateway.base_url());
        config.agent.allow_any_model = allow_any;
        let server = start_with(config).await;
        let mut client = Client::connect(&server).await;
        let session = client.create_session().await["sessionId"].clone();
        let answer = client
            .request(
                json!({"action": "send_message", "requestId": "r", "sessionId": session,
                            "message": "hi", "model": "expensive-model"}),
            )
            .await;
        if expect_ok {
            assert_eq!(answer["status"], 202, "{answer}");
        } else {
            assert_error(&answer, "VALIDATION_ERROR", Some("r"));
            // Naming the configured model is fine.
            let same = client
                .request(
                    json!({"action": "send_message", "requestId": "r2", "sessionId": session,
                                "message": "hi", "model": "test-model"}),
                )
                .await;
            assert_eq!(same["status"], 202, "{same}");
        }
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn credentials_in_gateway_and_tool_urls_never_reach_the_logs() {
    let gateway = MockGateway::start(vec![
        reply(json!({"toolCalls": [{"name": "lookup", "arguments": {"orderId": "A-1"}}]})),
        reply(json!({"status": 500, "body": "upstream said: bad key sk-live-hunter2-secret"})),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tools.json");
    std::fs::write(
        &file,
        json!([tool(
            "lookup",
            "http://tooluser:toolpass-secret@127.0.0.1:1/x?token=tooltoken-secret".into(),
            "POST",
            json!({"orderId": {"type": "string"}})
        )])
        .to_string(),
    )
    .unwrap();
    let _ = logs();
    let mut config = Config::for_tests();
    let base = gateway
        .base_url()
        .replace("http://", "http://gwuser:gwpass-secret@");
    config.agent.gateway_url = Some(base);
    config.agent.gateway_key = Some("sk-live-hunter2-secret".into());
    config.agent.gateway_retries = 0;
    config.agent.tools_file = Some(file);
    let server = start_with(config).await;
    let mut client = Client::connect(&server).await;
    let events = turn(&mut client, true).await;
    assert_error(events.last().unwrap(), "AGENT_ERROR", Some("r"));
    tracing::debug!(config = ?Config::for_tests(), "a config in a log line");
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    assert!(
        text.contains("gateway returned HTTP 500"),
        "the failure was not logged"
    );
    for secret in [
        "sk-live-hunter2-secret",
        "gwpass-secret",
        "toolpass-secret",
        "tooltoken-secret",
    ] {
        assert!(!text.contains(secret), "{secret} reached the logs");
    }
    server.shutdown().await.unwrap();
}

/// A raw HTTP "gateway" that answers every request with `head` and then writes `filler`
/// forever; returns its base URL and how many bytes it managed to write.
async fn flooding_gateway(head: &'static str) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let written = Arc::new(AtomicUsize::new(0));
    let w = written.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let w = w.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                // Read the request head (and whatever body came with it).
                let _ =
                    tokio::time::timeout(Duration::from_millis(300), socket.read(&mut buf)).await;
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'x'; 64 * 1024];
                for _ in 0..(100 * 16) {
                    if socket.write_all(&chunk).await.is_err() {
                        return;
                    }
                    w.fetch_add(chunk.len(), Ordering::Relaxed);
                }
            });
        }
    });
    (url, written)
}

#[tokio::test]
async fn a_huge_error_body_or_an_endless_stream_line_is_cut_off() {
    for head in [
        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 104857600\r\n\r\n",
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 104857600\r\n\r\ndata: ",
    ] {
        let (url, written) = flooding_gateway(head).await;
        let mut config = Config::for_tests();
        config.agent.gateway_url = Some(url);
        config.agent.gateway_retries = 0;
        let server = start_with(config).await;
        let mut client = Client::connect(&server).await;
        let events = tokio::time::timeout(Duration::from_secs(30), turn(&mut client, true))
            .await
            .expect("the turn ends instead of reading 100 MiB");
        assert_error(events.last().unwrap(), "AGENT_ERROR", Some("r"));
        // Give the flooder a moment: once the server stopped reading, it cannot write on.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = written.load(Ordering::Relaxed);
        assert!(sent < 16 * 1024 * 1024, "the server read {sent} bytes of a flood");
        server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn odd_file_names_in_the_knowledge_folder_do_not_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb");
    std::fs::create_dir_all(&kb).unwrap();
    std::fs::write(kb.join("good.md"), "Good page about herons.").unwrap();
    std::fs::write(kb.join("bad\u{7}bell.md"), "Bell page.").unwrap();
    std::fs::write(kb.join(" padded.md "), "Padded page about storks.").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", kb.join("link.md")).unwrap();
    let db = dir.path().join("kb.db");
    let config = || {
        let mut config = admin_config();
        config.storage = smooth_operator::config::StorageKind::Sqlite;
        config.database_url = db.display().to_string();
        config.agent.knowledge_dir = Some(kb.clone());
        config
    };
    for restart in 0..2 {
        let server = start_with(config()).await;
        let admin = Admin::new(&server);
        let mut sources: Vec<String> = admin
            .documents()
            .await
            .iter()
            .map(|d| d["source"].as_str().unwrap().to_string())
            .collect();
        sources.sort();
        assert_eq!(sources, ["good.md", "padded.md"], "start {restart}");
        server.shutdown().await.unwrap();
    }
}
