//! Which sessions have a running turn, so a session runs one turn at a time and `cancel` can
//! find the turn to stop.

use std::collections::HashMap;
use std::sync::Mutex;

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

/// Running turns keyed by session id.
#[derive(Debug, Default)]
pub struct TurnRegistry {
    inner: Mutex<HashMap<Uuid, ActiveTurn>>,
}

impl TurnRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, ActiveTurn>> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a turn; `false` when the session already has one running.
    pub fn try_start(&self, session_id: Uuid, turn: ActiveTurn) -> bool {
        let mut map = self.lock();
        if map.contains_key(&session_id) {
            return false;
        }
        map.insert(session_id, turn);
        true
    }

    /// Removes the turn (only if it is still the registered one).
    pub fn finish(&self, session_id: Uuid, turn_id: Uuid) {
        let mut map = self.lock();
        if map.get(&session_id).is_some_and(|t| t.turn_id == turn_id) {
            map.remove(&session_id);
        }
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
        assert!(registry.try_start(session, first.clone()));
        assert!(!registry.try_start(session, turn(Uuid::new_v4(), "r2")));
        // Finishing with a stale turn id does not free the session.
        registry.finish(session, Uuid::new_v4());
        assert_eq!(registry.len(), 1);
        registry.finish(session, first.turn_id);
        assert!(registry.is_empty());
        assert!(registry.try_start(session, turn(Uuid::new_v4(), "r3")));
    }

    #[test]
    fn cancel_matches_request_id_and_connection() {
        let registry = TurnRegistry::default();
        let conn = Uuid::new_v4();
        let (s1, s2) = (Uuid::new_v4(), Uuid::new_v4());
        let a = turn(conn, "a");
        let b = turn(Uuid::new_v4(), "b");
        registry.try_start(s1, a.clone());
        registry.try_start(s2, b.clone());
        assert_eq!(registry.cancel_session(s1, Some("other")), 0);
        assert!(!a.cancel.is_cancelled());
        assert_eq!(registry.cancel_connection(conn, None), 1);
        assert!(a.cancel.is_cancelled());
        assert!(!b.cancel.is_cancelled());
        assert_eq!(registry.cancel_all(), 2);
        assert!(b.cancel.is_cancelled());
    }
}
