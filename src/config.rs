//! Server settings: every one is an environment variable and a `--flag` (clap `env`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::{Parser, ValueEnum};

/// Which storage backend holds sessions and messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageKind {
    /// A SQLite database file (the durable default).
    Sqlite,
    /// An in-memory SQLite database: same code, nothing survives a restart.
    Memory,
}

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

    /// SQLite database: a `sqlite:` URL or a file path (created when missing).
    #[arg(
        long,
        env = "SMOOTH_AGENT_DATABASE_URL",
        default_value = "sqlite://smooth-agent.db"
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

    /// Seconds to wait on shutdown for connections to finish before they are cut.
    #[arg(long, env = "SMOOTH_AGENT_DRAIN_SECS", default_value_t = 30)]
    pub drain_secs: u64,
}

impl Config {
    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// Defaults suitable for tests and embedding: in-memory storage on 127.0.0.1, port 0.
    pub fn for_tests() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            storage: StorageKind::Memory,
            database_url: String::new(),
            max_frame_bytes: 1024 * 1024,
            outbound_queue: 256,
            send_timeout_secs: 10,
            drain_secs: 5,
        }
    }
}
