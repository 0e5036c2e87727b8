//! Two server processes (pods) on one Postgres and one Redis backplane, as behind a load
//! balancer: a session is read on either pod; a turn's events follow its client to the other
//! pod; one turn per session across pods; a cancel and an approval given on the other pod reach
//! the turn, in the one-pod order; a pod killed while parked gives a clean error and frees the
//! session after its lease; `/admin/publish` reaches sockets on every pod, also after Redis
//! restarts; Postgres restarting turns both pods unready, then ready, losing nothing.
//!
//! Every process here is real and on loopback: the server binary twice, a private Postgres
//! cluster, a private redis-server, the mock gateway and the mock tool server. The tests of
//! this file run one at a time (each starts its own pods).

mod common;
#[path = "common/tool_server.rs"]
mod tool_server;

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use common::gateway::{MockGateway, Reply, ReplyToolCall};
use common::postgres::PgCluster;
use common::redis::RedisServer;
use common::Client;
use serde_json::{json, Value};
use tool_server::{Endpoint, ToolServer};

/// The admin token both pods accept.
const ADMIN: &str = "pods-admin-token";
/// The lease of a session's running turn, in seconds (short, so the dead-pod test is quick).
const LEASE_SECS: u64 = 3;

/// The tests of this file run one at a time: each runs two servers.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One server process.
struct Pod {
    child: Child,
    ws: String,
    http: String,
}

impl Pod {
    /// Starts the server binary on the shared database and backplane.
    fn start(database: &str, redis: &str, gateway: &str, tools_file: &std::path::Path) -> Pod {
        let (child, ws) = common::spawn_server(&[
            ("SMOOTH_AGENT_STORAGE", "postgres".into()),
            ("SMOOTH_AGENT_DATABASE_URL", database.into()),
            ("SMOOTH_AGENT_BACKPLANE", "redis".into()),
            ("SMOOTH_AGENT_BACKPLANE_URL", redis.into()),
            ("SMOOTH_AGENT_TURN_LEASE_SECS", LEASE_SECS.to_string()),
            ("SMOOAI_GATEWAY_URL", gateway.into()),
            ("SMOOTH_AGENT_GATEWAY_RETRIES", "0".into()),
            ("SMOOTH_AGENT_TOOLS_FILE", tools_file.display().to_string()),
            ("SMOOTH_AGENT_CONFIRM_TOOLS", "delete".into()),
            ("SMOOTH_AGENT_ADMIN_TOKEN", ADMIN.into()),
            ("SMOOTH_AGENT_KEEPALIVE_SECS", "60".into()),
        ]);
        let http = ws
            .replace("ws://", "http://")
            .trim_end_matches("/ws")
            .to_string();
        Pod { child, ws, http }
    }

    /// SIGKILL: the process dies at once, without draining.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    async fn client(&self) -> Client {
        Client::connect_url(&self.ws).await
    }

    async fn readyz(&self) -> u16 {
        match reqwest::get(format!("{}/readyz", self.http)).await {
            Ok(answer) => answer.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Polls `/readyz` until it answers `status` (fails after `within`).
    async fn wait_ready(&self, status: u16, within: Duration) {
        let started = Instant::now();
        loop {
            let now = self.readyz().await;
            if now == status {
                return;
            }
            assert!(
                started.elapsed() < within,
                "/readyz of {} still answers {now}, expected {status}",
                self.http
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of an unlabelled counter in `/metrics`.
    async fn counter(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.http))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} is not in /metrics:\n{text}"))
    }

    async fn publish(&self, body: Value) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/admin/publish", self.http))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .expect("publish answers");
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or(Value::Null))
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two pods on one database and one Redis, with a scripted gateway and a tool server.
struct Pods {
    a: Pod,
    b: Pod,
    redis: RedisServer,
    gateway: MockGateway,
    tools: ToolServer,
    _tools_dir: tempfile::TempDir,
}

/// Starts Redis, the mocks and two pods on a fresh database of `cluster`.
async fn pods(cluster: &PgCluster, replies: Vec<Reply>) -> Pods {
    let database = cluster.fresh_database().await;
    let redis = RedisServer::start();
    let gateway = MockGateway::start(replies).await;
    let mut endpoints = HashMap::new();
    endpoints.insert(
        "delete".to_string(),
        Endpoint {
            body: Some(json!("order deleted")),
            ..Endpoint::default()
        },
    );
    let tools = ToolServer::start(endpoints).await;
    let tools_dir = tempfile::tempdir().expect("temp dir");
    let tools_file = tools_dir.path().join("tools.json");
    let declared = json!([{
        "name": "delete_order",
        "description": "Deletes an order.",
        "parameters": {"type": "object", "properties": {"orderId": {"type": "string"}},
                       "required": ["orderId"], "additionalProperties": false},
        "http": {"url": format!("{}/delete", tools.base_url())}
    }]);
    std::fs::write(&tools_file, declared.to_string()).expect("tools file");
    let a = Pod::start(&database, &redis.url(), &gateway.base_url(), &tools_file);
    let b = Pod::start(&database, &redis.url(), &gateway.base_url(), &tools_file);
    Pods {
        a,
        b,
        redis,
        gateway,
        tools,
        _tools_dir: tools_dir,
    }
}

fn slow_tokens(count: usize, delay_ms: u64) -> Reply {
    Reply {
        tokens: (0..count).map(|i| format!("t{i} ")).collect(),
        token_delay_ms: delay_ms,
        ..Reply::default()
    }
}

fn delete_call() -> Reply {
    Reply {
        tool_calls: vec![ReplyToolCall {
            name: "delete_order".into(),
            arguments: json!({"orderId": "A-1"}),
            id: None,
        }],
        ..Reply::default()
    }
}

/// Creates a session on `client`'s pod; its id.
async fn new_session(client: &mut Client) -> String {
    client.create_session().await["sessionId"]
        .as_str()
        .expect("a session id")
        .to_string()
}

fn send(session: &str, request: &str, message: &str) -> Value {
    json!({"action": "send_message", "requestId": request, "sessionId": session, "message": message})
}

/// Reads events until one of type `kind` arrives; returns it and what came before.
async fn until(client: &mut Client, kind: &str) -> (Value, Vec<Value>) {
    let mut before = Vec::new();
    loop {
        let event = client.recv().await;
        if event["type"] == kind {
            return (event, before);
        }
        before.push(event);
    }
}

fn tokens(events: &[Value]) -> String {
    events
        .iter()
        .filter(|e| e["type"] == "stream_token")
        .map(|e| e["token"].as_str().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_shared_and_a_turn_follows_its_client_to_the_other_pod() {
    let _serial = SERIAL.lock().await;
    let pods = pods(PgCluster::shared(), vec![slow_tokens(30, 100)]).await;
    let mut on_a = pods.a.client().await;
    let session = new_session(&mut on_a).await;
    on_a.send(send(&session, "r1", "Tell me a long story"))
        .await;
    assert_eq!(on_a.recv().await["status"], 202);
    let first = on_a.recv().await;
    assert_eq!(first["type"], "stream_token", "{first}");
    drop(on_a);

    // The client reconnects through the load balancer and lands on the other pod.
    let mut on_b = pods.b.client().await;
    let read = on_b
        .request(json!({"action": "get_session", "requestId": "g1", "sessionId": session}))
        .await;
    assert_eq!(read["type"], "immediate_response", "{read}");
    assert_eq!(read["data"]["sessionId"], session.as_str());
    let (done, before) = until(&mut on_b, "eventual_response").await;
    assert_eq!(done["requestId"], "r1");
    let rest = tokens(&before);
    assert!(
        !rest.is_empty() && before.iter().all(|e| e["requestId"] == "r1"),
        "the rest of the turn streams on the other pod: {before:?}"
    );
    let whole: String = (0..30).map(|i| format!("t{i} ")).collect();
    assert!(whole.ends_with(&rest), "{rest:?} is the end of the reply");
    assert_eq!(done["data"]["data"]["response"]["responseParts"][0], whole);
    assert_eq!(pods.gateway.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_turn_per_session_across_pods_and_a_cancel_from_the_other_pod() {
    let _serial = SERIAL.lock().await;
    let pods = pods(
        PgCluster::shared(),
        vec![slow_tokens(100, 100), Reply::tokens(&["Again."])],
    )
    .await;
    let mut on_a = pods.a.client().await;
    let session = new_session(&mut on_a).await;
    on_a.send(send(&session, "r1", "Go on and on")).await;
    assert_eq!(on_a.recv().await["status"], 202);
    assert_eq!(on_a.recv().await["type"], "stream_token");

    let mut on_b = pods.b.client().await;
    let busy = on_b.request(send(&session, "r2", "Me too")).await;
    common::assert_error(&busy, "TURN_IN_PROGRESS", Some("r2"));

    on_b.send(json!({"action": "cancel", "requestId": "r1", "sessionId": session}))
        .await;
    let (cancelled, _) = until(&mut on_a, "cancelled").await;
    assert_eq!(cancelled["requestId"], "r1");
    assert_eq!(cancelled["status"], 499);
    on_b.expect_silence(Duration::from_millis(300)).await;

    // The lease is free as soon as the turn ended: the other pod takes the next turn.
    on_b.send(send(&session, "r3", "Now?")).await;
    assert_eq!(on_b.recv().await["status"], 202);
    let (done, _) = until(&mut on_b, "eventual_response").await;
    assert_eq!(
        done["data"]["data"]["response"]["responseParts"][0],
        "Again."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_parked_on_one_pod_is_given_on_the_other() {
    let _serial = SERIAL.lock().await;
    let pods = pods(
        PgCluster::shared(),
        vec![
            delete_call(),
            Reply::tokens(&["Deleted."]),
            delete_call(),
            Reply::tokens(&["Deleted again."]),
        ],
    )
    .await;
    let mut on_a = pods.a.client().await;
    let session = new_session(&mut on_a).await;
    let confirm = |id: &str| {
        json!({"action": "confirm_tool_action", "requestId": id, "sessionId": session,
               "approved": true})
    };

    // The turn's client stays on pod A: the other pod's answer resumes it there.
    on_a.send(send(&session, "r1", "Delete A-1")).await;
    assert_eq!(on_a.recv().await["status"], 202);
    assert_eq!(on_a.recv().await["type"], "write_confirmation_required");
    assert_eq!(on_a.recv().await["type"], "stream_chunk");
    let mut on_b = pods.b.client().await;
    let ack = on_b.request(confirm("k1")).await;
    assert_eq!(ack["type"], "immediate_response", "{ack}");
    assert_eq!(ack["status"], 200);
    let (done, before) = until(&mut on_a, "eventual_response").await;
    assert_eq!(
        before[0]["data"]["state"]["rawResponse"]["toolResult"]["result"],
        "order deleted"
    );
    assert_eq!(
        done["data"]["data"]["response"]["responseParts"][0],
        "Deleted."
    );

    // The turn's client left: the acknowledgement comes first on pod B, then the turn.
    on_a.send(send(&session, "r2", "Delete it again")).await;
    assert_eq!(on_a.recv().await["status"], 202);
    assert_eq!(on_a.recv().await["type"], "write_confirmation_required");
    assert_eq!(on_a.recv().await["type"], "stream_chunk");
    drop(on_a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ack = on_b.request(confirm("k2")).await;
    assert_eq!(
        ack["type"], "immediate_response",
        "the ack comes first: {ack}"
    );
    assert_eq!(ack["requestId"], "k2");
    let (done, before) = until(&mut on_b, "eventual_response").await;
    assert_eq!(done["requestId"], "r2");
    assert_eq!(
        before[0]["data"]["state"]["rawResponse"]["toolResult"]["name"], "delete_order",
        "{before:?}"
    );
    assert_eq!(tokens(&before), "Deleted again.");
    assert_eq!(pods.tools.requests_to("delete").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_killed_while_parked_gives_a_clean_error_and_frees_the_session() {
    let _serial = SERIAL.lock().await;
    let mut pods = pods(
        PgCluster::shared(),
        vec![delete_call(), Reply::tokens(&["Back."])],
    )
    .await;
    let mut on_a = pods.a.client().await;
    let session = new_session(&mut on_a).await;
    on_a.send(send(&session, "r1", "Delete A-1")).await;
    assert_eq!(on_a.recv().await["status"], 202);
    assert_eq!(on_a.recv().await["type"], "write_confirmation_required");
    pods.a.kill();

    let mut on_b = pods.b.client().await;
    let started = Instant::now();
    let answer = on_b
        .request(json!({"action": "confirm_tool_action", "requestId": "k1",
                        "sessionId": session, "approved": true}))
        .await;
    common::assert_error(&answer, "NO_PENDING_CONFIRMATION", Some("k1"));
    let answer = on_b
        .request(json!({"action": "cancel", "requestId": "x1", "sessionId": session}))
        .await;
    common::assert_error(&answer, "AGENT_ERROR", Some("x1"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the answer took {:?}",
        started.elapsed()
    );

    // Within the lease (and a renewal period) the session takes a new turn on pod B.
    let deadline = Instant::now() + Duration::from_secs(LEASE_SECS + 5);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let request = format!("r2-{attempt}");
        let event = on_b
            .request(send(&session, &request, "Are you there?"))
            .await;
        if event["type"] == "immediate_response" {
            assert_eq!(event["status"], 202);
            break;
        }
        common::assert_error(&event, "TURN_IN_PROGRESS", Some(&request));
        assert!(Instant::now() < deadline, "the session stayed locked");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (done, _) = until(&mut on_b, "eventual_response").await;
    assert_eq!(
        done["data"]["data"]["response"]["responseParts"][0],
        "Back."
    );
    // The message acknowledged before the pod died is stored.
    let history = on_b
        .request(
            json!({"action": "get_conversation_messages", "requestId": "h1",
                        "sessionId": session}),
        )
        .await;
    let texts = history["data"]["messages"].to_string();
    assert!(texts.contains("Delete A-1"), "{history}");
    assert_eq!(
        pods.tools.requests_to("delete").len(),
        0,
        "nothing ran unapproved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_reaches_every_pod_and_delivery_resumes_after_redis_restarts() {
    let _serial = SERIAL.lock().await;
    let pods = pods(PgCluster::shared(), vec![Reply::tokens(&["Still here."])]).await;
    let mut on_b = pods.b.client().await;
    let created = on_b.create_session().await;
    let session = created["sessionId"].as_str().unwrap().to_string();
    let agent = created["agentId"].as_str().unwrap().to_string();
    let notice = |text: &str| {
        json!({"type": "stream_token", "requestId": "notice", "token": text,
               "data": {"requestId": "notice", "token": text}, "timestamp": 1})
    };

    // Published through pod A, delivered to the socket on pod B.
    let (status, _) = pods
        .a
        .publish(json!({"target": {"sessionId": session}, "event": notice("hello")}))
        .await;
    assert_eq!(status, 202);
    let got = on_b.recv().await;
    assert_eq!(got["token"], "hello", "{got}");
    let (status, _) = pods
        .a
        .publish(json!({"target": {"agentId": agent}, "event": notice("to the agent")}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(on_b.recv().await["token"], "to the agent");
    // Not an event of the spec: refused, nothing delivered.
    let (status, body) = pods
        .a
        .publish(json!({"target": {"sessionId": session}, "event": {"type": "stream_token"}}))
        .await;
    assert_eq!(status, 400, "{body}");
    on_b.expect_silence(Duration::from_millis(300)).await;

    // Two events left pod A and reached the socket on pod B (through its subscription).
    assert_eq!(
        pods.a.counter("smooth_backplane_publishes_total").await,
        2.0
    );
    assert!(pods.b.counter("smooth_backplane_deliveries_total").await >= 2.0);
    assert_eq!(
        pods.b.counter("smooth_backplane_reconnects_total").await,
        0.0
    );

    pods.redis.stop();
    pods.a.wait_ready(503, Duration::from_secs(10)).await;
    pods.redis.start_again();
    pods.a.wait_ready(200, Duration::from_secs(15)).await;
    pods.b.wait_ready(200, Duration::from_secs(15)).await;
    let (status, _) = pods
        .a
        .publish(json!({"target": {"sessionId": session}, "event": notice("after")}))
        .await;
    assert_eq!(status, 202);
    assert_eq!(on_b.recv().await["token"], "after");
    assert!(pods.b.counter("smooth_backplane_reconnects_total").await >= 1.0);
    // Turns take leases again.
    on_b.send(send(&session, "r1", "Hello?")).await;
    assert_eq!(on_b.recv().await["status"], 202);
    let (done, _) = until(&mut on_b, "eventual_response").await;
    assert_eq!(
        done["data"]["data"]["response"]["responseParts"][0],
        "Still here."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarting_makes_both_pods_unready_then_ready_and_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let cluster = PgCluster::start();
    let pods = pods(
        &cluster,
        vec![Reply::tokens(&["Noted."]), Reply::tokens(&["Still noted."])],
    )
    .await;
    let mut on_a = pods.a.client().await;
    let session = new_session(&mut on_a).await;
    on_a.send(send(&session, "r1", "Remember 42")).await;
    assert_eq!(on_a.recv().await["status"], 202);
    until(&mut on_a, "eventual_response").await;

    cluster.stop();
    pods.a.wait_ready(503, Duration::from_secs(15)).await;
    pods.b.wait_ready(503, Duration::from_secs(15)).await;
    cluster.start_again();
    pods.a.wait_ready(200, Duration::from_secs(30)).await;
    pods.b.wait_ready(200, Duration::from_secs(30)).await;

    let mut on_b = pods.b.client().await;
    let history = on_b
        .request(
            json!({"action": "get_conversation_messages", "requestId": "h1",
                        "sessionId": session}),
        )
        .await;
    let texts: Vec<String> = history["data"]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(texts.len(), 2, "{history}");
    assert!(texts.iter().any(|m| m.contains("Remember 42")), "{history}");
    assert!(texts.iter().any(|m| m.contains("Noted.")), "{history}");
    on_b.send(send(&session, "r2", "Still?")).await;
    assert_eq!(on_b.recv().await["status"], 202);
    let (done, _) = until(&mut on_b, "eventual_response").await;
    assert_eq!(
        done["data"]["data"]["response"]["responseParts"][0],
        "Still noted."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interaction_parked_on_one_pod_is_answered_on_the_other() {
    let _serial = SERIAL.lock().await;
    let ask = Reply {
        tool_calls: vec![ReplyToolCall {
            name: "request_identity_intake".into(),
            arguments: json!({"reason": "To send the receipt",
                              "fields": [{"key": "email", "required": true}]}),
            id: None,
        }],
        ..Reply::default()
    };
    let pods = pods(PgCluster::shared(), vec![ask, Reply::tokens(&["Sent."])]).await;
    let mut on_a = pods.a.client().await;
    let created = on_a
        .request(
            json!({"action": "create_conversation_session", "requestId": "c1",
                        "agentId": "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11",
                        "supports": ["identity_form"]}),
        )
        .await;
    let session = created["data"]["sessionId"].as_str().unwrap().to_string();
    on_a.send(send(&session, "r1", "Send me the receipt")).await;
    assert_eq!(on_a.recv().await["status"], 202);
    let required = on_a.recv().await;
    assert_eq!(required["type"], "interaction_required", "{required}");
    let id = required["data"]["data"]["interactionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(on_a.recv().await["type"], "stream_chunk");

    let mut on_b = pods.b.client().await;
    let submit = |request: &str, interaction: &str, email: &str| {
        json!({"action": "submit_interaction", "requestId": request, "sessionId": session,
               "interactionId": interaction, "values": {"email": email}})
    };
    // Refusals are decided on the turn's pod and told on this one; the turn keeps waiting.
    let invalid = on_b.request(submit("s1", &id, "ada@")).await;
    assert_eq!(invalid["type"], "interaction_invalid", "{invalid}");
    assert_eq!(invalid["data"]["data"]["errors"][0]["field"], "email");
    let other = on_b
        .request(submit("s2", "not-it", "ada@example.com"))
        .await;
    common::assert_error(&other, "INTERACTION_MISMATCH", Some("s2"));
    let ack = on_b.request(submit("s3", &id, "ada@example.com")).await;
    assert_eq!(ack["type"], "immediate_response", "{ack}");
    assert_eq!(ack["status"], 200);
    let (done, before) = until(&mut on_a, "eventual_response").await;
    let result = before[0]["data"]["state"]["rawResponse"]["toolResult"]["result"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        result.contains("submitted") && result.contains("ada@example.com"),
        "{before:?}"
    );
    assert_eq!(
        done["data"]["data"]["response"]["responseParts"][0],
        "Sent."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_to_back_turns_on_both_pods_never_find_their_session_busy() {
    let _serial = SERIAL.lock().await;
    const SESSIONS: usize = 8;
    const TURNS: usize = 30;
    let replies = (0..SESSIONS * TURNS)
        .map(|_| Reply::tokens(&["ok"]))
        .collect();
    let pods = pods(PgCluster::shared(), replies).await;
    // Many short turns across several lease renewals: a renewal must never bring back the lease
    // of a turn that just ended (the next turn would find its session busy).
    let mut tasks = Vec::new();
    for s in 0..SESSIONS {
        let (first, second) = (pods.a.ws.clone(), pods.b.ws.clone());
        tasks.push(tokio::spawn(async move {
            let mut on_first = Client::connect_url(&first).await;
            let mut on_second = Client::connect_url(&second).await;
            let session = new_session(&mut on_first).await;
            for t in 0..TURNS {
                let client = if t % 2 == 0 {
                    &mut on_first
                } else {
                    &mut on_second
                };
                let request = format!("s{s}-t{t}");
                let ack = client.request(send(&session, &request, "again")).await;
                assert_eq!(ack["status"], 202, "turn {request}: {ack}");
                until(client, "eventual_response").await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("every turn found its session free");
    }
}
