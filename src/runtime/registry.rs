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
