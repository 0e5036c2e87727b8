//! Tool calls parked until a person approves them: one pending confirmation per session, answered
//! by `confirm_tool_action` from any connection allowed to access the session.
//!
//! Ordering is by construction: the answering handler delivers the verdict, enqueues its own
//! acknowledgement, and only then releases the turn (the `acked` barrier), so the
//! acknowledgement always precedes the resumed turn's events.
//!
//! Pattern to follow for anything a turn parks on (confirmation today; OTP and interactions
//! later): the waiting side holds a [`Parked`] guard whose `Drop` removes the pending entry, so
//! an answer, a timeout and a cancelled turn (its future dropped) all clean up the same way; and
//! the answering side fires an acknowledgement barrier once its reply is queued.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::oneshot;
use uuid::Uuid;

use super::sink::DynSink;

/// Longest a resumed turn waits for the confirming handler to enqueue its acknowledgement.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// A verdict delivered to a parked turn.
#[derive(Debug)]
pub struct Verdict {
    /// Whether the person approved.
    pub approved: bool,
    /// Resolves (or is dropped) once the acknowledgement is enqueued.
    pub acked: oneshot::Receiver<()>,
    /// The connection that answered.
    pub from: Option<DynSink>,
}

/// How a parked call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved: run the tool.
    Approved,
    /// Rejected: skip the tool.
    Denied,
    /// Nobody answered in time: skip the tool.
    TimedOut,
}

/// Why a verdict could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotDelivered {
    /// Nothing awaits confirmation in the session (or it was already answered).
    NothingPending,
    /// The waiting turn ended before the verdict arrived.
    TurnGone,
}

struct Pending {
    turn_id: Uuid,
    tx: oneshot::Sender<Verdict>,
}

/// Pending confirmations keyed by session id.
#[derive(Default)]
pub struct Confirmations {
    inner: Mutex<HashMap<Uuid, Pending>>,
}

impl Confirmations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Pending>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers the turn's call as awaiting confirmation; the entry is removed when the guard
    /// is dropped (answered, timed out or the turn cancelled).
    pub fn park(&self, session_id: Uuid, turn_id: Uuid) -> Parked<'_> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(session_id, Pending { turn_id, tx });
        Parked {
            registry: self,
            session_id,
            turn_id,
            rx: Some(rx),
        }
    }

    /// Delivers a verdict, consuming the pending entry. On success, returns the sender the
    /// caller must fire (or drop) once its acknowledgement is enqueued.
    pub fn answer(
        &self,
        session_id: Uuid,
        approved: bool,
        from: Option<DynSink>,
    ) -> Result<oneshot::Sender<()>, NotDelivered> {
        let pending = self
            .lock()
            .remove(&session_id)
            .ok_or(NotDelivered::NothingPending)?;
        let (ack_tx, ack_rx) = oneshot::channel();
        pending
            .tx
            .send(Verdict {
                approved,
                acked: ack_rx,
                from,
            })
            .map_err(|_| NotDelivered::TurnGone)?;
        Ok(ack_tx)
    }

    /// Whether the session has a call awaiting confirmation.
    #[cfg(test)]
    fn is_pending(&self, session_id: Uuid) -> bool {
        self.lock().contains_key(&session_id)
    }
}

/// A call waiting for its verdict.
pub struct Parked<'a> {
    registry: &'a Confirmations,
    session_id: Uuid,
    turn_id: Uuid,
    rx: Option<oneshot::Receiver<Verdict>>,
}

impl Parked<'_> {
    /// Waits up to `timeout` for the verdict (then for its acknowledgement to be enqueued);
    /// also returns the connection that answered, if any.
    pub async fn wait(mut self, timeout: Duration) -> (Decision, Option<DynSink>) {
        let Some(rx) = self.rx.take() else {
            return (Decision::TimedOut, None);
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(verdict)) => {
                let _ = tokio::time::timeout(ACK_WAIT, verdict.acked).await;
                let decision = if verdict.approved {
                    Decision::Approved
                } else {
                    Decision::Denied
                };
                (decision, verdict.from)
            }
            Ok(Err(_)) | Err(_) => (Decision::TimedOut, None),
        }
    }
}

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let mut map = self.registry.lock();
        if map
            .get(&self.session_id)
            .is_some_and(|p| p.turn_id == self.turn_id)
        {
            map.remove(&self.session_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answer_is_consumed_once() {
        let registry = Confirmations::default();
        let session = Uuid::new_v4();
        assert_eq!(
            registry.answer(session, true, None).unwrap_err(),
            NotDelivered::NothingPending
        );
        let parked = registry.park(session, Uuid::new_v4());
        let ack = registry.answer(session, true, None).expect("delivered");
        assert_eq!(
            registry.answer(session, false, None).unwrap_err(),
            NotDelivered::NothingPending
        );
        drop(ack);
        assert_eq!(
            parked.wait(Duration::from_secs(1)).await.0,
            Decision::Approved
        );
        assert!(!registry.is_pending(session));
    }

    #[tokio::test]
    async fn timeout_and_cancel_clear_the_entry() {
        let registry = Confirmations::default();
        let session = Uuid::new_v4();
        let parked = registry.park(session, Uuid::new_v4());
        assert_eq!(
            parked.wait(Duration::from_millis(20)).await.0,
            Decision::TimedOut
        );
        assert!(!registry.is_pending(session));
        let parked = registry.park(session, Uuid::new_v4());
        assert!(registry.is_pending(session));
        drop(parked); // a cancelled turn drops its future
        assert_eq!(
            registry.answer(session, true, None).unwrap_err(),
            NotDelivered::NothingPending
        );
    }

    #[tokio::test]
    async fn resumes_only_after_the_ack() {
        let registry = std::sync::Arc::new(Confirmations::default());
        let session = Uuid::new_v4();
        let (done_tx, mut done_rx) = oneshot::channel();
        let r = registry.clone();
        let parked_ready = std::sync::Arc::new(tokio::sync::Notify::new());
        let ready = parked_ready.clone();
        tokio::spawn(async move {
            let parked = r.park(session, Uuid::new_v4());
            ready.notify_one();
            let _ = done_tx.send(parked.wait(Duration::from_secs(5)).await.0);
        });
        parked_ready.notified().await;
        let ack = registry.answer(session, false, None).expect("delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(done_rx.try_recv().is_err(), "resumed before the ack");
        ack.send(()).unwrap();
        assert_eq!(done_rx.await.unwrap(), Decision::Denied);
    }
}
