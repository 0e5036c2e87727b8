//! The runtime's side of the backplane: events from other pods reach this pod's attached
//! connections, and requests from other pods (a confirmation, a cancel or an interaction answer
//! for a turn running here) are answered exactly as local ones. An answer delivered for another
//! pod holds the turn until that pod says its acknowledgement is queued ([`PodRequest::Acked`]),
//! so the asking client sees the acknowledgement before the resumed events, as on one pod.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::park::NotDelivered;
use super::submit::{self, Submission, SubmitError};
use super::Runtime;
use crate::backplane::{BackplaneError, Inbox, PodReply, PodRequest, Target};
use crate::protocol::Event;

/// Longest a delivered answer waits for the asking pod's acknowledgement before it is dropped
/// (the turn itself resumes after its own, shorter wait).
const ACK_HOLD: Duration = Duration::from_secs(10);

/// Acknowledgement senders of answers delivered for other pods, by answer id.
#[derive(Debug, Default)]
pub struct RemoteAcks {
    inner: Arc<Mutex<HashMap<Uuid, oneshot::Sender<()>>>>,
}

impl RemoteAcks {
    /// Keeps `ack` until the asking pod acknowledges (or [`ACK_HOLD`] passes); its id.
    fn hold(&self, ack: oneshot::Sender<()>) -> Uuid {
        let id = Uuid::new_v4();
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, ack);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(ACK_HOLD).await;
            inner.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        });
        id
    }

    /// Releases the turn waiting on answer `id`.
    fn fire(&self, id: Uuid) -> bool {
        let ack = self
            .inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        ack.is_some_and(|ack| ack.send(()).is_ok())
    }
}

fn not_delivered(why: NotDelivered) -> PodReply {
    match why {
        NotDelivered::NothingPending => PodReply::NothingPending,
        NotDelivered::TurnGone => PodReply::TurnGone,
    }
}

#[async_trait]
impl Inbox for Runtime {
    async fn deliver(&self, target: &Target, event: Event) -> usize {
        self.attachments.deliver(target, event).await
    }

    async fn answer(&self, request: PodRequest) -> PodReply {
        match request {
            PodRequest::Confirm {
                session_id,
                approved,
            } => match self.confirmations.answer(session_id, approved, None) {
                Ok(ack) => PodReply::Delivered {
                    answer_id: self.remote_acks.hold(ack),
                    detail: Value::Null,
                },
                Err(why) => not_delivered(why),
            },
            PodRequest::Cancel {
                session_id,
                request_id,
            } => PodReply::Done {
                count: self.turns.cancel_session(session_id, request_id.as_deref()),
            },
            PodRequest::Submit {
                session_id,
                interaction_id,
                kind,
                values,
                declined,
            } => {
                let submission = Submission {
                    interaction_id: &interaction_id,
                    kind: kind.as_deref(),
                    values: values.as_ref(),
                    declined,
                };
                match submit::submit(&self.interactions, session_id, submission, None) {
                    Ok((ack, accepted)) => PodReply::Delivered {
                        answer_id: self.remote_acks.hold(ack),
                        detail: serde_json::to_value(accepted).unwrap_or_default(),
                    },
                    Err(SubmitError::NotDelivered(why)) => not_delivered(why),
                    Err(SubmitError::Refused(refusal)) => PodReply::Refused {
                        detail: serde_json::to_value(refusal).unwrap_or_default(),
                    },
                }
            }
            PodRequest::Acked { answer_id } => PodReply::Done {
                count: usize::from(self.remote_acks.fire(answer_id)),
            },
        }
    }
}

/// A reply from the pod running a session's turn.
#[derive(Debug)]
pub struct Remote {
    /// The pod that answered.
    pub pod: String,
    /// What it answered.
    pub reply: PodReply,
}

impl Runtime {
    /// Sends `request` to the pod whose lease covers the session's running turn, when that is
    /// another pod; `Ok(None)` when no other pod runs a turn in the session.
    pub async fn ask_turn_pod(
        &self,
        session_id: Uuid,
        request: PodRequest,
    ) -> Result<Option<Remote>, BackplaneError> {
        let Some(pod) = self.backplane.holder(session_id).await? else {
            return Ok(None);
        };
        if pod == self.backplane.pod_id() {
            return Ok(None);
        }
        let reply = self.backplane.ask(&pod, request).await?;
        Ok(Some(Remote { pod, reply }))
    }

    /// Tells `pod` the acknowledgement of its delivered answer is queued here, so its turn
    /// resumes (in the background: the turn resumes after a short wait anyway).
    pub fn acknowledge_remote(&self, pod: String, answer_id: Uuid) {
        let backplane = Arc::clone(&self.backplane);
        tokio::spawn(async move {
            if let Err(e) = backplane.ask(&pod, PodRequest::Acked { answer_id }).await {
                tracing::debug!(error = %e, "acknowledgement to another pod not delivered");
            }
        });
    }
}
