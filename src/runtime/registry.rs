//! Which sessions have a running turn, so a session runs one turn at a time and `cancel` can
//! find the turn to stop.
//!
//! Registration hands out a [`TurnGuard`]: the turn task owns it, and dropping it (the turn
//! ended, was cancelled, or panicked) frees the session, so no exit path leaves it locked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A running turn.
#[derive(Debug, Clone)]
pub struct ActiveTurn {
    /// Unique id of this turn.
    pub turn_id: Uuid,
    /// The `send_message` requestId.
    pub request_id: String,
    /// The connection that started it.
    pub connection_id: Uuid,
    /// Cancelling this stops the turn.
    pub cancel: CancellationToken,
}

type Turns = Arc<Mutex<HashMap<Uuid, ActiveTurn>>>;

fn lock(turns: &Turns) -> std::sync::MutexGuard<'_, HashMap<Uuid, ActiveTurn>> {
    turns
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Running turns keyed by session id.
#[derive(Debug, Default)]
pub struct TurnRegistry {
    inner: Turns,
}

/// Why a turn could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The session already runs a turn.
    Busy,
    /// The connection runs as many turns as it may.
    ConnectionFull,
    /// The process runs as many turns as it may.
    ServerFull,
}

/// A registered turn's hold on its session; dropping it frees the session.
#[derive(Debug)]
pub struct TurnGuard {
    turns: Turns,
    session_id: Uuid,
    turn_id: Uuid,
    cancel: CancellationToken,
    released: bool,
    /// The session's lease across pods, freed with the guard.
    lease: Option<crate::backplane::Lease>,
}

impl TurnGuard {
    /// Keeps the session's lease across pods until the guard is released.
    pub fn hold_lease(&mut self, lease: crate::backplane::Lease) {
        self.lease = Some(lease);
    }

    /// Cancelled when the turn must stop (`cancel`, drain deadline).
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// [`TurnGuard::release`], waiting until the session is free on every pod too.
    pub async fn release_everywhere(&mut self) {
        let lease = self.lease.take();
        self.release();
        if let Some(lease) = lease {
            lease.release().await;
        }
    }

    /// Frees the session now (before the turn's terminal event, so the client can start the
    /// next turn as soon as it sees it). Idempotent; dropping the guard does the same.
    pub fn release(&mut self) {
        if !std::mem::replace(&mut self.released, true) {
            finish(&self.turns, self.session_id, self.turn_id);
            self.lease = None;
        }
    }
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.release();
    }
}

/// Removes the turn (only if it is still the registered one).
fn finish(turns: &Turns, session_id: Uuid, turn_id: Uuid) {
    let mut map = lock(turns);
    if map.get(&session_id).is_some_and(|t| t.turn_id == turn_id) {
        map.remove(&session_id);
    }
}

impl TurnRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, ActiveTurn>> {
        lock(&self.inner)
    }

    /// Registers a turn; `None` when the session already has one running.
    pub fn try_start(&self, session_id: Uuid, turn: ActiveTurn) -> Option<TurnGuard> {
        self.try_start_within(session_id, turn, usize::MAX, usize::MAX)
            .ok()
    }

    /// Registers a turn unless the session already runs one ([`Refused::Busy`]), its connection
    /// runs `per_connection` turns, or `total` turns run in all.
    pub fn try_start_within(
        &self,
        session_id: Uuid,
        turn: ActiveTurn,
        per_connection: usize,
        total: usize,
    ) -> Result<TurnGuard, Refused> {
        let mut map = self.lock();
        if map.contains_key(&session_id) {
            return Err(Refused::Busy);
        }
        if map.len() >= total {
            return Err(Refused::ServerFull);
        }
        let mine = map
            .values()
            .filter(|t| t.connection_id == turn.connection_id)
            .count();
        if mine >= per_connection {
            return Err(Refused::ConnectionFull);
        }
        let guard = TurnGuard {
            turns: Arc::clone(&self.inner),
            session_id,
            turn_id: turn.turn_id,
            cancel: turn.cancel.clone(),
            released: false,
            lease: None,
        };
        map.insert(session_id, turn);
        Ok(guard)
    }

    /// Removes the turn (only if it is still the registered one).
    #[cfg(test)]
    fn finish(&self, session_id: Uuid, turn_id: Uuid) {
        finish(&self.inner, session_id, turn_id);
    }

    /// Cancels the session's running turn (when `request_id` is given, only if it matches).
    pub fn cancel_session(&self, session_id: Uuid, request_id: Option<&str>) -> usize {
        let map = self.lock();
        match map.get(&session_id) {
            Some(turn) if request_id.is_none_or(|id| id == turn.request_id) => {
                turn.cancel.cancel();
                1
            }
            _ => 0,
        }
    }

    /// Cancels the turns a connection started (when `request_id` is given, only that one).
    pub fn cancel_connection(&self, connection_id: Uuid, request_id: Option<&str>) -> usize {
        let map = self.lock();
        let mut count = 0;
        for turn in map.values() {
            if turn.connection_id == connection_id
                && request_id.is_none_or(|id| id == turn.request_id)
            {
                turn.cancel.cancel();
                count += 1;
            }
        }
        count
    }

    /// Cancels every running turn (drain deadline).
    pub fn cancel_all(&self) -> usize {
        let map = self.lock();
        for turn in map.values() {
            turn.cancel.cancel();
        }
        map.len()
    }

    /// Number of running turns.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no turn runs.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(connection_id: Uuid, request_id: &str) -> ActiveTurn {
        ActiveTurn {
            turn_id: Uuid::new_v4(),
            request_id: request_id.to_string(),
            connection_id,
            cancel: CancellationToken::new(),
        }
    }

    #[test]
    fn one_turn_per_session() {
        let registry = TurnRegistry::default();
        let session = Uuid::new_v4();
        let first = turn(Uuid::new_v4(), "r1");
        let guard = registry.try_start(session, first.clone()).expect("free");
        assert!(registry
            .try_start(session, turn(Uuid::new_v4(), "r2"))
            .is_none());
        // Finishing with a stale turn id does not free the session.
        registry.finish(session, Uuid::new_v4());
        assert_eq!(registry.len(), 1);
        drop(guard);
        assert!(registry.is_empty());
        let mut again = registry
            .try_start(session, turn(Uuid::new_v4(), "r3"))
            .expect("freed");
        again.release();
        again.release();
        assert!(registry.is_empty());
        // A guard released early does not free a later turn of the same session.
        let third = registry.try_start(session, turn(Uuid::new_v4(), "r4"));
        drop(again);
        assert_eq!(registry.len(), 1);
        drop(third);
        assert!(registry.is_empty());
    }

    #[test]
    fn limits_per_connection_and_in_all() {
        let registry = TurnRegistry::default();
        let conn = Uuid::new_v4();
        let mut held = Vec::new();
        for _ in 0..2 {
            held.push(
                registry
                    .try_start_within(Uuid::new_v4(), turn(conn, "r"), 2, 3)
                    .expect("within the limits"),
            );
        }
        assert_eq!(
            registry
                .try_start_within(Uuid::new_v4(), turn(conn, "r"), 2, 3)
                .unwrap_err(),
            Refused::ConnectionFull
        );
        held.push(
            registry
                .try_start_within(Uuid::new_v4(), turn(Uuid::new_v4(), "r"), 2, 3)
                .expect("another connection still may"),
        );
        assert_eq!(
            registry
                .try_start_within(Uuid::new_v4(), turn(Uuid::new_v4(), "r"), 2, 3)
                .unwrap_err(),
            Refused::ServerFull
        );
        held.clear();
        assert!(registry
            .try_start_within(Uuid::new_v4(), turn(conn, "r"), 2, 3)
            .is_ok());
    }

    #[test]
    fn a_panicking_owner_frees_the_session() {
        let registry = TurnRegistry::default();
        let session = Uuid::new_v4();
        let guard = registry.try_start(session, turn(Uuid::new_v4(), "r"));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _owned = guard;
            panic!("turn bug");
        }));
        assert!(outcome.is_err());
        assert!(registry.is_empty(), "the panic left the session locked");
    }

    #[test]
    fn cancel_matches_request_id_and_connection() {
        let registry = TurnRegistry::default();
        let conn = Uuid::new_v4();
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let a = turn(conn, "a");
        let b = turn(Uuid::new_v4(), "b");
        let _ga = registry.try_start(s1, a.clone());
        let _gb = registry.try_start(s2, b.clone());
        assert_eq!(registry.cancel_session(s1, Some("other")), 0);
        assert!(!a.cancel.is_cancelled());
        assert_eq!(registry.cancel_connection(conn, None), 1);
        assert!(a.cancel.is_cancelled());
        assert!(!b.cancel.is_cancelled());
        assert_eq!(registry.cancel_all(), 2);
        assert!(b.cancel.is_cancelled());
    }
}
