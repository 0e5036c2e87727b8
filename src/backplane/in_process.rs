//! The one-pod backplane: events go straight to this process's inbox, the local turn registry
//! is the only lock a session needs, and there is no other pod to ask.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use uuid::Uuid;

use super::{
    Acquired, Backplane, BackplaneError, Inbox, InboxSlot, Lease, PodReply, PodRequest, Target,
};
use crate::protocol::Event;

/// The backplane of a single process.
pub struct InProcess {
    pod_id: String,
    inbox: InboxSlot,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("pod_id", &self.pod_id)
            .finish()
    }
}

impl InProcess {
    /// A backplane for this process alone.
    pub fn new() -> Self {
        Self {
            pod_id: super::new_pod_id(),
            inbox: InboxSlot::default(),
        }
    }
}

impl Default for InProcess {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Backplane for InProcess {
    fn pod_id(&self) -> &str {
        &self.pod_id
    }

    fn set_inbox(&self, inbox: Weak<dyn Inbox>) {
        self.inbox.set(inbox);
    }

    async fn publish(&self, target: Target, event: &Event) -> Result<(), BackplaneError> {
        crate::telemetry::backplane_published();
        if let Some(inbox) = self.inbox.get() {
            crate::telemetry::backplane_delivered();
            inbox.deliver(&target, event.clone()).await;
        }
        Ok(())
    }

    async fn acquire(
        self: Arc<Self>,
        session_id: Uuid,
        _turn_id: Uuid,
    ) -> Result<Acquired, BackplaneError> {
        Ok(Acquired::Held(Lease::local(session_id)))
    }

    fn release(&self, _session_id: Uuid, _holder: &str) {}

    async fn release_now(&self, _session_id: Uuid, _holder: &str) {}

    async fn holder(&self, _session_id: Uuid) -> Result<Option<String>, BackplaneError> {
        Ok(None)
    }

    async fn ask(&self, pod: &str, _request: PodRequest) -> Result<PodReply, BackplaneError> {
        Err(BackplaneError::Unreachable(pod.to_string()))
    }

    async fn ready(&self) -> bool {
        true
    }
}
