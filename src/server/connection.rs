//! One WebSocket connection: a reader loop that decodes and dispatches frames, and a writer task
//! that drains the bounded outbound queue onto the socket.
//!
//! Memory is the point of its shape. A connection's task is allocated at the size of its largest
//! state for as long as the client stays, idle or not, so [`run`] sets up before its future is
//! made (the future never holds the socket it split, nor its arguments twice), and every await
//! but the loop's own is boxed: a frame's handling, a rejection, the teardown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::outbound::{Outbound, Outgoing};
use super::AppState;
use crate::auth::Principal;
use crate::handlers::{self, Context};
use crate::protocol::{self, events, ErrorCode};
use crate::telemetry::{self, ConnectionGuard};

/// How long a closing connection may take to flush its queued events.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the server waits for the client's reply to a server-sent close.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Frames up to this multiple of the configured limit are read whole and rejected cleanly;
/// larger ones are refused by the WebSocket layer before being read.
pub const HARD_CAP_FACTOR: usize = 4;

/// The socket's read buffer, allocated up front for every connection (tungstenite's default is
/// 128 KiB, the bulk of an idle connection's memory); larger frames grow it as they arrive. Most
/// actions fit in 512 bytes.
pub const READ_BUFFER_BYTES: usize = 512;

/// Bytes of encoded frames collected before they are written (a flush writes them anyway).
pub const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Serves one upgraded socket until the client leaves, the server shuts down, or the client
/// stops reading. Must be called inside the runtime: it spawns the connection's writer.
pub fn run(
    socket: WebSocket,
    state: AppState,
    principal: Principal,
    origin: Option<String>,
) -> impl Future<Output = ()> + Send {
    let id = Uuid::new_v4();
    let open = telemetry::connection_opened();
    let (sink, stream) = socket.split();
    // Independent of the shutdown token: a draining connection keeps flushing turn events.
    let closing = CancellationToken::new();
    let capacity = usize::try_from(state.config.outbound_queue).unwrap_or(256);
    let (out, rx) = Outbound::new(
        capacity,
        Duration::from_secs(state.config.send_timeout_secs),
        closing.clone(),
    );
    let writer = tokio::spawn(write_loop(sink, rx, closing.clone()));
    let ctx = Context {
        connection_id: id,
        principal,
        origin,
        auth: Arc::clone(&state.auth),
        events: Arc::new(out.clone()),
        runtime: Arc::clone(&state.runtime),
        turns: tokio_util::task::TaskTracker::new(),
    };
    tracing::debug!(connection = %id, "connection opened");
    Connection {
        max_frame: usize::try_from(state.config.max_frame_bytes).unwrap_or(usize::MAX),
        shutdown: state.runtime.shutdown_token().clone(),
        ctx,
        out,
        stream,
        closing,
        writer,
        _open: open,
    }
    .serve()
}

/// What a connection's task holds while it lives.
struct Connection {
    ctx: Context,
    out: Outbound,
    stream: SplitStream<WebSocket>,
    /// Cancelled when the connection must go away (stuck client, close requested).
    closing: CancellationToken,
    writer: JoinHandle<()>,
    max_frame: usize,
    /// The server's shutdown.
    shutdown: CancellationToken,
    _open: ConnectionGuard,
}

impl Connection {
    /// Reads frames until the connection ends, then tears it down.
    #[allow(clippy::manual_async_fn)] // deliberate: an `async fn` would hold `self` twice
    fn serve(mut self) -> impl Future<Output = ()> + Send {
        async move {
            let mut server_closed = false;
            let mut draining = false;
            loop {
                tokio::select! {
                    biased;
                    () = self.shutdown.cancelled(), if !draining => {
                        // Stop taking turns; keep serving frames until this connection's turns
                        // end.
                        draining = true;
                        self.ctx.turns.close();
                    }
                    () = self.ctx.turns.wait(), if draining => {
                        Box::pin(self.out.close(close_code::AWAY, "server shutting down")).await;
                        server_closed = true;
                        break;
                    }
                    () = self.closing.cancelled() => break,
                    frame = self.stream.next() => match frame {
                        None | Some(Ok(Message::Close(_))) => break,
                        Some(Ok(message)) if payload_len(&message) > self.max_frame => {
                            telemetry::frame_received(None);
                            Box::pin(reject_oversize(&self.out, self.max_frame)).await;
                            server_closed = true;
                            break;
                        }
                        Some(Ok(Message::Text(text))) => {
                            Box::pin(handle_text(&self.ctx, text.as_str())).await;
                        }
                        Some(Ok(Message::Binary(_))) => {
                            telemetry::frame_received(None);
                            Box::pin(self.out.send(events::error(
                                None,
                                ErrorCode::ValidationError,
                                "binary frames are not supported; send JSON text frames",
                            )))
                            .await;
                        }
                        // Control frames are answered by the WebSocket layer.
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                        Some(Err(e)) => {
                            if is_too_large(e) {
                                telemetry::frame_received(None);
                                // Beyond the hard cap the frame is not read at all; tell the
                                // client anyway, although the unread bytes may cut the close
                                // short.
                                Box::pin(reject_oversize(&self.out, self.max_frame)).await;
                            } else {
                                tracing::debug!(connection = %self.ctx.connection_id, "read error; closing");
                            }
                            break;
                        }
                    }
                }
            }
            Box::pin(self.finish(server_closed)).await;
        }
    }

    /// Stops the writer (at once when the client left, after flushing when the server closed),
    /// detaches the connection from its sessions and finishes the close handshake.
    async fn finish(self, server_closed: bool) {
        let Connection {
            ctx,
            out,
            mut stream,
            closing,
            writer,
            ..
        } = self;
        let id = ctx.connection_id;
        if !server_closed {
            // The client left: nothing more can reach it, so stop the writer now. Turns it
            // started keep running; their events go to the session's other connections, if any.
            closing.cancel();
        }
        ctx.runtime.attachments.detach_connection(id);
        // Dropping the last sender lets the writer flush what is queued and stop.
        drop(ctx);
        drop(out);
        if server_closed {
            // Finish the close handshake: wait briefly for the client's Close so the socket is
            // not reset while our close frame is still in flight.
            let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
                while let Some(Ok(message)) = stream.next().await {
                    if matches!(message, Message::Close(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        let abort = writer.abort_handle();
        if tokio::time::timeout(FLUSH_TIMEOUT, writer).await.is_err() {
            abort.abort();
        }
        tracing::debug!(connection = %id, "connection closed");
    }
}

/// The payload size of a text or binary frame (control frames count as empty).
fn payload_len(message: &Message) -> usize {
    match message {
        Message::Text(text) => text.len(),
        Message::Binary(data) => data.len(),
        _ => 0,
    }
}

/// Reports an oversized frame and queues a close with code 1009.
async fn reject_oversize(out: &Outbound, limit: usize) {
    out.send(events::error(
        None,
        ErrorCode::FrameTooLarge,
        format!("frame exceeds the {limit}-byte limit"),
    ))
    .await;
    out.close(close_code::SIZE, "frame too large").await;
}

/// Decodes and dispatches one text frame, or tells the client why it was rejected.
async fn handle_text(ctx: &Context, text: &str) {
    match protocol::decode(text) {
        Ok(inbound) => {
            telemetry::frame_received(Some(&inbound.action));
            handlers::dispatch(ctx, inbound).await;
        }
        Err(rejection) => {
            telemetry::frame_received(None);
            ctx.send(rejection.to_event()).await;
        }
    }
}

fn is_too_large(error: axum::Error) -> bool {
    matches!(
        error
            .into_inner()
            .downcast::<tungstenite::Error>()
            .map(|e| *e),
        Ok(tungstenite::Error::Capacity(_))
    )
}

/// Events written to the socket before one flush, at most: a burst of ready events (tokens of
/// several turns) costs one write system call instead of one each.
const WRITE_BATCH: usize = 64;

/// Drains the queue onto `sink`: every event that is ready is written, then one flush.
async fn write_loop<S>(
    mut sink: S,
    mut rx: mpsc::Receiver<Outgoing>,
    closing: tokio_util::sync::CancellationToken,
) where
    S: futures_util::Sink<Message> + Unpin,
{
    'writing: loop {
        let item = tokio::select! {
            biased;
            item = rx.recv() => item,
            () = closing.cancelled() => {
                // Flush what is already queued without waiting for more.
                rx.try_recv().ok()
            }
        };
        let Some(mut item) = item else { break };
        // Everything that is ready goes out with one flush; an item is taken off the queue only
        // when it will be written in this batch (none is ever dropped between batches).
        let mut written = 0;
        loop {
            match item {
                Outgoing::Event(event) => {
                    let text = protocol::encode(&event);
                    if sink.feed(Message::Text(text.into())).await.is_err() {
                        break 'writing;
                    }
                    telemetry::frame_sent(&event);
                }
                Outgoing::Close(frame) => {
                    let _ = sink.send(Message::Close(Some(*frame))).await;
                    break 'writing;
                }
            }
            written += 1;
            if written == WRITE_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(next) => item = next,
                Err(_) => break,
            }
        }
        if sink.flush().await.is_err() {
            break;
        }
    }
    let _ = sink.close().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_backlog_longer_than_a_batch_is_written_whole_and_in_order() {
        let (tx, rx) = mpsc::channel(1024);
        for i in 0..(3 * WRITE_BATCH + 5) {
            let event = events::error(Some(format!("r{i}")), ErrorCode::ValidationError, "x");
            tx.send(Outgoing::Event(Box::new(event))).await.unwrap();
        }
        drop(tx);
        let mut written: Vec<Message> = Vec::new();
        write_loop(&mut written, rx, tokio_util::sync::CancellationToken::new()).await;
        let ids: Vec<String> = written
            .into_iter()
            .map(|m| match m {
                Message::Text(t) => {
                    let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
                    v["requestId"].as_str().unwrap().to_string()
                }
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        let expected: Vec<String> = (0..(3 * WRITE_BATCH + 5))
            .map(|i| format!("r{i}"))
            .collect();
        assert_eq!(ids, expected);
    }
}
