//! The behaviours of `tests/store_contract.rs`, each an `async fn(Env)` run against every
//! backend, and what they share: the environment (a store and its clock) and record builders.
#![allow(dead_code)]

mod agree;
mod clients;
mod knowledge;
mod sessions;
mod tenancy;
mod verification;

pub use agree::*;
pub use clients::*;
pub use knowledge::*;
pub use sessions::*;
pub use tenancy::*;
pub use verification::*;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde_json::Map;
use smooth_operator::protocol::{MessageDirection, Session};
use smooth_operator::store::clock::Clock;
use smooth_operator::store::postgres::PostgresStore;
use smooth_operator::store::sqlite::SqliteStore;
use smooth_operator::store::{DynStore, NewMessage, NewSession};
use uuid::Uuid;

use crate::common::postgres::PgCluster;

/// A store under test, the clock it takes timestamps from, and which backend it is.
pub struct Env {
    pub store: DynStore,
    pub clock: Arc<TestClock>,
    pub backend: &'static str,
}

impl Env {
    /// A private in-memory SQLite store.
    pub async fn sqlite() -> Env {
        let clock = TestClock::new();
        let store = SqliteStore::open_memory()
            .await
            .expect("sqlite opens")
            .with_clock(clock.clone());
        Env {
            store: Arc::new(store),
            clock,
            backend: "sqlite",
        }
    }

    /// A store on a fresh database of the test cluster.
    pub async fn postgres() -> Env {
        let url = PgCluster::shared().fresh_database().await;
        let clock = TestClock::new();
        let store = PostgresStore::connect(&url)
            .await
            .expect("postgres opens")
            .with_clock(clock.clone());
        Env {
            store: Arc::new(store),
            clock,
            backend: "postgres",
        }
    }
}

/// A clock tests steer: it starts at a fixed instant with sub-microsecond digits and each
/// reading advances it by `step` (1 ms unless changed; zero freezes it).
#[derive(Debug)]
pub struct TestClock {
    state: Mutex<(DateTime<Utc>, Duration)>,
}

/// Where every [`TestClock`] starts: nanosecond digits the stores must cut to microseconds.
pub fn epoch() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2030-01-02T03:04:05.123456789Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// `t` cut to microseconds, as stored.
pub fn micros(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap()
}

impl TestClock {
    pub fn new() -> Arc<TestClock> {
        Arc::new(TestClock {
            state: Mutex::new((epoch(), Duration::milliseconds(1))),
        })
    }

    /// The instant the next reading returns.
    pub fn peek(&self) -> DateTime<Utc> {
        self.state.lock().unwrap().0
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        self.state.lock().unwrap().0 = t;
    }

    /// Sets how far each reading advances the clock.
    pub fn step(&self, step: Duration) {
        self.state.lock().unwrap().1 = step;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let mut state = self.state.lock().unwrap();
        let now = state.0;
        state.0 = now + state.1;
        now
    }
}

/// A session to create, with fresh ids.
pub fn new_session(org: Option<&str>, owner: Option<(&str, Option<&str>)>) -> NewSession {
    NewSession {
        session_id: Uuid::new_v4(),
        conversation_id: Uuid::new_v4(),
        user_participant_id: Uuid::new_v4(),
        agent_participant_id: Uuid::new_v4(),
        agent_id: "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11".to_string(),
        agent_name: "Helper".to_string(),
        organization_id: org.map(str::to_string),
        owner_id: owner.map(|(user, _)| user.to_string()),
        owner_org: owner.and_then(|(_, org)| org.map(str::to_string)),
        verified_user_id: None,
        user_name: "Ada".to_string(),
        user_email: Some("ada@example.com".to_string()),
        browser_fingerprint: Some("fp-1".to_string()),
        metadata: Map::new(),
        supports: None,
    }
}

/// Creates a session and returns it.
pub async fn session(env: &Env) -> Session {
    env.store
        .create_session(new_session(Some("acme"), None))
        .await
        .expect("session created")
}

/// A text message of `session`'s conversation, from the user (inbound) or the agent.
pub fn text_message(session: &Session, direction: MessageDirection, text: &str) -> NewMessage {
    let (from, to) = match direction {
        MessageDirection::Inbound => (session.user_participant_id, session.agent_participant_id),
        MessageDirection::Outbound => (session.agent_participant_id, session.user_participant_id),
    };
    NewMessage {
        id: Uuid::new_v4(),
        conversation_id: session.conversation_id,
        organization_id: session.organization_id.clone(),
        direction,
        text: Some(text.to_string()),
        structured_response: None,
        from_participant_id: Some(from),
        to_participant_id: Some(to),
    }
}
