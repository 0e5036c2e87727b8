//! Which connections of this pod follow which sessions. A connection is attached to a session
//! when it creates, opens, reads or acts on it; it is detached when it closes. Events published
//! on the backplane for a session (a turn whose own connection is gone) or for an agent
//! (`POST /admin/publish`) reach the attached connections that are still open.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use super::sink::DynSink;
use crate::backplane::Target;
use crate::protocol::Event;

/// Most sessions one connection is attached to; the oldest attachment goes first beyond it.
pub const MAX_SESSIONS_PER_CONNECTION: usize = 64;

#[derive(Debug)]
struct Attached {
    connection_id: Uuid,
    agent_id: String,
    sink: DynSink,
}

/// This pod's attachments, by session.
#[derive(Debug, Default)]
pub struct Attachments {
    sessions: Mutex<HashMap<Uuid, Vec<Attached>>>,
    /// Per connection, its sessions in attachment order (to detach and to cap).
    connections: Mutex<HashMap<Uuid, Vec<Uuid>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Attachments {
    /// Attaches the connection (whose events go to `sink`) to a session of `agent_id`.
    pub fn attach(&self, session_id: Uuid, agent_id: &str, connection_id: Uuid, sink: &DynSink) {
        let evicted = {
            let mut connections = lock(&self.connections);
            let list = connections.entry(connection_id).or_default();
            if list.contains(&session_id) {
                return;
            }
            list.push(session_id);
            (list.len() > MAX_SESSIONS_PER_CONNECTION).then(|| list.remove(0))
        };
        let mut sessions = lock(&self.sessions);
        if let Some(old) = evicted {
            remove(&mut sessions, old, connection_id);
        }
        let entry = sessions.entry(session_id).or_default();
        entry.retain(|a| !a.sink.is_closed());
        entry.push(Attached {
            connection_id,
            agent_id: agent_id.to_string(),
            sink: sink.clone(),
        });
    }

    /// Detaches a closing connection from every session.
    pub fn detach_connection(&self, connection_id: Uuid) {
        let Some(list) = lock(&self.connections).remove(&connection_id) else {
            return;
        };
        let mut sessions = lock(&self.sessions);
        for session_id in list {
            remove(&mut sessions, session_id, connection_id);
        }
    }

    /// Queues `event` on every open connection of `target` (each connection once); how many.
    pub async fn deliver(&self, target: &Target, event: Event) -> usize {
        let sinks: Vec<DynSink> = {
            let sessions = lock(&self.sessions);
            let mut seen = std::collections::HashSet::new();
            let attached: Box<dyn Iterator<Item = &Attached>> = match target {
                Target::SessionId(id) => Box::new(sessions.get(id).into_iter().flatten()),
                Target::AgentId(agent) => Box::new(
                    sessions
                        .values()
                        .flatten()
                        .filter(move |a| &a.agent_id == agent),
                ),
            };
            attached
                .filter(|a| !a.sink.is_closed() && seen.insert(a.connection_id))
                .map(|a| a.sink.clone())
                .collect()
        };
        let mut delivered = 0;
        for sink in sinks {
            if sink.send(event.clone()).await {
                delivered += 1;
            }
        }
        delivered
    }
}

fn remove(sessions: &mut HashMap<Uuid, Vec<Attached>>, session_id: Uuid, connection_id: Uuid) {
    if let Some(list) = sessions.get_mut(&session_id) {
        list.retain(|a| a.connection_id != connection_id);
        if list.is_empty() {
            sessions.remove(&session_id);
        }
    }
}
