//! One-time codes that prove who the end user of a session is, owned by the server: 6 digits
//! from a CSPRNG, only a keyed hash stored (in the store, so a restart or another process can
//! verify it), an expiry, a bounded number of attempts, one live code per session, a resend
//! cooldown, and constant-time comparison. A code never reaches a log line or the model.
//!
//! A turn that reaches an `end_user` tool for an unverified session [`Otp::start`]s a
//! verification and parks in [`Otp::waits`] (see `runtime::park`); `verify_otp` calls
//! [`Otp::verify`] and releases the parked turn.

pub mod delivery;

use chrono::{Duration as Span, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::park::OtpWaits;
use crate::config::OtpConfig;
use crate::protocol::Session;
use crate::store::{DynStore, OtpRecord, StoreError};
use delivery::Delivery;

/// Name of the stored key of the code hashes.
const KEY_NAME: &str = "otp-hash-key";

/// A verification the server started (or found already running).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The channel the code went to.
    pub channel: String,
    /// The destination, mostly hidden.
    pub masked: String,
    /// Whether a code was sent now (`false`: a live code was sent moments ago and is reused).
    pub sent_now: bool,
}

/// Why a verification could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No delivery is configured.
    #[error("no one-time-code delivery is configured")]
    Unavailable,
    /// The session has no contact to send a code to.
    #[error("the session has no contact")]
    NoContact,
    /// Delivery failed (the detail never contains the code).
    #[error("delivery failed: {0}")]
    Delivery(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Seconds without a heartbeat after which the turn that asked for a code counts as gone.
pub const HEARTBEAT_STALE_SECS: i64 = 3;

/// What checking a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Right: the end user is verified now. `orphaned` names the requestId of the turn that
    /// asked for the code when that turn no longer runs anywhere (no heartbeat).
    Verified {
        /// The requestId of a turn that died waiting (a restart), if any.
        orphaned: Option<String>,
    },
    /// Wrong, with attempts left.
    Wrong {
        /// Codes the user may still try.
        attempts_left: u32,
    },
    /// Wrong, and no attempt is left: the verification is over.
    Exhausted,
    /// Too late: the verification is over.
    Expired,
    /// No verification is pending.
    NothingPending,
}

/// The one-time-code service.
pub struct Otp {
    config: OtpConfig,
    store: DynStore,
    delivery: Delivery,
    key: OnceCell<Vec<u8>>,
    /// Turns waiting for a code, by session.
    pub waits: OtpWaits,
}

impl Otp {
    /// The service the settings describe; fails on unusable delivery settings.
    pub fn new(config: OtpConfig, store: DynStore) -> anyhow::Result<Self> {
        Ok(Self {
            delivery: Delivery::from_config(&config)?,
            config,
            store,
            key: OnceCell::new(),
            waits: OtpWaits::default(),
        })
    }

    /// Whether codes can be delivered.
    pub fn available(&self) -> bool {
        self.delivery.available()
    }

    /// How long a code is valid (and a turn waits for it).
    pub fn ttl(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.otp_ttl_secs)
    }

    /// The channels a code can go to for `session` (its e-mail address).
    pub fn channels(&self, session: &Session) -> Vec<&'static str> {
        if session.contact_email.is_some() {
            vec!["email"]
        } else {
            Vec::new()
        }
    }

    /// The key of the code hashes: stored once for every process on the store.
    async fn key(&self) -> Result<&[u8], StoreError> {
        let key = self
            .key
            .get_or_try_init(|| async {
                let candidate = hex::encode(rand::rng().random::<[u8; 32]>());
                let stored = self.store.ensure_secret(KEY_NAME, &candidate).await?;
                Ok::<_, StoreError>(stored.into_bytes())
            })
            .await?;
        Ok(key)
    }

    /// The keyed hash of `code` for `session_id`.
    async fn hash(&self, session_id: Uuid, code: &str) -> Result<String, StoreError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key().await?).expect("any key length");
        mac.update(session_id.as_bytes());
        mac.update(b":");
        mac.update(code.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Sends a fresh code to the session's contact for `tool` (or reuses the live one when it
    /// was sent within the cooldown).
    pub async fn start(
        &self,
        session: &Session,
        request_id: &str,
        tool: &str,
    ) -> Result<Started, StartError> {
        if !self.available() {
            return Err(StartError::Unavailable);
        }
        let Some(destination) = session.contact_email.clone() else {
            return Err(StartError::NoContact);
        };
        let channel = "email";
        let now = Utc::now();
        let cooldown =
            Span::seconds(i64::try_from(self.config.otp_resend_cooldown_secs).unwrap_or(0));
        if let Some(live) = self.store.get_otp(session.session_id).await? {
            if live.expires_at > now && live.attempts_left > 0 && live.sent_at + cooldown > now {
                return Ok(Started {
                    channel: live.channel,
                    masked: mask(&live.destination),
                    sent_now: false,
                });
            }
        }
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let record = OtpRecord {
            session_id: session.session_id,
            code_hash: self.hash(session.session_id, &code).await?,
            channel: channel.to_string(),
            destination: destination.clone(),
            attempts_left: self.config.otp_max_attempts,
            expires_at: now + Span::seconds(i64::try_from(self.config.otp_ttl_secs).unwrap_or(300)),
            sent_at: now,
            request_id: request_id.to_string(),
            tool: tool.to_string(),
            heartbeat_at: Some(now),
        };
        // Stored first, so a code that arrives is always verifiable.
        self.store.put_otp(&record).await?;
        if let Err(e) = self
            .delivery
            .send(session.session_id, channel, &destination, &code)
            .await
        {
            self.store.delete_otp(session.session_id).await?;
            return Err(StartError::Delivery(e));
        }
        tracing::info!(session = %session.session_id, channel, "one-time code sent");
        Ok(Started {
            channel: channel.to_string(),
            masked: mask(&destination),
            sent_now: true,
        })
    }

    /// What became of the session's verification, for a turn waiting on another process: the
    /// code gone and the session verified means verified; gone otherwise means over. Also
    /// refreshes the turn's heartbeat while the code is pending.
    pub async fn poll(
        &self,
        session_id: Uuid,
    ) -> Result<Option<super::park::OtpOutcome>, StoreError> {
        if self.store.get_otp(session_id).await?.is_some() {
            self.store.otp_heartbeat(session_id).await?;
            return Ok(None);
        }
        let verified = self
            .store
            .get_session(session_id)
            .await?
            .is_some_and(|s| s.otp_verified_at.is_some());
        Ok(Some(if verified {
            super::park::OtpOutcome::Verified
        } else {
            super::park::OtpOutcome::Exhausted
        }))
    }

    /// Checks a code the user typed (spaces and dashes ignored). Every check spends an
    /// attempt; a right code marks the session verified; an exhausted or expired
    /// verification is removed.
    pub async fn verify(&self, session_id: Uuid, typed: &str) -> Result<Checked, StoreError> {
        let Some(pending) = self.store.get_otp(session_id).await? else {
            return Ok(Checked::NothingPending);
        };
        if pending.expires_at <= Utc::now() {
            self.store.delete_otp(session_id).await?;
            return Ok(Checked::Expired);
        }
        let Some(after) = self.store.spend_otp_attempt(session_id).await? else {
            self.store.delete_otp(session_id).await?;
            return Ok(Checked::Exhausted);
        };
        let code: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let hash = self.hash(session_id, &code).await?;
        if bool::from(hash.as_bytes().ct_eq(after.code_hash.as_bytes())) {
            // Verified first: a turn polling the store sees the code gone and the flag set.
            self.store.mark_otp_verified(session_id).await?;
            self.store.delete_otp(session_id).await?;
            tracing::info!(session = %session_id, "end user verified by one-time code");
            let stale = after
                .heartbeat_at
                .is_none_or(|at| Utc::now() - at > Span::seconds(HEARTBEAT_STALE_SECS));
            return Ok(Checked::Verified {
                orphaned: stale.then_some(after.request_id),
            });
        }
        if after.attempts_left == 0 {
            self.store.delete_otp(session_id).await?;
            return Ok(Checked::Exhausted);
        }
        Ok(Checked::Wrong {
            attempts_left: after.attempts_left,
        })
    }
}

/// `destination` mostly hidden: `a***@example.com`, or the last two characters of a number.
pub fn mask(destination: &str) -> String {
    match destination.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => {
            let chars: Vec<char> = destination.chars().collect();
            let tail: String = chars[chars.len().saturating_sub(2)..].iter().collect();
            format!("***{tail}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::store::sqlite::SqliteStore;
    use crate::store::NewSession;

    #[test]
    fn masking_hides_most_of_the_address() {
        assert_eq!(mask("ada@example.com"), "a***@example.com");
        assert_eq!(mask("+15551234567"), "***67");
        assert_eq!(mask("x"), "***x");
    }

    async fn session(store: &DynStore) -> Session {
        store
            .create_session(NewSession {
                session_id: Uuid::new_v4(),
                conversation_id: Uuid::new_v4(),
                user_participant_id: Uuid::new_v4(),
                agent_participant_id: Uuid::new_v4(),
                agent_id: "a".into(),
                agent_name: "n".into(),
                organization_id: None,
                owner_id: None,
                owner_org: None,
                verified_user_id: None,
                user_name: "u".into(),
                user_email: Some("ada@example.com".into()),
                browser_fingerprint: None,
                metadata: Default::default(),
                supports: None,
            })
            .await
            .unwrap()
    }

    /// A code of our own, stored the way `start` stores one (delivery is tested end to end).
    async fn plant(otp: &Otp, session: &Session, code: &str, attempts: u32, ttl_secs: i64) {
        let now = Utc::now();
        let record = OtpRecord {
            session_id: session.session_id,
            code_hash: otp.hash(session.session_id, code).await.unwrap(),
            channel: "email".into(),
            destination: "ada@example.com".into(),
            attempts_left: attempts,
            expires_at: now + Span::seconds(ttl_secs),
            sent_at: now,
            request_id: "r".into(),
            tool: "t".into(),
            heartbeat_at: None,
        };
        otp.store.put_otp(&record).await.unwrap();
    }

    fn service(store: DynStore) -> Otp {
        let mut config = crate::config::Config::for_tests().agent.otp;
        config.otp_webhook_url = Some("http://127.0.0.1:9/never-called".into());
        Otp::new(config, store).unwrap()
    }

    #[tokio::test]
    async fn codes_verify_once_attempts_run_out_and_expire() {
        let store: DynStore = Arc::new(SqliteStore::open_memory().await.unwrap());
        let otp = service(store.clone());
        let s = session(&store).await;
        assert_eq!(
            otp.verify(s.session_id, "123456").await.unwrap(),
            Checked::NothingPending
        );

        plant(&otp, &s, "123456", 3, 300).await;
        let stored = store.get_otp(s.session_id).await.unwrap().unwrap();
        assert!(
            !stored.code_hash.contains("123456"),
            "the code is stored in clear"
        );
        assert_eq!(
            otp.verify(s.session_id, "000000").await.unwrap(),
            Checked::Wrong { attempts_left: 2 }
        );
        assert_eq!(
            otp.verify(s.session_id, "123-456").await.unwrap(),
            Checked::Verified {
                orphaned: Some("r".into())
            },
            "nothing waits: the planted code has no heartbeat"
        );
        assert!(store
            .get_session(s.session_id)
            .await
            .unwrap()
            .unwrap()
            .otp_verified_at
            .is_some());
        assert_eq!(
            otp.verify(s.session_id, "123456").await.unwrap(),
            Checked::NothingPending,
            "a code verifies once"
        );

        let s2 = session(&store).await;
        plant(&otp, &s2, "111111", 2, 300).await;
        assert_eq!(
            otp.verify(s2.session_id, "222222").await.unwrap(),
            Checked::Wrong { attempts_left: 1 }
        );
        assert_eq!(
            otp.verify(s2.session_id, "333333").await.unwrap(),
            Checked::Exhausted
        );
        assert_eq!(
            otp.verify(s2.session_id, "111111").await.unwrap(),
            Checked::NothingPending,
            "the right code after the last attempt must not verify"
        );

        let s3 = session(&store).await;
        plant(&otp, &s3, "444444", 5, -1).await;
        assert_eq!(
            otp.verify(s3.session_id, "444444").await.unwrap(),
            Checked::Expired
        );
    }

    #[tokio::test]
    async fn the_hash_key_is_shared_through_the_store() {
        let store: DynStore = Arc::new(SqliteStore::open_memory().await.unwrap());
        let a = service(store.clone());
        let b = service(store.clone());
        let s = session(&store).await;
        plant(&a, &s, "654321", 3, 300).await;
        // Another process on the same store verifies what the first one issued.
        assert!(matches!(
            b.verify(s.session_id, "654321").await.unwrap(),
            Checked::Verified { .. }
        ));
    }

    #[tokio::test]
    async fn no_contact_and_no_delivery_refuse_to_start() {
        let store: DynStore = Arc::new(SqliteStore::open_memory().await.unwrap());
        let mut s = session(&store).await;
        let none = Otp::new(crate::config::Config::for_tests().agent.otp, store.clone()).unwrap();
        assert!(matches!(
            none.start(&s, "r", "t").await,
            Err(StartError::Unavailable)
        ));
        s.contact_email = None;
        assert!(matches!(
            service(store).start(&s, "r", "t").await,
            Err(StartError::NoContact)
        ));
    }
}
