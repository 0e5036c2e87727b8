//! The HTTP side, and the only module that knows about WebSocket and HTTP: the axum router,
//! per-connection sockets ([`connection`], [`outbound`]), the admin API ([`admin`]), the chat
//! page, widget and protocol docs ([`web`]), the Prometheus scrape ([`metrics`]), start-up and
//! graceful shutdown.

pub mod admin;
pub mod connection;
mod http_error;
pub mod metrics;
pub mod outbound;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use anyhow::Context;

use crate::auth::{Auth, Principal};
use crate::config::Config;
use crate::knowledge::{files, Origin, Outcome};
use crate::protocol::{ClientError, ErrorCode};
use crate::runtime::Runtime;
use crate::store::agent::AgentDefinition;
use crate::store::DynStore;

/// Process-wide state shared by every connection.
#[derive(Clone)]
pub struct AppState {
    /// Settings.
    pub config: Arc<Config>,
    /// Turns, tools, knowledge and storage.
    pub runtime: Arc<Runtime>,
    /// Token verification and widget policies.
    pub auth: Arc<Auth>,
    /// Every live WebSocket connection task, so shutdown can wait for them.
    pub connections: TaskTracker,
}

/// Builds the router: `GET /ws`, `GET /healthz` (and `/health`), `GET /readyz`, `GET /metrics`,
/// the chat page, widget, `/api/info` and protocol docs ([`web`]), and `/admin` when an admin
/// token or a token verifier is configured.
pub fn router(state: AppState) -> Router {
    // Installs the process's metrics recorder (once) before the first request is counted.
    metrics::handle();
    let mut router = Router::new()
        .route("/ws", get(ws_upgrade))
        .route("/healthz", get(health))
        .route("/health", get(health))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics::scrape))
        .merge(web::routes());
    if let Some(admin) = admin::routes(&state) {
        router = router.merge(admin);
    }
    router.with_state(state)
}

/// `GET /ws` query parameters.
#[derive(serde::Deserialize)]
struct WsQuery {
    /// A bearer token, for browsers (they cannot set headers on a WebSocket handshake).
    token: Option<String>,
}

/// The bearer token of a request: `Authorization: Bearer …`, else `?token=`.
pub(crate) fn bearer<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or(query)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

async fn ws_upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    if state.runtime.shutdown_token().is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    // Identity is settled once, at the handshake; the token itself is never logged.
    let token = bearer(&headers, query.token.as_deref());
    let principal: Principal = match state.auth.connect(token).await {
        Ok(principal) => principal,
        Err(e) => {
            tracing::warn!(reason = %e, "WebSocket upgrade refused: a valid token is required");
            let code = if token.is_some() {
                ErrorCode::InvalidToken
            } else {
                ErrorCode::Unauthenticated
            };
            return ClientError::new(code, "a valid token is required to connect").into_response();
        }
    };
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let limit = usize::try_from(state.config.max_frame_bytes)
        .unwrap_or(usize::MAX)
        .saturating_mul(connection::HARD_CAP_FACTOR);
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .read_buffer_size(connection::READ_BUFFER_BYTES)
        .write_buffer_size(connection::WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let tracker = state.connections.clone();
            tracker.track_future(connection::run(socket, state, principal, origin))
        })
}

/// Liveness: the process answers HTTP. Touches no dependency.
async fn health() -> &'static str {
    "ok"
}

/// Readiness: storage answers too, and so does the backplane (with several pods).
async fn ready(State(state): State<AppState>) -> Response {
    if let Err(e) = state.runtime.store.ping().await {
        tracing::warn!(error = %e, "readiness check failed");
        return (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response();
    }
    if !state.runtime.backplane.ready().await {
        tracing::warn!("readiness check failed: the backplane does not answer");
        return (StatusCode::SERVICE_UNAVAILABLE, "backplane unavailable").into_response();
    }
    (StatusCode::OK, "ready").into_response()
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

/// Serves `runtime` on `listener` (the config is already normalised).
fn serve(
    config: Config,
    runtime: Arc<Runtime>,
    auth: Arc<Auth>,
    listener: TcpListener,
) -> anyhow::Result<ServerHandle> {
    let addr = listener.local_addr()?;
    let shutdown = runtime.shutdown_token().clone();
    let state = AppState {
        config: Arc::new(config),
        runtime,
        auth,
        connections: TaskTracker::new(),
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
        let token = state.runtime.shutdown_token().clone();
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
    let deadline = Duration::from_secs(state.config.drain_secs);
    state.runtime.drain(deadline, GRACE).await;
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

/// Opens storage, then starts like [`bind_and_start_with_store`].
pub async fn bind_and_start(config: Config) -> anyhow::Result<ServerHandle> {
    let store = crate::store::open(&config).await?;
    bind_and_start_with_store(config, store).await
}

/// Validates the tools and agents files and the auth settings, stores the agents, ingests the
/// knowledge folder into `store`, binds the configured address and starts serving.
pub async fn bind_and_start_with_store(
    config: Config,
    store: DynStore,
) -> anyhow::Result<ServerHandle> {
    let config = config.normalized();
    // Timed inside: the metrics count what reaches the database, not what the cache answered.
    let store = crate::store::cached(crate::store::timed(store));
    let auth = Arc::new(Auth::from_config(&config.auth)?);
    if let Some(path) = &config.agents_file {
        seed_agents(&store, path).await?;
    }
    let backplane = crate::backplane::open(&config.backplane).await?;
    let runtime = Arc::new(Runtime::with_backplane(
        config.agent.clone(),
        store,
        backplane,
    )?);
    runtime.join_backplane();
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
    serve(config, runtime, auth, listener)
}

/// Reads the agents file and stores every definition in it (replacing stored ones with the
/// same id); an invalid file stops start-up naming the entry and field.
async fn seed_agents(store: &DynStore, path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read agents file {}", path.display()))?;
    let agents = AgentDefinition::parse_file(&text)
        .map_err(|e| anyhow::anyhow!("invalid agents file {}: {e}", path.display()))?;
    for agent in &agents {
        store
            .put_agent(agent)
            .await
            .with_context(|| format!("cannot store agent {}", agent.id))?;
    }
    tracing::info!(file = %path.display(), agents = agents.len(), "agents stored");
    Ok(())
}
