//! The backplane: what joins several server processes (pods) behind one load balancer. It
//! carries three things between pods:
//!
//! - **events** for the sockets of a session or an agent on every pod ([`Backplane::publish`]):
//!   a turn whose own connection is gone streams on to the session's other connections, and
//!   `POST /admin/publish` reaches every socket of its target;
//! - **turn leases** ([`Backplane::acquire`]): one running turn per session across all pods, held
//!   by the pod that runs it, renewed while it runs and expiring when that pod dies;
//! - **requests** to the pod running a session's turn ([`Backplane::ask`]): a confirmation, a
//!   cancel or an interaction answer that arrived at another pod.
//!
//! The backplane knows nothing about sockets or turns: what arrives is handed to an [`Inbox`]
//! the runtime implements. [`in_process`] serves one pod; [`redis`] many.

pub mod in_process;
pub mod redis;

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::config::{BackplaneConfig, BackplaneKind};
use crate::protocol::Event;

/// Whose sockets a published event is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// Every connection attached to this session.
    SessionId(Uuid),
    /// Every connection attached to a session of this agent.
    AgentId(String),
}

/// What one pod asks the pod running a session's turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PodRequest {
    /// `confirm_tool_action` for the session's parked call.
    Confirm {
        /// The session.
        session_id: Uuid,
        /// The verdict.
        approved: bool,
    },
    /// `cancel` of the session's running turn.
    Cancel {
        /// The session.
        session_id: Uuid,
        /// Only the turn of this `send_message` requestId, when given.
        request_id: Option<String>,
    },
    /// `submit_interaction` for the session's parked interaction.
    Submit {
        /// The session.
        session_id: Uuid,
        /// The interaction answered.
        interaction_id: String,
        /// Its kind, when the client named it.
        kind: Option<String>,
        /// The values, unless declined.
        values: Option<serde_json::Map<String, Value>>,
        /// Whether the user declined.
        declined: bool,
    },
    /// The asking pod queued its acknowledgement of a delivered answer: the turn may resume.
    Acked {
        /// The `answer_id` of the [`PodReply::Delivered`] acknowledged.
        answer_id: Uuid,
    },
}

/// The answer to a [`PodRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PodReply {
    /// The answer reached the parked turn, which resumes once [`PodRequest::Acked`] arrives
    /// (or after a short wait); `detail` is what the asking pod's acknowledgement needs.
    Delivered {
        /// Names this delivery in the `Acked` that follows.
        answer_id: Uuid,
        /// Request-specific data (the accepted interaction's kind and values).
        detail: Value,
    },
    /// Nothing waits for this answer in the session.
    NothingPending,
    /// The waiting turn ended before the answer arrived.
    TurnGone,
    /// The answer was refused and the turn keeps waiting; `detail` says why.
    Refused {
        /// Request-specific data (the interaction refusal).
        detail: Value,
    },
    /// Done (a cancel: how many turns it stopped; an ack).
    Done {
        /// How many turns were affected.
        count: usize,
    },
}

/// Why the backplane could not do something.
#[derive(Debug, thiserror::Error)]
pub enum BackplaneError {
    /// The pod asked is gone or did not answer in time.
    #[error("pod {0} did not answer")]
    Unreachable(String),
    /// The backplane itself (Redis) failed or is unreachable.
    #[error("backplane unavailable: {0}")]
    Unavailable(String),
}

/// How taking a session's lease went.
#[derive(Debug)]
pub enum Acquired {
    /// This pod holds the session until the lease is dropped.
    Held(Lease),
    /// Another pod runs a turn in the session.
    Busy,
}

/// This pod's hold on a session's running turn; dropping it frees the session everywhere.
#[derive(Debug)]
pub struct Lease {
    backplane: Weak<dyn Backplane>,
    session_id: Uuid,
    holder: String,
}

impl Lease {
    /// A lease on `session_id` held as `holder`, released through `backplane` when dropped.
    pub fn new(backplane: Weak<dyn Backplane>, session_id: Uuid, holder: String) -> Self {
        Self {
            backplane,
            session_id,
            holder,
        }
    }

    /// A lease that frees nothing when dropped (one pod: the local registry is the lock).
    pub fn local(session_id: Uuid) -> Self {
        Self::new(dangling(), session_id, String::new())
    }

    /// Frees the session everywhere and waits until that is done (so a client that saw the
    /// turn's last event can start the next one on any pod at once).
    pub async fn release(mut self) {
        if let Some(backplane) = std::mem::replace(&mut self.backplane, dangling()).upgrade() {
            backplane.release_now(self.session_id, &self.holder).await;
        }
    }
}

/// A backplane handle that reaches nothing.
fn dangling() -> Weak<dyn Backplane> {
    Weak::<in_process::InProcess>::new()
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(backplane) = self.backplane.upgrade() {
            backplane.release(self.session_id, &self.holder);
        }
    }
}

/// What arrives from the backplane, handled by the runtime.
#[async_trait]
pub trait Inbox: Send + Sync + 'static {
    /// Delivers `event` to this pod's sockets of `target`; how many got it.
    async fn deliver(&self, target: &Target, event: Event) -> usize;
    /// Answers another pod's request about a turn running here.
    async fn answer(&self, request: PodRequest) -> PodReply;
}

/// Where a backplane hands what arrives: the runtime, once it exists (it is held weakly, so
/// the backplane never keeps the runtime alive).
#[derive(Default)]
pub struct InboxSlot(std::sync::RwLock<Option<Weak<dyn Inbox>>>);

impl InboxSlot {
    /// Sets the inbox.
    pub fn set(&self, inbox: Weak<dyn Inbox>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(inbox);
    }

    /// The inbox, while it lives.
    pub fn get(&self) -> Option<Arc<dyn Inbox>> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(Weak::upgrade)
    }
}

/// The seam between pods (see the module docs).
#[async_trait]
pub trait Backplane: Send + Sync + std::fmt::Debug + 'static {
    /// This process's id among the pods.
    fn pod_id(&self) -> &str;
    /// Where what arrives goes (set once the runtime exists).
    fn set_inbox(&self, inbox: Weak<dyn Inbox>);
    /// Delivers `event` to every socket of `target` on every pod, this one included.
    async fn publish(&self, target: Target, event: &Event) -> Result<(), BackplaneError>;
    /// Takes the session's turn lease for `turn_id`, unless another pod holds it.
    async fn acquire(
        self: Arc<Self>,
        session_id: Uuid,
        turn_id: Uuid,
    ) -> Result<Acquired, BackplaneError>;
    /// Frees a lease (called when a [`Lease`] is dropped; never blocks).
    fn release(&self, session_id: Uuid, holder: &str);
    /// Frees a lease and waits for it ([`Lease::release`]).
    async fn release_now(&self, session_id: Uuid, holder: &str);
    /// The pod whose lease covers the session's running turn, if any.
    async fn holder(&self, session_id: Uuid) -> Result<Option<String>, BackplaneError>;
    /// Sends `request` to `pod` and waits (briefly) for its reply.
    async fn ask(&self, pod: &str, request: PodRequest) -> Result<PodReply, BackplaneError>;
    /// Whether the backplane works right now (for `/readyz`).
    async fn ready(&self) -> bool;
}

/// A shared backplane.
pub type DynBackplane = Arc<dyn Backplane>;

/// Opens the configured backplane (Redis connects in the background and reconnects by itself).
pub async fn open(config: &BackplaneConfig) -> anyhow::Result<DynBackplane> {
    match config.backplane {
        BackplaneKind::InProcess => Ok(Arc::new(in_process::InProcess::new())),
        BackplaneKind::Redis => {
            let url = config
                .resolved_url()
                .map_err(anyhow::Error::msg)?
                .expect("a redis backplane has a URL");
            let backplane = redis::RedisBackplane::connect(
                url.expose(),
                std::time::Duration::from_secs(config.turn_lease_secs),
            )
            .await?;
            Ok(backplane)
        }
    }
}

/// A random id for this process among the pods.
pub fn new_pod_id() -> String {
    Uuid::new_v4().simple().to_string()
}
