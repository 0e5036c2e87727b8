//! What the server adds on top of the gateway: time-to-first-token and per-token relay cost of
//! a streamed turn, at 1 and 16 concurrent turns, against an instant in-process mock gateway.
//!
//! Run: `cargo bench --bench turn_relay` (release build). Prints a table; asserts nothing.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use smooth_operator::config::Config;
use smooth_operator::server;
use tokio_tungstenite::tungstenite::Message;

/// Tokens streamed per turn.
const TOKENS: usize = 200;
/// Turns measured per client.
const ROUNDS: usize = 30;

fn sse_body() -> String {
    let mut body = String::new();
    for i in 0..TOKENS {
        let chunk = json!({"choices":[{"index":0,"delta":{"content":format!("t{i} ")},"finish_reason":null}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    body.push_str(
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    );
    body.push_str(
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":200}}\n\n",
    );
    body.push_str("data: [DONE]\n\n");
    body
}

async fn start_gateway() -> String {
    let body = sse_body();
    let app = Router::new().route(
        "/v1/chat/completions",
        post(move || {
            let body = body.clone();
            async move {
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(Body::from(body))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

/// Per-turn timings.
struct Sample {
    ttft: Duration,
    relay: Duration,
}

/// Direct to the gateway: time to the first body bytes and to the end of the body.
async fn direct_turn(client: &reqwest::Client, url: &str) -> Sample {
    let start = Instant::now();
    let response = client
        .post(format!("{url}/chat/completions"))
        .json(&json!({"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}))
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    let mut first = None;
    while let Some(chunk) = stream.next().await {
        chunk.unwrap();
        first.get_or_insert_with(Instant::now);
    }
    let first = first.unwrap();
    Sample {
        ttft: first - start,
        relay: first.elapsed(),
    }
}

async fn client_loop(ws_url: String, rounds: usize) -> Vec<Sample> {
    let (mut ws, _) = tokio_tungstenite::connect_async(&ws_url).await.unwrap();
    let create = json!({"action":"create_conversation_session","agentId":"bench","requestId":"c"});
    ws.send(Message::Text(create.to_string().into()))
        .await
        .unwrap();
    let ack = next_event(&mut ws).await;
    let session = ack["data"]["sessionId"].as_str().unwrap().to_string();
    let mut samples = Vec::with_capacity(rounds);
    for round in 0..rounds {
        let frame = json!({"action":"send_message","requestId":format!("r{round}"),"sessionId":session,"message":"hello"});
        let start = Instant::now();
        ws.send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
        let mut first = None;
        let mut tokens = 0;
        loop {
            let event = next_event(&mut ws).await;
            match event["type"].as_str().unwrap() {
                "stream_token" => {
                    first.get_or_insert_with(Instant::now);
                    tokens += 1;
                }
                "eventual_response" => break,
                "immediate_response" | "keepalive" => {}
                other => panic!("unexpected {other}: {event}"),
            }
        }
        assert_eq!(tokens, TOKENS);
        let first = first.unwrap();
        samples.push(Sample {
            ttft: first - start,
            relay: first.elapsed(),
        });
    }
    samples
}

async fn next_event(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index]
}

fn report(label: &str, samples: &[Sample]) -> (Duration, Duration) {
    let mut ttft: Vec<Duration> = samples.iter().map(|s| s.ttft).collect();
    let mut per_token: Vec<Duration> = samples.iter().map(|s| s.relay / TOKENS as u32).collect();
    let (t50, t95) = (percentile(&mut ttft, 0.5), percentile(&mut ttft, 0.95));
    let (p50, p95) = (
        percentile(&mut per_token, 0.5),
        percentile(&mut per_token, 0.95),
    );
    println!(
        "{label:<28} ttft p50 {:>9.1?} p95 {:>9.1?} | per-token p50 {:>8.2?} p95 {:>8.2?}",
        t50, t95, p50, p95
    );
    (t50, p50)
}

#[tokio::main]
async fn main() {
    let gateway = start_gateway().await;
    let http = reqwest::Client::new();
    for _ in 0..20 {
        direct_turn(&http, &gateway).await; // warm up
    }
    let mut direct = Vec::new();
    for _ in 0..ROUNDS {
        direct.push(direct_turn(&http, &gateway).await);
    }
    println!("turn relay benchmark: {TOKENS} tokens per turn, {ROUNDS} turns per client");
    let (direct_ttft, direct_token) = report("gateway direct", &direct);

    let mut config = Config::for_tests();
    config.agent.gateway_url = Some(gateway);
    config.agent.keepalive_secs = 3600;
    let handle = server::bind_and_start(config).await.unwrap();
    let url = handle.ws_url();
    client_loop(url.clone(), 10).await; // warm up
    for concurrency in [1usize, 16] {
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(client_loop(url.clone(), ROUNDS)))
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        let wall = started.elapsed();
        let (ttft, token) = report(&format!("via server, {concurrency} concurrent"), &all);
        println!(
            "{:<28} server adds ttft {:>9.1?}, per token {:>8.2?}; {:.0} turns/s, {:.0} tokens/s",
            "",
            ttft.saturating_sub(direct_ttft),
            token.saturating_sub(direct_token),
            all.len() as f64 / wall.as_secs_f64(),
            (all.len() * TOKENS) as f64 / wall.as_secs_f64(),
        );
    }
    handle.shutdown().await.unwrap();
}
