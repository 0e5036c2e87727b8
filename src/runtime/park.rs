//! Turns parked until someone answers: a tool call waiting for a person's approval
//! ([`Confirmations`], answered by `confirm_tool_action`), for the end user's one-time code
//! ([`OtpWaits`], answered by `verify_otp`) or for the user's answer to an interaction
//! (`runtime::interaction`, answered by `submit_interaction`, which checks the answer against
//! what the entry waits for with [`Parking::answer_checked`] before consuming it). One pending
//! answer per session, from any connection allowed to access the session.
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

/// An answer delivered to a parked turn.
#[derive(Debug)]
struct Answer<T> {
    /// What was answered.
    value: T,
    /// Resolves (or is dropped) once the acknowledgement is enqueued.
    acked: oneshot::Receiver<()>,
    /// The connection that answered.
    from: Option<DynSink>,
}

/// How a parked confirmation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approved: run the tool.
    Approved,
    /// Rejected: skip the tool.
    Denied,
    /// Nobody answered in time: skip the tool.
    TimedOut,
}

impl Decision {
    /// The decision an answer (or its absence) means.
    pub fn from_answer(answer: Option<bool>) -> Self {
        match answer {
            Some(true) => Decision::Approved,
            Some(false) => Decision::Denied,
            None => Decision::TimedOut,
        }
    }
}

/// How a one-time-code wait ended, as told to the parked turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtpOutcome {
    /// The right code: the end user is verified.
    Verified,
    /// No attempt left.
    Exhausted,
    /// The code expired.
    Expired,
}

/// Tool calls waiting for a person's approval, by session.
pub type Confirmations = Parking<bool>;
/// Tool calls waiting for the end user's one-time code, by session.
pub type OtpWaits = Parking<OtpOutcome>;

/// Why a verdict could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotDelivered {
    /// Nothing awaits confirmation in the session (or it was already answered).
    NothingPending,
    /// The waiting turn ended before the verdict arrived.
    TurnGone,
}

/// Why a checked answer was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckRefused<E> {
    /// Nothing awaits an answer in the session, or the waiting turn ended.
    NotDelivered(NotDelivered),
    /// The check refused the answer; the turn keeps waiting.
    Refused(E),
}

struct Pending<T, M> {
    turn_id: Uuid,
    tx: oneshot::Sender<Answer<T>>,
    /// What the turn waits for, for the answering side to check against.
    meta: M,
}

/// Parked turns keyed by session id, each waiting for an answer of type `T` (and describing
/// what it waits for with an `M`).
pub struct Parking<T, M = ()> {
    inner: Mutex<HashMap<Uuid, Pending<T, M>>>,
}

impl<T, M> Default for Parking<T, M> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(HashMap::new()),
        }
    }
}

impl<T> Parking<T> {
    /// Registers the turn as waiting for an answer; the entry is removed when the guard is
    /// dropped (answered, timed out or the turn cancelled).
    pub fn park(&self, session_id: Uuid, turn_id: Uuid) -> Parked<'_, T> {
        self.park_with(session_id, turn_id, ())
    }
}

impl<T, M> Parking<T, M> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Pending<T, M>>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// [`Parking::park`] with a description of what the turn waits for.
    pub fn park_with(&self, session_id: Uuid, turn_id: Uuid, meta: M) -> Parked<'_, T, M> {
        let (tx, rx) = oneshot::channel();
        self.lock()
            .insert(session_id, Pending { turn_id, tx, meta });
        Parked {
            registry: self,
            session_id,
            turn_id,
            rx: Some(rx),
        }
    }

    /// Delivers the answer `check` makes of the pending entry's description, consuming the
    /// entry only when `check` accepts; a refusal leaves the turn waiting. On success, returns
    /// the acknowledgement sender (as [`Parking::answer`]) and what `check` returned beside the
    /// answer.
    pub fn answer_checked<R, E>(
        &self,
        session_id: Uuid,
        check: impl FnOnce(&M) -> Result<(T, R), E>,
        from: Option<DynSink>,
    ) -> Result<(oneshot::Sender<()>, R), CheckRefused<E>> {
        let pending = {
            let mut map = self.lock();
            let entry = map
                .get(&session_id)
                .ok_or(CheckRefused::NotDelivered(NotDelivered::NothingPending))?;
            if entry.tx.is_closed() {
                map.remove(&session_id);
                return Err(CheckRefused::NotDelivered(NotDelivered::TurnGone));
            }
            let (value, extra) = check(&entry.meta).map_err(CheckRefused::Refused)?;
            let pending = map.remove(&session_id).expect("entry checked above");
            (pending, value, extra)
        };
        let (pending, value, extra) = pending;
        let (ack_tx, ack_rx) = oneshot::channel();
        pending
            .tx
            .send(Answer {
                value,
                acked: ack_rx,
                from,
            })
            .map_err(|_| CheckRefused::NotDelivered(NotDelivered::TurnGone))?;
        Ok((ack_tx, extra))
    }

    /// Delivers an answer, consuming the pending entry. On success, returns the sender the
    /// caller must fire (or drop) once its acknowledgement is enqueued.
    pub fn answer(
        &self,
        session_id: Uuid,
        value: T,
        from: Option<DynSink>,
    ) -> Result<oneshot::Sender<()>, NotDelivered> {
        let pending = self
            .lock()
            .remove(&session_id)
            .ok_or(NotDelivered::NothingPending)?;
        let (ack_tx, ack_rx) = oneshot::channel();
        pending
            .tx
            .send(Answer {
                value,
                acked: ack_rx,
                from,
            })
            .map_err(|_| NotDelivered::TurnGone)?;
        Ok(ack_tx)
    }

    /// Whether the session has a turn waiting here.
    #[cfg(test)]
    fn is_pending(&self, session_id: Uuid) -> bool {
        self.lock().contains_key(&session_id)
    }
}

/// A turn waiting for its answer.
pub struct Parked<'a, T, M = ()> {
    registry: &'a Parking<T, M>,
    session_id: Uuid,
    turn_id: Uuid,
    rx: Option<oneshot::Receiver<Answer<T>>>,
}

impl<T, M> Parked<'_, T, M> {
    /// Waits up to `timeout` for the answer (then for its acknowledgement to be enqueued);
    /// `None` when nobody answered in time. Also returns the connection that answered.
    pub async fn wait(mut self, timeout: Duration) -> (Option<T>, Option<DynSink>) {
        let Some(rx) = self.rx.take() else {
            return (None, None);
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => {
                let _ = tokio::time::timeout(ACK_WAIT, answer.acked).await;
                (Some(answer.value), answer.from)
            }
            Ok(Err(_)) | Err(_) => (None, None),
        }
    }
}

/// What one bounded wait of a parked turn found.
pub enum Polled<T> {
    /// The answer, and the connection that gave it.
    Answered(T, Option<DynSink>),
    /// Nothing yet: wait again.
    Waiting,
    /// Nothing will come here (the entry is gone).
    Gone,
}

impl<T, M> Parked<'_, T, M> {
    /// Waits up to `timeout` for the answer without giving up the place in line, so the turn
    /// can look elsewhere (the store) between waits.
    pub async fn poll_for(&mut self, timeout: Duration) -> Polled<T> {
        let Some(rx) = self.rx.as_mut() else {
            return Polled::Gone;
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(answer)) => {
                self.rx = None;
                let _ = tokio::time::timeout(ACK_WAIT, answer.acked).await;
                Polled::Answered(answer.value, answer.from)
            }
            Ok(Err(_)) => {
                self.rx = None;
                Polled::Gone
            }
            Err(_) => Polled::Waiting,
        }
    }
}

impl<T, M> Drop for Parked<'_, T, M> {
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
        assert_eq!(parked.wait(Duration::from_secs(1)).await.0, Some(true));
        assert!(!registry.is_pending(session));
    }

    #[tokio::test]
    async fn timeout_and_cancel_clear_the_entry() {
        let registry = Confirmations::default();
        let session = Uuid::new_v4();
        let parked = registry.park(session, Uuid::new_v4());
        assert_eq!(parked.wait(Duration::from_millis(20)).await.0, None);
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
    async fn a_refused_check_keeps_the_turn_waiting() {
        let registry: Parking<u32, &'static str> = Parking::default();
        let session = Uuid::new_v4();
        let refuse = |_: &&str| Err::<(u32, ()), _>("no");
        assert_eq!(
            registry.answer_checked(session, refuse, None).unwrap_err(),
            CheckRefused::NotDelivered(NotDelivered::NothingPending)
        );
        let parked = registry.park_with(session, Uuid::new_v4(), "form-1");
        assert_eq!(
            registry.answer_checked(session, refuse, None).unwrap_err(),
            CheckRefused::Refused("no")
        );
        assert!(registry.is_pending(session), "a refusal consumed the entry");
        let (ack, seen) = registry
            .answer_checked(session, |meta| Ok::<_, &str>((7, meta.to_string())), None)
            .expect("delivered");
        assert_eq!(seen, "form-1");
        drop(ack);
        assert_eq!(parked.wait(Duration::from_secs(1)).await.0, Some(7));
        assert!(!registry.is_pending(session));
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
        assert_eq!(done_rx.await.unwrap(), Some(false));
    }
}
