//! Settings of the backplane that joins several server processes (pods): in-process for one
//! pod, Redis for many.

use clap::ValueEnum;

use super::Secret;

/// Which backplane carries events and requests between pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackplaneKind {
    /// One process: everything stays in memory (the default).
    #[value(alias = "memory", alias = "in-process", alias = "local")]
    InProcess,
    /// Redis pub/sub and keys: turn leases, events and answers across pods.
    Redis,
}

/// Settings of the backplane.
#[derive(Debug, Clone, clap::Args)]
pub struct BackplaneConfig {
    /// The backplane: `in-process` for one pod, `redis` for several.
    #[arg(long, env = "SMOOTH_AGENT_BACKPLANE", value_enum, ignore_case = true, default_value_t = BackplaneKind::InProcess)]
    pub backplane: BackplaneKind,

    /// URL of the Redis backplane, e.g. `redis://redis:6379/0` (default: SMOOTH_AGENT_REDIS_URL).
    #[arg(long, env = "SMOOTH_AGENT_BACKPLANE_URL", hide_env_values = true)]
    pub backplane_url: Option<Secret>,

    /// URL of Redis, used for the backplane when SMOOTH_AGENT_BACKPLANE_URL is unset.
    #[arg(long, env = "SMOOTH_AGENT_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,

    /// Seconds a pod's hold on a session's running turn lasts without renewal (renewed every
    /// third of it): a pod that dies frees its sessions after at most this long.
    #[arg(long, env = "SMOOTH_AGENT_TURN_LEASE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(2..))]
    pub turn_lease_secs: u64,
}

impl BackplaneConfig {
    /// The settings with blank URLs treated as unset. Idempotent.
    pub fn normalized(self) -> Self {
        Self {
            backplane_url: self.backplane_url.and_then(Secret::non_blank),
            redis_url: self.redis_url.and_then(Secret::non_blank),
            ..self
        }
    }

    /// The Redis URL the backplane connects to, when it is `redis`; an error names the settings
    /// when neither is set.
    pub fn resolved_url(&self) -> Result<Option<Secret>, String> {
        match self.backplane {
            BackplaneKind::InProcess => Ok(None),
            BackplaneKind::Redis => self
                .backplane_url
                .clone()
                .or_else(|| self.redis_url.clone())
                .map(Some)
                .ok_or_else(|| {
                    "SMOOTH_AGENT_BACKPLANE=redis needs SMOOTH_AGENT_BACKPLANE_URL (or \
                     SMOOTH_AGENT_REDIS_URL), e.g. redis://127.0.0.1:6379/0"
                        .to_string()
                }),
        }
    }
}
