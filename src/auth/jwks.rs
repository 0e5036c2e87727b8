//! Verification keys from a JWKS endpoint, cached by `kid`. Fetches are asynchronous (a
//! verification never blocks a runtime worker), bounded in time and size, and single-flight;
//! the set is refetched when it is older than its TTL, and for an unknown `kid` at most once
//! every [`FORCED_REFETCH`], so a stream of forged `kid`s cannot hammer the endpoint.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};

use super::verifier::TokenError;

/// How long a fetched key set is used before it is fetched again.
const TTL: Duration = Duration::from_secs(300);
/// Least time between two fetches caused by an unknown `kid`.
pub const FORCED_REFETCH: Duration = Duration::from_secs(30);
/// Least time between fetches after a failed one.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Longest a fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest key set accepted.
const MAX_BYTES: usize = 256 * 1024;

/// What was fetched last.
#[derive(Default)]
struct State {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
    last_forced: Option<Instant>,
    failed: Option<Instant>,
}

/// A cached JWKS.
pub struct Jwks {
    url: String,
    http: reqwest::Client,
    state: RwLock<State>,
    /// Held while fetching, so concurrent misses wait for one fetch.
    fetching: Mutex<()>,
}

impl Jwks {
    /// A cache of the key set at `url` (nothing is fetched until a token needs it).
    pub fn new(url: String) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            url,
            http,
            state: RwLock::new(State::default()),
            fetching: Mutex::new(()),
        })
    }

    /// The key and algorithm that must have signed `token`, by its header's `kid` (a token
    /// without a `kid` is accepted only when the set holds exactly one key).
    pub async fn key_for(&self, token: &str) -> Result<(DecodingKey, Algorithm), TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| TokenError::Invalid(format!("token header rejected: {e}")))?;
        let kid = header.kid;
        if let Some(found) = self.cached(kid.as_deref(), false).await {
            return Ok(found);
        }
        let _fetching = self.fetching.lock().await;
        // Another task may have fetched while this one waited.
        if let Some(found) = self.cached(kid.as_deref(), false).await {
            return Ok(found);
        }
        let (stale, may_force, may_retry) = {
            let state = self.state.read().await;
            let stale = state.fetched.is_none_or(|at| at.elapsed() >= TTL);
            let may_force = state
                .last_forced
                .is_none_or(|at| at.elapsed() >= FORCED_REFETCH);
            let may_retry = state
                .failed
                .is_none_or(|at| at.elapsed() >= RETRY_AFTER_FAILURE);
            (stale, may_force, may_retry)
        };
        // A stale set is refetched (not again within seconds of a failure); a fresh one only
        // for an unknown `kid`, rate-limited, so forged tokens cannot hammer the endpoint.
        if (stale && may_retry) || (!stale && may_force) {
            self.refresh(!stale).await;
        }
        self.cached(kid.as_deref(), true)
            .await
            .ok_or_else(|| TokenError::Invalid("no key in the JWKS matches the token".into()))
    }

    /// A key from the cache; with `stale_ok` an expired set still answers.
    async fn cached(&self, kid: Option<&str>, stale_ok: bool) -> Option<(DecodingKey, Algorithm)> {
        let state = self.state.read().await;
        let fresh = state.fetched.is_some_and(|at| at.elapsed() < TTL);
        if !fresh && !stale_ok {
            return None;
        }
        match kid {
            Some(kid) => state.keys.get(kid).cloned(),
            None if state.keys.len() == 1 => state.keys.values().next().cloned(),
            None => None,
        }
    }

    /// Fetches the key set (`forced`: because of an unknown `kid` in a fresh set); on failure
    /// the previous keys stay (and the failure is logged).
    async fn refresh(&self, forced: bool) {
        let now = Instant::now();
        let result = self.fetch().await;
        let mut state = self.state.write().await;
        if forced {
            state.last_forced = Some(now);
        }
        match result {
            Ok(keys) => {
                tracing::info!(url = %self.url, keys = keys.len(), "JWKS fetched");
                state.keys = keys;
                state.fetched = Some(now);
                state.failed = None;
            }
            Err(e) => {
                state.failed = Some(now);
                tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed");
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, (DecodingKey, Algorithm)>, String> {
        let mut response = self
            .http
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| e.without_url().to_string())?
        {
            if body.len() + chunk.len() > MAX_BYTES {
                return Err(format!("the key set is larger than {MAX_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            // Only public keys belong in a JWKS; a shared secret there would be a leak.
            let default_alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                _ => continue,
            };
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let algorithm = match jwk.common.key_algorithm {
                Some(alg) => match alg.to_string().parse::<Algorithm>() {
                    Ok(alg) => alg,
                    Err(_) => continue,
                },
                None => default_alg,
            };
            match DecodingKey::from_jwk(jwk) {
                Ok(key) => {
                    keys.insert(kid, (key, algorithm));
                }
                Err(e) => tracing::warn!(%kid, error = %e, "unusable JWKS key skipped"),
            }
        }
        Ok(keys)
    }
}
