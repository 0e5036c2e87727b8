//! Turning a bearer token into a [`Principal`], in the mode the settings choose (SERVER.md
//! §4.1): signed JWTs (HS256 secret, RS256 key or a JWKS), unsigned claims behind a trusted
//! proxy, or the development mode in which everyone is an admin. JWTs are checked by the
//! `jsonwebtoken` crate; nothing here parses a token by hand.

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::jwks::Jwks;
use super::principal::{Identity, Principal, Role};
use crate::config::{AuthConfig, AuthMode};

/// Seconds of clock skew tolerated on `exp` (and `nbf`).
const LEEWAY_SECS: u64 = 30;

/// Why a token was refused; safe to log (it never contains the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No verifier is configured, so no token can be accepted.
    #[error("token verification is not configured")]
    Disabled,
    /// The token is malformed, badly signed, expired, or for another issuer or audience.
    #[error("{0}")]
    Invalid(String),
}

/// The claims this server reads.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: Option<String>,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    org_id: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    exp: Option<u64>,
}

impl Claims {
    fn into_identity(self) -> Result<Identity, TokenError> {
        let user_id = self
            .sub
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| TokenError::Invalid("the token has no 'sub'".into()))?;
        let role = match self.role.as_deref().map(str::trim) {
            None => Role::Basic,
            Some(claim) => Role::parse(claim)
                .ok_or_else(|| TokenError::Invalid("the token's 'role' is not a role".into()))?,
        };
        let non_blank =
            |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Ok(Identity {
            user_id,
            org_id: non_blank(self.org).or_else(|| non_blank(self.org_id)),
            role,
            name: non_blank(self.name),
            email: non_blank(self.email),
            groups: self
                .groups
                .into_iter()
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect(),
        })
    }
}

/// Where JWT signatures are checked against.
enum Keys {
    /// One static key (HS256 secret or RS256 public key).
    Static(DecodingKey, Algorithm),
    /// Keys fetched from a JWKS endpoint, by `kid`.
    Jwks(Jwks),
}

/// The configured token verifier.
pub struct Verifier {
    mode: Mode,
}

enum Mode {
    /// Nothing is configured: every token is refused.
    Disabled,
    /// Signed JWTs.
    Jwt {
        keys: Keys,
        issuer: Option<String>,
        audience: Option<String>,
    },
    /// Unsigned base64url claims.
    Trusted,
    /// Everyone is the fixed development admin.
    Dev(Identity),
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.mode {
            Mode::Disabled => "Verifier(disabled)",
            Mode::Jwt { .. } => "Verifier(jwt)",
            Mode::Trusted => "Verifier(trusted)",
            Mode::Dev(_) => "Verifier(none)",
        })
    }
}

impl Verifier {
    /// Builds the verifier the settings describe; fails on unusable key material or
    /// `AUTH_MODE=jwt` without any key.
    pub fn from_config(config: &AuthConfig) -> anyhow::Result<Self> {
        let mode = match config.auth_mode {
            Some(AuthMode::None) => {
                tracing::warn!(
                    "AUTH_MODE=none: every connection and admin request is a development admin; \
                     never use this in production"
                );
                Mode::Dev(Identity {
                    user_id: "dev-admin".into(),
                    org_id: Some(config.dev_org_id.clone()),
                    role: Role::Admin,
                    name: Some("Development admin".into()),
                    email: None,
                    groups: Vec::new(),
                })
            }
            Some(AuthMode::Trusted) => {
                tracing::warn!(
                    "AUTH_MODE=trusted: tokens are UNSIGNED claims and are believed as given; \
                     safe only behind a proxy that sets them"
                );
                Mode::Trusted
            }
            Some(AuthMode::Jwt) | None => match jwt_keys(config)? {
                Some(keys) => Mode::Jwt {
                    keys,
                    issuer: config.jwt_issuer.clone(),
                    audience: config.jwt_audience.clone(),
                },
                None if config.auth_mode == Some(AuthMode::Jwt) => anyhow::bail!(
                    "AUTH_MODE=jwt needs AUTH_JWT_HS256_SECRET, AUTH_JWT_RS256_PUBLIC_KEY, \
                     AUTH_JWT_JWKS_URL or AUTH_JWT_ISSUER"
                ),
                None => Mode::Disabled,
            },
        };
        Ok(Self { mode })
    }

    /// A verifier that refuses every token.
    pub fn disabled() -> Self {
        Self {
            mode: Mode::Disabled,
        }
    }

    /// Whether tokens can be accepted at all.
    pub fn is_enabled(&self) -> bool {
        !matches!(self.mode, Mode::Disabled)
    }

    /// The principal a connection gets when it presents no token: the development admin in
    /// `AUTH_MODE=none`, anonymous otherwise.
    pub fn without_token(&self) -> Principal {
        match &self.mode {
            Mode::Dev(identity) => Principal::User(identity.clone()),
            _ => Principal::Anonymous,
        }
    }

    /// Verifies `token` (without its `Bearer ` prefix).
    pub async fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let token = token.trim();
        match &self.mode {
            Mode::Disabled => Err(TokenError::Disabled),
            Mode::Dev(identity) => Ok(identity.clone()),
            Mode::Trusted => trusted_claims(token)?.into_identity(),
            Mode::Jwt {
                keys,
                issuer,
                audience,
            } => {
                let (key, algorithm) = match keys {
                    Keys::Static(key, algorithm) => (key.clone(), *algorithm),
                    Keys::Jwks(jwks) => jwks.key_for(token).await?,
                };
                let mut validation = Validation::new(algorithm);
                validation.leeway = LEEWAY_SECS;
                validation.set_required_spec_claims(&["exp", "sub"]);
                match issuer {
                    Some(issuer) => validation.set_issuer(&[issuer]),
                    None => validation.iss = None,
                }
                match audience {
                    Some(audience) => validation.set_audience(&[audience]),
                    None => validation.validate_aud = false,
                }
                let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
                    .map_err(|e| TokenError::Invalid(format!("token rejected: {e}")))?;
                data.claims.into_identity()
            }
        }
    }
}

/// The static key or JWKS the settings name, in the upstream precedence: RS256 key, HS256
/// secret, JWKS URL (or, with `AUTH_MODE=jwt`, the issuer's well-known JWKS).
fn jwt_keys(config: &AuthConfig) -> anyhow::Result<Option<Keys>> {
    if let Some(pem) = &config.jwt_rs256_public_key {
        let key = DecodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| {
            anyhow::anyhow!("AUTH_JWT_RS256_PUBLIC_KEY is not an RSA public key: {e}")
        })?;
        return Ok(Some(Keys::Static(key, Algorithm::RS256)));
    }
    if let Some(secret) = &config.jwt_hs256_secret {
        let key = DecodingKey::from_secret(secret.expose().as_bytes())
            .map_err(|e| anyhow::anyhow!("AUTH_JWT_HS256_SECRET is not usable: {e}"))?;
        return Ok(Some(Keys::Static(key, Algorithm::HS256)));
    }
    let url = match (&config.jwt_jwks_url, &config.jwt_issuer, config.auth_mode) {
        (Some(url), _, _) => url.clone(),
        (None, Some(issuer), Some(AuthMode::Jwt)) => {
            format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
        }
        _ => return Ok(None),
    };
    Ok(Some(Keys::Jwks(Jwks::new(url)?)))
}

/// The claims of a `trusted`-mode token: base64url JSON, padded or not.
fn trusted_claims(token: &str) -> Result<Claims, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| URL_SAFE.decode(token))
        .map_err(|_| TokenError::Invalid("the trusted claims are not base64url".into()))?;
    let claims: Claims = serde_json::from_slice(&bytes)
        .map_err(|_| TokenError::Invalid("the trusted claims are not a JSON object".into()))?;
    if let Some(exp) = claims.exp {
        if exp + LEEWAY_SECS < jsonwebtoken::get_current_timestamp() {
            return Err(TokenError::Invalid(
                "the trusted claims have expired".into(),
            ));
        }
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn config() -> AuthConfig {
        crate::config::Config::for_tests().auth
    }

    fn hs256(secret: &str, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn in_an_hour() -> u64 {
        jsonwebtoken::get_current_timestamp() + 3600
    }

    #[tokio::test]
    async fn hs256_claims_become_an_identity() {
        let verifier = Verifier::from_config(&AuthConfig {
            jwt_hs256_secret: Some("s3cret".into()),
            ..config()
        })
        .unwrap();
        let token = hs256(
            "s3cret",
            json!({"sub": "u1", "org_id": "acme", "role": "user", "name": "Ada",
                   "email": "ada@example.com", "groups": ["staff", " "], "exp": in_an_hour()}),
        );
        let identity = verifier.verify(&token).await.unwrap();
        assert_eq!(identity.user_id, "u1");
        assert_eq!(identity.org_id.as_deref(), Some("acme"));
        assert_eq!(identity.role, Role::Basic);
        assert_eq!(identity.groups, ["staff"]);
        for (claims, why) in [
            (
                json!({"sub": "u1", "exp": in_an_hour(), "role": "root"}),
                "unknown role",
            ),
            (json!({"sub": "u1"}), "no exp"),
            (json!({"exp": in_an_hour()}), "no sub"),
            (
                json!({"sub": "u1", "exp": jsonwebtoken::get_current_timestamp() - 120}),
                "expired",
            ),
        ] {
            assert!(
                verifier.verify(&hs256("s3cret", claims)).await.is_err(),
                "accepted a token with {why}"
            );
        }
        let forged = hs256("other", json!({"sub": "u1", "exp": in_an_hour()}));
        assert!(
            verifier.verify(&forged).await.is_err(),
            "wrong signature accepted"
        );
    }

    #[tokio::test]
    async fn unconfigured_refuses_and_jwt_without_keys_fails_start_up() {
        let verifier = Verifier::from_config(&config()).unwrap();
        assert!(!verifier.is_enabled());
        assert_eq!(
            verifier.verify("anything").await.unwrap_err(),
            TokenError::Disabled
        );
        assert_eq!(verifier.without_token(), Principal::Anonymous);
        let explicit = AuthConfig {
            auth_mode: Some(AuthMode::Jwt),
            ..config()
        };
        assert!(Verifier::from_config(&explicit).is_err());
    }

    #[tokio::test]
    async fn trusted_and_dev_modes() {
        let trusted = Verifier::from_config(&AuthConfig {
            auth_mode: Some(AuthMode::Trusted),
            ..config()
        })
        .unwrap();
        let blob = URL_SAFE_NO_PAD.encode(br#"{"sub":"u9","org":"o","role":"curator"}"#);
        let identity = trusted.verify(&blob).await.unwrap();
        assert_eq!(
            (identity.user_id.as_str(), identity.role),
            ("u9", Role::Curator)
        );
        let padded = URL_SAFE.encode(br#"{"sub":"u8"}"#);
        assert_eq!(trusted.verify(&padded).await.unwrap().user_id, "u8");
        assert!(trusted.verify("%%%").await.is_err());
        let dev = Verifier::from_config(&AuthConfig {
            auth_mode: Some(AuthMode::None),
            ..config()
        })
        .unwrap();
        assert_eq!(dev.verify("whatever").await.unwrap().role, Role::Admin);
        assert!(matches!(dev.without_token(), Principal::User(_)));
    }
}
