//! The server's memory stays bounded under load, measured from outside: the real binary runs as
//! its own process (on a SQLite file in a temp dir) and the test reads its resident set size
//! (`VmRSS` of `/proc/<pid>/status`) while it drives it over loopback.
//!
//! * Slow readers: clients that stop reading in the middle of a long streamed reply cost the
//!   server a bounded amount each (its outbound queue, its write buffer), not the reply; the
//!   server disconnects them once their queue has stayed full for the send timeout, keeps
//!   answering everybody else meanwhile, and still finishes and stores every reply.
//! * Parked turns: a turn waiting for a person's approval of a tool call costs under 10 KiB.
//!
//! The two tests run one at a time (each measures a server of its own, and the machine may be
//! small). Linux only: without `/proc` the tests fail, they do not skip.

mod common;
#[path = "common/tool_server.rs"]
mod tool_server;

use std::collections::HashMap;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::gateway::{MockGateway, Reply, ReplyToolCall};
use common::Client;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tool_server::{Endpoint, ToolServer};

/// The tests of this file run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const AGENT: &str = "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11";

/// The server process; killed when dropped, whatever the test's outcome.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(envs: &[(&str, String)]) -> Server {
        let (child, url) = common::spawn_server(envs);
        assert!(
            url.starts_with("ws://127.0.0.1:"),
            "the server must listen on loopback: {url}"
        );
        Server { child, url }
    }

    /// The value of an unlabelled metric in `/metrics`.
    async fn metric(&self, name: &str) -> f64 {
        let base = self
            .url
            .replacen("ws://", "http://", 1)
            .trim_end_matches("/ws")
            .to_string();
        let text = reqwest::get(format!("{base}/metrics"))
            .await
            .expect("/metrics answers")
            .text()
            .await
            .expect("/metrics text");
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} is not in /metrics:\n{text}"))
    }

    /// The server's resident set size in KiB.
    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {path} (these tests need Linux /proc): {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {path}:\n{status}"))
}

/// Waits for the server to settle (its allocator returns freed pages after a short delay), then
/// returns the largest of a few readings.
async fn settled_rss(server: &Server) -> u64 {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut most = 0;
    for _ in 0..5 {
        most = most.max(server.rss_kib());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    most
}

/// Reads a process's RSS every 20 ms, on a thread of its own, until dropped.
struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = std::thread::spawn({
            let (stop, samples) = (stop.clone(), samples.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    let rss = rss_kib(pid);
                    samples.lock().unwrap().push((Instant::now(), rss));
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Sampler {
            stop,
            samples,
            thread: Some(thread),
        }
    }

    /// The largest reading taken in `from..to`.
    fn peak(&self, from: Instant, to: Instant) -> u64 {
        self.samples
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| *at >= from && *at <= to)
            .map(|(_, rss)| *rss)
            .max()
            .unwrap_or(0)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// How many file descriptors process `pid` holds.
fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| dir.count())
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// Opens a WebSocket to `url` (`ws://127.0.0.1:PORT/ws`) on a plain TCP socket.
async fn connect_raw(url: &str) -> Ws {
    let socket = tokio::net::TcpSocket::new_v4().expect("tcp socket");
    open_ws(socket, url).await
}

/// Like [`connect_raw`], on a socket shaped like a client across the internet
/// (`common::slow_socket`).
async fn connect_slow(url: &str) -> Ws {
    open_ws(common::slow_socket::internet_shaped(), url).await
}

async fn open_ws(socket: tokio::net::TcpSocket, url: &str) -> Ws {
    let addr: std::net::SocketAddr = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|host| host.parse().ok())
        .unwrap_or_else(|| panic!("not a ws://127.0.0.1:PORT/ URL: {url}"));
    assert!(addr.ip().is_loopback(), "{url} is not on loopback");
    let stream = socket.connect(addr).await.expect("tcp connects");
    let (ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("ws handshake");
    ws
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .expect("send");
}

/// The next event (text frames only), or `None` when the socket ended.
async fn next_event(ws: &mut Ws, within: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(within, ws.next())
            .await
            .expect("timed out waiting for an event")?
        {
            Ok(Message::Text(text)) => {
                return Some(serde_json::from_str(text.as_str()).expect("event is JSON"))
            }
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => continue,
            Ok(Message::Binary(_)) => panic!("unexpected binary frame"),
            Ok(Message::Close(_)) | Err(_) => return None,
        }
    }
}

async fn create_session(ws: &mut Ws) -> String {
    send(
        ws,
        json!({"action": "create_conversation_session", "requestId": "create",
               "agentId": AGENT, "userName": "Ada"}),
    )
    .await;
    let ack = next_event(ws, Duration::from_secs(30))
        .await
        .expect("create is answered");
    assert_eq!(ack["type"], "immediate_response", "create failed: {ack}");
    ack["data"]["sessionId"]
        .as_str()
        .expect("a session id")
        .to_string()
}

fn send_message(session: &str, request: &str, text: &str) -> Value {
    json!({"action": "send_message", "requestId": request, "sessionId": session,
           "message": text, "stream": true})
}

/// The stored outbound (agent) messages of `session`, newest first.
async fn stored_replies(client: &mut Client, session: &str) -> Vec<String> {
    let page = client
        .request(
            json!({"action": "get_conversation_messages", "requestId": "history",
                        "sessionId": session, "limit": 100}),
        )
        .await;
    assert_eq!(page["type"], "immediate_response", "{page}");
    page["data"]["messages"]
        .as_array()
        .expect("messages is an array")
        .iter()
        .filter(|m| m["direction"] == "outbound")
        .map(|m| {
            m["content"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Slow readers
// ---------------------------------------------------------------------------------------------

/// Clients that stop reading.
const SLOW_CLIENTS: usize = 30;
/// The long reply: this many reasoning deltas, then this many answer deltas, each of
/// `TOKEN_BYTES` bytes. The stream (about 3.7 MiB on the wire per client, each delta is sent
/// twice in its event) is several times what the kernel buffers for a client that stopped
/// reading (up to about 1 MiB here, see [`connect_slow`]); only the answer (50 KiB) is kept by
/// the server, so memory that grew with the stream could only be events buffered for the client.
const REASONING_TOKENS: usize = 6000;
const ANSWER_TOKENS: usize = 200;
const TOKEN_BYTES: usize = 256;
/// Stream events of one reply (one per delta).
const STREAM_EVENTS: usize = REASONING_TOKENS + ANSWER_TOKENS;
/// The server's outbound queue (events) and send timeout (seconds).
const QUEUE: usize = 16;
const SEND_TIMEOUT_SECS: u64 = 1;
/// Most RSS growth allowed per slow client, in KiB, whatever the length of the stream.
///
/// What the server may hold for a client that stopped reading: its queue (16 events of about
/// 0.9 KiB each in memory: the 256-byte delta twice, the requestId twice, the boxed event), the
/// frame being written, the 16 KiB WebSocket write buffer and the 4 KiB read buffer: some
/// 40 KiB. Around that, each slow client is also a connection, a session and a running turn
/// (its gateway call and the buffers of that streamed response, SQLite work, the 50 KiB answer
/// it stores). Measured in a debug build: 1.0–1.25 MiB per client altogether (+29 to +37 MiB
/// for 30), the same as for 30 clients that read everything, and the same for streams of 3000,
/// 6000 or 12000 reasoning deltas; so the budget is 2 MiB per client. A server that kept the
/// events of a client that does not read would hold its whole stream, about 6200 × 0.9 KiB ≈
/// 5.4 MiB per client, on top of that.
const PER_SLOW_CLIENT_KIB: u64 = 2048;
/// Longest a ping may wait for its pong while the slow clients are stuck (measured: 0.07–0.25 s).
const PROMPT: Duration = Duration::from_secs(1);

/// Token `i` of the long reply: `TOKEN_BYTES` bytes, its kind and index first (so a lost or
/// reordered token shows), nothing the server would trim.
fn long_token(kind: char, i: usize) -> String {
    let head = format!("{kind}{i:05}-");
    let fill: String = "abcdefghijklmnopqrstuvwxyz"
        .chars()
        .cycle()
        .take(TOKEN_BYTES - head.len())
        .collect();
    head + &fill
}

/// Pings on `client`; asserts the pong comes within [`PROMPT`]; returns how long it took.
async fn timed_ping(client: &mut Client, id: &str) -> Duration {
    let asked = Instant::now();
    let pong = client
        .request(json!({"action": "ping", "requestId": id}))
        .await;
    let took = asked.elapsed();
    assert_eq!(pong["type"], "pong", "{pong}");
    assert_eq!(pong["requestId"], id, "{pong}");
    assert!(
        took < PROMPT,
        "ping {id} waited {took:?} for its pong while slow clients were stuck"
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_cost_a_bounded_amount_and_are_disconnected_without_losing_replies() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let answer: Vec<String> = (0..ANSWER_TOKENS).map(|i| long_token('t', i)).collect();
    let full_answer: String = answer.concat();
    let long = Reply {
        reasoning: (0..REASONING_TOKENS).map(|i| long_token('r', i)).collect(),
        tokens: answer,
        ..Reply::default()
    };
    let warm_up = Reply {
        reasoning: vec!["Thinking.".into()],
        tokens: vec!["warm ".into(), "up".into()],
        ..Reply::default()
    };
    let mut replies = vec![warm_up];
    replies.extend(std::iter::repeat_n(long, SLOW_CLIENTS));
    let gateway = MockGateway::start(replies).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&[
        (
            "SMOOTH_AGENT_DATABASE_URL",
            dir.path().join("slow.db").display().to_string(),
        ),
        ("SMOOAI_GATEWAY_URL", gateway.base_url()),
        ("SMOOTH_AGENT_GATEWAY_RETRIES", "0".into()),
        ("SMOOTH_AGENT_OUTBOUND_QUEUE", QUEUE.to_string()),
        (
            "SMOOTH_AGENT_SEND_TIMEOUT_SECS",
            SEND_TIMEOUT_SECS.to_string(),
        ),
        ("SMOOTH_AGENT_KEEPALIVE_SECS", "60".into()),
    ]);

    // Warm up: one whole turn, so lazily built state (validators, the gateway client, code
    // paged in) is in the baseline.
    {
        let mut ws = connect_raw(&server.url).await;
        let session = create_session(&mut ws).await;
        send(&mut ws, send_message(&session, "warm", "Hello")).await;
        loop {
            let event = next_event(&mut ws, Duration::from_secs(30))
                .await
                .expect("the warm-up turn runs");
            match event["type"].as_str() {
                Some("eventual_response") => break,
                Some("error") => panic!("the warm-up turn failed: {event}"),
                _ => {}
            }
        }
    }
    let baseline = settled_rss(&server).await;
    let sampler = Sampler::start(server.child.id());
    let first_send = Instant::now();

    // Every slow client starts its turn, reads up to its first stream event, then reads nothing
    // more (its socket stays open).
    let stuck: Vec<(Ws, String)> = futures_util::future::join_all((0..SLOW_CLIENTS).map(|i| {
        let url = server.url.clone();
        async move {
            let mut ws = connect_slow(&url).await;
            let session = create_session(&mut ws).await;
            send(
                &mut ws,
                send_message(&session, &format!("slow{i}"), "Tell me everything"),
            )
            .await;
            loop {
                let event = next_event(&mut ws, Duration::from_secs(30))
                    .await
                    .expect("the turn starts streaming");
                match event["type"].as_str() {
                    Some("stream_reasoning" | "stream_token") => break,
                    Some("immediate_response") => assert_eq!(event["status"], 202, "{event}"),
                    Some("stream_preamble" | "keepalive") => {}
                    _ => panic!("unexpected event before the first stream event: {event}"),
                }
            }
            (ws, session)
        }
    }))
    .await;
    let stuck_at = Instant::now();

    // Until the server has dropped every slow client, RSS is sampled and other clients are
    // served promptly: one that keeps pinging, and one that connects in the middle of it.
    let mut pinger = Client::connect_url(&server.url).await;
    let mut slowest_pong = Duration::ZERO;
    let mut pongs = 0;
    let mut fresh_pong = None;
    let deadline = stuck_at + Duration::from_secs(60);
    loop {
        slowest_pong = slowest_pong.max(timed_ping(&mut pinger, &format!("p{pongs}")).await);
        pongs += 1;
        if fresh_pong.is_none() && stuck_at.elapsed() > Duration::from_secs(2) {
            let asked = Instant::now();
            let mut fresh = Client::connect_url(&server.url).await;
            timed_ping(&mut fresh, "fresh").await;
            fresh_pong = Some(asked.elapsed());
            continue;
        }
        let growth = sampler
            .peak(first_send, Instant::now())
            .saturating_sub(baseline);
        assert!(
            growth <= SLOW_CLIENTS as u64 * PER_SLOW_CLIENT_KIB,
            "RSS grew by {} over the {} baseline while {SLOW_CLIENTS} clients were not reading \
             ({PER_SLOW_CLIENT_KIB} KiB allowed per client)",
            mib(growth),
            mib(baseline)
        );
        // The pinger is the only connection left once every slow client is gone.
        let open = server.metric("smooth_ws_connections").await;
        if open <= 1.0 && fresh_pong.is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} slow clients are still connected 60 s after they stopped reading",
            open - 1.0
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_gone = stuck_at.elapsed();

    // The server really disconnected them: draining a slow client's socket now ends, long
    // before the whole reply. (All at once, right away: a socket the server closed while its
    // peer's window was shut is dropped by the kernel after a while, without a FIN, so a client
    // that stayed silent much longer could wait forever on a connection already gone.)
    let sessions: Vec<String> = stuck.iter().map(|(_, session)| session.clone()).collect();
    let drains = futures_util::future::join_all(stuck.into_iter().map(|(mut ws, _)| async move {
        let mut events = 1; // the one read before the client stopped
        let mut finished = false;
        let drained = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match ws.next().await {
                    Some(Ok(Message::Text(text))) => {
                        let event: Value = serde_json::from_str(text.as_str()).expect("JSON");
                        match event["type"].as_str() {
                            Some("stream_reasoning" | "stream_token") => events += 1,
                            Some("eventual_response") => finished = true,
                            _ => {}
                        }
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                    Some(Ok(_)) => {}
                }
            }
        })
        .await;
        (drained.is_ok(), events, finished)
    }))
    .await;
    for (i, (ended, events, finished)) in drains.iter().enumerate() {
        assert!(
            *ended,
            "slow client {i}: its socket is still open 30 s after the server reported it gone \
             ({events} stream events read)"
        );
        assert!(
            !finished && *events < STREAM_EVENTS,
            "slow client {i} got the whole reply ({events} of {STREAM_EVENTS} stream events, \
             eventual_response: {finished}): the server kept its events instead of dropping it"
        );
    }
    let read: Vec<usize> = drains.iter().map(|d| d.1).collect();

    // Nothing is lost: every turn finishes and stores its whole answer. (History is read only
    // once no turn runs: reading a session attaches the reader to it, and the events of a turn
    // whose client is gone go to the session's other connections.)
    loop {
        let running = server.metric("smooth_turns_running").await;
        if running == 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(30),
            "{running} turns still run {:?} after their clients stopped reading",
            stuck_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let turns_done = stuck_at.elapsed();
    let peak = sampler.peak(first_send, Instant::now());
    let mut reader = Client::connect_url(&server.url).await;
    for session in &sessions {
        let replies = stored_replies(&mut reader, session).await;
        assert_eq!(
            replies.len(),
            1,
            "session {session}: expected one stored reply, got {}",
            replies.len()
        );
        assert!(
            replies[0] == full_answer,
            "session {session}: the stored reply has {} bytes, the model sent {} (first \
             difference at byte {})",
            replies[0].len(),
            full_answer.len(),
            replies[0]
                .bytes()
                .zip(full_answer.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(replies[0].len().min(full_answer.len()))
        );
    }
    drop(reader);
    let settled = settled_rss(&server).await;

    let growth = peak.saturating_sub(baseline);
    let bound = SLOW_CLIENTS as u64 * PER_SLOW_CLIENT_KIB;
    println!(
        "slow readers: RSS baseline {}, peak {} (+{}, {} KiB per slow client; bound +{}), \
         settled {} after the turns; stream events read by a slow client before the server \
         dropped it: {}..{} of {STREAM_EVENTS}; all dropped {all_gone:?} and all turns done \
         {turns_done:?} after they stopped reading; slowest of {pongs} pongs {slowest_pong:?}, \
         fresh connection + pong {:?}; test {:?}",
        mib(baseline),
        mib(peak),
        mib(growth),
        growth / SLOW_CLIENTS as u64,
        mib(bound),
        mib(settled),
        read.iter().min().unwrap(),
        read.iter().max().unwrap(),
        fresh_pong.unwrap(),
        started.elapsed()
    );
    assert!(
        growth <= bound,
        "RSS grew by {} over the {} baseline with {SLOW_CLIENTS} slow clients, over the {} \
         bound ({PER_SLOW_CLIENT_KIB} KiB per client)",
        mib(growth),
        mib(baseline),
        mib(bound)
    );
    assert!(
        settled.saturating_sub(baseline) <= bound,
        "RSS is still {} over the baseline once the slow clients are gone and their turns done",
        mib(settled.saturating_sub(baseline))
    );
}

// ---------------------------------------------------------------------------------------------
// Parked turns
// ---------------------------------------------------------------------------------------------

/// Turns parked at once, and the connections they are spread over.
const PARKED: usize = 1500;
const CONNECTIONS: usize = 6;
/// Most a parked turn may cost, in KiB. Issue 15's target is 10 KiB and is not reached yet: a
/// parked turn measures about 28 KiB in a debug build (1500 parked: +42 MiB; a turn that
/// completes leaves about 5 KiB behind) and about 22 KiB in a release build (`cargo bench --bench
/// load`, 10 000 parked). Until it is, this bound guards against regressions: an unbounded idle
/// pool of gateway connections after a burst of turns cost 52 KiB per parked turn.
const PARKED_TURN_KIB: f64 = 40.0;
/// The turns are parked in this many waves.
const WAVES: usize = 3;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_turn_costs_a_bounded_amount_and_is_really_parked() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let mut replies = vec![delete_call(), Reply::tokens(&["Warmed up."])];
    replies.extend(std::iter::repeat_n(delete_call(), PARKED));
    replies.push(Reply::tokens(&["Deleted."]));
    let gateway = MockGateway::start(replies).await;
    let tools = ToolServer::start(HashMap::from([(
        "delete".to_string(),
        Endpoint {
            body: Some(json!("order deleted")),
            ..Endpoint::default()
        },
    )]))
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let tools_file = dir.path().join("tools.json");
    let declared = json!([{
        "name": "delete_order",
        "description": "Deletes an order.",
        "parameters": {"type": "object", "properties": {"orderId": {"type": "string"}},
                       "required": ["orderId"], "additionalProperties": false},
        "http": {"url": format!("{}/delete", tools.base_url())}
    }]);
    std::fs::write(&tools_file, declared.to_string()).expect("tools file");
    let server = Server::start(&[
        (
            "SMOOTH_AGENT_DATABASE_URL",
            dir.path().join("parked.db").display().to_string(),
        ),
        ("SMOOAI_GATEWAY_URL", gateway.base_url()),
        ("SMOOTH_AGENT_GATEWAY_RETRIES", "0".into()),
        ("SMOOTH_AGENT_TOOLS_FILE", tools_file.display().to_string()),
        ("SMOOTH_AGENT_CONFIRM_TOOLS", "delete".into()),
        ("SMOOTH_AGENT_MAX_TURNS", (PARKED + 16).to_string()),
        ("SMOOTH_AGENT_MAX_TURNS_PER_CONNECTION", PARKED.to_string()),
        ("SMOOTH_AGENT_KEEPALIVE_SECS", "60".into()),
    ]);

    // Warm up: one turn parked, approved and finished.
    {
        let mut ws = connect_raw(&server.url).await;
        let session = create_session(&mut ws).await;
        send(&mut ws, send_message(&session, "warm", "Delete A-1")).await;
        let mut confirmed = false;
        loop {
            let event = next_event(&mut ws, Duration::from_secs(30))
                .await
                .expect("the warm-up turn runs");
            match event["type"].as_str() {
                Some("write_confirmation_required") if !confirmed => {
                    confirmed = true;
                    send(
                        &mut ws,
                        json!({"action": "confirm_tool_action", "requestId": "ok",
                               "sessionId": session, "approved": true}),
                    )
                    .await;
                }
                Some("eventual_response") => break,
                Some("error") => panic!("warm-up turn failed: {event}"),
                _ => {}
            }
        }
        assert!(confirmed, "the warm-up turn never asked for a confirmation");
    }

    // The sessions, spread over a few connections.
    let per_connection = PARKED / CONNECTIONS;
    let mut connections: Vec<(Ws, Vec<String>)> =
        futures_util::future::join_all((0..CONNECTIONS).map(|_| {
            let url = server.url.clone();
            async move {
                let mut ws = connect_raw(&url).await;
                let mut sessions = Vec::with_capacity(per_connection);
                for _ in 0..per_connection {
                    sessions.push(create_session(&mut ws).await);
                }
                (ws, sessions)
            }
        }))
        .await;
    let created = started.elapsed();
    let before = settled_rss(&server).await;

    // One message per session, in three waves (RSS is read after each). Each connection sends
    // its next message once its previous turn is parked, so a handful of turns call the gateway
    // at a time: what is measured is the parked turns, not a pool of gateway connections opened
    // by a burst (which a burst does leave behind: see the report of this test).
    let sent_at = Instant::now();
    let mut after_wave = Vec::new();
    for wave in 0..WAVES {
        futures_util::future::join_all(connections.iter_mut().enumerate().map(
            |(c, (ws, sessions))| async move {
                let per_wave = sessions.len().div_ceil(WAVES);
                for (j, session) in sessions
                    .iter()
                    .enumerate()
                    .skip(wave * per_wave)
                    .take(per_wave)
                {
                    let request = format!("m{c}-{j}");
                    send(ws, send_message(session, &request, "Delete A-1")).await;
                    // The 202, then `write_confirmation_required`, then the `stream_chunk` of
                    // the tool call the turn holds.
                    let mut seen = Vec::new();
                    while seen.len() < 3 {
                        let event = next_event(ws, Duration::from_secs(30))
                            .await
                            .unwrap_or_else(|| panic!("connection {c} ended"));
                        if event["type"] == "keepalive" {
                            continue;
                        }
                        assert_eq!(event["requestId"], request.as_str(), "{event}");
                        seen.push(event);
                    }
                    assert_eq!(seen[0]["type"], "immediate_response", "{}", seen[0]);
                    assert_eq!(seen[0]["status"], 202, "turn refused: {}", seen[0]);
                    assert_eq!(
                        seen[1]["type"], "write_confirmation_required",
                        "{}",
                        seen[1]
                    );
                    assert_eq!(seen[2]["type"], "stream_chunk", "{}", seen[2]);
                }
            },
        ))
        .await;
        after_wave.push(settled_rss(&server).await);
    }
    let all_parked = sent_at.elapsed();
    let after = *after_wave.last().unwrap();
    let parked = connections;
    let turns = (per_connection * CONNECTIONS) as f64;
    let per_turn = after.saturating_sub(before) as f64 / turns;

    // The parked turns are real: one, approved, runs its tool and finishes.
    let (mut ws, sessions) = parked.into_iter().next().unwrap();
    send(
        &mut ws,
        json!({"action": "confirm_tool_action", "requestId": "approve",
               "sessionId": sessions[0], "approved": true}),
    )
    .await;
    let ack = next_event(&mut ws, Duration::from_secs(30))
        .await
        .expect("the confirmation is answered");
    assert_eq!(ack["type"], "immediate_response", "{ack}");
    assert_eq!(ack["requestId"], "approve", "{ack}");
    assert_eq!(ack["status"], 200, "{ack}");
    let mut text = String::new();
    let done = loop {
        let event = next_event(&mut ws, Duration::from_secs(30))
            .await
            .expect("the approved turn goes on");
        match event["type"].as_str() {
            Some("stream_token") => {
                assert_eq!(event["requestId"], "m0-0", "{event}");
                text.push_str(event["token"].as_str().unwrap());
            }
            Some("eventual_response") => break event,
            Some("stream_chunk" | "keepalive") => {}
            _ => panic!("unexpected event of the approved turn: {event}"),
        }
    };
    assert_eq!(done["requestId"], "m0-0", "{done}");
    assert_eq!(text, "Deleted.", "{done}");
    assert_eq!(
        tools.requests_to("delete").len(),
        2,
        "the warm-up's and the approved call"
    );
    assert_eq!(gateway.request_count(), PARKED + 3);

    let waves: Vec<String> = after_wave.iter().map(|kib| mib(*kib)).collect();
    println!(
        "parked turns: {turns} sessions created in {created:?}; RSS with the sessions {}, after \
         each wave of parked turns {waves:?} (all parked in {all_parked:?}, the server holds {} \
         descriptors): {per_turn:.2} KiB per parked turn; test {:?}",
        mib(before),
        open_descriptors(server.child.id()),
        started.elapsed()
    );
    assert!(
        per_turn < PARKED_TURN_KIB,
        "a parked turn costs {per_turn:.2} KiB (RSS {} before, {} with {turns} parked), over \
         {PARKED_TURN_KIB} KiB",
        mib(before),
        mib(after)
    );
}
