//! The knowledge-chat runtime behind `send_message`: starting and draining turns ([`start`]),
//! the agent loop ([`turn`]), the registry of running turns ([`registry`]), the tools a model
//! may call ([`tools`]), turns parked for a person's approval, a one-time code or the user's
//! answer to an interaction ([`park`], [`otp`], [`interaction`]), what a message brings besides
//! text ([`attachments`]), and the [`sink`] seam through which every event leaves.
//!
//! The runtime knows nothing about sockets: it emits through [`sink::EventSink`], which the
//! server's per-connection queue implements.

pub mod attach;
pub mod attachments;
pub mod interaction;
pub mod otp;
pub mod park;
pub mod pods;
pub mod registry;
pub mod sink;
mod start;
pub mod submit;
pub mod tools;
mod turn;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backplane::{in_process::InProcess, DynBackplane, Inbox};
use crate::config::AgentConfig;
use crate::knowledge::{DynKnowledge, Knowledge};
use crate::llm::{Gateway, GatewaySettings};
use crate::store::agent::AgentDefinition;
use crate::store::DynStore;
use otp::Otp;
use park::Confirmations;
use registry::TurnRegistry;
use tools::declared::DeclaredTools;

pub use start::TurnRequest;

/// The render capabilities a client may declare with `supports` that this server acts on:
/// `identity_form` (identity_intake interactions) and `choice_chips` (choices interactions).
pub const KNOWN_CAPABILITIES: &[&str] = &["identity_form", "choice_chips"];

/// Built-in system prompt, written for customer-facing chat.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You are a helpful assistant chatting with a customer. \
Be accurate, friendly and concise. Use what the user told you earlier in the conversation. \
When knowledge-base excerpts or a knowledge_search tool are available, ground answers about the \
organisation in them. When you do not know something, say so plainly instead of guessing.";

/// Everything turns share: settings, storage, the gateway client, the knowledge base, tools, and
/// the running turns.
pub struct Runtime {
    /// Agent settings.
    pub config: AgentConfig,
    /// Durable storage.
    pub store: DynStore,
    /// The gateway client with the server-wide key (turns of an organisation with its own key
    /// use that instead).
    pub gateway: Gateway,
    /// Running turns, by session.
    pub turns: TurnRegistry,
    /// The knowledge base turns retrieve from.
    pub knowledge: DynKnowledge,
    /// HTTP tools declared in the tools file.
    pub tools: Arc<DeclaredTools>,
    /// Tool calls waiting for a person's approval.
    pub confirmations: Confirmations,
    /// One-time codes verifying end users, and the turns waiting for them.
    pub otp: Otp,
    /// Turns waiting for the user's answer to an interaction.
    pub interactions: interaction::Interactions,
    /// Leases, events and requests between pods.
    pub backplane: DynBackplane,
    /// This pod's connections, by the sessions they follow.
    pub attachments: attach::Attachments,
    /// Answers delivered for other pods, waiting for their acknowledgement.
    remote_acks: pods::RemoteAcks,
    /// Every running turn task, including turns whose client already left.
    tasks: TaskTracker,
    /// Cancelled when the server stops taking turns (shutdown).
    shutdown: CancellationToken,
}

impl Runtime {
    /// Builds the runtime from settings: validates the tools file (no network traffic happens
    /// here).
    pub fn new(config: AgentConfig, store: DynStore) -> anyhow::Result<Self> {
        Self::with_backplane(config, store, Arc::new(InProcess::new()))
    }

    /// [`Runtime::new`] on the given backplane; call [`Runtime::join_backplane`] once the
    /// runtime is shared.
    pub fn with_backplane(
        config: AgentConfig,
        store: DynStore,
        backplane: DynBackplane,
    ) -> anyhow::Result<Self> {
        let tools = match &config.tools_file {
            Some(path) => DeclaredTools::load(path)?,
            None => DeclaredTools::none(),
        };
        let knowledge = Arc::new(Knowledge::from_config(&config, store.clone())?);
        let gateway = Gateway::new(GatewaySettings::from_config(&config))?;
        let otp = Otp::new(config.otp.clone(), store.clone())?;
        Ok(Self {
            config,
            store,
            gateway,
            turns: TurnRegistry::default(),
            knowledge,
            tools: Arc::new(tools),
            confirmations: Confirmations::default(),
            otp,
            interactions: interaction::Interactions::default(),
            backplane,
            attachments: attach::Attachments::default(),
            remote_acks: pods::RemoteAcks::default(),
            tasks: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        })
    }

    /// Makes this runtime the backplane's inbox: events and requests from other pods reach it.
    pub fn join_backplane(self: &Arc<Self>) {
        let inbox: std::sync::Weak<dyn Inbox> = Arc::downgrade(self) as std::sync::Weak<dyn Inbox>;
        self.backplane.set_inbox(inbox);
    }

    /// Whether a server-wide gateway is configured (without one, only organisations with
    /// their own key can run turns).
    pub fn gateway_configured(&self) -> bool {
        self.config.gateway_configured()
    }

    /// Whether a call of `tool` needs a person's approval: its name contains a pattern of the
    /// server or of the agent. The read-only built-in `knowledge_search` never does.
    pub fn needs_confirmation(&self, tool: &str, agent: Option<&AgentDefinition>) -> bool {
        if tool == tools::knowledge_search::NAME && self.tools.get(tool).is_none() {
            return false;
        }
        let agent_patterns = agent
            .map(|a| a.confirm_tools.as_slice())
            .unwrap_or_default();
        self.config
            .confirm_tools
            .iter()
            .chain(agent_patterns)
            .any(|p| tool.contains(p.as_str()))
    }

    /// The system prompt for turns.
    pub fn system_prompt(&self) -> &str {
        self.config
            .system_prompt
            .as_deref()
            .unwrap_or(DEFAULT_SYSTEM_PROMPT)
    }

    /// The token cancelled when the server starts shutting down: from then on new turns are
    /// refused with `OVERLOADED`.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }
}
