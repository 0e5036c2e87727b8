//! Settings of end-user verification with one-time codes, and of their delivery (SMTP for
//! e-mail, a webhook for SMS or custom channels).

use super::{non_blank, Secret};

/// One-time code settings (secrets redact themselves in `Debug`).
#[derive(Debug, Clone, clap::Args)]
pub struct OtpConfig {
    /// Seconds a one-time code stays valid (and a turn waits for it).
    #[arg(long, env = "SMOOTH_AGENT_OTP_TTL_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub otp_ttl_secs: u64,

    /// Codes a user may try before the verification is over.
    #[arg(long, env = "SMOOTH_AGENT_OTP_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub otp_max_attempts: u32,

    /// Seconds before a new code may be sent to the same session.
    #[arg(
        long,
        env = "SMOOTH_AGENT_OTP_RESEND_COOLDOWN_SECS",
        default_value_t = 30
    )]
    pub otp_resend_cooldown_secs: u64,

    /// SMTP server for e-mailed codes: `smtp://host:port` (plain, or STARTTLS when offered
    /// with `?tls=required`), `smtps://user:password@host` (TLS).
    #[arg(long, env = "SMOOTH_AGENT_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,

    /// Sender of e-mailed codes, e.g. `Support <no-reply@example.com>`.
    #[arg(long, env = "SMOOTH_AGENT_SMTP_FROM")]
    pub smtp_from: Option<String>,

    /// Webhook delivering codes (SMS or custom channels): POST
    /// `{sessionId, channel, destination, code}`; a non-2xx answer is a failed delivery.
    #[arg(long, env = "SMOOTH_AGENT_OTP_WEBHOOK_URL")]
    pub otp_webhook_url: Option<String>,

    /// Bearer token sent to the OTP webhook.
    #[arg(long, env = "SMOOTH_AGENT_OTP_WEBHOOK_BEARER", hide_env_values = true)]
    pub otp_webhook_bearer: Option<Secret>,
}

impl OtpConfig {
    /// The settings with text values trimmed and blank ones treated as unset. Idempotent.
    pub fn normalized(self) -> Self {
        Self {
            smtp_url: self.smtp_url.and_then(Secret::non_blank),
            smtp_from: non_blank(self.smtp_from),
            otp_webhook_url: non_blank(self.otp_webhook_url),
            otp_webhook_bearer: self.otp_webhook_bearer.and_then(Secret::non_blank),
            ..self
        }
    }

    /// Whether codes can be delivered at all (SMTP with a sender, or a webhook).
    pub fn can_deliver(&self) -> bool {
        (self.smtp_url.is_some() && self.smtp_from.is_some()) || self.otp_webhook_url.is_some()
    }
}
