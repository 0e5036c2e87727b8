//! Delivering one-time codes: e-mail over SMTP (the `lettre` crate) and a webhook for SMS or
//! custom channels. Neither ever logs the code.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use uuid::Uuid;

use crate::config::{OtpConfig, Secret};

/// Longest a delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(15);

/// The configured ways to deliver a code.
pub struct Delivery {
    smtp: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
    webhook: Option<Webhook>,
    ttl_minutes: u64,
}

struct Webhook {
    url: String,
    bearer: Option<Secret>,
    http: reqwest::Client,
}

/// The webhook's request body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    session_id: Uuid,
    channel: &'a str,
    destination: &'a str,
    code: &'a str,
}

impl Delivery {
    /// The delivery the settings describe; fails on an unusable SMTP URL or sender.
    pub fn from_config(config: &OtpConfig) -> anyhow::Result<Self> {
        let smtp = match (&config.smtp_url, &config.smtp_from) {
            (Some(url), Some(from)) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| anyhow::anyhow!("SMOOTH_AGENT_SMTP_URL is not usable: {e}"))?
                    .timeout(Some(DELIVERY_TIMEOUT))
                    .build();
                let from: Mailbox = from
                    .parse()
                    .map_err(|e| anyhow::anyhow!("SMOOTH_AGENT_SMTP_FROM is not a mailbox: {e}"))?;
                Some((transport, from))
            }
            (Some(_), None) => anyhow::bail!("SMOOTH_AGENT_SMTP_URL needs SMOOTH_AGENT_SMTP_FROM"),
            _ => None,
        };
        let webhook = match &config.otp_webhook_url {
            None => None,
            Some(url) => Some(Webhook {
                url: url.clone(),
                bearer: config.otp_webhook_bearer.clone(),
                http: reqwest::Client::builder()
                    .timeout(DELIVERY_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
            }),
        };
        Ok(Self {
            smtp,
            webhook,
            ttl_minutes: config.otp_ttl_secs.div_ceil(60),
        })
    }

    /// Whether any delivery is configured.
    pub fn available(&self) -> bool {
        self.smtp.is_some() || self.webhook.is_some()
    }

    /// Sends `code` to `destination` over `channel` (`email` goes over SMTP when configured,
    /// everything else to the webhook). `Err` says why, without the code.
    pub async fn send(
        &self,
        session_id: Uuid,
        channel: &str,
        destination: &str,
        code: &str,
    ) -> Result<(), String> {
        if channel == "email" {
            if let Some((transport, from)) = &self.smtp {
                return self.email(transport, from, destination, code).await;
            }
        }
        let Some(webhook) = &self.webhook else {
            return Err(format!("no delivery is configured for {channel}"));
        };
        let mut request = webhook.http.post(&webhook.url).json(&WebhookBody {
            session_id,
            channel,
            destination,
            code,
        });
        if let Some(bearer) = &webhook.bearer {
            request = request.bearer_auth(bearer.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("the webhook could not be reached: {}", e.without_url()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the webhook answered HTTP {}",
                response.status().as_u16()
            ))
        }
    }

    async fn email(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        from: &Mailbox,
        destination: &str,
        code: &str,
    ) -> Result<(), String> {
        let to: Mailbox = destination
            .parse()
            .map_err(|_| "the contact address is not a mailbox".to_string())?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject("Your verification code")
            .body(format!(
                "Your verification code is {code}.\n\nIt expires in {} minute(s). If you did \
                 not ask for it, ignore this message.\n",
                self.ttl_minutes
            ))
            .map_err(|e| format!("the message could not be built: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("the SMTP server refused the message: {e}"))
    }
}
