//! The browser side, compiled into the binary so it works offline: the chat page (`GET /`), the
//! embeddable `<smooth-agent-chat>` widget (`GET /widget.js`), their ES modules and styles
//! (`/assets/*`), the page's facts (`GET /api/info`), and the protocol documentation generated
//! from the spec (`GET /docs`, `GET /asyncapi.json`).
//!
//! Every page answers with a strict Content-Security-Policy: scripts, styles and images only
//! from this server, no inline script, connections only back to this server (its WebSocket
//! included). The widget's files and `/api/info` may be loaded from any origin (`*` CORS), since
//! they are public and the widget runs on other sites; which sites may open sessions is decided
//! on the WebSocket, not by hiding the script.

use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use crate::protocol::PROTOCOL_VERSION;
use crate::store::agent::{Visibility, DEFAULT_AGENT_NAME};

/// The agent id the page and the widget use when none is named and no agent is configured.
pub const DEFAULT_AGENT_ID: &str = "00000000-0000-4000-8000-000000000001";

/// Content-Security-Policy of the chat page.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// Content-Security-Policy of the documentation page (no script at all).
const DOCS_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Content-Security-Policy of scripts, styles and JSON: nothing they load may run or embed.
const ASSET_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";
const JSON: &str = "application/json";

/// Who may load a file: only this server's pages, or any site (the widget's files).
#[derive(Clone, Copy)]
enum Audience {
    SameOrigin,
    AnyOrigin,
}

/// One file served from the binary.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    csp: &'static str,
    audience: Audience,
    body: &'static str,
}

/// Every file served from the binary, by path.
const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        csp: PAGE_CSP,
        audience: Audience::SameOrigin,
        body: include_str!("web/index.html"),
    },
    Asset {
        path: "/widget.js",
        content_type: JS,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("web/widget.js"),
    },
    Asset {
        path: "/assets/app.js",
        content_type: JS,
        csp: ASSET_CSP,
        audience: Audience::SameOrigin,
        body: include_str!("web/app.js"),
    },
    Asset {
        path: "/assets/chat.js",
        content_type: JS,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("web/chat.js"),
    },
    Asset {
        path: "/assets/connection.js",
        content_type: JS,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("web/connection.js"),
    },
    Asset {
        path: "/assets/dom.js",
        content_type: JS,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("web/dom.js"),
    },
    Asset {
        path: "/assets/turn.js",
        content_type: JS,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("web/turn.js"),
    },
    Asset {
        path: "/assets/markdown.js",
        content_type: JS,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("web/markdown.js"),
    },
    Asset {
        path: "/assets/style.css",
        content_type: CSS,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("web/style.css"),
    },
    Asset {
        path: "/assets/docs.css",
        content_type: CSS,
        csp: ASSET_CSP,
        audience: Audience::SameOrigin,
        body: include_str!("web/docs.css"),
    },
    Asset {
        path: "/assets/icon.svg",
        content_type: SVG,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("web/icon.svg"),
    },
    Asset {
        path: "/docs",
        content_type: HTML,
        csp: DOCS_CSP,
        audience: Audience::SameOrigin,
        body: include_str!("../../generated/protocol.html"),
    },
    Asset {
        path: "/asyncapi.json",
        content_type: JSON,
        csp: ASSET_CSP,
        audience: Audience::AnyOrigin,
        body: include_str!("../../generated/asyncapi.json"),
    },
];

/// The page routes: every asset, and `GET /api/info`.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new().route("/api/info", get(info));
    for asset in ASSETS {
        router = router.route(asset.path, get(move || async move { serve(asset) }));
    }
    router
}

fn serve(asset: &'static Asset) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CONTENT_SECURITY_POLICY, asset.csp),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response();
    if let Audience::AnyOrigin = asset.audience {
        allow_any_origin(&mut response);
    }
    response
}

/// Lets pages of any origin load this response (module scripts and `fetch` need CORS).
fn allow_any_origin(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
}

/// `GET /api/info`: what the page shows before the first message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// This server's name.
    pub server: &'static str,
    /// This server's version (the crate version).
    pub version: &'static str,
    /// The wire protocol's version (`x-protocol-version` of the spec).
    pub protocol_version: &'static str,
    /// Whether a model gateway is configured; without one no turn can run.
    pub gateway_configured: bool,
    /// The agent a client talks to when it names none.
    pub default_agent_id: String,
    /// The agents clients may talk to.
    pub agents: Vec<AgentInfo>,
}

/// One agent as the public may see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AgentInfo {
    /// The id to pass as `agentId` to `create_conversation_session`.
    pub id: String,
    /// The agent's public display name.
    pub name: String,
}

/// The stored agents with `public` visibility, by public name (`smooth-agent` for an unnamed
/// one); internal agents are not listed.
pub async fn agents(state: &AppState) -> Vec<AgentInfo> {
    match state.runtime.store.list_agents(None).await {
        Ok(records) => records
            .into_iter()
            .map(|r| r.definition)
            .filter(|a| a.visibility == Visibility::Public)
            .map(|a| AgentInfo {
                name: a.name.unwrap_or_else(|| DEFAULT_AGENT_NAME.to_string()),
                id: a.id,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not list agents for /api/info");
            Vec::new()
        }
    }
}

async fn info(State(state): State<AppState>) -> Response {
    let agents = agents(&state).await;
    let default_agent_id = agents
        .first()
        .map_or_else(|| DEFAULT_AGENT_ID.to_string(), |a| a.id.clone());
    let info = Info {
        server: env!("CARGO_PKG_NAME"),
        version: env!("CARGO_PKG_VERSION"),
        protocol_version: PROTOCOL_VERSION,
        gateway_configured: state.runtime.gateway_configured(),
        default_agent_id,
        agents,
    };
    let mut response = (
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_SECURITY_POLICY, ASSET_CSP),
        ],
        Json(info),
    )
        .into_response();
    allow_any_origin(&mut response);
    response
}
