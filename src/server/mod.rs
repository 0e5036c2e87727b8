//! The HTTP side: router, start-up, and graceful shutdown.

pub mod admin;
pub mod connection;
pub mod outbound;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{State, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use anyhow::Context;

use crate::config::{Config, StorageKind};
use crate::knowledge::{files, Origin, Outcome};
use crate::runtime::Runtime;
use crate::store::sqlite::SqliteStore;
use crate::store::DynStore;

/// Process-wide state shared by every connection.
#[derive(Clone)]
pub struct AppState {
    /// Durable storage.
    pub store: DynStore,
    /// Settings.
    pub config: Arc<Config>,
    /// Cancelled when the server starts shutting down.
    pub shutdown: CancellationToken,
    /// Every live WebSocket connection task, so shutdown can wait for them.
    pub connections: TaskTracker,
    /// Every running turn task, including turns whose client already left.
    pub turns: TaskTracker,
    /// Gateway client, settings and running-turn registry.
    pub runtime: Arc<Runtime>,
}

/// Opens the configured store.
pub async fn open_store(config: &Config) -> anyhow::Result<DynStore> {
    let store: DynStore = match config.storage {
        StorageKind::Memory => Arc::new(SqliteStore::open_memory().await?),
        StorageKind::Sqlite => Arc::new(SqliteStore::open_file(&config.database_url).await?),
    };
    Ok(store)
}

/// Builds the router: `GET /ws`, `GET /healthz` (and `/health`), `GET /readyz`, and `/admin`
/// when an admin token is configured.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(health))
        .route("/health", get(health))
        .route("/readyz", get(ready));
    if let Some(admin) = admin::routes(&state) {
        router = router.merge(admin);
    }
    router.with_state(state)
}

async fn ws_upgrade(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let limit = usize::try_from(state.config.max_frame_bytes)
        .unwrap_or(usize::MAX)
        .saturating_mul(connection::HARD_CAP_FACTOR);
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| {
            let tracker = state.connections.clone();
            tracker.track_future(connection::run(socket, state))
        })
}

/// Liveness: the process answers HTTP. Touches no dependency.
async fn health() -> &'static str {
    "ok"
}

/// Readiness: storage answers too.
async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    }
}

/// A running server: its address and the means to stop it.
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL of the server.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// A token that, when cancelled, starts a graceful shutdown.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Shuts down gracefully and waits until every connection has closed.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits for the server to stop (after its shutdown token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await?
    }
}

/// Starts serving on `listener` with `store`; returns at once with a handle. Fails when the
/// tools file is invalid.
pub fn start(
    config: Config,
    store: DynStore,
    listener: TcpListener,
) -> anyhow::Result<ServerHandle> {
    let runtime = Arc::new(Runtime::new(config.agent.clone(), store.clone())?);
    start_with_runtime(config, store, runtime, listener)
}

/// [`start`] with an already built runtime.
pub fn start_with_runtime(
    config: Config,
    store: DynStore,
    runtime: Arc<Runtime>,
    listener: TcpListener,
) -> anyhow::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let state = AppState {
        store: store.clone(),
        config: Arc::new(config),
        shutdown: shutdown.clone(),
        connections: TaskTracker::new(),
        turns: TaskTracker::new(),
        runtime,
    };
    let app = router(state.clone());
    // Events are small frames written one by one: without TCP_NODELAY, Nagle's algorithm and the
    // client's delayed ACK hold the first token back by ~40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let task = tokio::spawn(async move {
        let token = state.shutdown.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await?;
        drain(&state).await;
        Ok(())
    });
    Ok(ServerHandle {
        addr,
        shutdown,
        task,
    })
}

/// Lets running turns finish (up to the drain deadline, then cancels them), then waits for
/// every connection to deliver its last events and close with 1001.
async fn drain(state: &AppState) {
    state.turns.close();
    let deadline = Duration::from_secs(state.config.drain_secs);
    let running = state.runtime.turns.len();
    if running > 0 {
        tracing::info!(running, "draining running turns");
    }
    if tokio::time::timeout(deadline, state.turns.wait())
        .await
        .is_err()
    {
        let cancelled = state.runtime.turns.cancel_all();
        tracing::warn!(
            cancelled,
            "drain deadline passed; cancelling remaining turns"
        );
        let _ = tokio::time::timeout(GRACE, state.turns.wait()).await;
    }
    // Upgraded sockets are not tracked by axum: wait for them ourselves.
    state.connections.close();
    if tokio::time::timeout(GRACE, state.connections.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            remaining = state.connections.len(),
            "connections did not close in time; cutting them"
        );
    }
}

/// Extra time given after the drain deadline for final events and close frames.
const GRACE: Duration = Duration::from_secs(5);

/// Opens storage, validates the tools file, ingests the knowledge folder, binds the configured
/// address and starts serving.
pub async fn bind_and_start(config: Config) -> anyhow::Result<ServerHandle> {
    let store = open_store(&config).await?;
    let runtime = Arc::new(Runtime::new(config.agent.clone(), store.clone())?);
    if let Some(dir) = &config.agent.knowledge_dir {
        let report = files::ingest_path(&runtime.knowledge, dir, Origin::Dir, None, true)
            .await
            .with_context(|| format!("cannot ingest the knowledge folder {}", dir.display()))?;
        for (path, reason) in &report.skipped {
            tracing::warn!(path = %path.display(), %reason, "knowledge file skipped");
        }
        tracing::info!(
            folder = %dir.display(),
            created = report.count(Outcome::Created),
            updated = report.count(Outcome::Updated),
            unchanged = report.count(Outcome::Unchanged),
            removed = report.removed.len(),
            skipped = report.skipped.len(),
            "knowledge folder ingested"
        );
    }
    let listener = TcpListener::bind(config.addr()).await?;
    start_with_runtime(config, store, runtime, listener)
}
