//! Server settings: every one is an environment variable and a `--flag` (clap `env`).
//! [`agent`] holds the gateway and turn settings, [`auth`] who may connect; the server and the
//! `ingest` command normalise a [`Config`] once when they take it.

pub mod agent;
pub mod auth;
pub mod backplane;
pub mod otp;
pub mod secret;

pub use agent::{AgentConfig, DEFAULT_GATEWAY_URL};
pub use auth::{AuthConfig, AuthMode};
pub use backplane::{BackplaneConfig, BackplaneKind};
pub use otp::OtpConfig;
pub use secret::Secret;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

/// Which storage backend holds sessions and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    /// A SQLite database file (the durable default).
    Sqlite,
    /// An in-memory SQLite database: same code, nothing survives a restart.
    Memory,
    /// A PostgreSQL database (`pg` and `postgresql` are accepted too).
    #[value(alias = "pg", alias = "postgresql")]
    Postgres,
}

/// The SQLite database used when no database URL is set.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://smooth-agent.db";

/// Command-line and environment configuration of the server.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "smooth-operator-rs",
    version,
    about = "Schema-first WebSocket server for AI chat agents (smooth-operator protocol)"
)]
pub struct Config {
    /// IP address to listen on (use 0.0.0.0 in containers).
    #[arg(long, env = "SMOOTH_AGENT_BIND", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub bind: IpAddr,

    /// TCP port to listen on (0 picks a free port).
    #[arg(long, env = "SMOOTH_AGENT_PORT", default_value_t = 8787)]
    pub port: u16,

    /// Storage backend for sessions and messages.
    #[arg(long, env = "SMOOTH_AGENT_STORAGE", value_enum, ignore_case = true, default_value_t = StorageKind::Sqlite)]
    pub storage: StorageKind,

    /// The database: for sqlite a `sqlite:` URL or a file path, created when missing (default
    /// sqlite://smooth-agent.db); for postgres a `postgres://` URL (default: DATABASE_URL).
    #[arg(
        long,
        env = "SMOOTH_AGENT_DATABASE_URL",
        default_value = "",
        hide_default_value = true
    )]
    pub database_url: String,

    /// Largest accepted WebSocket frame/message in bytes; larger ones close the socket with 1009.
    #[arg(long, env = "SMOOTH_AGENT_MAX_FRAME_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_frame_bytes: u64,

    /// Events buffered per connection before the server waits on the client.
    #[arg(long, env = "SMOOTH_AGENT_OUTBOUND_QUEUE", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub outbound_queue: u64,

    /// Seconds a client may leave its outbound queue full before it is disconnected.
    #[arg(long, env = "SMOOTH_AGENT_SEND_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub send_timeout_secs: u64,

    /// Seconds running turns may take to finish on shutdown before they are cancelled.
    #[arg(long, env = "SMOOTH_AGENT_DRAIN_SECS", default_value_t = 30)]
    pub drain_secs: u64,

    /// Bearer token that enables the `/admin` HTTP API (document ingest, list, delete). Unset
    /// means `/admin` answers 404.
    #[arg(long, env = "SMOOTH_AGENT_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Bearer token `GET /metrics` requires (compared in constant time). Unset means the
    /// Prometheus scrape is open, like `/healthz`: it holds counts and timings only, never an
    /// id, a client-chosen name or a secret.
    #[arg(long, env = "SMOOTH_AGENT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    /// JSON file of agent definitions (instructions, tools, model, widget policy…) stored at
    /// start-up; see the README for the format.
    #[arg(long, env = "SMOOTH_AGENT_AGENTS_FILE")]
    pub agents_file: Option<PathBuf>,

    /// Model gateway and turn settings.
    #[command(flatten)]
    pub agent: AgentConfig,

    /// Token verification and widget policies.
    #[command(flatten)]
    pub auth: AuthConfig,

    /// How pods share turns and events.
    #[command(flatten)]
    pub backplane: BackplaneConfig,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The binary's subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Serve WebSocket and HTTP until SIGTERM or Ctrl-C (the default).
    Serve,
    /// Ingest files into the knowledge base of the configured database, then exit.
    Ingest(IngestArgs),
}

/// Arguments of `ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    /// Files or folders. A folder's files get their path relative to the folder as `source`; a
    /// file gets its file name.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,

    /// Access list for every ingested document, as JSON `{"public":bool,"users":[..],"groups":[..]}`
    /// (no ACL: readable by everyone).
    #[arg(long)]
    pub acl: Option<String>,
}

/// `value` trimmed, or `None` when nothing but whitespace is left.
fn non_blank(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Every entry trimmed, blank entries dropped.
fn non_blank_list(values: Vec<String>) -> Vec<String> {
    values
        .into_iter()
        .filter_map(|v| non_blank(Some(v)))
        .collect()
}

impl Config {
    /// The settings with text values trimmed and blank ones treated as unset. Every entry point
    /// (the server, the `ingest` command) applies it once, so code below reads settings as they
    /// are. Idempotent.
    pub fn normalized(self) -> Self {
        Self {
            admin_token: self.admin_token.and_then(Secret::non_blank),
            metrics_token: self.metrics_token.and_then(Secret::non_blank),
            agent: self.agent.normalized(),
            auth: self.auth.normalized(),
            backplane: self.backplane.normalized(),
            ..self
        }
    }

    /// The database URL the storage backend opens: `database_url` when set, else for postgres
    /// the `DATABASE_URL` environment variable, else for SQLite [`DEFAULT_SQLITE_URL`]; an
    /// error names the setting when postgres has none.
    pub fn resolved_database_url(&self) -> Result<String, String> {
        let set = self.database_url.trim();
        if !set.is_empty() {
            return Ok(set.to_string());
        }
        match self.storage {
            StorageKind::Postgres => std::env::var("DATABASE_URL")
                .ok()
                .map(|url| url.trim().to_string())
                .filter(|url| !url.is_empty())
                .ok_or_else(|| {
                    "SMOOTH_AGENT_STORAGE=postgres needs SMOOTH_AGENT_DATABASE_URL (or \
                     DATABASE_URL), e.g. postgres://user:password@localhost/smooth_agent"
                        .to_string()
                }),
            StorageKind::Sqlite | StorageKind::Memory => Ok(DEFAULT_SQLITE_URL.to_string()),
        }
    }

    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The built-in defaults, as `--help` documents them, ignoring the environment.
    pub fn defaults() -> Self {
        let command = Self::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command
            .try_get_matches_from(["smooth-operator-rs"])
            .expect("the defaults parse");
        Self::from_arg_matches(&matches).expect("the defaults are settings")
    }

    /// The defaults with what tests need instead: in-memory storage on 127.0.0.1 port 0, no
    /// gateway, a short drain, and small, fast turn limits.
    pub fn for_tests() -> Self {
        let defaults = Self::defaults();
        Self {
            port: 0,
            storage: StorageKind::Memory,
            drain_secs: 5,
            agent: AgentConfig {
                model: "test-model".to_string(),
                max_tokens: 1024,
                max_iterations: 6,
                gateway_connect_timeout_secs: 5,
                gateway_read_timeout_secs: 10,
                gateway_retries: 1,
                ..defaults.agent
            },
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_is_named_three_ways() {
        for name in ["postgres", "pg", "postgresql", "PostgreSQL"] {
            let config = Config::try_parse_from(["smooth-operator-rs", "--storage", name])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(config.storage, StorageKind::Postgres, "{name}");
        }
        assert!(Config::try_parse_from(["smooth-operator-rs", "--storage", "mysql"]).is_err());
    }

    #[test]
    fn a_set_database_url_wins() {
        let mut config = Config::for_tests();
        config.storage = StorageKind::Postgres;
        config.database_url = " postgres://127.0.0.1/x ".into();
        assert_eq!(
            config.resolved_database_url().as_deref(),
            Ok("postgres://127.0.0.1/x")
        );
        config.storage = StorageKind::Sqlite;
        config.database_url = String::new();
        assert_eq!(
            config.resolved_database_url().as_deref(),
            Ok(DEFAULT_SQLITE_URL)
        );
    }

    #[test]
    fn normalising_trims_drops_blanks_and_is_idempotent() {
        let mut config = Config::for_tests();
        config.admin_token = Some("  secret ".into());
        config.metrics_token = Some(" \t ".into());
        config.agent.gateway_url = Some("   ".into());
        config.agent.gateway_key = Some(" key ".into());
        config.agent.allowed_models = vec![" a ".into(), "".into(), "b".into()];
        config.agent.confirm_tools = vec![" ".into(), "delete".into()];
        config.agent.system_prompt = Some(" \n ".into());
        config.agent.embedding_model = Some(" embed ".into());
        let once = config.normalized();
        assert_eq!(
            once.admin_token.as_ref().map(Secret::expose),
            Some("secret")
        );
        assert!(
            once.metrics_token.is_none(),
            "a blank metrics token leaves /metrics open"
        );
        assert_eq!(once.agent.gateway_url, None);
        assert_eq!(
            once.agent.gateway_key.as_ref().map(Secret::expose),
            Some("key")
        );
        assert_eq!(once.agent.allowed_models, ["a", "b"]);
        assert_eq!(once.agent.confirm_tools, ["delete"]);
        assert_eq!(once.agent.system_prompt, None);
        assert_eq!(once.agent.embedding_model.as_deref(), Some("embed"));
        // A key alone configures the upstream default gateway.
        assert!(once.agent.gateway_configured());
        let twice = once.clone().normalized();
        assert_eq!(format!("{twice:?}"), format!("{once:?}"));
    }

    #[test]
    fn a_written_system_prompt_is_kept_as_written() {
        let mut agent = Config::for_tests().agent;
        agent.system_prompt = Some("  Be brief.\n".into());
        assert_eq!(
            agent.normalized().system_prompt.as_deref(),
            Some("  Be brief.\n")
        );
    }

    #[test]
    fn test_settings_start_from_the_real_defaults() {
        let defaults = Config::defaults();
        assert_eq!(defaults.port, 8787);
        assert_eq!(defaults.storage, StorageKind::Sqlite);
        assert_eq!(
            defaults.resolved_database_url().as_deref(),
            Ok(DEFAULT_SQLITE_URL)
        );
        assert_eq!(defaults.agent.model, "claude-haiku-4-5");
        let tests = Config::for_tests();
        assert_eq!(tests.port, 0);
        assert_eq!(tests.storage, StorageKind::Memory);
        // Everything tests do not override is the default.
        assert_eq!(tests.max_frame_bytes, defaults.max_frame_bytes);
        assert_eq!(tests.outbound_queue, defaults.outbound_queue);
        assert_eq!(tests.send_timeout_secs, defaults.send_timeout_secs);
        assert_eq!(tests.agent.keepalive_secs, defaults.agent.keepalive_secs);
        assert_eq!(
            tests.agent.history_messages,
            defaults.agent.history_messages
        );
        assert_eq!(
            tests.agent.confirm_timeout_secs,
            defaults.agent.confirm_timeout_secs
        );
        assert_eq!(tests.agent.gateway_url, None);
    }
}
