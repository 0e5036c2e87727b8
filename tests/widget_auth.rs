//! Widget embedding at `create_conversation_session`: the handshake `Origin` against an agent's
//! allowed origins (exact, `*`, `scheme://*.suffix`), a signed `authContext` kept as the
//! session's verified user, `WIDGET_AUTH_STRICT`, the organisation a widget policy places a
//! session in, and policies served by an HTTP policy service (bearer, 404 cached, failures not
//! cached, TTL). Every refusal creates nothing and leaves the socket usable.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use smooth_operator::config::Config;
use smooth_operator::server::ServerHandle;
use smooth_operator::store::Store;

/// Exact origin and wildcard subdomains, an HMAC secret, an organisation of its own.
const SHOP: &str = "0b7f6a3e-4c1d-4f2a-9e11-2a6c9d1e5f01";
const SHOP_SECRET: &str = "shop-widget-secret-91f2";
/// Wildcard subdomains only, no secret.
const WILD: &str = "0b7f6a3e-4c1d-4f2a-9e11-2a6c9d1e5f02";
/// `*`: any origin, even none.
const ANYWHERE: &str = "0b7f6a3e-4c1d-4f2a-9e11-2a6c9d1e5f03";
/// No widget block at all (organisation `agent-org`).
const PLAIN: &str = "0b7f6a3e-4c1d-4f2a-9e11-2a6c9d1e5f04";
/// An empty allowed-origins list: nobody may embed it.
const NOBODY: &str = "0b7f6a3e-4c1d-4f2a-9e11-2a6c9d1e5f05";

const HS_SECRET: &str = "widget-test-jwt-secret-0123456789";

fn agents() -> Value {
    json!([
        {"id": SHOP, "name": "Shop helper", "organizationId": "agent-org",
         "widget": {"allowedOrigins": ["https://shop.example", "https://*.shop.example"],
                    "authSecret": SHOP_SECRET, "organizationId": "acme"}},
        {"id": WILD, "widget": {"allowedOrigins": ["https://*.shop.example"]}},
        {"id": ANYWHERE, "widget": {"allowedOrigins": ["*"]}},
        {"id": PLAIN, "organizationId": "agent-org"},
        {"id": NOBODY, "widget": {"allowedOrigins": []}}
    ])
}

fn write_agents(dir: &Path, agents: &Value) -> PathBuf {
    let path = dir.join("agents.json");
    std::fs::write(&path, agents.to_string()).expect("write agents file");
    path
}

/// An admin-enabled server on `dir/db.sqlite` with the agents file of [`agents`].
fn widget_config(dir: &Path) -> Config {
    let mut config = admin_file_config(&dir.join("db.sqlite"));
    config.agents_file = Some(write_agents(dir, &agents()));
    config
}

fn sign(secret: &str, user: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("{user}:{timestamp}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A correctly signed, fresh `authContext` for `user`.
fn auth_context(secret: &str, user: &str) -> Value {
    let timestamp = now();
    json!({"userId": user, "timestamp": timestamp, "signature": sign(secret, user, timestamp)})
}

/// Connects with `Origin: origin` (no header when `None`).
async fn connect(server: &ServerHandle, origin: Option<&str>) -> Client {
    let headers: Vec<(&str, &str)> = origin.map(|o| ("origin", o)).into_iter().collect();
    Client::connect_with(server, &headers, None)
        .await
        .expect("ws connects")
}

/// Sends `create_conversation_session` for `agent` (with `authContext` when given) and
/// returns the answer.
async fn create(client: &mut Client, agent: &str, context: Option<Value>) -> Value {
    let mut frame = json!({"action": "create_conversation_session", "requestId": "c",
                           "agentId": agent, "userName": "Ada"});
    if let Some(context) = context {
        frame["authContext"] = context;
    }
    client.request(frame).await
}

/// Asserts `event` created a session; returns its data.
fn created(event: &Value, why: &str) -> Value {
    assert_eq!(
        event["type"], "immediate_response",
        "{why}: expected a session, got {event}"
    );
    assert_eq!(event["status"], 200, "{why}: {event}");
    assert_eq!(event["requestId"], "c", "{why}: {event}");
    event["data"].clone()
}

/// Every stored conversation, as the admin token lists them.
async fn conversation_count(server: &ServerHandle) -> usize {
    let answer = Admin::new(server)
        .get("/admin/conversations?limit=200")
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("conversations is an array: {answer:?}"))
        .len()
}

/// Asserts a create is refused with `code`, creates nothing, and the socket still works.
async fn assert_refused(
    server: &ServerHandle,
    client: &mut Client,
    agent: &str,
    context: Option<Value>,
    code: &str,
    why: &str,
) {
    let before = conversation_count(server).await;
    let event = create(client, agent, context).await;
    assert_eq!(
        event["type"], "error",
        "{why}: expected {code}, got {event}"
    );
    assert_error(&event, code, Some("c"));
    assert_eq!(
        conversation_count(server).await,
        before,
        "{why}: a refused create stored a conversation"
    );
    client.assert_alive().await;
}

/// The stored session of a create answer's data.
async fn stored_session(db: &Path, data: &Value) -> smooth_operator::protocol::Session {
    let store = open_store(db).await;
    let id = uuid::Uuid::parse_str(data["sessionId"].as_str().expect("sessionId")).unwrap();
    store
        .get_session(id)
        .await
        .expect("session reads")
        .expect("session is stored")
}

#[tokio::test]
async fn origins_are_matched_exactly_by_wildcard_or_star() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(widget_config(dir.path())).await;
    let cases: &[(&str, Option<&str>, bool)] = &[
        (SHOP, Some("https://shop.example"), true),
        (SHOP, Some("https://a.shop.example"), true),
        (SHOP, Some("https://evil.example"), false),
        (SHOP, Some("https://shop.example.evil.example"), false),
        (SHOP, Some("http://shop.example"), false),
        (SHOP, None, false),
        (WILD, Some("https://a.shop.example"), true),
        (WILD, Some("https://deep.a.shop.example"), true),
        (WILD, Some("https://shop.example"), true),
        (WILD, Some("http://a.shop.example"), false),
        (WILD, Some("https://evilshop.example"), false),
        (WILD, Some("https://a.shop.example:8443"), false),
        (WILD, None, false),
        (ANYWHERE, Some("https://anything.example"), true),
        (ANYWHERE, Some("null"), true),
        (ANYWHERE, None, true),
        (NOBODY, Some("https://shop.example"), false),
        (NOBODY, None, false),
        // Agents without a widget policy are not origin-checked.
        (PLAIN, Some("https://anything.example"), true),
        (PLAIN, None, true),
    ];
    for &(agent, origin, allowed) in cases {
        let why = format!("agent {agent} from origin {origin:?}");
        let mut client = connect(&server, origin).await;
        if allowed {
            let before = conversation_count(&server).await;
            let data = created(&create(&mut client, agent, None).await, &why);
            assert_eq!(data["agentId"], agent, "{why}");
            assert_eq!(conversation_count(&server).await, before + 1, "{why}");
        } else {
            assert_refused(
                &server,
                &mut client,
                agent,
                None,
                "ORIGIN_NOT_ALLOWED",
                &why,
            )
            .await;
            // The same socket can still create a session for an agent that allows it.
            created(
                &create(&mut client, ANYWHERE, None).await,
                &format!("{why}, then an open agent"),
            );
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_signed_auth_context_becomes_the_verified_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let server = start_with(widget_config(dir.path())).await;
    let mut client = connect(&server, Some("https://shop.example")).await;

    let data = created(
        &create(
            &mut client,
            SHOP,
            Some(auth_context(SHOP_SECRET, "customer-42")),
        )
        .await,
        "a good authContext",
    );
    assert_eq!(data["agentName"], "Shop helper");
    let session = stored_session(&db, &data).await;
    assert_eq!(session.verified_user_id.as_deref(), Some("customer-42"));
    // The site's user is vouched for, not signed in: the session has no owner.
    assert_eq!(session.owner_id, None);
    // The session stays usable by id on the connection that created it.
    let event = client
        .request(json!({"action": "get_session", "requestId": "g",
                        "sessionId": data["sessionId"]}))
        .await;
    assert_eq!(event["type"], "immediate_response", "{event}");

    // Without an authContext the session has no verified user.
    let data = created(&create(&mut client, SHOP, None).await, "no authContext");
    assert_eq!(stored_session(&db, &data).await.verified_user_id, None);
    // A policy without a secret and no authContext is fine too.
    let mut wild = connect(&server, Some("https://a.shop.example")).await;
    let data = created(&create(&mut wild, WILD, None).await, "WILD, no context");
    assert_eq!(stored_session(&db, &data).await.verified_user_id, None);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_stale_and_future_auth_contexts_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(widget_config(dir.path())).await;
    let mut client = connect(&server, Some("https://shop.example")).await;
    let ts = now();
    let with = |user: &str, timestamp: i64, signature: String| json!({"userId": user, "timestamp": timestamp, "signature": signature});
    let good = sign(SHOP_SECRET, "u1", ts);
    let cases = vec![
        (
            "signed with another secret",
            with("u1", ts, sign("other", "u1", ts)),
        ),
        ("signed for another user", with("u2", ts, good.clone())),
        ("signed at another time", with("u1", ts - 1, good.clone())),
        ("not hex", with("u1", ts, "zz".repeat(32))),
        ("empty signature", with("u1", ts, String::new())),
        (
            "truncated signature",
            with("u1", ts, good[..32].to_string()),
        ),
        (
            "stale by 90 s",
            with("u1", ts - 90, sign(SHOP_SECRET, "u1", ts - 90)),
        ),
        (
            "stale by a day",
            with("u1", ts - 86_400, sign(SHOP_SECRET, "u1", ts - 86_400)),
        ),
        (
            "90 s in the future",
            with("u1", ts + 90, sign(SHOP_SECRET, "u1", ts + 90)),
        ),
        ("timestamp 0", with("u1", 0, sign(SHOP_SECRET, "u1", 0))),
        (
            "the smallest timestamp",
            with("u1", i64::MIN, sign(SHOP_SECRET, "u1", i64::MIN)),
        ),
        (
            "the largest timestamp",
            with("u1", i64::MAX, sign(SHOP_SECRET, "u1", i64::MAX)),
        ),
    ];
    for (why, context) in cases {
        assert_refused(
            &server,
            &mut client,
            SHOP,
            Some(context),
            "AUTH_CONTEXT_INVALID",
            why,
        )
        .await;
    }
    // Within the window either way is accepted.
    for skew in [-45, 45] {
        let t = ts + skew;
        created(
            &create(
                &mut client,
                SHOP,
                Some(with("u1", t, sign(SHOP_SECRET, "u1", t))),
            )
            .await,
            &format!("{skew} s of skew"),
        );
    }
    // The origin is checked before the authContext.
    let mut evil = connect(&server, Some("https://evil.example")).await;
    assert_refused(
        &server,
        &mut evil,
        SHOP,
        Some(auth_context(SHOP_SECRET, "u1")),
        "ORIGIN_NOT_ALLOWED",
        "a good context from a bad origin",
    )
    .await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_auth_context_for_a_policy_without_a_secret_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(widget_config(dir.path())).await;
    let mut client = connect(&server, Some("https://a.shop.example")).await;
    // Signed with the other agent's secret, or with an empty one: nothing can verify it.
    for secret in [SHOP_SECRET, ""] {
        assert_refused(
            &server,
            &mut client,
            WILD,
            Some(auth_context(secret, "u1")),
            "AUTH_CONTEXT_INVALID",
            &format!("WILD with a context signed by {secret:?}"),
        )
        .await;
    }
    // An agent without any policy ignores an authContext (nothing to check it against) and
    // records no verified user.
    let db = dir.path().join("db.sqlite");
    let data = created(
        &create(&mut client, PLAIN, Some(auth_context("whatever", "u1"))).await,
        "PLAIN with a context",
    );
    assert_eq!(stored_session(&db, &data).await.verified_user_id, None);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn strict_mode_refuses_agents_without_a_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = widget_config(dir.path());
    config.auth.widget_auth_strict = true;
    let server = start_with(config).await;
    let mut client = connect(&server, Some("https://shop.example")).await;
    for agent in [
        PLAIN,
        "6f1c0c1e-8d0a-4c4e-9a55-0c8f0b5b8e11",
        "not-a-stored-agent",
    ] {
        assert_refused(
            &server,
            &mut client,
            agent,
            None,
            "AGENT_NOT_AUTHORIZED",
            &format!("strict, agent {agent} without a policy"),
        )
        .await;
    }
    created(&create(&mut client, SHOP, None).await, "strict, SHOP");
    created(
        &create(&mut client, ANYWHERE, None).await,
        "strict, ANYWHERE",
    );
    // A policy still checks its origins in strict mode.
    let mut evil = connect(&server, Some("https://evil.example")).await;
    assert_refused(
        &server,
        &mut evil,
        WILD,
        None,
        "ORIGIN_NOT_ALLOWED",
        "strict, WILD from another site",
    )
    .await;
    server.shutdown().await.unwrap();
}

fn token(org: &str) -> String {
    let claims = json!({"sub": "signed-in", "org": org, "role": "basic",
                        "exp": jsonwebtoken::get_current_timestamp() + 3600});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HS_SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_widget_policy_decides_the_organisation_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let mut config = widget_config(dir.path());
    config.auth.jwt_hs256_secret = Some(HS_SECRET.into());
    config.auth.default_org = "fallback-org".into();
    let server = start_with(config).await;
    let bearer = format!("Bearer {}", token("token-org"));
    let signed_in = |origin: &'static str| {
        let (server, bearer) = (&server, bearer.clone());
        async move {
            Client::connect_with(
                server,
                &[("origin", origin), ("authorization", &bearer)],
                None,
            )
            .await
            .expect("connects")
        }
    };
    let org_of = |data: Value| {
        let db = db.clone();
        async move { stored_session(&db, &data).await.organization_id }
    };

    // Widget policy's organisation, over the token's and the agent's.
    let mut client = signed_in("https://shop.example").await;
    let data = created(&create(&mut client, SHOP, None).await, "SHOP, signed in");
    assert_eq!(org_of(data).await.as_deref(), Some("acme"));
    let mut anonymous = connect(&server, Some("https://shop.example")).await;
    let data = created(&create(&mut anonymous, SHOP, None).await, "SHOP, anonymous");
    assert_eq!(org_of(data).await.as_deref(), Some("acme"));
    // No policy organisation: the token's, over the agent's.
    let data = created(&create(&mut client, PLAIN, None).await, "PLAIN, signed in");
    assert_eq!(org_of(data).await.as_deref(), Some("token-org"));
    // No token: the agent's.
    let data = created(
        &create(&mut anonymous, PLAIN, None).await,
        "PLAIN, anonymous",
    );
    assert_eq!(org_of(data).await.as_deref(), Some("agent-org"));
    // Nothing names one: the default.
    let data = created(
        &create(&mut anonymous, ANYWHERE, None).await,
        "ANYWHERE, anonymous",
    );
    assert_eq!(org_of(data).await.as_deref(), Some("fallback-org"));
    server.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The HTTP policy service.
// ---------------------------------------------------------------------------------------------

/// A local policy service: `GET /policies/{agent}` answers the scripted status and body for
/// that agent (404 when unscripted) and records the request's Authorization header.
#[derive(Clone, Default)]
struct PolicyService {
    /// Agent id → (status, body).
    script: Arc<Mutex<HashMap<String, (u16, Value)>>>,
    /// Every request: the agent id and its Authorization header.
    hits: Arc<Mutex<Vec<Hit>>>,
}

/// One request to the policy service: the agent id and its Authorization header.
type Hit = (String, Option<String>);

impl PolicyService {
    async fn start() -> (PolicyService, String) {
        let service = PolicyService::default();
        let app = Router::new()
            .route("/policies/{agent}", get(serve_policy))
            .with_state(service.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/policies", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (service, url)
    }

    fn answer(&self, agent: &str, status: u16, body: Value) {
        self.script
            .lock()
            .unwrap()
            .insert(agent.to_string(), (status, body));
    }

    /// How many requests arrived for `agent`.
    fn hits(&self, agent: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|(a, _)| a == agent)
            .count()
    }

    /// The Authorization headers of every request, in order.
    fn authorizations(&self) -> Vec<Option<String>> {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .map(|(_, a)| a.clone())
            .collect()
    }
}

async fn serve_policy(
    State(service): State<PolicyService>,
    UrlPath(agent): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    service
        .hits
        .lock()
        .unwrap()
        .push((agent.clone(), authorization));
    let scripted = service.script.lock().unwrap().get(&agent).cloned();
    match scripted {
        Some((status, body)) => (StatusCode::from_u16(status).unwrap(), Json(body)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Agent ids only the policy service knows.
const HTTP_POLICY: &str = "1c2d3e4f-0000-4000-8000-000000000001";
const HTTP_MISSING: &str = "1c2d3e4f-0000-4000-8000-000000000002";
const HTTP_FAILING: &str = "1c2d3e4f-0000-4000-8000-000000000003";
const HTTP_SECRET: &str = "policy-service-secret-55";

fn policy_config(dir: &Path, url: &str, ttl: u64) -> Config {
    let mut config = widget_config(dir);
    config.auth.widget_auth_url = Some(url.to_string());
    config.auth.widget_auth_bearer = Some("policy-bearer-token".into());
    config.auth.widget_auth_ttl_secs = ttl;
    config
}

fn script_service(service: &PolicyService) {
    service.answer(
        HTTP_POLICY,
        200,
        json!({"allowed_origins": ["https://partner.example"], "public_key": HTTP_SECRET,
               "organization_id": "partner-org"}),
    );
    service.answer(HTTP_FAILING, 500, json!({"error": "down"}));
    // The stored SHOP agent has its own widget block: the service would refuse everyone.
    service.answer(SHOP, 200, json!({"allowed_origins": []}));
}

#[tokio::test]
async fn a_served_policy_is_enforced_and_the_bearer_reaches_the_service() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db.sqlite");
    let (service, url) = PolicyService::start().await;
    script_service(&service);
    let server = start_with(policy_config(dir.path(), &url, 60)).await;

    let mut partner = connect(&server, Some("https://partner.example")).await;
    let data = created(
        &create(
            &mut partner,
            HTTP_POLICY,
            Some(auth_context(HTTP_SECRET, "partner-user")),
        )
        .await,
        "served policy, its origin and secret",
    );
    let session = stored_session(&db, &data).await;
    assert_eq!(session.verified_user_id.as_deref(), Some("partner-user"));
    assert_eq!(session.organization_id.as_deref(), Some("partner-org"));
    assert_refused(
        &server,
        &mut partner,
        HTTP_POLICY,
        Some(auth_context("wrong", "partner-user")),
        "AUTH_CONTEXT_INVALID",
        "served policy, wrong secret",
    )
    .await;
    let mut other = connect(&server, Some("https://shop.example")).await;
    assert_refused(
        &server,
        &mut other,
        HTTP_POLICY,
        None,
        "ORIGIN_NOT_ALLOWED",
        "served policy, another origin",
    )
    .await;
    assert_eq!(service.hits(HTTP_POLICY), 1, "the policy was not cached");
    let authorizations = service.authorizations();
    assert!(!authorizations.is_empty());
    for authorization in authorizations {
        assert_eq!(authorization.as_deref(), Some("Bearer policy-bearer-token"));
    }

    // An agent's own widget block wins: the service is not asked.
    let mut shop = connect(&server, Some("https://shop.example")).await;
    created(
        &create(&mut shop, SHOP, None).await,
        "SHOP with the service on",
    );
    assert_eq!(service.hits(SHOP), 0, "the service was asked about SHOP");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_404_is_no_policy_and_cached_a_failure_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let (service, url) = PolicyService::start().await;
    script_service(&service);
    let server = start_with(policy_config(dir.path(), &url, 60)).await;
    let mut client = connect(&server, Some("https://anywhere.example")).await;

    // 404: no policy, so any origin may create; cached for the TTL.
    created(&create(&mut client, HTTP_MISSING, None).await, "404, first");
    created(
        &create(&mut client, HTTP_MISSING, None).await,
        "404, second",
    );
    assert_eq!(service.hits(HTTP_MISSING), 1, "a 404 was not cached");

    // 500: no policy either, but asked again every time.
    created(&create(&mut client, HTTP_FAILING, None).await, "500, first");
    created(
        &create(&mut client, HTTP_FAILING, None).await,
        "500, second",
    );
    assert_eq!(service.hits(HTTP_FAILING), 2, "a failure was cached");

    // Once the service recovers, the next create uses its policy.
    service.answer(
        HTTP_FAILING,
        200,
        json!({"allowed_origins": ["https://partner.example"]}),
    );
    assert_refused(
        &server,
        &mut client,
        HTTP_FAILING,
        None,
        "ORIGIN_NOT_ALLOWED",
        "the recovered service's policy",
    )
    .await;
    assert_eq!(service.hits(HTTP_FAILING), 3);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn strict_mode_with_the_service_refuses_what_it_has_no_policy_for() {
    let dir = tempfile::tempdir().unwrap();
    let (service, url) = PolicyService::start().await;
    script_service(&service);
    let mut config = policy_config(dir.path(), &url, 60);
    config.auth.widget_auth_strict = true;
    let server = start_with(config).await;
    let mut client = connect(&server, Some("https://partner.example")).await;
    for (agent, why) in [
        (HTTP_MISSING, "strict, 404"),
        (HTTP_MISSING, "strict, 404 again (cached)"),
        (HTTP_FAILING, "strict, 500"),
    ] {
        assert_refused(
            &server,
            &mut client,
            agent,
            None,
            "AGENT_NOT_AUTHORIZED",
            why,
        )
        .await;
    }
    assert_eq!(service.hits(HTTP_MISSING), 1);
    created(
        &create(&mut client, HTTP_POLICY, None).await,
        "strict, served policy",
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn policies_are_fetched_again_after_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let (service, url) = PolicyService::start().await;
    script_service(&service);
    let server = start_with(policy_config(dir.path(), &url, 1)).await;
    let mut client = connect(&server, Some("https://partner.example")).await;

    created(&create(&mut client, HTTP_POLICY, None).await, "first");
    created(&create(&mut client, HTTP_MISSING, None).await, "404 first");
    assert_eq!(service.hits(HTTP_POLICY), 1);
    assert_eq!(service.hits(HTTP_MISSING), 1);
    // The service changes its mind; within the TTL the cached answers still hold.
    service.answer(HTTP_POLICY, 200, json!({"allowed_origins": []}));
    service.answer(
        HTTP_MISSING,
        200,
        json!({"allowed_origins": ["https://elsewhere.example"]}),
    );
    created(&create(&mut client, HTTP_POLICY, None).await, "cached");
    created(&create(&mut client, HTTP_MISSING, None).await, "404 cached");
    assert_eq!(service.hits(HTTP_POLICY), 1);

    // Waiting out the 1 s TTL (a cache lifetime, not a timestamp) makes the next create ask.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_refused(
        &server,
        &mut client,
        HTTP_POLICY,
        None,
        "ORIGIN_NOT_ALLOWED",
        "refetched policy",
    )
    .await;
    assert_refused(
        &server,
        &mut client,
        HTTP_MISSING,
        None,
        "ORIGIN_NOT_ALLOWED",
        "refetched 404",
    )
    .await;
    assert_eq!(service.hits(HTTP_POLICY), 2);
    assert_eq!(service.hits(HTTP_MISSING), 2);
    server.shutdown().await.unwrap();
}
