//! Out-of-process load benchmark: the release server binary and an instant OpenAI-compatible
//! mock gateway (20 streamed deltas per reply) run as separate processes on loopback, and this
//! process drives them over WebSocket and HTTP like real clients do.
//!
//! Run: `cargo bench --bench load`. Prints one table and writes the same rows as JSON to
//! `$LOAD_BENCH_JSON` (default `target/load-bench.json`); `LOAD_SERVER_BIN=<path>` measures
//! another server binary (a baseline build) under the same load. Every loop is bounded by a count and
//! by time. The server's CPU time per operation is read from `/proc/<pid>/stat`, its memory
//! from `/proc/<pid>/status`. Under `cargo test --all-targets` (no `--bench` argument) it is a
//! smoke run with small counts against the debug binary; it asserts only that every request
//! was answered as the protocol says.
//!
//! Workloads: idle connections (RSS per connection, RSS after they close), `ping` at 1 and 64
//! connections, session creates at 16 connections (rate per second over the run), turns at 1
//! and 16 connections; growth runs: creates over many sessions (rate per slice), a turn's cost
//! with 10 / 1 000 / 10 000 stored messages in its conversation, and retrieval latency with
//! 1 k / 10 k / 100 k chunks in the knowledge base (`LOAD_MAX_CHUNKS` lowers the largest).
//! `pods` runs the session and turn workloads again on two pods sharing a private Postgres and
//! a private Redis (started by the benchmark; Debian's `postgresql` and `redis-server`).
//! Bounded memory: `slow` has 300 clients stop reading while their turns stream a 1 MiB reply
//! (the server's peak RSS, and whether it disconnects them), `parked` holds 10 000 turns
//! awaiting a tool approval (RSS per parked turn).
//! `LOAD_ONLY=idle,ping,create,turn,slow,parked,pods,growth-create,growth-history,growth-retrieval`
//! picks some.

#[path = "../tests/common/driver.rs"]
mod driver;
#[path = "../tests/common/postgres.rs"]
mod postgres;
#[path = "../tests/common/redis.rs"]
mod redis;
#[path = "../tests/common/slow_socket.rs"]
mod slow_socket;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Deltas the mock gateway streams per reply.
const DELTAS: usize = 20;
/// How long after the clients leave "RSS after" is read: mimalloc gives freed memory back to
/// the system only after its purge delay (1 s, 10 s for whole arenas).
const RETURN_WAIT: Duration = Duration::from_secs(12);
/// The admin token the benchmark's server is started with (loopback only).
const ADMIN_TOKEN: &str = "load-bench-admin-token";

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How big a run is: the full benchmark or the smoke run under `cargo test`.
#[derive(Clone, Copy)]
struct Scale {
    full: bool,
}

impl Scale {
    /// `full` under `cargo bench`, else `smoke`.
    fn pick<T>(self, full: T, smoke: T) -> T {
        if self.full {
            full
        } else {
            smoke
        }
    }
}

/// One line of the table (and one object of the JSON).
#[derive(Default)]
struct Row {
    workload: String,
    ops: u64,
    per_sec: Option<f64>,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    cpu_us_per_op: Option<f64>,
    note: String,
}

impl Row {
    fn json(&self) -> Value {
        json!({
            "workload": self.workload,
            "ops": self.ops,
            "perSec": self.per_sec,
            "p50Ms": self.p50_ms,
            "p99Ms": self.p99_ms,
            "cpuUsPerOp": self.cpu_us_per_op,
            "note": self.note,
        })
    }

    fn print(&self) {
        let opt = |v: Option<f64>, digits: usize| match v {
            Some(v) => format!("{v:.digits$}"),
            None => "-".to_string(),
        };
        println!(
            "{:<44} {:>8} {:>10} {:>9} {:>9} {:>9}  {}",
            self.workload,
            self.ops,
            opt(self.per_sec, 0),
            opt(self.p50_ms, 3),
            opt(self.p99_ms, 3),
            opt(self.cpu_us_per_op, 1),
            self.note
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The mock gateway process.

/// The body of every streamed reply.
fn sse_body() -> String {
    let mut body = String::new();
    for i in 0..DELTAS {
        let chunk = json!({"choices":[{"index":0,"delta":{"content":format!("t{i} ")},"finish_reason":null}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str(
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    );
    body.push_str(&format!(
        "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\"completion_tokens\":{DELTAS}}}}}\n\n"
    ));
    body.push_str("data: [DONE]\n\n");
    body
}

/// The model whose replies are [`LONG_DELTAS`] deltas of [`LONG_DELTA_BYTES`] each.
const LONG_MODEL: &str = "load-long";
/// Deltas of a long reply.
const LONG_DELTAS: usize = 4000;
/// Bytes of text in each delta of a long reply.
const LONG_DELTA_BYTES: usize = 256;
/// The model that answers with a call of the approval-gated tool `delete_order`.
const TOOL_MODEL: &str = "load-tool";

/// A reply of [`LONG_DELTAS`] deltas (1 MiB of text): far more than the kernel's socket
/// buffers hold, so a client that stops reading leaves the rest queued in the server.
fn long_body() -> String {
    let text = "x".repeat(LONG_DELTA_BYTES);
    let mut body = String::new();
    for _ in 0..LONG_DELTAS {
        let chunk = json!({"choices":[{"index":0,"delta":{"content":text},"finish_reason":null}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str(
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    );
    body.push_str("data: [DONE]\n\n");
    body
}

/// A reply that calls `delete_order` (the server asks a person before running it).
fn tool_call_body() -> String {
    let call = json!({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1",
        "type":"function","function":{"name":"delete_order","arguments":"{\"orderId\":\"A-1\"}"}}]},
        "finish_reason":null}]});
    format!(
        "data: {call}\n\ndata: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"tool_calls\"}}]}}\n\ndata: [DONE]\n\n"
    )
}

/// Runs the mock gateway until killed; prints its base URL first.
fn gateway_main() {
    use axum::body::Body;
    use axum::response::Response;
    use axum::routing::post;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("gateway runtime");
    runtime.block_on(async {
        let bodies = Arc::new([sse_body(), long_body(), tool_call_body()]);
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            post(move |request: String| {
                let bodies = bodies.clone();
                async move {
                    // The model names the reply; a tool's result answers with the short one.
                    let body = if request.contains(&format!("\"model\":\"{LONG_MODEL}\"")) {
                        &bodies[1]
                    } else if request.contains(&format!("\"model\":\"{TOOL_MODEL}\""))
                        && !request.contains("\"role\":\"tool\"")
                    {
                        &bodies[2]
                    } else {
                        &bodies[0]
                    };
                    Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(Body::from(body.clone()))
                        .expect("response")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("gateway bind");
        println!("GATEWAY http://{}/v1", listener.local_addr().expect("addr"));
        axum::serve(listener, app).await.expect("gateway serve");
    });
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts this executable again as the mock gateway; returns it and its base URL.
fn start_gateway() -> (Process, String) {
    let exe = std::env::current_exe().expect("current exe");
    let mut child = Command::new(exe)
        .env("LOAD_BENCH_ROLE", "gateway")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the mock gateway process");
    let stdout = child.stdout.take().expect("gateway stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("gateway url");
    let url = line
        .trim()
        .strip_prefix("GATEWAY ")
        .unwrap_or_else(|| panic!("unexpected gateway line {line:?}"))
        .to_string();
    (Process(child), url)
}

// ---------------------------------------------------------------------------------------------
// The server process.

/// A running server binary with its own database file.
struct Server {
    process: Process,
    ws_url: String,
    http_url: String,
    log_lines: Arc<AtomicU64>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server binary on a free loopback port, with a fresh SQLite file.
    fn start(gateway: &str) -> Server {
        Server::start_with(gateway, &[])
    }

    /// [`Server::start`] with more settings (`envs` win over the SQLite file).
    fn start_with(gateway: &str, envs: &[(&str, String)]) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("load.db");
        // `LOAD_SERVER_BIN` measures another build (a baseline) with the same load.
        let binary = std::env::var("LOAD_SERVER_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_smooth-operator-rs").to_string());
        let mut child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("SMOOTH_AGENT_BIND", "127.0.0.1")
            .env("SMOOTH_AGENT_PORT", "0")
            .env("SMOOTH_AGENT_DATABASE_URL", db.display().to_string())
            .env("SMOOAI_GATEWAY_URL", gateway)
            .env("SMOOTH_AGENT_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("SMOOTH_AGENT_KEEPALIVE_SECS", "3600")
            .env(
                "RUST_LOG",
                std::env::var("LOAD_RUST_LOG").unwrap_or("info".into()),
            )
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the server binary");
        let log_lines = Arc::new(AtomicU64::new(0));
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("server stdout");
        let stderr = child.stderr.take().expect("server stderr");
        for (stream, tx) in [
            (
                Box::new(stdout) as Box<dyn std::io::Read + Send>,
                Some(url_tx),
            ),
            (Box::new(stderr), None),
        ] {
            let lines = log_lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    lines.fetch_add(1, Ordering::Relaxed);
                    if let Some(tx) = &tx {
                        if let Some(url) = line.strip_prefix("smooth-operator-rs listening on ") {
                            let _ = tx.send(url.trim().to_string());
                        }
                    }
                }
            });
        }
        let ws_url = url_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server prints its URL within 60 s");
        let http_url = ws_url
            .replacen("ws://", "http://", 1)
            .trim_end_matches("/ws")
            .to_string();
        Server {
            process: Process(child),
            ws_url,
            http_url,
            log_lines,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.process.0.id()
    }

    /// Resident memory of the server process, in KiB.
    fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// The anonymous part of the resident set (heap and stacks, not the binary's pages, which
    /// grow as more of its code runs).
    fn anon_kib(&self) -> u64 {
        self.status_kib("RssAnon:")
    }

    /// A `kB` field of `/proc/<pid>/status`.
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/<pid>/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{field} in /proc/<pid>/status"))
    }

    /// User plus system CPU time the server process has used.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))
            .expect("read /proc/<pid>/stat");
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        // Fields 14 and 15 of stat(5), counted from the state (field 3) at index 0.
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // SAFETY: sysconf has no preconditions.
        let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_micros(ticks * 1_000_000 / per_sec)
    }

    fn logs(&self) -> u64 {
        self.log_lines.load(Ordering::Relaxed)
    }
}

// ---------------------------------------------------------------------------------------------
// Client helpers.

async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect to the server");
    ws
}

/// Connects with a client's socket shape across the internet (a 64 KiB receive buffer, 1460-byte
/// segments), like a client on a slow link: what it does not
/// read soon backs up into the server instead of into this machine's socket buffers.
async fn connect_slow(url: &str) -> Ws {
    let address = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .expect("host:port")
        .parse()
        .expect("a socket address");
    let stream = slow_socket::internet_shaped()
        .connect(address)
        .await
        .expect("connect");
    let (ws, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .expect("WebSocket handshake");
    ws
}

async fn next_event(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.expect("the server closed").expect("frame") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("json"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, frame: &Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .expect("send a frame");
}

async fn ping(ws: &mut Ws) {
    send(ws, &json!({"action": "ping", "requestId": "p"})).await;
    let pong = next_event(ws).await;
    assert_eq!(pong["type"], "pong", "{pong}");
}

async fn create_session(ws: &mut Ws) -> String {
    send(
        ws,
        &json!({"action": "create_conversation_session", "agentId": "load", "requestId": "c"}),
    )
    .await;
    let ack = next_event(ws).await;
    assert_eq!(ack["type"], "immediate_response", "{ack}");
    ack["data"]["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string()
}

/// One turn; returns (first token, completion) measured from the send.
async fn turn(ws: &mut Ws, session: &str, n: usize) -> (Duration, Duration) {
    let started = Instant::now();
    send(
        ws,
        &json!({"action": "send_message", "requestId": format!("r{n}"), "sessionId": session,
                "message": "hello", "stream": true}),
    )
    .await;
    let mut first = None;
    let mut tokens = 0;
    loop {
        let event = next_event(ws).await;
        match event["type"].as_str().unwrap_or("") {
            "stream_token" => {
                first.get_or_insert_with(|| started.elapsed());
                tokens += 1;
            }
            "eventual_response" => break,
            "immediate_response" | "keepalive" | "stream_chunk" => {}
            other => panic!("unexpected {other}: {event}"),
        }
    }
    assert_eq!(tokens, DELTAS, "every delta is relayed");
    (first.expect("a first token"), started.elapsed())
}

fn percentile(values: &mut [Duration], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index].as_secs_f64() * 1000.0
}

fn cpu_us(cpu: Duration, ops: u64) -> f64 {
    cpu.as_secs_f64() * 1e6 / ops.max(1) as f64
}

// ---------------------------------------------------------------------------------------------
// Workloads.

async fn idle(server: &Server, scale: Scale) -> Vec<Row> {
    let n = scale.pick(2000, 100);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let anon_before = server.anon_kib();
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n {
        let mut ws = connect(&server.ws_url).await;
        ping(&mut ws).await;
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = server.rss_kib();
    let anon_held = server.anon_kib();
    for mut ws in sockets {
        let _ = ws.close(None).await;
    }
    tokio::time::sleep(RETURN_WAIT).await;
    let after = server.rss_kib();
    let anon_after = server.anon_kib();
    vec![Row {
        workload: format!("idle connections ({n} held)"),
        ops: n as u64,
        note: format!(
            "RSS {before} KiB -> {held} KiB held ({:.1} KiB/conn) -> {after} KiB after close \
             (anonymous {anon_before} -> {anon_held} -> {anon_after} KiB)",
            held.saturating_sub(before) as f64 / n as f64
        ),
        ..Row::default()
    }]
}

async fn pings(server: &Server, scale: Scale, connections: usize) -> Row {
    let limit = Duration::from_millis(scale.pick(5000, 300));
    let per_conn = scale.pick(2_000_000, 2000);
    let mut sockets = Vec::new();
    for _ in 0..connections {
        let mut ws = connect(&server.ws_url).await;
        ping(&mut ws).await;
        sockets.push(ws);
    }
    let cpu = server.cpu();
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            tokio::spawn(async move {
                let mut done = 0u64;
                while done < per_conn && started.elapsed() < limit {
                    ping(&mut ws).await;
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("ping task");
    }
    let wall = started.elapsed();
    let cpu = server.cpu() - cpu;
    Row {
        workload: format!("ping, {connections} connections"),
        ops: total,
        per_sec: Some(total as f64 / wall.as_secs_f64()),
        cpu_us_per_op: Some(cpu_us(cpu, total)),
        note: "round trips/s".into(),
        ..Row::default()
    }
}

/// Creates `total` sessions over 16 connections; returns the latencies, the completion times
/// (from the start) and the wall time.
async fn create_many(
    servers: &[Server],
    total: usize,
    limit: Duration,
) -> (Vec<Duration>, Vec<Duration>, Duration) {
    let connections = 16;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let url = servers[i % servers.len()].ws_url.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut ws = connect(&url).await;
                let mut latencies = Vec::new();
                let mut finished = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < total && started.elapsed() < limit {
                    let at = Instant::now();
                    create_session(&mut ws).await;
                    latencies.push(at.elapsed());
                    finished.push(started.elapsed());
                }
                (latencies, finished)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut finished = Vec::new();
    for task in tasks {
        let (l, f) = task.await.expect("create task");
        latencies.extend(l);
        finished.extend(f);
    }
    finished.sort();
    (latencies, finished, started.elapsed())
}

/// CPU time of every server of a fleet.
fn fleet_cpu(servers: &[Server]) -> Duration {
    servers.iter().map(Server::cpu).sum()
}

/// Log lines of every server of a fleet.
fn fleet_logs(servers: &[Server]) -> u64 {
    servers.iter().map(Server::logs).sum()
}

/// ` (2 pods, …)` after a workload's name when it ran on more than one server.
fn fleet_label(servers: &[Server], label: &str) -> String {
    if label.is_empty() {
        String::new()
    } else {
        format!(" ({} pods, {label})", servers.len())
    }
}

async fn creates(servers: &[Server], scale: Scale, label: &str) -> Row {
    let total = scale.pick(60_000, 400);
    let limit = Duration::from_secs(scale.pick(15, 10));
    let cpu = fleet_cpu(servers);
    let logs = fleet_logs(servers);
    let (mut latencies, finished, wall) = create_many(servers, total, limit).await;
    let cpu = fleet_cpu(servers) - cpu;
    let n = latencies.len() as u64;
    // Sessions finished in the first and in the last whole second of the run.
    let secs = wall.as_secs().max(1);
    let in_second = |s: u64| finished.iter().filter(|t| t.as_secs() == s).count();
    let (first, last) = (in_second(0), in_second(secs.saturating_sub(1)));
    Row {
        workload: format!(
            "create_conversation_session, 16 connections{}",
            fleet_label(servers, label)
        ),
        ops: n,
        per_sec: Some(n as f64 / wall.as_secs_f64()),
        p50_ms: Some(percentile(&mut latencies, 0.5)),
        p99_ms: Some(percentile(&mut latencies, 0.99)),
        cpu_us_per_op: Some(cpu_us(cpu, n)),
        note: format!(
            "first second {first}/s, last whole second {last}/s; {:.2} log lines per create",
            (fleet_logs(servers) - logs) as f64 / n.max(1) as f64
        ),
    }
}

async fn turns(
    servers: &[Server],
    scale: Scale,
    connections: usize,
    gateway_ttft: f64,
    label: &str,
) -> Row {
    let per_conn = scale.pick(if connections == 1 { 1000 } else { 300 }, 10);
    let limit = Duration::from_secs(scale.pick(15, 10));
    let mut sockets = Vec::new();
    for i in 0..connections {
        let mut ws = connect(&servers[i % servers.len()].ws_url).await;
        let session = create_session(&mut ws).await;
        turn(&mut ws, &session, 0).await; // warm up
        sockets.push((ws, session));
    }
    let cpu = fleet_cpu(servers);
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|(mut ws, session)| {
            tokio::spawn(async move {
                let mut samples = Vec::new();
                for n in 1..=per_conn {
                    if started.elapsed() >= limit {
                        break;
                    }
                    samples.push(turn(&mut ws, &session, n).await);
                }
                samples
            })
        })
        .collect();
    let mut first = Vec::new();
    let mut done = Vec::new();
    for task in tasks {
        for (f, d) in task.await.expect("turn task") {
            first.push(f);
            done.push(d);
        }
    }
    let wall = started.elapsed();
    let cpu = fleet_cpu(servers) - cpu;
    let n = first.len() as u64;
    let ttft50 = percentile(&mut first, 0.5);
    Row {
        workload: format!(
            "turns, {connections} connections{}",
            fleet_label(servers, label)
        ),
        ops: n,
        per_sec: Some(n as f64 / wall.as_secs_f64()),
        p50_ms: Some(ttft50),
        p99_ms: Some(percentile(&mut first, 0.99)),
        cpu_us_per_op: Some(cpu_us(cpu, n)),
        note: format!(
            "first token (p50 {:.3} ms over the gateway's own); completion p50 {:.3} / p99 {:.3} ms; {:.0} tokens/s",
            ttft50 - gateway_ttft,
            percentile(&mut done, 0.5),
            percentile(&mut done, 0.99),
            (n as usize * DELTAS) as f64 / wall.as_secs_f64()
        ),
    }
}

/// The gateway's own first-token time (p50, ms), measured directly.
async fn gateway_ttft(gateway: &str) -> f64 {
    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    for i in 0..120 {
        let started = Instant::now();
        let response = http
            .post(format!("{gateway}/chat/completions"))
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true}))
            .send()
            .await
            .expect("gateway");
        let mut body = response.bytes_stream();
        let mut first = None;
        while let Some(chunk) = body.next().await {
            chunk.expect("gateway body");
            first.get_or_insert_with(|| started.elapsed());
        }
        if i >= 20 {
            samples.push(first.expect("gateway bytes"));
        }
    }
    percentile(&mut samples, 0.5)
}

async fn growth_creates(server: &Server, scale: Scale) -> Vec<Row> {
    let total = scale.pick(100_000, 1000);
    let slice = total / 10;
    let limit = Duration::from_secs(scale.pick(600, 30));
    let cpu = server.cpu();
    let (_, finished, wall) = create_many(std::slice::from_ref(server), total, limit).await;
    let cpu = server.cpu() - cpu;
    let mut rates = Vec::new();
    let mut from = Duration::ZERO;
    for chunk in finished.chunks(slice) {
        let to = *chunk.last().expect("non-empty chunk");
        rates.push(chunk.len() as f64 / (to - from).as_secs_f64().max(1e-9));
        from = to;
    }
    let n = finished.len() as u64;
    vec![Row {
        workload: format!("growth: {n} session creates, 16 connections"),
        ops: n,
        per_sec: Some(n as f64 / wall.as_secs_f64()),
        cpu_us_per_op: Some(cpu_us(cpu, n)),
        note: format!(
            "rate per {slice}: {}",
            rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        ..Row::default()
    }]
}

async fn growth_history(server: &Server, scale: Scale) -> Vec<Row> {
    let sizes: &[usize] = scale.pick(&[10, 1000, 10_000], &[10, 100]);
    let measured = scale.pick(100, 5);
    let mut ws = connect(&server.ws_url).await;
    let session = create_session(&mut ws).await;
    let mut stored = 0;
    let mut n = 0;
    let mut rows = Vec::new();
    for &size in sizes {
        while stored < size {
            n += 1;
            turn(&mut ws, &session, n).await;
            stored += 2;
        }
        let cpu = server.cpu();
        let mut first = Vec::new();
        for _ in 0..measured {
            n += 1;
            first.push(turn(&mut ws, &session, n).await.0);
        }
        stored += 2 * measured;
        let cpu = server.cpu() - cpu;
        rows.push(Row {
            workload: format!("growth: turn with {size} stored messages"),
            ops: measured as u64,
            p50_ms: Some(percentile(&mut first, 0.5)),
            p99_ms: Some(percentile(&mut first, 0.99)),
            cpu_us_per_op: Some(cpu_us(cpu, measured as u64)),
            note: "first token".into(),
            ..Row::default()
        });
    }
    rows
}

/// A deterministic pseudo-random generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A pseudo-word for an index (a skewed pick makes low indexes common).
fn word(index: u64) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "dor", "fen", "gal",
        "hep", "jor",
    ];
    let mut n = index + 16;
    let mut word = String::new();
    while n > 0 {
        word.push_str(SYLLABLES[(n % 16) as usize]);
        n /= 16;
    }
    word
}

/// A paragraph of about 600 characters (one chunk each: two do not fit in 1 000).
fn paragraph(rng: &mut Rng) -> String {
    let mut text = String::new();
    while text.len() < 600 {
        // Squaring a uniform pick skews the vocabulary of 20 000 words towards its start.
        let u = (rng.next() % 1_000_000) as f64 / 1_000_000.0;
        text.push_str(&word((u * u * 20_000.0) as u64));
        text.push(' ');
    }
    text
}

async fn growth_retrieval(server: &Server, scale: Scale) -> Vec<Row> {
    let cap: usize = std::env::var("LOAD_MAX_CHUNKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let sizes: Vec<usize> = scale
        .pick(vec![1000, 10_000, 100_000], vec![200])
        .into_iter()
        .filter(|&s| s <= cap)
        .collect();
    let queries = scale.pick(300, 20);
    let http = reqwest::Client::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut chunks = 0;
    let mut document = 0;
    let mut rows = Vec::new();
    for size in sizes {
        let ingest_started = Instant::now();
        let before = chunks;
        while chunks < size {
            // Eight documents of ten paragraphs at a time.
            let mut batch = Vec::new();
            for _ in 0..8 {
                document += 1;
                let content = (0..10)
                    .map(|_| paragraph(&mut rng))
                    .collect::<Vec<_>>()
                    .join("\n\n");
                batch.push(json!({"source": format!("doc-{document}.md"), "content": content}));
                chunks += 10;
            }
            let posts = batch.into_iter().map(|body| {
                http.post(format!("{}/admin/documents", server.http_url))
                    .bearer_auth(ADMIN_TOKEN)
                    .json(&body)
                    .send()
            });
            for response in futures_util::future::join_all(posts).await {
                let response = response.expect("ingest");
                assert!(
                    response.status().is_success(),
                    "ingest: {}",
                    response.status()
                );
            }
        }
        let ingest = ingest_started.elapsed();
        let mut latencies = Vec::new();
        let cpu = server.cpu();
        for _ in 0..queries {
            // Two words of middling frequency: selective, as real questions are.
            let q = format!(
                "{} {}",
                word(200 + rng.next() % 4000),
                word(200 + rng.next() % 4000)
            );
            let started = Instant::now();
            let response = http
                .get(format!("{}/admin/search", server.http_url))
                .query(&[("q", q.as_str()), ("limit", "3")])
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .expect("search");
            assert!(
                response.status().is_success(),
                "search: {}",
                response.status()
            );
            response.bytes().await.expect("search body");
            latencies.push(started.elapsed());
        }
        let cpu = server.cpu() - cpu;
        rows.push(Row {
            workload: format!("growth: retrieval with {chunks} chunks"),
            ops: queries as u64,
            per_sec: None,
            p50_ms: Some(percentile(&mut latencies, 0.5)),
            p99_ms: Some(percentile(&mut latencies, 0.99)),
            cpu_us_per_op: Some(cpu_us(cpu, queries as u64)),
            note: format!(
                "GET /admin/search top 3; ingest {:.0} chunks/s",
                (chunks - before) as f64 / ingest.as_secs_f64()
            ),
        });
    }
    rows
}

/// Events of a connection until `kind` (or the end of the stream): whether `kind` came.
async fn until(ws: &mut Ws, kind: &str) -> bool {
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            let event: Value = serde_json::from_str(text.as_str()).expect("json");
            if event["type"] == kind {
                return true;
            }
        }
    }
    false
}

/// Clients that stop reading while their turns stream a long reply: the server's memory at its
/// peak, how many it disconnected (their send timeout is 2 s), and whether a fresh client is
/// still answered meanwhile.
async fn slow_readers(gateway: &str, scale: Scale) -> Row {
    let n = scale.pick(300, 20);
    let server = Server::start_with(
        gateway,
        &[
            ("SMOOTH_AGENT_MODEL", LONG_MODEL.to_string()),
            ("SMOOTH_AGENT_SEND_TIMEOUT_SECS", "2".to_string()),
        ],
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib();
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut ws = connect_slow(&server.ws_url).await;
        let session = create_session(&mut ws).await;
        send(
            &mut ws,
            &json!({"action": "send_message", "requestId": format!("s{i}"), "sessionId": session,
                    "message": "hello", "stream": true}),
        )
        .await;
        assert!(until(&mut ws, "stream_token").await, "the turn streams");
        // From here on this client reads nothing.
        held.push(ws);
    }
    let mut peak = server.rss_kib();
    let mut fresh_ping = Duration::ZERO;
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        peak = peak.max(server.rss_kib());
        if fresh_ping.is_zero() && watch.elapsed() > Duration::from_secs(1) {
            let mut ws = connect(&server.ws_url).await;
            let at = Instant::now();
            ping(&mut ws).await;
            fresh_ping = at.elapsed();
        }
    }
    // Read what reached each client: a disconnected one ends before its eventual_response.
    let mut disconnected = 0;
    let mut tokens = Vec::with_capacity(n);
    for mut ws in held {
        let mut count = 0usize;
        let mut finished = false;
        let drained = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    if text.as_str().contains("\"eventual_response\"") {
                        finished = true;
                        break;
                    }
                    count += 1;
                }
            }
        })
        .await;
        if drained.is_ok() && !finished {
            disconnected += 1;
        }
        tokens.push(count);
    }
    tokens.sort_unstable();
    tokio::time::sleep(RETURN_WAIT).await;
    let after = server.rss_kib();
    Row {
        workload: format!("slow readers ({n} stop reading mid-turn)"),
        ops: n as u64,
        note: format!(
            "reply {} KiB each; RSS {before} KiB -> peak {peak} KiB ({:.0} KiB per slow client) \
             -> {after} KiB after; {disconnected}/{n} disconnected, median {} of {LONG_DELTAS} \
             frames reached them; a fresh ping meanwhile {:.2} ms",
            LONG_DELTAS * LONG_DELTA_BYTES / 1024,
            peak.saturating_sub(before) as f64 / n as f64,
            tokens[n / 2],
            fresh_ping.as_secs_f64() * 1000.0,
        ),
        ..Row::default()
    }
}

/// Turns parked awaiting approval of a tool call: the server's memory per parked turn.
async fn parked(gateway: &str, scale: Scale) -> Row {
    let n = scale.pick(10_000, 200);
    let connections = 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let tools = dir.path().join("tools.json");
    let declared = json!([{
        "name": "delete_order",
        "description": "Deletes an order.",
        "parameters": {"type": "object", "properties": {"orderId": {"type": "string"}},
                       "required": ["orderId"], "additionalProperties": false},
        // Never reached: only one turn is approved, and its failure is an answer too.
        "http": {"url": "http://127.0.0.1:9/delete"}
    }]);
    std::fs::write(&tools, declared.to_string()).expect("tools file");
    let server = Server::start_with(
        gateway,
        &[
            ("SMOOTH_AGENT_MODEL", TOOL_MODEL.to_string()),
            ("SMOOTH_AGENT_TOOLS_FILE", tools.display().to_string()),
            ("SMOOTH_AGENT_CONFIRM_TOOLS", "delete".to_string()),
            ("SMOOTH_AGENT_MAX_TURNS", (n + 16).to_string()),
            ("SMOOTH_AGENT_MAX_TURNS_PER_CONNECTION", n.to_string()),
        ],
    );
    let mut sockets = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut ws = connect(&server.ws_url).await;
        let mut sessions = Vec::new();
        for _ in 0..n / connections {
            sessions.push(create_session(&mut ws).await);
        }
        sockets.push((ws, sessions));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    let started = Instant::now();
    let tasks: Vec<_> = sockets
        .into_iter()
        .map(|(mut ws, sessions)| {
            tokio::spawn(async move {
                for (i, session) in sessions.iter().enumerate() {
                    send(
                        &mut ws,
                        &json!({"action": "send_message", "requestId": format!("p{i}"),
                                "sessionId": session, "message": "delete A-1", "stream": true}),
                    )
                    .await;
                    assert!(until(&mut ws, "write_confirmation_required").await);
                }
                (ws, sessions)
            })
        })
        .collect();
    let mut sockets = Vec::new();
    for task in tasks {
        sockets.push(task.await.expect("park task"));
    }
    let parking = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib();
    // What the parked turns cost while nothing happens.
    let idle_cpu = server.cpu();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_cpu = (server.cpu() - idle_cpu).as_secs_f64() / 3.0 * 100.0;
    // The parked turns are real: one approved turn runs to its end.
    let (ws, sessions) = &mut sockets[0];
    send(
        ws,
        &json!({"action": "confirm_tool_action", "requestId": "k", "sessionId": sessions[0],
                "approved": true}),
    )
    .await;
    assert!(
        until(ws, "eventual_response").await,
        "an approved turn ends"
    );
    let total = (n / connections * connections) as u64;
    Row {
        workload: format!("parked turns ({total} awaiting approval)"),
        ops: total,
        per_sec: Some(total as f64 / parking.as_secs_f64()),
        note: format!(
            "RSS {before} KiB -> {after} KiB ({:.2} KiB per parked turn); server CPU while \
             they wait {idle_cpu:.1} %",
            after.saturating_sub(before) as f64 / total as f64
        ),
        ..Row::default()
    }
}

/// The session and turn workloads on two pods sharing a private Postgres and a private Redis
/// (both started here, on loopback, and stopped at the end).
async fn pods(gateway: &str, scale: Scale, gateway_ttft: f64) -> Vec<Row> {
    let cluster = postgres::PgCluster::start();
    let redis = redis::RedisServer::start();
    let database = cluster.fresh_database().await;
    let envs = [
        ("SMOOTH_AGENT_STORAGE", "postgres".to_string()),
        ("SMOOTH_AGENT_DATABASE_URL", database),
        ("SMOOTH_AGENT_BACKPLANE", "redis".to_string()),
        ("SMOOTH_AGENT_BACKPLANE_URL", redis.url()),
    ];
    let servers = [
        Server::start_with(gateway, &envs),
        Server::start_with(gateway, &envs),
    ];
    let label = "Postgres + Redis";
    vec![
        creates(&servers, scale, label).await,
        turns(&servers, scale, 1, gateway_ttft, label).await,
        turns(&servers, scale, 16, gateway_ttft, label).await,
    ]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Raises this process's open-file limit to its hard limit (the children inherit it).
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit are given a valid, initialised struct.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn main() {
    if std::env::var("LOAD_BENCH_ROLE").as_deref() == Ok("gateway") {
        gateway_main();
        return;
    }
    raise_fd_limit();
    let scale = Scale {
        full: std::env::args().any(|a| a == "--bench"),
    };
    let (_gateway_process, gateway) = start_gateway();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let rows = runtime.block_on(async {
        let mut rows = Vec::new();
        let gateway_first = gateway_ttft(&gateway).await;
        // `LOAD_ONLY=idle,ping,...` runs some workloads only (all by default).
        let only = std::env::var("LOAD_ONLY").unwrap_or_default();
        let wanted = |name: &str| only.is_empty() || only.split(',').any(|w| w.trim() == name);
        {
            let server = Server::start(&gateway);
            let one = std::slice::from_ref(&server);
            if wanted("idle") {
                rows.extend(idle(&server, scale).await);
            }
            if wanted("ping") {
                rows.push(pings(&server, scale, 1).await);
                rows.push(pings(&server, scale, 64).await);
            }
            if wanted("create") {
                rows.push(creates(one, scale, "").await);
            }
            if wanted("turn") {
                rows.push(turns(one, scale, 1, gateway_first, "").await);
                rows.push(turns(one, scale, 16, gateway_first, "").await);
            }
        }
        if wanted("slow") {
            rows.push(slow_readers(&gateway, scale).await);
        }
        if wanted("parked") {
            rows.push(parked(&gateway, scale).await);
        }
        if wanted("pods") {
            rows.extend(pods(&gateway, scale, gateway_first).await);
        }
        if wanted("growth-create") {
            rows.extend(growth_creates(&Server::start(&gateway), scale).await);
        }
        if wanted("growth-history") {
            rows.extend(growth_history(&Server::start(&gateway), scale).await);
        }
        if wanted("growth-retrieval") {
            rows.extend(growth_retrieval(&Server::start(&gateway), scale).await);
        }
        rows.push(Row {
            workload: "gateway alone: first token".into(),
            p50_ms: Some(gateway_first),
            ..Row::default()
        });
        rows
    });
    println!(
        "load benchmark ({}; load average {})",
        if scale.full { "full" } else { "smoke" },
        load_average()
    );
    println!(
        "{:<44} {:>8} {:>10} {:>9} {:>9} {:>9}  note",
        "workload", "ops", "ops/s", "p50 ms", "p99 ms", "cpu us/op"
    );
    for row in &rows {
        row.print();
    }
    let path = std::env::var("LOAD_BENCH_JSON")
        .unwrap_or_else(|_| format!("{}/target/load-bench.json", env!("CARGO_MANIFEST_DIR")));
    let report = json!({
        "mode": if scale.full { "full" } else { "smoke" },
        "loadAverage": load_average(),
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
    });
    if let Err(e) = std::fs::write(&path, serde_json::to_vec_pretty(&report).expect("json")) {
        eprintln!("cannot write {path}: {e}");
    } else {
        println!("wrote {path}");
    }
}
