//! Settings of the model gateway and of agent turns.

use std::path::PathBuf;

use super::otp::OtpConfig;
use super::Secret;
use super::{non_blank, non_blank_list};

/// Settings of the LLM gateway and of agent turns.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentConfig {
    /// Base URL of an OpenAI-compatible gateway (`/chat/completions` is appended). When unset
    /// but a key is set, the upstream default gateway is used; with neither, turns answer
    /// LLM_UNAVAILABLE.
    #[arg(long, env = "SMOOAI_GATEWAY_URL")]
    pub gateway_url: Option<String>,

    /// Bearer key for the gateway (optional for keyless local gateways such as Ollama or vLLM).
    #[arg(long, env = "SMOOAI_GATEWAY_KEY", hide_env_values = true)]
    pub gateway_key: Option<Secret>,

    /// Default chat model id.
    #[arg(long, env = "SMOOTH_AGENT_MODEL", default_value = "claude-haiku-4-5")]
    pub model: String,

    /// Comma-separated models a client may pick per turn with `model`; empty allows any.
    #[arg(long, env = "SMOOTH_AGENT_ALLOWED_MODELS", value_delimiter = ',')]
    pub allowed_models: Vec<String>,

    /// `max_tokens` sent with every model call.
    #[arg(long, env = "SMOOTH_AGENT_MAX_TOKENS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: u32,

    /// Most model calls in one turn (tool loops stop here).
    #[arg(long, env = "SMOOTH_AGENT_MAX_ITERATIONS", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_iterations: u32,

    /// Sampling temperature (1.0 is accepted by every current frontier model).
    #[arg(long, env = "SMOOTH_AGENT_TEMPERATURE", default_value_t = 1.0)]
    pub temperature: f32,

    /// Seconds to wait for a TCP/TLS connection to the gateway.
    #[arg(
        long,
        env = "SMOOTH_AGENT_GATEWAY_CONNECT_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub gateway_connect_timeout_secs: u64,

    /// Seconds of gateway silence (before the response or between stream events) that fail a call.
    #[arg(
        long,
        env = "SMOOTH_AGENT_GATEWAY_READ_TIMEOUT_SECS",
        default_value_t = 120
    )]
    pub gateway_read_timeout_secs: u64,

    /// Retries of a failed gateway call before its first token (429, 5xx, connect errors).
    #[arg(long, env = "SMOOTH_AGENT_GATEWAY_RETRIES", default_value_t = 2)]
    pub gateway_retries: u32,

    /// Most stored messages replayed to the model each turn (the newest ones).
    #[arg(long, env = "SMOOTH_AGENT_HISTORY_MESSAGES", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub history_messages: u32,

    /// Seconds of silence during a running turn after which a keepalive event is sent.
    #[arg(long, env = "SMOOTH_AGENT_KEEPALIVE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub keepalive_secs: u64,

    /// Replaces the built-in system prompt.
    #[arg(long, env = "SMOOTH_AGENT_SYSTEM_PROMPT")]
    pub system_prompt: Option<String>,

    /// Folder whose files are ingested as knowledge documents at start-up (`source` = path
    /// relative to the folder). Documents that came from the folder and are gone are removed.
    #[arg(long, env = "SMOOTH_AGENT_KNOWLEDGE_DIR")]
    pub knowledge_dir: Option<PathBuf>,

    /// Embeddings model on the gateway (`/embeddings`). When set, retrieval fuses dense and
    /// lexical rankings; when unset, retrieval is lexical (full-text) only.
    #[arg(long, env = "SMOOTH_AGENT_EMBEDDING_MODEL")]
    pub embedding_model: Option<String>,

    /// JSON file declaring HTTP tools the model may call:
    /// `[{name, description, parameters, http: {url, method?, headers?, timeoutMs?}}]`.
    #[arg(long, env = "SMOOTH_AGENT_TOOLS_FILE")]
    pub tools_file: Option<PathBuf>,

    /// Comma-separated patterns: a tool whose name contains one needs a person's approval
    /// (`confirm_tool_action`) before it runs.
    #[arg(long, env = "SMOOTH_AGENT_CONFIRM_TOOLS", value_delimiter = ',')]
    pub confirm_tools: Vec<String>,

    /// Seconds a tool call waits for approval; no answer counts as a rejection.
    #[arg(long, env = "SMOOTH_AGENT_CONFIRM_TIMEOUT_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub confirm_timeout_secs: u64,

    /// Let a client choose any model with `send_message.model` when
    /// `SMOOTH_AGENT_ALLOWED_MODELS` is empty (otherwise an empty list means: only the agent's
    /// or the server's model).
    #[arg(long, env = "SMOOTH_AGENT_ALLOW_ANY_MODEL", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false,
          num_args = 0..=1, default_missing_value = "true")]
    pub allow_any_model: bool,

    /// Most tool calls one model response may make; the rest get an error result.
    #[arg(long, env = "SMOOTH_AGENT_MAX_TOOL_CALLS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tool_calls: u32,

    /// Largest arguments of one tool call, in bytes; bigger calls are refused before any prompt.
    #[arg(long, env = "SMOOTH_AGENT_MAX_TOOL_ARGUMENT_BYTES", default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(2..))]
    pub max_tool_argument_bytes: u64,

    /// Most turns running at once for one connection (`OVERLOADED` beyond).
    #[arg(long, env = "SMOOTH_AGENT_MAX_TURNS_PER_CONNECTION", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_turns_per_connection: u32,

    /// Most turns running at once in this process (`OVERLOADED` beyond).
    #[arg(long, env = "SMOOTH_AGENT_MAX_TURNS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_turns: u32,

    /// Longest a turn may run, waits for approvals and codes included; then it is cancelled.
    #[arg(long, env = "SMOOTH_AGENT_TURN_TIMEOUT_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub turn_timeout_secs: u64,

    /// Longest a turn goes on after its client left (default: the turn timeout).
    #[arg(long, env = "SMOOTH_AGENT_ORPHAN_TURN_SECS")]
    pub orphan_turn_secs: Option<u64>,

    /// Largest `metadata` of a new session, in bytes of JSON.
    #[arg(long, env = "SMOOTH_AGENT_MAX_METADATA_BYTES", default_value_t = 16 * 1024)]
    pub max_metadata_bytes: u64,

    /// Model of the workflow judge, which decides after each turn whether the current workflow
    /// step was reached (default: the server model).
    #[arg(long, env = "SMOOTH_AGENT_JUDGE_MODEL")]
    pub judge_model: Option<String>,

    /// Model of the preamble: a short "what I'm about to do" line streamed as `stream_preamble`
    /// while the main call starts (unset: no preamble).
    #[arg(long, env = "SMOOTH_AGENT_PREAMBLE_MODEL")]
    pub preamble_model: Option<String>,

    /// How long a turn waits for the user's answer to an interaction (then the raise tool
    /// reports `no_response`).
    #[arg(long, env = "SMOOTH_AGENT_INTERACTION_TIMEOUT_SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub interaction_timeout_secs: u64,

    /// Folder of skills: `send_message.skill` names a Markdown recipe `<skill>.md` in it, added
    /// to the system prompt for that turn (unset: every skill is SKILL_NOT_FOUND).
    #[arg(long, env = "SMOOTH_AGENT_SKILLS_DIR")]
    pub skills_dir: Option<PathBuf>,

    /// One-time codes for end-user verification.
    #[command(flatten)]
    pub otp: OtpConfig,
}

/// The gateway used when only a key is configured (the upstream default).
pub const DEFAULT_GATEWAY_URL: &str = "https://llm.smoo.ai/v1";

impl AgentConfig {
    /// The settings with text values trimmed and blank ones treated as unset (an empty
    /// `SMOOAI_GATEWAY_KEY=` means no key). Idempotent.
    pub fn normalized(self) -> Self {
        Self {
            gateway_url: non_blank(self.gateway_url),
            gateway_key: self.gateway_key.and_then(Secret::non_blank),
            allowed_models: non_blank_list(self.allowed_models),
            // The prompt is kept as written; only a blank one counts as unset.
            system_prompt: self.system_prompt.filter(|p| !p.trim().is_empty()),
            embedding_model: non_blank(self.embedding_model),
            confirm_tools: non_blank_list(self.confirm_tools),
            judge_model: non_blank(self.judge_model),
            preamble_model: non_blank(self.preamble_model),
            otp: self.otp.normalized(),
            ..self
        }
    }

    /// Whether a gateway is configured server-wide (a URL, or a key for the upstream default
    /// gateway). Without one, only organisations with their own key can run turns.
    pub fn gateway_configured(&self) -> bool {
        self.gateway_url.is_some() || self.gateway_key.is_some()
    }
}
