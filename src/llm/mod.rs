//! The client for any OpenAI-compatible model gateway: streamed chat completions for turns and
//! embeddings for the knowledge base. Split by job:
//!
//! - [`request`]: the one request builder (URL joining, bearer key, error bodies), used by both;
//! - [`chat`]: `POST {base}/chat/completions` streamed over SSE, with bounded retries that
//!   happen only before anything was yielded, so a client never sees a token twice;
//! - [`wire`]: the JSON shapes on the wire (typed roles, `tool_choice`, tool kinds), with tests;
//! - [`embeddings`]: `POST {base}/embeddings`.

pub mod chat;
pub mod embeddings;
mod error;
mod request;
pub mod wire;

use std::time::Duration;

use crate::config::{AgentConfig, Secret, DEFAULT_GATEWAY_URL};

pub use chat::{ChatRequest, Delta, DeltaStream, Usage};
pub use error::GatewayError;
pub use wire::{
    ChatMessage, FunctionOut, ImagePart, Role, ToolCallOut, ToolChoice, ToolKind, ToolSpec,
};

/// Gateway connection settings.
#[derive(Debug, Clone)]
pub struct GatewaySettings {
    /// Base URL, e.g. `http://127.0.0.1:11434/v1`; `/chat/completions` is appended.
    pub base_url: String,
    /// Bearer key; `None` for keyless local gateways.
    pub api_key: Option<Secret>,
    /// Default model id.
    pub model: String,
    /// `max_tokens` for every call.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f32,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Longest silence allowed while waiting for the response or between stream events.
    pub read_timeout: Duration,
    /// Extra attempts after a retryable failure that happened before the first delta.
    pub retries: u32,
}

impl GatewaySettings {
    /// The gateway `config` describes (the upstream default URL when none is set), with the
    /// server-wide key.
    pub fn from_config(config: &AgentConfig) -> Self {
        Self {
            base_url: config
                .gateway_url
                .clone()
                .unwrap_or_else(|| DEFAULT_GATEWAY_URL.to_string()),
            api_key: config.gateway_key.clone(),
            model: config.model.clone(),
            max_tokens: config.max_tokens,
            temperature: config.temperature,
            connect_timeout: Duration::from_secs(config.gateway_connect_timeout_secs),
            read_timeout: Duration::from_secs(config.gateway_read_timeout_secs),
            retries: config.gateway_retries,
        }
    }
}

/// A reusable gateway client (connection pool inside).
#[derive(Debug, Clone)]
pub struct Gateway {
    http: reqwest::Client,
    settings: GatewaySettings,
}

/// Idle connections kept to the gateway, at most.
const POOL_MAX_IDLE: usize = 32;

impl Gateway {
    /// Builds a client; fails only if the TLS stack cannot initialise.
    pub fn new(settings: GatewaySettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            // A burst of turns opens as many connections as turns; keep only a few idle
            // afterwards (each holds a socket and its buffers for the idle timeout).
            .pool_max_idle_per_host(POOL_MAX_IDLE)
            .build()?;
        Ok(Self { http, settings })
    }

    /// The settings in use.
    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }

    /// The same gateway (and connection pool) authenticating with `key` instead.
    pub fn with_key(&self, key: Option<Secret>) -> Gateway {
        Gateway {
            http: self.http.clone(),
            settings: GatewaySettings {
                api_key: key,
                ..self.settings.clone()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_alone_means_the_upstream_gateway() {
        let mut config = crate::config::Config::for_tests().agent;
        config.gateway_key = Some("k".into());
        let settings = GatewaySettings::from_config(&config);
        assert_eq!(settings.base_url, DEFAULT_GATEWAY_URL);
        assert_eq!(settings.api_key.as_ref().map(Secret::expose), Some("k"));
        config.gateway_url = Some("http://127.0.0.1:9/v1".into());
        assert_eq!(
            GatewaySettings::from_config(&config).base_url,
            "http://127.0.0.1:9/v1"
        );
    }
}
