//! Settings of who may connect: token verification (`AUTH_*`, the upstream contract) and
//! embeddable-widget policies (`WIDGET_AUTH_*`).

use clap::builder::BoolishValueParser;
use clap::{ArgAction, ValueEnum};

use super::{non_blank, Secret};

/// How bearer tokens become principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Signed JWTs (HS256 secret, RS256 key or a JWKS); the default when key material is set.
    Jwt,
    /// Unsigned base64url JSON claims, trusted as given: only behind a proxy that sets them.
    Trusted,
    /// Development only: every connection and admin request is a fixed admin principal.
    None,
}

/// Token verification settings (secrets redact themselves in `Debug`).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthConfig {
    /// How tokens are verified: `jwt` (the default when a key, secret or JWKS URL is set),
    /// `trusted` (unsigned claims behind a proxy) or `none` (development: everyone is admin).
    /// Unset with no key material: every token is refused and connections are anonymous.
    #[arg(long, env = "AUTH_MODE", value_enum, ignore_case = true)]
    pub auth_mode: Option<AuthMode>,

    /// Shared secret for HS256 tokens.
    #[arg(long, env = "AUTH_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<Secret>,

    /// PEM public key for RS256 tokens (literal `\n` sequences are accepted as newlines).
    #[arg(long, env = "AUTH_JWT_RS256_PUBLIC_KEY", hide_env_values = true)]
    pub jwt_rs256_public_key: Option<String>,

    /// JWKS endpoint for tokens signed by rotating keys (fetched asynchronously and cached).
    #[arg(long, env = "AUTH_JWT_JWKS_URL")]
    pub jwt_jwks_url: Option<String>,

    /// Required `iss` claim; with `AUTH_MODE=jwt` and no key, the JWKS is read from
    /// `{issuer}/.well-known/jwks.json`.
    #[arg(long, env = "AUTH_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim (not checked when unset).
    #[arg(long, env = "AUTH_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Organisation of sessions that no widget policy, token or agent places in one.
    #[arg(long, env = "SMOOTH_AGENT_DEFAULT_ORG", default_value = "default")]
    pub default_org: String,

    /// Organisation of the fixed admin principal of `AUTH_MODE=none`.
    #[arg(long, env = "AUTH_DEV_ORG_ID", default_value = "dev-org")]
    pub dev_org_id: String,

    /// Refuse WebSocket upgrades without a valid token (HTTP 401) instead of serving them
    /// anonymously.
    #[arg(long, env = "SMOOTH_AGENT_AUTH_REQUIRED", action = ArgAction::Set,
          value_parser = BoolishValueParser::new(), default_value_t = false,
          num_args = 0..=1, default_missing_value = "true")]
    pub auth_required: bool,

    /// Base URL of an HTTP widget-policy service: `GET {url}/{agentId}` answers
    /// `{allowed_origins, public_key?, organization_id?}` (404: the agent has no policy).
    #[arg(long, env = "WIDGET_AUTH_URL")]
    pub widget_auth_url: Option<String>,

    /// Bearer token sent to the widget-policy service.
    #[arg(long, env = "WIDGET_AUTH_BEARER", hide_env_values = true)]
    pub widget_auth_bearer: Option<Secret>,

    /// Seconds a fetched widget policy (or a 404) is cached.
    #[arg(long, env = "WIDGET_AUTH_TTL_SECS", default_value_t = 60)]
    pub widget_auth_ttl_secs: u64,

    /// Refuse sessions for agents that have no widget policy (`AGENT_NOT_AUTHORIZED`).
    #[arg(long, env = "WIDGET_AUTH_STRICT", action = ArgAction::Set,
          value_parser = BoolishValueParser::new(), default_value_t = false,
          num_args = 0..=1, default_missing_value = "true")]
    pub widget_auth_strict: bool,
}

impl AuthConfig {
    /// The settings with text values trimmed and blank ones treated as unset. Idempotent.
    pub fn normalized(self) -> Self {
        Self {
            jwt_hs256_secret: self.jwt_hs256_secret.and_then(Secret::non_blank),
            // A PEM passed through an env var often carries `\n` escapes.
            jwt_rs256_public_key: non_blank(self.jwt_rs256_public_key)
                .map(|pem| pem.replace("\\n", "\n")),
            jwt_jwks_url: non_blank(self.jwt_jwks_url),
            jwt_issuer: non_blank(self.jwt_issuer),
            jwt_audience: non_blank(self.jwt_audience),
            default_org: non_blank(Some(self.default_org)).unwrap_or_else(|| "default".into()),
            dev_org_id: non_blank(Some(self.dev_org_id)).unwrap_or_else(|| "dev-org".into()),
            widget_auth_url: non_blank(self.widget_auth_url),
            widget_auth_bearer: self.widget_auth_bearer.and_then(Secret::non_blank),
            ..self
        }
    }

    /// Whether any key material is configured (HS256 secret, RS256 key or JWKS URL).
    pub fn has_key_material(&self) -> bool {
        self.jwt_hs256_secret.is_some()
            || self.jwt_rs256_public_key.is_some()
            || self.jwt_jwks_url.is_some()
    }
}
