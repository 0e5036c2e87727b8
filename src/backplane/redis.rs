//! The Redis backplane. Keys and channels (all under `so:`):
//!
//! - `so:lease:<session>` holds `<pod>/<turn>` while that pod runs a turn in the session (`SET NX
//!   PX`); the pod renews all its leases in one script every third of the lease time and
//!   deletes them with a compare-and-delete script, so only the holder can free or extend one
//!   (and a renewal never races a deletion: both take one lock).
//! - `so:s:<session>` and `so:a:<agent>` carry events (JSON) for the sockets of a session or of
//!   an agent's sessions; every pod pattern-subscribes to both.
//! - `so:pod:<pod>` carries requests to one pod and the replies to them. `PUBLISH` says how many
//!   subscribers got a message: zero means the pod is gone, and the asker knows at once.
//!
//! Commands go through redis' `ConnectionManager`, which reconnects by itself; the subscriber
//! is a task of its own that reconnects with backoff and counts how often it had to.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{
    Acquired, Backplane, BackplaneError, Inbox, InboxSlot, Lease, PodReply, PodRequest, Target,
};
use crate::protocol::Event;

/// Longest a request to another pod waits for its reply.
const ASK_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest one Redis command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait between two attempts to re-subscribe.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// For every lease key with its holder (ARGV[i]; the last ARGV is the lease in ms): extends it
/// when this pod holds it (1), takes it again when it expired meanwhile — Redis restarted
/// without persistence, say — (2), or reports that another pod holds it now (0).
const RENEW_ALL: &str = r"
local ms = ARGV[#KEYS + 1]
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if v == ARGV[i] then redis.call('PEXPIRE', key, ms) out[i] = 1
  elseif not v then redis.call('SET', key, ARGV[i], 'PX', ms) out[i] = 2
  else out[i] = 0 end
end
return out";
/// Deletes the lease only when this pod holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// What travels on a pod's own channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum PodMessage {
    Request {
        id: Uuid,
        from: String,
        request: PodRequest,
    },
    Reply {
        id: Uuid,
        reply: PodReply,
    },
}

fn lease_key(session_id: Uuid) -> String {
    format!("so:lease:{session_id}")
}

fn pod_channel(pod: &str) -> String {
    format!("so:pod:{pod}")
}

fn target_channel(target: &Target) -> String {
    match target {
        Target::SessionId(id) => format!("so:s:{id}"),
        Target::AgentId(id) => format!("so:a:{id}"),
    }
}

fn channel_target(channel: &str) -> Option<Target> {
    if let Some(id) = channel.strip_prefix("so:s:") {
        return id.parse().ok().map(Target::SessionId);
    }
    channel
        .strip_prefix("so:a:")
        .map(|id| Target::AgentId(id.to_string()))
}

fn unavailable(e: impl std::fmt::Display) -> BackplaneError {
    BackplaneError::Unavailable(e.to_string())
}

/// The Redis backplane of one pod.
pub struct RedisBackplane {
    pod_id: String,
    client: redis::Client,
    commands: ConnectionManager,
    lease: Duration,
    inbox: InboxSlot,
    /// Leases this pod holds: session → holder value.
    held: Mutex<HashMap<Uuid, String>>,
    /// Held while leases are renewed or deleted (see [`RedisBackplane::renew_all`]).
    renewing: Arc<tokio::sync::Mutex<()>>,
    /// Requests waiting for their reply.
    waiting: Mutex<HashMap<Uuid, oneshot::Sender<PodReply>>>,
    /// Whether the subscriber is connected and subscribed.
    subscribed: AtomicBool,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("pod_id", &self.pod_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RedisBackplane {
    /// Connects to Redis at `url` and starts the subscriber and the lease keeper. Fails when
    /// Redis cannot be reached at start-up (later outages are ridden out).
    pub async fn connect(url: &str, lease: Duration) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("SMOOTH_AGENT_BACKPLANE_URL is not a Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_max_delay(MAX_BACKOFF);
        let commands = tokio::time::timeout(
            COMMAND_TIMEOUT * 3,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("the Redis backplane did not answer"))?
        .map_err(|e| anyhow::anyhow!("cannot connect to the Redis backplane: {e}"))?;
        let backplane = Arc::new(Self {
            pod_id: super::new_pod_id(),
            client,
            commands,
            lease,
            inbox: InboxSlot::default(),
            held: Mutex::new(HashMap::new()),
            renewing: Arc::new(tokio::sync::Mutex::new(())),
            waiting: Mutex::new(HashMap::new()),
            subscribed: AtomicBool::new(false),
        });
        let (first_tx, first_rx) = oneshot::channel();
        tokio::spawn(subscriber(Arc::downgrade(&backplane), first_tx));
        tokio::spawn(keeper(Arc::downgrade(&backplane)));
        // Serve only once this pod can hear requests and events.
        let _ = tokio::time::timeout(COMMAND_TIMEOUT * 3, first_rx).await;
        tracing::info!(pod = %backplane.pod_id, "joined the Redis backplane");
        Ok(backplane)
    }

    fn conn(&self) -> ConnectionManager {
        self.commands.clone()
    }

    async fn publish_raw(&self, channel: String, payload: String) -> Result<i64, BackplaneError> {
        let mut conn = self.conn();
        tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("PUBLISH")
                .arg(channel)
                .arg(payload)
                .query_async::<i64>(&mut conn),
        )
        .await
        .map_err(|_| unavailable("PUBLISH timed out"))?
        .map_err(unavailable)
    }

    /// Renews every lease this pod holds in one round trip; drops those another pod took
    /// meanwhile. Runs under `renewing`, which every lease deletion also takes, so a renewal
    /// never brings back a lease released while it ran.
    async fn renew_all(&self) {
        let _renewing = self.renewing.lock().await;
        let held: Vec<(Uuid, String)> = lock(&self.held)
            .iter()
            .map(|(s, h)| (*s, h.clone()))
            .collect();
        if held.is_empty() {
            return;
        }
        let renew = redis::Script::new(RENEW_ALL);
        let mut script = renew.prepare_invoke();
        for (session_id, holder) in &held {
            script.key(lease_key(*session_id)).arg(holder);
        }
        script.arg(self.lease.as_millis() as u64);
        let mut conn = self.conn();
        let renewed =
            tokio::time::timeout(COMMAND_TIMEOUT, script.invoke_async::<Vec<i64>>(&mut conn)).await;
        match renewed {
            Ok(Ok(results)) => {
                for ((session_id, holder), result) in held.iter().zip(results) {
                    if result == 0 {
                        tracing::warn!(session = %session_id, "turn lease taken by another pod");
                        self.forget(*session_id, holder);
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, leases = held.len(), "turn leases not renewed")
            }
            Err(_) => tracing::warn!(leases = held.len(), "turn lease renewal timed out"),
        }
    }

    /// Handles one message of this pod's channel.
    fn on_pod_message(self: &Arc<Self>, payload: &str) {
        match serde_json::from_str::<PodMessage>(payload) {
            Ok(PodMessage::Reply { id, reply }) => {
                if let Some(tx) = lock(&self.waiting).remove(&id) {
                    let _ = tx.send(reply);
                }
            }
            Ok(PodMessage::Request { id, from, request }) => {
                let me = Arc::clone(self);
                tokio::spawn(async move {
                    let reply = match me.inbox.get() {
                        Some(inbox) => inbox.answer(request).await,
                        None => PodReply::NothingPending,
                    };
                    let message = PodMessage::Reply { id, reply };
                    let text = serde_json::to_string(&message).expect("replies serialize");
                    if let Err(e) = me.publish_raw(pod_channel(&from), text).await {
                        tracing::warn!(error = %e, "reply to another pod not sent");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "unreadable message on the pod channel"),
        }
    }

    /// Hands an event of a target channel to the inbox.
    async fn on_event(&self, channel: &str, payload: &str) {
        let Some(target) = channel_target(channel) else {
            return;
        };
        let event = match serde_json::from_str::<Event>(payload) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable event on the backplane");
                return;
            }
        };
        if let Some(inbox) = self.inbox.get() {
            crate::telemetry::backplane_delivered();
            inbox.deliver(&target, event).await;
        }
    }
}

/// Subscribes to this pod's channel and to every target channel, hands what arrives on, and
/// subscribes again (with backoff) whenever the connection is lost; ends with the backplane.
async fn subscriber(backplane: Weak<RedisBackplane>, first: oneshot::Sender<()>) {
    let mut first = Some(first);
    let mut backoff = Duration::from_millis(50);
    loop {
        let Some(me) = backplane.upgrade() else {
            return;
        };
        let client = me.client.clone();
        let own = pod_channel(&me.pod_id);
        drop(me);
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&own).await?;
            pubsub.psubscribe("so:s:*").await?;
            pubsub.psubscribe("so:a:*").await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, subscribed).await {
            Ok(Ok(pubsub)) => {
                backoff = Duration::from_millis(50);
                let Some(me) = backplane.upgrade() else {
                    return;
                };
                me.subscribed.store(true, Ordering::SeqCst);
                if let Some(tx) = first.take() {
                    let _ = tx.send(());
                }
                drop(me);
                let mut messages = pubsub.into_on_message();
                while let Some(message) = messages.next().await {
                    let Some(me) = backplane.upgrade() else {
                        return;
                    };
                    let Ok(payload) = message.get_payload::<String>() else {
                        continue;
                    };
                    let channel = message.get_channel_name();
                    if channel == own {
                        me.on_pod_message(&payload);
                    } else {
                        me.on_event(channel, &payload).await;
                    }
                }
                let Some(me) = backplane.upgrade() else {
                    return;
                };
                me.subscribed.store(false, Ordering::SeqCst);
                crate::telemetry::backplane_reconnected();
                tracing::warn!("lost the Redis backplane subscription; subscribing again");
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "cannot subscribe to the Redis backplane"),
            Err(_) => tracing::debug!("subscribing to the Redis backplane timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Renews this pod's leases every third of the lease time; ends with the backplane.
async fn keeper(backplane: Weak<RedisBackplane>) {
    loop {
        let Some(me) = backplane.upgrade() else {
            return;
        };
        let every = me.lease / 3;
        me.renew_all().await;
        drop(me);
        tokio::time::sleep(every).await;
    }
}

#[async_trait]
impl Backplane for RedisBackplane {
    fn pod_id(&self) -> &str {
        &self.pod_id
    }

    fn set_inbox(&self, inbox: Weak<dyn Inbox>) {
        self.inbox.set(inbox);
    }

    async fn publish(&self, target: Target, event: &Event) -> Result<(), BackplaneError> {
        let payload = serde_json::to_string(event).map_err(unavailable)?;
        self.publish_raw(target_channel(&target), payload).await?;
        crate::telemetry::backplane_published();
        Ok(())
    }

    async fn acquire(
        self: Arc<Self>,
        session_id: Uuid,
        turn_id: Uuid,
    ) -> Result<Acquired, BackplaneError> {
        let holder = format!("{}/{}", self.pod_id, turn_id.simple());
        let mut conn = self.conn();
        let set = tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("SET")
                .arg(lease_key(session_id))
                .arg(&holder)
                .arg("NX")
                .arg("PX")
                .arg(self.lease.as_millis() as u64)
                .query_async::<Option<String>>(&mut conn),
        )
        .await
        .map_err(|_| unavailable("SET timed out"))?
        .map_err(unavailable)?;
        if set.is_none() {
            return Ok(Acquired::Busy);
        }
        lock(&self.held).insert(session_id, holder.clone());
        let weak: Weak<dyn Backplane> = Arc::downgrade(&(self.clone() as Arc<dyn Backplane>));
        Ok(Acquired::Held(Lease::new(weak, session_id, holder)))
    }

    fn release(&self, session_id: Uuid, holder: &str) {
        self.forget(session_id, holder);
        let conn = self.conn();
        let holder = holder.to_string();
        let renewing = Arc::clone(&self.renewing);
        tokio::spawn(async move {
            let _renewing = renewing.lock().await;
            delete_lease(conn, session_id, &holder).await
        });
    }

    async fn release_now(&self, session_id: Uuid, holder: &str) {
        self.forget(session_id, holder);
        let _renewing = self.renewing.lock().await;
        delete_lease(self.conn(), session_id, holder).await;
    }

    async fn holder(&self, session_id: Uuid) -> Result<Option<String>, BackplaneError> {
        let mut conn = self.conn();
        let value = tokio::time::timeout(
            COMMAND_TIMEOUT,
            redis::cmd("GET")
                .arg(lease_key(session_id))
                .query_async::<Option<String>>(&mut conn),
        )
        .await
        .map_err(|_| unavailable("GET timed out"))?
        .map_err(unavailable)?;
        Ok(value.and_then(|v| v.split_once('/').map(|(pod, _)| pod.to_string())))
    }

    async fn ask(&self, pod: &str, request: PodRequest) -> Result<PodReply, BackplaneError> {
        let id = Uuid::new_v4();
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(id, tx);
        let message = PodMessage::Request {
            id,
            from: self.pod_id.clone(),
            request,
        };
        let text = serde_json::to_string(&message).expect("requests serialize");
        let outcome = async {
            let listeners = self.publish_raw(pod_channel(pod), text).await?;
            if listeners == 0 {
                // Nobody subscribes to that pod's channel: it is gone.
                return Err(BackplaneError::Unreachable(pod.to_string()));
            }
            match tokio::time::timeout(ASK_TIMEOUT, rx).await {
                Ok(Ok(reply)) => Ok(reply),
                _ => Err(BackplaneError::Unreachable(pod.to_string())),
            }
        }
        .await;
        lock(&self.waiting).remove(&id);
        outcome
    }

    async fn ready(&self) -> bool {
        if !self.subscribed.load(Ordering::SeqCst) {
            return false;
        }
        let mut conn = self.conn();
        matches!(
            tokio::time::timeout(
                COMMAND_TIMEOUT,
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        )
    }
}

/// Deletes the session's lease when `holder` still holds it (else it expires by itself).
async fn delete_lease(mut conn: ConnectionManager, session_id: Uuid, holder: &str) {
    let released = tokio::time::timeout(
        COMMAND_TIMEOUT,
        redis::Script::new(RELEASE)
            .key(lease_key(session_id))
            .arg(holder)
            .invoke_async::<i64>(&mut conn),
    )
    .await;
    if !matches!(released, Ok(Ok(_))) {
        tracing::warn!(session = %session_id, "turn lease not released; it expires by itself");
    }
}

impl RedisBackplane {
    /// Stops renewing the lease.
    fn forget(&self, session_id: Uuid, holder: &str) {
        let mut held = lock(&self.held);
        if held.get(&session_id).map(String::as_str) == Some(holder) {
            held.remove(&session_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_name_their_targets() {
        let session = Uuid::new_v4();
        for target in [Target::SessionId(session), Target::AgentId("shop".into())] {
            assert_eq!(channel_target(&target_channel(&target)), Some(target));
        }
        assert_eq!(channel_target("so:pod:x"), None);
        assert_eq!(channel_target("so:s:not-a-uuid"), None);
    }

    #[test]
    fn pod_messages_round_trip() {
        let request = PodMessage::Request {
            id: Uuid::new_v4(),
            from: "a".into(),
            request: PodRequest::Confirm {
                session_id: Uuid::new_v4(),
                approved: true,
            },
        };
        let text = serde_json::to_string(&request).unwrap();
        assert!(matches!(
            serde_json::from_str::<PodMessage>(&text).unwrap(),
            PodMessage::Request {
                request: PodRequest::Confirm { approved: true, .. },
                ..
            }
        ));
    }
}
