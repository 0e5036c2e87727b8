//! The knowledge-chat runtime behind `send_message`: the gateway client, the agent loop, the
//! registry of running turns, and the tools a model may call.

pub mod confirm;
pub mod gateway;
pub mod registry;
pub mod sink;
pub mod tools;
pub mod turn;

use std::sync::Arc;

use crate::config::AgentConfig;
use crate::knowledge::{DynKnowledge, Knowledge};
use crate::store::DynStore;
use confirm::Confirmations;
use gateway::{Gateway, GatewaySettings};
use registry::TurnRegistry;
use tools::declared::DeclaredTools;

/// Built-in system prompt, written for customer-facing chat.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant chatting with a customer. \
Be accurate, friendly and concise. Use what the user told you earlier in the conversation. \
When knowledge-base excerpts or a knowledge_search tool are available, ground answers about the \
organisation in them. When you do not know something, say so plainly instead of guessing.";

/// Everything turns share: settings, the gateway client, and the running-turn registry.
pub struct Runtime {
    /// Agent settings.
    pub config: AgentConfig,
    /// The gateway client, `None` when no gateway is configured.
    pub gateway: Option<Gateway>,
    /// Running turns, by session.
    pub turns: TurnRegistry,
    /// The knowledge base turns retrieve from.
    pub knowledge: DynKnowledge,
    /// HTTP tools declared in the tools file.
    pub tools: Arc<DeclaredTools>,
    /// Tool calls waiting for a person's approval.
    pub confirmations: Confirmations,
    /// Name patterns of tools that need approval.
    confirm_patterns: Vec<String>,
}

impl Runtime {
    /// Builds the runtime from settings: validates the tools file (no network traffic happens
    /// here).
    pub fn new(config: AgentConfig, store: DynStore) -> anyhow::Result<Self> {
        let tools = match &config.tools_file {
            Some(path) => DeclaredTools::load(path)?,
            None => DeclaredTools::none(),
        };
        let knowledge = Arc::new(Knowledge::from_config(&config, store)?);
        let confirm_patterns = config.confirm_patterns();
        let gateway = match config.effective_gateway_url() {
            None => None,
            Some(base_url) => Some(Gateway::new(GatewaySettings::from_config(
                &config, base_url,
            ))?),
        };
        Ok(Self {
            config,
            gateway,
            turns: TurnRegistry::default(),
            knowledge,
            tools: Arc::new(tools),
            confirmations: Confirmations::default(),
            confirm_patterns,
        })
    }

    /// Whether a call of `tool` needs a person's approval: its name contains a configured
    /// pattern. The read-only built-in `knowledge_search` never does.
    pub fn needs_confirmation(&self, tool: &str) -> bool {
        if tool == tools::knowledge_search::NAME && self.tools.get(tool).is_none() {
            return false;
        }
        self.confirm_patterns
            .iter()
            .any(|p| tool.contains(p.as_str()))
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
