//! Frame size limits: oversized frames get `FRAME_TOO_LARGE` and a 1009 close; frames up to the
//! limit are served; the limit is configurable; other connections are unaffected.

mod common;

use common::*;
use serde_json::{json, Value};
use smooth_operator::config::Config;
use smooth_operator::server::ServerHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

const DEFAULT_LIMIT: usize = 1024 * 1024;
const SMALL_LIMIT: usize = 4096;

/// The bytes of `{"action":"ping","requestId":""}` around the id.
const PING_OVERHEAD: usize = r#"{"action":"ping","requestId":""}"#.len();

/// A valid ping frame of exactly `len` bytes (the padding is the requestId).
fn ping_of_len(len: usize) -> (String, String) {
    let id = "r".repeat(len - PING_OVERHEAD);
    let frame = format!(r#"{{"action":"ping","requestId":"{id}"}}"#);
    assert_eq!(frame.len(), len);
    (frame, id)
}

async fn start_small() -> ServerHandle {
    start_with(Config {
        max_frame_bytes: SMALL_LIMIT as u64,
        ..Config::for_tests()
    })
    .await
}

/// Expects `FRAME_TOO_LARGE` (no requestId), then a 1009 close, then the end of the stream.
async fn expect_too_large_and_1009(client: &mut Client, limit: usize) {
    let event = client.recv().await;
    assert_error(&event, "FRAME_TOO_LARGE", None);
    let message = event["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&limit.to_string()),
        "message names the {limit}-byte limit: {message}"
    );
    match client.recv_raw().await {
        Some(Message::Close(Some(frame))) => {
            assert_eq!(
                frame.code,
                CloseCode::Size,
                "close code must be 1009: {frame:?}"
            );
            assert_eq!(u16::from(frame.code), 1009);
        }
        other => panic!("expected a 1009 close frame, got {other:?}"),
    }
    assert!(
        client.recv_raw().await.is_none(),
        "nothing may follow the close frame"
    );
}

#[tokio::test]
async fn text_frame_over_default_limit_gets_frame_too_large_and_1009() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    client.assert_alive().await;
    let (frame, _) = ping_of_len(DEFAULT_LIMIT + 1);
    client.send_text(&frame).await;
    expect_too_large_and_1009(&mut client, DEFAULT_LIMIT).await;
}

#[tokio::test]
async fn text_frame_at_and_just_under_default_limit_is_served() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    for len in [DEFAULT_LIMIT - 1, DEFAULT_LIMIT] {
        let (frame, id) = ping_of_len(len);
        client.send_text(&frame).await;
        let pong = client.recv().await;
        assert_eq!(
            pong["type"], "pong",
            "a {len}-byte ping is within the limit"
        );
        assert_eq!(pong["requestId"].as_str(), Some(id.as_str()));
    }
    client.assert_alive().await;
}

#[tokio::test]
async fn configured_limit_is_enforced() {
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    let (frame, id) = ping_of_len(SMALL_LIMIT);
    client.send_text(&frame).await;
    let pong = client.recv().await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["requestId"].as_str(), Some(id.as_str()));

    let (frame, _) = ping_of_len(SMALL_LIMIT + 1);
    client.send_text(&frame).await;
    expect_too_large_and_1009(&mut client, SMALL_LIMIT).await;
}

#[tokio::test]
async fn configured_limit_counts_bytes_not_characters() {
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    // 1500 three-byte characters: 1500 chars, 4500+ bytes.
    let frame = json!({"action": "ping", "requestId": "€".repeat(1500)}).to_string();
    assert!(frame.chars().count() < SMALL_LIMIT && frame.len() > SMALL_LIMIT);
    client.send_text(&frame).await;
    expect_too_large_and_1009(&mut client, SMALL_LIMIT).await;
}

#[tokio::test]
async fn oversized_invalid_json_is_still_frame_too_large() {
    // Size is checked before parsing: garbage over the limit is FRAME_TOO_LARGE, not
    // VALIDATION_ERROR.
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    client.send_text(&"{".repeat(SMALL_LIMIT + 10)).await;
    expect_too_large_and_1009(&mut client, SMALL_LIMIT).await;
}

#[tokio::test]
async fn binary_frame_over_limit_gets_1009() {
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    // A binary frame within the limit is a VALIDATION_ERROR that keeps the socket open…
    client
        .send_raw(Message::Binary(vec![7u8; SMALL_LIMIT].into()))
        .await;
    let event = client.recv().await;
    assert_error(&event, "VALIDATION_ERROR", None);
    client.assert_alive().await;
    // …one over the limit closes it with 1009.
    client
        .send_raw(Message::Binary(vec![7u8; SMALL_LIMIT + 1].into()))
        .await;
    expect_too_large_and_1009(&mut client, SMALL_LIMIT).await;
}

#[tokio::test]
async fn binary_frame_over_default_limit_gets_1009() {
    let server = start_memory().await;
    let mut client = Client::connect(&server).await;
    client
        .send_raw(Message::Binary(vec![0u8; DEFAULT_LIMIT + 1].into()))
        .await;
    expect_too_large_and_1009(&mut client, DEFAULT_LIMIT).await;
}

#[tokio::test]
async fn fragmented_message_within_limit_is_served() {
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    let text = r#"{"action":"ping","requestId":"frag"}"#;
    let (a, b) = text.split_at(10);
    client
        .send_raw(Message::Frame(Frame::message(
            a.as_bytes().to_vec(),
            OpCode::Data(Data::Text),
            false,
        )))
        .await;
    client
        .send_raw(Message::Frame(Frame::message(
            b.as_bytes().to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .await;
    let pong = client.recv().await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["requestId"], "frag");
}

/// Sends `total` bytes of a text message as fragments of at most `chunk` bytes.
async fn send_fragmented(client: &mut Client, total: usize, chunk: usize) {
    let (text, _) = ping_of_len(total);
    let pieces: Vec<&[u8]> = text.as_bytes().chunks(chunk).collect();
    let last = pieces.len() - 1;
    for (i, piece) in pieces.into_iter().enumerate() {
        let opcode = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        client
            .send_raw(Message::Frame(Frame::message(
                piece.to_vec(),
                opcode,
                i == last,
            )))
            .await;
    }
}

#[tokio::test]
async fn fragmented_message_over_limit_gets_1009() {
    // Every fragment is under the limit, the message is not: the limit is on the message.
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    send_fragmented(&mut client, SMALL_LIMIT * 2, SMALL_LIMIT / 2).await;
    expect_too_large_and_1009(&mut client, SMALL_LIMIT).await;
}

#[tokio::test]
async fn fragmented_message_far_over_limit_gets_1009() {
    // Past the WebSocket layer's hard cap the message is refused while being assembled; every
    // byte sent has been read, so the close arrives cleanly.
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    send_fragmented(&mut client, SMALL_LIMIT * 5, SMALL_LIMIT / 2).await;
    expect_too_large_and_1009(&mut client, SMALL_LIMIT).await;
}

#[tokio::test]
async fn single_frame_far_over_limit_ends_the_connection_and_server_survives() {
    // A frame past the hard cap is not read at all. The server still tells the client when it
    // can, but unread bytes may reset the socket first, so only these are guaranteed: whatever
    // arrives is FRAME_TOO_LARGE and/or a 1009 close, the connection ends, the server lives.
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    client
        .send_raw(Message::Binary(vec![1u8; SMALL_LIMIT * 8].into()))
        .await;
    let mut seen = Vec::new();
    while let Some(message) = client.recv_raw().await {
        match &message {
            Message::Text(text) => {
                let event: Value = serde_json::from_str(text.as_str()).unwrap();
                assert_event_valid(&event);
                assert_error(&event, "FRAME_TOO_LARGE", None);
            }
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
            other => panic!("unexpected message {other:?}"),
        }
        seen.push(message);
        assert!(
            seen.len() <= 2,
            "too many messages after an oversized frame: {seen:?}"
        );
    }
    let mut other = Client::connect(&server).await;
    other.assert_alive().await;
}

#[tokio::test]
async fn other_connections_keep_working_after_one_is_closed() {
    let server = start_small().await;
    let mut victim = Client::connect(&server).await;
    let mut bystander = Client::connect(&server).await;
    let session = bystander.create_session().await;

    let (frame, _) = ping_of_len(SMALL_LIMIT + 100);
    victim.send_text(&frame).await;
    expect_too_large_and_1009(&mut victim, SMALL_LIMIT).await;

    bystander.assert_alive().await;
    let got = bystander
        .request(json!({"action": "get_session", "sessionId": session["sessionId"]}))
        .await;
    assert_eq!(got["type"], "immediate_response", "{got}");
    // New connections are accepted too, and see the same storage.
    let mut newcomer = Client::connect(&server).await;
    newcomer.assert_alive().await;
    let got = newcomer
        .request(json!({"action": "get_session", "sessionId": session["sessionId"]}))
        .await;
    assert_eq!(got["type"], "immediate_response", "{got}");
}

#[tokio::test]
async fn oversize_after_queued_replies_keeps_their_order() {
    // Replies to earlier frames are delivered before the FRAME_TOO_LARGE error and the close.
    let server = start_small().await;
    let mut client = Client::connect(&server).await;
    for i in 0..5 {
        client
            .send(json!({"action": "ping", "requestId": format!("q{i}")}))
            .await;
    }
    let (frame, _) = ping_of_len(SMALL_LIMIT + 1);
    client.send_text(&frame).await;
    for i in 0..5 {
        let pong = client.recv().await;
        assert_eq!(pong["type"], "pong");
        assert_eq!(pong["requestId"], format!("q{i}"));
    }
    expect_too_large_and_1009(&mut client, SMALL_LIMIT).await;
}
