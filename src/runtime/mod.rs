//! The knowledge-chat runtime behind `send_message`: the gateway client, the agent loop, the
//! registry of running turns, and the tools a model may call.

pub mod gateway;
pub mod registry;
pub mod sink;
pub mod tools;
pub mod turn;

use std::time::Duration;

use crate::config::AgentConfig;
use gateway::{Gateway, GatewaySettings};
use registry::TurnRegistry;

/// Built-in system prompt, written for customer-facing chat.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant chatting with a customer. \
Be accurate, friendly and concise. Use what the user told you earlier in the conversation. \
When you do not know something, say so plainly instead of guessing.";

/// Everything turns share: settings, the gateway client, and the running-turn registry.
pub struct Runtime {
    /// Agent settings.
    pub config: AgentConfig,
    /// The gateway client, `None` when no gateway is configured.
    pub gateway: Option<Gateway>,
    /// Running turns, by session.
    pub turns: TurnRegistry,
}

impl Runtime {
    /// Builds the runtime from settings (no network traffic happens here).
    pub fn new(config: AgentConfig) -> anyhow::Result<Self> {
        let gateway = match config.effective_gateway_url() {
            None => None,
            Some(base_url) => Some(Gateway::new(GatewaySettings {
                base_url,
                api_key: config.gateway_key.clone().filter(|k| !k.trim().is_empty()),
                model: config.model.clone(),
                max_tokens: config.max_tokens,
                temperature: config.temperature,
                connect_timeout: Duration::from_secs(config.gateway_connect_timeout_secs),
                read_timeout: Duration::from_secs(config.gateway_read_timeout_secs),
                retries: config.gateway_retries,
            })?),
        };
        Ok(Self {
            config,
            gateway,
            turns: TurnRegistry::default(),
        })
    }

    /// The system prompt for turns.
    pub fn system_prompt(&self) -> &str {
        self.config
            .system_prompt
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .unwrap_or(DEFAULT_SYSTEM_PROMPT)
    }
}
