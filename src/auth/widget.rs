//! Embeddable-widget policies, checked when a session is created (PROTOCOL.md §11): which
//! origins may embed an agent, and the shared secret with which the embedding site signs an
//! `authContext` vouching for its user. A policy comes from the agent's definition or, when
//! `WIDGET_AUTH_URL` is set, from an HTTP policy service (cached; a 404 is cached as "no
//! policy", a failure is not cached).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::config::{AuthConfig, Secret};
use crate::protocol::{ClientError, ErrorCode};
use crate::store::agent::AgentDefinition;

/// Largest accepted gap between the server clock and an `authContext` timestamp, in seconds.
pub const MAX_SKEW_SECS: i64 = 60;
/// Longest a policy fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest policy body accepted.
const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Most agents whose policy is cached at once.
const MAX_CACHED: usize = 10_000;

/// Which origins may embed an agent and how its `authContext` is verified.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct WidgetPolicy {
    /// `*`, exact origins, or `scheme://*.suffix` entries.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The `authContext` HMAC secret (upstream calls it `public_key`).
    #[serde(default, rename = "public_key")]
    pub secret: Option<String>,
    /// The organisation of sessions created through the widget.
    #[serde(default)]
    pub organization_id: Option<String>,
}

impl std::fmt::Debug for WidgetPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WidgetPolicy")
            .field("allowed_origins", &self.allowed_origins)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("organization_id", &self.organization_id)
            .finish()
    }
}

/// An `authContext` as the client sent it.
#[derive(Debug, Clone, Copy)]
pub struct AuthContext<'a> {
    /// The site's id for its user.
    pub user_id: &'a str,
    /// Hex HMAC-SHA256 of `"{userId}:{timestamp}"`.
    pub signature: &'a str,
    /// When the site signed, in Unix seconds.
    pub timestamp: i64,
}

/// What a passed widget check decides about the new session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admission {
    /// The policy's organisation, when it names one.
    pub organization_id: Option<String>,
    /// The user the site vouched for, when its `authContext` verified.
    pub verified_user_id: Option<String>,
}

/// Whether `origin` is allowed by one of `allowed`: `*` (any origin, even none), an exact,
/// case-sensitive match, or `scheme://*.suffix` (same scheme; host, port included, equal to
/// the suffix or ending in `.suffix`).
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    allowed.iter().any(|entry| {
        if entry == "*" {
            return true;
        }
        let Some(origin) = origin else { return false };
        if entry == origin {
            return true;
        }
        match (entry.split_once("://*."), origin.split_once("://")) {
            (Some((scheme, suffix)), Some((origin_scheme, host))) => {
                scheme == origin_scheme && (host == suffix || host.ends_with(&format!(".{suffix}")))
            }
            _ => false,
        }
    })
}

/// Whether `context` is a fresh, correctly signed `authContext` for `secret`.
pub fn context_valid(secret: &str, context: &AuthContext<'_>, now_secs: i64) -> bool {
    // `abs_diff`: the timestamp is the client's, and any i64 must not overflow.
    if now_secs.abs_diff(context.timestamp) > MAX_SKEW_SECS.unsigned_abs() {
        return false;
    }
    let Ok(signature) = hex::decode(context.signature) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(format!("{}:{}", context.user_id, context.timestamp).as_bytes());
    // Constant-time comparison.
    mac.verify_slice(&signature).is_ok()
}

/// Decides whether a session may be created: `strict` refuses agents without a policy; a
/// policy checks the origin, then any `authContext`.
pub fn admit(
    policy: Option<&WidgetPolicy>,
    strict: bool,
    origin: Option<&str>,
    context: Option<&AuthContext<'_>>,
    now_secs: i64,
) -> Result<Admission, ClientError> {
    let Some(policy) = policy else {
        if strict {
            return Err(ClientError::new(
                ErrorCode::AgentNotAuthorized,
                "this agent is not registered for embedding",
            ));
        }
        return Ok(Admission::default());
    };
    if !origin_allowed(&policy.allowed_origins, origin) {
        return Err(ClientError::new(
            ErrorCode::OriginNotAllowed,
            "this origin is not allowed to embed this agent",
        ));
    }
    let verified_user_id = match context {
        None => None,
        Some(context) => {
            let valid = policy
                .secret
                .as_deref()
                .is_some_and(|secret| context_valid(secret, context, now_secs));
            if !valid {
                return Err(ClientError::new(
                    ErrorCode::AuthContextInvalid,
                    "authContext signature failed verification",
                ));
            }
            Some(context.user_id.to_string())
        }
    };
    Ok(Admission {
        organization_id: policy.organization_id.clone(),
        verified_user_id,
    })
}

/// Where widget policies come from.
pub struct WidgetPolicies {
    http: Option<HttpPolicies>,
    /// Refuse agents without a policy.
    pub strict: bool,
}

/// The HTTP policy service and its cache.
struct HttpPolicies {
    base: String,
    bearer: Option<Secret>,
    ttl: Duration,
    client: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, Option<WidgetPolicy>)>>,
}

impl WidgetPolicies {
    /// The policy sources the settings describe.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let http = match &config.widget_auth_url {
            None => None,
            Some(base) => Some(HttpPolicies {
                base: base.trim_end_matches('/').to_string(),
                bearer: config.widget_auth_bearer.clone(),
                ttl: Duration::from_secs(config.widget_auth_ttl_secs),
                client: reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
                cache: Mutex::new(HashMap::new()),
            }),
        };
        Ok(Self {
            http,
            strict: config.widget_auth_strict,
        })
    }

    /// The policy of `agent_id`: its definition's `widget` block, else the policy service's.
    pub async fn policy_for(
        &self,
        agent_id: &str,
        agent: Option<&AgentDefinition>,
    ) -> Option<WidgetPolicy> {
        if let Some(widget) = agent.and_then(|a| a.widget.as_ref()) {
            return Some(WidgetPolicy {
                allowed_origins: widget.allowed_origins.clone(),
                secret: widget.auth_secret.clone(),
                organization_id: widget.organization_id.clone(),
            });
        }
        match &self.http {
            Some(http) => http.policy(agent_id).await,
            None => None,
        }
    }
}

impl HttpPolicies {
    async fn policy(&self, agent_id: &str) -> Option<WidgetPolicy> {
        if let Some((at, policy)) = self.lock().get(agent_id) {
            if at.elapsed() < self.ttl {
                return policy.clone();
            }
        }
        match self.fetch(agent_id).await {
            Ok(policy) => {
                let mut cache = self.lock();
                if cache.len() >= MAX_CACHED {
                    let ttl = self.ttl;
                    cache.retain(|_, (at, _)| at.elapsed() < ttl);
                    if cache.len() >= MAX_CACHED {
                        cache.clear();
                    }
                }
                cache.insert(agent_id.to_string(), (Instant::now(), policy.clone()));
                policy
            }
            Err(e) => {
                // Not cached: the next session tries again.
                tracing::warn!(agent = %agent_id, error = %e, "widget policy unavailable");
                None
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Option<WidgetPolicy>)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Ok(None)` for a 404 (no policy, cached); `Err` for anything not worth caching.
    async fn fetch(&self, agent_id: &str) -> Result<Option<WidgetPolicy>, String> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|e| e.to_string())?;
        url.path_segments_mut()
            .map_err(|_| "WIDGET_AUTH_URL cannot take a path".to_string())?
            .push(agent_id);
        let mut request = self.client.get(url);
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer.expose());
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        match response.status().as_u16() {
            404 => return Ok(None),
            200..=299 => {}
            status => return Err(format!("HTTP {status}")),
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            if body.len() + chunk.len() > MAX_POLICY_BYTES {
                return Err("the policy is too large".to_string());
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| format!("not a widget policy: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn origin_rules() {
        let wild = list(&["https://*.smoo.ai"]);
        assert!(origin_allowed(&wild, Some("https://app.smoo.ai")));
        assert!(origin_allowed(&wild, Some("https://smoo.ai")));
        assert!(!origin_allowed(&wild, Some("http://app.smoo.ai")));
        assert!(!origin_allowed(&wild, Some("https://notsmoo.ai")));
        assert!(!origin_allowed(&wild, Some("https://app.smoo.ai:8443")));
        assert!(!origin_allowed(&wild, None));
        let exact = list(&["https://shop.example"]);
        assert!(origin_allowed(&exact, Some("https://shop.example")));
        assert!(!origin_allowed(&exact, Some("https://shop.example/")));
        assert!(!origin_allowed(&exact, Some("https://SHOP.example")));
        assert!(!origin_allowed(&[], Some("https://shop.example")));
        assert!(origin_allowed(&list(&["*"]), None));
    }

    fn sign(secret: &str, user: &str, ts: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{user}:{ts}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn auth_context_rules() {
        let now = 1_700_000_000;
        let good = sign("k", "u1", now - 30);
        fn context(signature: &str, timestamp: i64) -> AuthContext<'_> {
            AuthContext {
                user_id: "u1",
                signature,
                timestamp,
            }
        }
        assert!(context_valid("k", &context(&good, now - 30), now));
        assert!(context_valid(
            "k",
            &context(&good.to_uppercase(), now - 30),
            now
        ));
        assert!(!context_valid("other", &context(&good, now - 30), now));
        let stale = sign("k", "u1", now - 61);
        assert!(!context_valid("k", &context(&stale, now - 61), now));
        let future = sign("k", "u1", now + 61);
        assert!(!context_valid("k", &context(&future, now + 61), now));
        assert!(!context_valid("k", &context("zz", now), now));
        for extreme in [i64::MIN, i64::MAX] {
            let signature = sign("k", "u1", extreme);
            assert!(!context_valid("k", &context(&signature, extreme), now));
        }
        // The timestamp is part of what is signed.
        assert!(!context_valid("k", &context(&good, now - 29), now));
    }

    #[test]
    fn admission_order() {
        let policy = WidgetPolicy {
            allowed_origins: list(&["https://shop.example"]),
            secret: Some("k".into()),
            organization_id: Some("acme".into()),
        };
        let now = 1_700_000_000;
        let code = |r: Result<Admission, ClientError>| r.unwrap_err().code;
        assert_eq!(
            code(admit(None, true, None, None, now)),
            ErrorCode::AgentNotAuthorized
        );
        assert_eq!(
            admit(None, false, None, None, now).unwrap(),
            Admission::default()
        );
        assert_eq!(
            code(admit(
                Some(&policy),
                false,
                Some("https://evil.example"),
                None,
                now
            )),
            ErrorCode::OriginNotAllowed
        );
        let bad = AuthContext {
            user_id: "u1",
            signature: "00",
            timestamp: now,
        };
        assert_eq!(
            code(admit(
                Some(&policy),
                false,
                Some("https://shop.example"),
                Some(&bad),
                now
            )),
            ErrorCode::AuthContextInvalid
        );
        let signature = sign("k", "u1", now);
        let good = AuthContext {
            user_id: "u1",
            signature: &signature,
            timestamp: now,
        };
        let admitted = admit(
            Some(&policy),
            false,
            Some("https://shop.example"),
            Some(&good),
            now,
        )
        .unwrap();
        assert_eq!(admitted.organization_id.as_deref(), Some("acme"));
        assert_eq!(admitted.verified_user_id.as_deref(), Some("u1"));
        let no_secret = WidgetPolicy {
            secret: None,
            ..policy
        };
        assert_eq!(
            code(admit(
                Some(&no_secret),
                false,
                Some("https://shop.example"),
                Some(&good),
                now
            )),
            ErrorCode::AuthContextInvalid
        );
    }
}
