//! The bounded queue between a connection's producers (handlers, turns) and its writer task;
//! it is the server's implementation of the runtime's [`EventSink`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::future::Future;

use axum::extract::ws::CloseFrame;
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::protocol::Event;
use crate::runtime::sink::EventSink;

/// What the writer task is asked to put on the socket: two words, because tokio's channel
/// allocates its first block of 32 slots when the connection opens, used or not.
#[derive(Debug)]
pub enum Outgoing {
    /// One event, one text frame.
    Event(Box<Event>),
    /// A close frame; the writer stops after sending it.
    Close(Box<CloseFrame>),
}

/// A cloneable sender of events to one connection.
#[derive(Clone, Debug)]
pub struct Outbound {
    tx: mpsc::Sender<Outgoing>,
    send_timeout: Duration,
    /// Cancelled when the connection must go away (stuck client, close requested).
    closing: CancellationToken,
    /// When something was last queued, in Unix epoch milliseconds (drives keepalives).
    last_sent_ms: Arc<AtomicU64>,
}

impl Outbound {
    /// Creates a queue of `capacity` items; returns the sender and the writer's receiver.
    pub fn new(
        capacity: usize,
        send_timeout: Duration,
        closing: CancellationToken,
    ) -> (Self, mpsc::Receiver<Outgoing>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            Self {
                tx,
                send_timeout,
                closing,
                last_sent_ms: Arc::new(AtomicU64::new(crate::protocol::now_ms())),
            },
            rx,
        )
    }

    /// Queues an event. Waits while the queue is full; a client that stays stuck for the send
    /// timeout is disconnected. Returns false when the event could not be queued.
    ///
    /// The event is boxed before the future is made, so the future holds a pointer, not the
    /// event: every handler and turn that awaits a send is that much smaller.
    pub fn send(&self, event: Event) -> impl Future<Output = bool> + Send + '_ {
        self.push(Outgoing::Event(Box::new(event)))
    }

    /// Queues a close frame after everything already queued, then closes the connection.
    pub fn close(&self, code: u16, reason: &str) -> impl Future<Output = bool> + Send + '_ {
        self.push(Outgoing::Close(Box::new(CloseFrame {
            code,
            reason: reason.into(),
        })))
    }

    /// How long ago something was last queued for this connection.
    pub fn idle_for(&self) -> Duration {
        let last = self.last_sent_ms.load(Ordering::Relaxed);
        Duration::from_millis(crate::protocol::now_ms().saturating_sub(last))
    }

    /// Whether the connection is gone or going away (nothing queued now would be delivered).
    pub fn is_closed(&self) -> bool {
        self.closing.is_cancelled() || self.tx.is_closed()
    }

    /// The token cancelled when this connection is going away.
    pub fn closing(&self) -> &CancellationToken {
        &self.closing
    }

    async fn push(&self, item: Outgoing) -> bool {
        if self.closing.is_cancelled() {
            return false;
        }
        match tokio::time::timeout(self.send_timeout, self.tx.send(item)).await {
            Ok(Ok(())) => {
                self.last_sent_ms
                    .store(crate::protocol::now_ms(), Ordering::Relaxed);
                true
            }
            Ok(Err(_)) => false,
            Err(_) => {
                tracing::warn!("client is not reading its events; disconnecting it");
                self.closing.cancel();
                false
            }
        }
    }
}

impl EventSink for Outbound {
    fn send(&self, event: Event) -> BoxFuture<'_, bool> {
        Box::pin(Outbound::send(self, event))
    }

    fn idle_for(&self) -> Duration {
        Outbound::idle_for(self)
    }

    fn is_closed(&self) -> bool {
        Outbound::is_closed(self)
    }
}
