//! The browser-facing HTTP routes without a browser: content types, the Content-Security-Policy
//! of the pages, CORS on what the widget loads from other origins, `/api/info`, and the
//! generated documents served exactly as generated.

mod common;

use common::gateway::MockGateway;
use common::start_with;
use serde_json::Value;
use smooth_operator::config::Config;
use smooth_operator::server::ServerHandle;

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn get(server: &ServerHandle, path: &str) -> Answer {
    let response = reqwest::get(format!("http://{}{path}", server.local_addr()))
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        text: response.text().await.expect("body"),
    }
}

fn generated(name: &str) -> String {
    std::fs::read_to_string(format!("{}/generated/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("generated/{name}: {e}"))
}

#[tokio::test]
async fn the_page_is_served_with_a_strict_policy() {
    let server = start_with(Config::for_tests()).await;
    let page = get(&server, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    let csp = page.header("content-security-policy");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    // No inline script and nothing from another origin.
    assert!(page
        .text
        .contains(r#"<script type="module" src="/assets/app.js"></script>"#));
    assert!(!page.text.contains("http://") && !page.text.contains("https://"));
    assert!(!page.text.contains("<script>"), "inline script in the page");
    for (path, kind) in [
        ("/assets/app.js", "text/javascript"),
        ("/assets/chat.js", "text/javascript"),
        ("/assets/connection.js", "text/javascript"),
        ("/assets/markdown.js", "text/javascript"),
        ("/assets/dom.js", "text/javascript"),
        ("/assets/turn.js", "text/javascript"),
        ("/assets/style.css", "text/css"),
        ("/assets/docs.css", "text/css"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let asset = get(&server, path).await;
        assert_eq!(asset.status, 200, "{path}");
        assert!(asset.header("content-type").starts_with(kind), "{path}");
        assert!(!asset.text.is_empty(), "{path}");
    }
    // Model output never goes through innerHTML (or its relatives) anywhere in the UI.
    for path in [
        "/assets/chat.js",
        "/assets/markdown.js",
        "/widget.js",
        "/assets/app.js",
    ] {
        let script = get(&server, path).await.text;
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!script.contains(sink), "{path} uses {sink}");
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_widget_loads_from_any_origin() {
    let server = start_with(Config::for_tests()).await;
    for path in [
        "/widget.js",
        "/assets/chat.js",
        "/assets/connection.js",
        "/assets/markdown.js",
        "/assets/dom.js",
        "/assets/turn.js",
        "/assets/style.css",
        "/api/info",
    ] {
        let answer = get(&server, path).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.header("access-control-allow-origin"), "*", "{path}");
    }
    let widget = get(&server, "/widget.js").await;
    assert_eq!(
        widget.header("content-type"),
        "text/javascript; charset=utf-8"
    );
    assert!(widget
        .text
        .contains("customElements.define(\"smooth-agent-chat\""));
    assert!(widget.text.contains("attachShadow"));
    // The page itself is not for other origins.
    assert_eq!(
        get(&server, "/")
            .await
            .header("access-control-allow-origin"),
        ""
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn api_info_tells_whether_a_gateway_is_configured() {
    let server = start_with(Config::for_tests()).await;
    let answer = get(&server, "/api/info").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), "application/json");
    let info: Value = serde_json::from_str(&answer.text).expect("JSON");
    assert_eq!(info["server"], "smooth-operator-rs");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info["protocolVersion"],
        smooth_operator::protocol::PROTOCOL_VERSION
    );
    assert_eq!(info["gatewayConfigured"], false);
    assert_eq!(info["agents"], serde_json::json!([]));
    assert_eq!(
        info["defaultAgentId"],
        smooth_operator::server::web::DEFAULT_AGENT_ID
    );
    server.shutdown().await.unwrap();

    let gateway = MockGateway::start(vec![]).await;
    let mut config = Config::for_tests();
    config.agent.gateway_url = Some(gateway.base_url());
    let server = start_with(config).await;
    let info: Value = serde_json::from_str(&get(&server, "/api/info").await.text).unwrap();
    assert_eq!(info["gatewayConfigured"], true);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_generated_documents_are_served_as_generated() {
    let server = start_with(Config::for_tests()).await;
    let asyncapi = get(&server, "/asyncapi.json").await;
    assert_eq!(asyncapi.status, 200);
    assert_eq!(asyncapi.header("content-type"), "application/json");
    assert_eq!(asyncapi.text, generated("asyncapi.json"));
    let document: Value = serde_json::from_str(&asyncapi.text).expect("JSON");
    assert_eq!(document["asyncapi"], "3.0.0");

    let docs = get(&server, "/docs").await;
    assert_eq!(docs.status, 200);
    assert_eq!(docs.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(docs.text, generated("protocol.html"));
    let csp = docs.header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(
        !docs.text.contains("<script"),
        "the docs page runs no script"
    );
    for anchor in [
        "id=\"send_message\"",
        "id=\"eventual_response\"",
        "id=\"error-codes\"",
    ] {
        assert!(docs.text.contains(anchor), "/docs lacks {anchor}");
    }
    server.shutdown().await.unwrap();
}
