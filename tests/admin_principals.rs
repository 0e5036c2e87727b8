//! The admin API with principals (HS256 tokens): the role each endpoint group needs, refused
//! and missing tokens, the admin token as an admin of every organisation, `/admin/me`,
//! organisation isolation of conversations (and a basic user's own ones only), pagination,
//! agents CRUD scoped to the caller's organisation with a write-only widget secret, and
//! per-organisation gateway keys used by that organisation's turns and never echoed.

mod common;

use std::collections::BTreeSet;

use common::gateway::{MockGateway, Reply};
use common::*;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use smooth_operator::config::Config;
use smooth_operator::server::ServerHandle;

const SECRET: &str = "admin-principals-secret-0123456789";

fn jwt(secret: &str, mut claims: Value) -> String {
    if claims.get("exp").is_none() {
        claims["exp"] = json!(jsonwebtoken::get_current_timestamp() + 3600);
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// A token of `sub` in `org` with `role`.
fn token(sub: &str, org: &str, role: &str) -> String {
    jwt(SECRET, json!({"sub": sub, "org": org, "role": role}))
}

fn principals_config() -> Config {
    let mut config = admin_config();
    config.auth.jwt_hs256_secret = Some(SECRET.into());
    config
}

fn as_user(server: &ServerHandle, token: &str) -> Admin {
    Admin::with_token(server, Some(token))
}

async fn send_json(admin: &Admin, method: Method, path: &str, body: &Value) -> HttpAnswer {
    admin
        .send(
            admin
                .request(method, path)
                .header("content-type", "application/json")
                .body(body.to_string()),
        )
        .await
}

/// Creates a session over `/ws` as the holder of `token` (anonymous when `None`); returns the
/// create ack's data.
async fn ws_session(server: &ServerHandle, token: Option<&str>) -> (Client, Value) {
    let mut client = match token {
        Some(token) => Client::connect_bearer(server, token).await,
        None => Client::connect(server).await,
    };
    let data = client.create_session().await;
    (client, data)
}

fn conversation(data: &Value) -> String {
    data["conversationId"].as_str().unwrap().to_string()
}

/// The conversation ids of one `GET /admin/conversations` page, in order, and its cursor.
async fn page(admin: &Admin, query: &str) -> (Vec<String>, Value) {
    let answer = admin.get(&format!("/admin/conversations{query}")).await;
    assert_eq!(answer.status, 200, "{query}: {answer:?}");
    let ids = answer.body["conversations"]
        .as_array()
        .unwrap_or_else(|| panic!("conversations array: {answer:?}"))
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    (ids, answer.body["nextCursor"].clone())
}

async fn listed(admin: &Admin) -> BTreeSet<String> {
    let (ids, cursor) = page(admin, "?limit=200").await;
    assert!(cursor.is_null(), "one page expected: {cursor}");
    ids.into_iter().collect()
}

const ROLES: [&str; 3] = ["basic", "curator", "admin"];

fn rank(role: &str) -> usize {
    ROLES.iter().position(|r| *r == role).unwrap()
}

/// One request of the matrix, built for the role that sends it (so each has its own target).
struct Probe {
    min_role: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
}

fn probe(min_role: &'static str, method: Method, path: String, body: Option<Value>) -> Probe {
    Probe {
        min_role,
        method,
        path,
        body,
    }
}

fn agent_id(n: u8) -> String {
    format!("5e1d2c3b-4a59-4867-8f00-0000000000{n:02}")
}

/// Every admin endpoint, with targets specific to `who` (a role name or `root`) and `index`.
fn probes(who: &str, index: u8, own_conversation: &str) -> Vec<Probe> {
    vec![
        probe("curator", Method::GET, "/admin/documents".into(), None),
        probe(
            "curator",
            Method::POST,
            "/admin/documents".into(),
            Some(json!({"source": format!("new-{who}.md"), "content": "Fresh words."})),
        ),
        probe(
            "curator",
            Method::GET,
            "/admin/documents/shared.md".into(),
            None,
        ),
        probe(
            "curator",
            Method::DELETE,
            format!("/admin/documents/delete-{who}.md"),
            None,
        ),
        probe("curator", Method::GET, "/admin/search?q=words".into(), None),
        probe("admin", Method::GET, "/admin/agents".into(), None),
        probe(
            "admin",
            Method::PUT,
            format!("/admin/agents/{}", agent_id(10 + index)),
            Some(json!({"name": format!("made by {who}")})),
        ),
        probe(
            "admin",
            Method::GET,
            format!("/admin/agents/{}", agent_id(1)),
            None,
        ),
        probe(
            "admin",
            Method::DELETE,
            format!("/admin/agents/{}", agent_id(20 + index)),
            None,
        ),
        probe(
            "admin",
            Method::PUT,
            "/admin/orgs/acme/gateway-key".into(),
            Some(json!({"key": "some-org-key"})),
        ),
        probe(
            "admin",
            Method::DELETE,
            "/admin/orgs/acme/gateway-key".into(),
            None,
        ),
        probe("basic", Method::GET, "/admin/conversations".into(), None),
        probe(
            "basic",
            Method::GET,
            format!("/admin/conversations/{own_conversation}/messages"),
            None,
        ),
        probe("basic", Method::GET, "/admin/me".into(), None),
    ]
}

async fn run(admin: &Admin, probe: &Probe) -> HttpAnswer {
    let request = admin.request(probe.method.clone(), &probe.path);
    let request = match &probe.body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(body.to_string()),
        None => request,
    };
    admin.send(request).await
}

/// Documents and agents each role (and the admin token) will read or delete.
async fn seed_targets(server: &ServerHandle) {
    let root = Admin::new(server);
    root.ingest(
        &json!({"source": "shared.md", "content": "Shared words."}),
        "created",
    )
    .await;
    let answer = send_json(
        &root,
        Method::PUT,
        &format!("/admin/agents/{}", agent_id(1)),
        &json!({"organizationId": "acme"}),
    )
    .await;
    assert_eq!(answer.status, 201, "{answer:?}");
    for (index, who) in ["basic", "curator", "admin", "root"].iter().enumerate() {
        root.ingest(
            &json!({"source": format!("delete-{who}.md"), "content": "Doomed words."}),
            "created",
        )
        .await;
        let answer = send_json(
            &root,
            Method::PUT,
            &format!("/admin/agents/{}", agent_id(20 + index as u8)),
            &json!({"organizationId": "acme"}),
        )
        .await;
        assert_eq!(answer.status, 201, "{answer:?}");
    }
}

#[tokio::test]
async fn each_endpoint_group_needs_its_role() {
    let server = start_with(principals_config()).await;
    seed_targets(&server).await;
    let mut checked = 0;
    for (index, role) in ROLES.iter().enumerate() {
        let token = token(&format!("{role}-user"), "acme", role);
        let (_client, data) = ws_session(&server, Some(&token)).await;
        let admin = as_user(&server, &token);
        for probe in probes(role, index as u8, &conversation(&data)) {
            let answer = run(&admin, &probe).await;
            let what = format!("{role}: {} {}", probe.method, probe.path);
            if rank(role) < rank(probe.min_role) {
                let message = assert_http_error(&answer, 403, "FORBIDDEN");
                assert!(message.contains(probe.min_role), "{what}: {message}");
            } else {
                assert!(
                    (200..300).contains(&answer.status),
                    "{what} should succeed: {answer:?}"
                );
            }
            checked += 1;
        }
    }
    // The admin token is an admin of every organisation: everything succeeds.
    let (_client, data) = ws_session(&server, None).await;
    let root = Admin::new(&server);
    for probe in probes("root", 3, &conversation(&data)) {
        let answer = run(&root, &probe).await;
        assert!(
            (200..300).contains(&answer.status),
            "admin token: {} {}: {answer:?}",
            probe.method,
            probe.path
        );
    }
    assert_eq!(checked, 3 * 14);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn missing_and_refused_tokens_are_401_everywhere() {
    let server = start_with(principals_config()).await;
    let past = jsonwebtoken::get_current_timestamp() - 3600;
    let refused = [
        ("garbage", "not-a-token".to_string()),
        (
            "wrong secret",
            jwt(
                "another-secret-0123456789abcdef",
                json!({"sub": "u", "org": "acme", "role": "admin"}),
            ),
        ),
        (
            "expired",
            jwt(
                SECRET,
                json!({"sub": "u", "org": "acme", "role": "admin", "exp": past}),
            ),
        ),
        (
            "unknown role",
            jwt(SECRET, json!({"sub": "u", "org": "acme", "role": "root"})),
        ),
        (
            "no sub",
            jwt(SECRET, json!({"org": "acme", "role": "admin"})),
        ),
        ("almost the admin token", format!("{ADMIN_TOKEN}x")),
    ];
    let nil = uuid::Uuid::nil().to_string();
    for probe in probes("nobody", 0, &nil) {
        let what = format!("{} {}", probe.method, probe.path);
        let answer = run(&Admin::with_token(&server, None), &probe).await;
        assert_http_error(&answer, 401, "UNAUTHENTICATED");
        // Another scheme is no bearer token either.
        let basic = Admin::with_token(&server, None);
        let answer = basic
            .send(
                basic
                    .request(probe.method.clone(), &probe.path)
                    .header("authorization", format!("Basic {ADMIN_TOKEN}")),
            )
            .await;
        assert_http_error(&answer, 401, "UNAUTHENTICATED");
        for (why, token) in &refused {
            let answer = run(&as_user(&server, token), &probe).await;
            assert_eq!(answer.status, 401, "{why}: {what}: {answer:?}");
            assert_http_error(&answer, 401, "INVALID_TOKEN");
        }
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_is_absent_without_an_admin_token_or_a_verifier() {
    let server = start_with(Config::for_tests()).await;
    for path in ["/admin/me", "/admin/conversations", "/admin/agents"] {
        let answer = Admin::new(&server).get(path).await;
        assert_eq!(answer.status, 404, "{path}: {answer:?}");
    }
    server.shutdown().await.unwrap();

    // A verifier alone mounts it; the admin token then means nothing.
    let mut config = Config::for_tests();
    config.auth.jwt_hs256_secret = Some(SECRET.into());
    let server = start_with(config).await;
    let me = as_user(&server, &token("u", "acme", "basic"))
        .get("/admin/me")
        .await;
    assert_eq!(me.status, 200, "{me:?}");
    let answer = Admin::new(&server).get("/admin/me").await;
    assert_http_error(&answer, 401, "INVALID_TOKEN");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn me_echoes_the_caller() {
    let server = start_with(principals_config()).await;
    let full = jwt(
        SECRET,
        json!({"sub": "u-7", "org": "acme", "role": "curator", "name": "Ada Lovelace",
               "email": "ada@acme.example", "groups": ["staff", "ops"]}),
    );
    let me = as_user(&server, &full).get("/admin/me").await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(
        me.body,
        json!({"userId": "u-7", "orgId": "acme", "role": "curator",
               "displayName": "Ada Lovelace", "email": "ada@acme.example",
               "groups": ["staff", "ops"]})
    );
    // `org_id` is read too; `user` is basic; absent optional claims are absent.
    let minimal = jwt(
        SECRET,
        json!({"sub": "u-8", "org_id": "globex", "role": "user"}),
    );
    let me = as_user(&server, &minimal).get("/admin/me").await;
    assert_eq!(
        me.body,
        json!({"userId": "u-8", "orgId": "globex", "role": "basic"})
    );
    // No organisation claim: the default organisation.
    let orgless = jwt(SECRET, json!({"sub": "u-9"}));
    let me = as_user(&server, &orgless).get("/admin/me").await;
    assert_eq!(
        me.body,
        json!({"userId": "u-9", "orgId": "default", "role": "basic"})
    );
    let me = Admin::new(&server).get("/admin/me").await;
    assert_eq!(me.body["role"], "admin", "{me:?}");
    assert!(me.body.get("orgId").is_none(), "{me:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn conversations_are_isolated_by_organisation_and_owner() {
    let gateway = MockGateway::start(vec![Reply::tokens(&["Hello Alice."])]).await;
    let mut config = principals_config();
    config.agent.gateway_url = Some(gateway.base_url());
    let server = start_with(config).await;
    let alice = token("alice", "org-a", "basic");
    let bob = token("bob", "org-a", "basic");
    let dave = token("dave", "org-b", "basic");
    let alice_in_b = token("alice", "org-b", "basic");
    let (mut alice_ws, alice_data) = ws_session(&server, Some(&alice)).await;
    let (_b, bob_data) = ws_session(&server, Some(&bob)).await;
    let (_d, dave_data) = ws_session(&server, Some(&dave)).await;
    let (_n, anonymous_data) = ws_session(&server, None).await;
    let (alice_conv, bob_conv, dave_conv) = (
        conversation(&alice_data),
        conversation(&bob_data),
        conversation(&dave_data),
    );
    alice_ws
        .send(json!({"action": "send_message", "requestId": "r",
                     "sessionId": alice_data["sessionId"], "message": "Hi, I am Alice",
                     "stream": false}))
        .await;
    assert_eq!(alice_ws.recv().await["status"], 202);
    assert_eq!(alice_ws.recv().await["type"], "eventual_response");

    let admin_a = as_user(&server, &token("carol", "org-a", "admin"));
    let curator_a = as_user(&server, &token("cur", "org-a", "curator"));
    let admin_b = as_user(&server, &token("erin", "org-b", "admin"));
    let set = |ids: &[&String]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        listed(&admin_a).await,
        set(&[&alice_conv, &bob_conv]),
        "org A's admin"
    );
    assert_eq!(
        listed(&curator_a).await,
        set(&[&alice_conv, &bob_conv]),
        "org A's curator"
    );
    assert_eq!(listed(&admin_b).await, set(&[&dave_conv]), "org B's admin");
    assert_eq!(
        listed(&as_user(&server, &alice)).await,
        set(&[&alice_conv]),
        "alice"
    );
    assert_eq!(
        listed(&as_user(&server, &bob)).await,
        set(&[&bob_conv]),
        "bob"
    );
    assert_eq!(
        listed(&as_user(&server, &alice_in_b)).await,
        BTreeSet::new(),
        "the same user id in org B"
    );
    let everything = listed(&Admin::new(&server)).await;
    for id in [&alice_conv, &bob_conv, &dave_conv] {
        assert!(everything.contains(id), "the admin token misses {id}");
    }
    assert!(everything.contains(&conversation(&anonymous_data)));

    let messages = |id: &str| format!("/admin/conversations/{id}/messages");
    // Another organisation's conversation does not exist for the caller.
    assert_http_error(&admin_a.get(&messages(&dave_conv)).await, 404, "NOT_FOUND");
    assert_http_error(&admin_b.get(&messages(&alice_conv)).await, 404, "NOT_FOUND");
    let alice_admin = as_user(&server, &alice);
    assert_http_error(
        &alice_admin.get(&messages(&dave_conv)).await,
        404,
        "NOT_FOUND",
    );
    assert_http_error(
        &as_user(&server, &alice_in_b)
            .get(&messages(&alice_conv))
            .await,
        404,
        "NOT_FOUND",
    );
    // A basic user's colleague's conversation is forbidden.
    assert_http_error(
        &alice_admin.get(&messages(&bob_conv)).await,
        403,
        "FORBIDDEN",
    );
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        assert_http_error(&admin_a.get(&messages(&id)).await, 404, "NOT_FOUND");
    }
    // Her own, and the organisation's admin, read the messages.
    for reader in [&alice_admin, &admin_a] {
        let answer = reader.get(&messages(&alice_conv)).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["conversationId"], alice_conv.as_str());
        let texts: Vec<&str> = answer.body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["content"]["text"].as_str())
            .collect();
        assert_eq!(texts, ["Hi, I am Alice", "Hello Alice."], "{answer:?}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn conversations_page_newest_first() {
    let server = start_with_clock(principals_config(), SteppingClock::shared()).await;
    let alice = token("alice", "org-a", "basic");
    let bob = token("bob", "org-a", "basic");
    let mut alice_convs = Vec::new();
    let mut all = Vec::new();
    for i in 0..5 {
        let (_c, data) = ws_session(&server, Some(&alice)).await;
        alice_convs.push(conversation(&data));
        all.push(conversation(&data));
        if i % 2 == 0 {
            let (_c, data) = ws_session(&server, Some(&bob)).await;
            all.push(conversation(&data));
        }
    }
    alice_convs.reverse();
    all.reverse();

    let walk = |admin: Admin, limit: usize| async move {
        let mut seen = Vec::new();
        let mut query = format!("?limit={limit}");
        loop {
            let (ids, cursor) = page(&admin, &query).await;
            assert!(ids.len() <= limit, "{query}: {ids:?}");
            seen.extend(ids.clone());
            match cursor.as_str() {
                Some(cursor) => {
                    assert_eq!(ids.len(), limit, "a short page with a cursor");
                    query = format!("?limit={limit}&cursor={cursor}");
                }
                None => break,
            }
        }
        seen
    };
    let admin_a = || as_user(&server, &token("carol", "org-a", "admin"));
    assert_eq!(walk(admin_a(), 2).await, all, "org A, pages of 2");
    assert_eq!(walk(admin_a(), 3).await, all, "org A, pages of 3");
    assert_eq!(
        walk(as_user(&server, &alice), 2).await,
        alice_convs,
        "alice's own, pages of 2"
    );
    let (ids, cursor) = page(&admin_a(), "?limit=0").await;
    assert_eq!(ids.len(), 1, "limit 0 is clamped to 1");
    assert!(cursor.is_string());
    let (ids, cursor) = page(&admin_a(), "?limit=1000").await;
    assert_eq!(ids, all);
    assert!(cursor.is_null());
    for query in ["?limit=abc", "?cursor=xyz", "?cursor=-1"] {
        let answer = admin_a().get(&format!("/admin/conversations{query}")).await;
        assert_http_error(&answer, 400, "VALIDATION_ERROR");
    }
    server.shutdown().await.unwrap();
}

fn sign(secret: &str, user: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{user}:{timestamp}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Creates a session for `agent` with an `authContext` signed with `secret`; returns the
/// answer.
async fn create_signed(server: &ServerHandle, agent: &str, secret: &str) -> Value {
    let mut client = Client::connect_with(server, &[("origin", "https://any.example")], None)
        .await
        .unwrap();
    let ts = chrono::Utc::now().timestamp();
    client
        .request(
            json!({"action": "create_conversation_session", "requestId": "c",
                        "agentId": agent,
                        "authContext": {"userId": "v1", "timestamp": ts,
                                        "signature": sign(secret, "v1", ts)}}),
        )
        .await
}

const WIDGET_SECRET: &str = "write-only-widget-secret-3c9d";

#[tokio::test]
async fn agents_are_managed_within_the_callers_organisation() {
    let server = start_with(principals_config()).await;
    let admin_a = as_user(&server, &token("carol", "org-a", "admin"));
    let admin_b = as_user(&server, &token("erin", "org-b", "admin"));
    let root = Admin::new(&server);
    let id = agent_id(2);
    let path = format!("/admin/agents/{id}");
    let mut answers: Vec<HttpAnswer> = Vec::new();

    let created = send_json(
        &admin_a,
        Method::PUT,
        &path,
        &json!({"name": "Helper", "widget": {"allowedOrigins": ["*"],
                                             "authSecret": WIDGET_SECRET}}),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let agent = &created.body["agent"];
    assert_eq!(agent["id"], id.as_str());
    assert_eq!(
        agent["organizationId"], "org-a",
        "lands in the caller's org"
    );
    assert_eq!(agent["widgetSecretSet"], true, "{agent}");
    assert!(agent["widget"].get("authSecret").is_none(), "{agent}");
    answers.push(created);

    // Replacing without authSecret keeps the stored one.
    let replaced = send_json(
        &admin_a,
        Method::PUT,
        &path,
        &json!({"id": id, "name": "Helper 2", "organizationId": "org-a",
                "widget": {"allowedOrigins": ["*"]}}),
    )
    .await;
    assert_eq!(replaced.status, 200, "{replaced:?}");
    assert_eq!(replaced.body["agent"]["name"], "Helper 2");
    assert_eq!(replaced.body["agent"]["widgetSecretSet"], true);
    answers.push(replaced);
    let read = admin_a.get(&path).await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(read.body["agent"]["name"], "Helper 2");
    assert_eq!(read.body["agent"]["widgetSecretSet"], true);
    let list = admin_a.get("/admin/agents").await;
    let ids: Vec<&str> = list.body["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "{list:?}");
    answers.extend([read, list]);

    // The kept secret still verifies an authContext; another does not.
    let ok = create_signed(&server, &id, WIDGET_SECRET).await;
    assert_eq!(ok["type"], "immediate_response", "{ok}");
    assert_eq!(ok["data"]["agentName"], "Helper 2");
    let bad = create_signed(&server, &id, "some-other-secret").await;
    assert_error(&bad, "AUTH_CONTEXT_INVALID", Some("c"));

    // Org B's admin neither sees, overwrites nor deletes it.
    assert_http_error(&admin_b.get(&path).await, 404, "NOT_FOUND");
    let b_list = admin_b.get("/admin/agents").await;
    assert_eq!(b_list.body["agents"], json!([]), "{b_list:?}");
    let taken = send_json(&admin_b, Method::PUT, &path, &json!({"name": "Mine now"})).await;
    assert_http_error(&taken, 403, "FORBIDDEN");
    assert_http_error(&admin_b.delete(&path).await, 404, "NOT_FOUND");
    assert_eq!(admin_a.get(&path).await.body["agent"]["name"], "Helper 2");
    // Nor can org A's admin place an agent in org B.
    let elsewhere = send_json(
        &admin_a,
        Method::PUT,
        &format!("/admin/agents/{}", agent_id(3)),
        &json!({"organizationId": "org-b"}),
    )
    .await;
    assert_http_error(&elsewhere, 403, "FORBIDDEN");
    assert_http_error(
        &root.get(&format!("/admin/agents/{}", agent_id(3))).await,
        404,
        "NOT_FOUND",
    );
    // A curator is not an agent admin.
    let curator = as_user(&server, &token("cur", "org-a", "curator"));
    let refused = send_json(&curator, Method::PUT, &path, &json!({"name": "x"})).await;
    assert_http_error(&refused, 403, "FORBIDDEN");
    // The path and body ids must agree.
    let mismatch = send_json(&admin_a, Method::PUT, &path, &json!({"id": agent_id(4)})).await;
    assert_http_error(&mismatch, 400, "VALIDATION_ERROR");

    // The admin token sees and places agents in any organisation.
    let b_agent = send_json(
        &root,
        Method::PUT,
        &format!("/admin/agents/{}", agent_id(5)),
        &json!({"organizationId": "org-b", "name": "B's"}),
    )
    .await;
    assert_eq!(b_agent.status, 201, "{b_agent:?}");
    assert_eq!(
        admin_b.get("/admin/agents").await.body["agents"][0]["name"],
        "B's"
    );
    let root_list = root.get("/admin/agents").await;
    assert_eq!(root_list.body["agents"].as_array().unwrap().len(), 2);
    answers.push(root_list);

    // A new secret replaces the old one.
    let rotated = send_json(
        &admin_a,
        Method::PUT,
        &path,
        &json!({"widget": {"allowedOrigins": ["*"], "authSecret": "rotated-secret-77"}}),
    )
    .await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    answers.push(rotated);
    let ok = create_signed(&server, &id, "rotated-secret-77").await;
    assert_eq!(ok["type"], "immediate_response", "{ok}");
    assert_error(
        &create_signed(&server, &id, WIDGET_SECRET).await,
        "AUTH_CONTEXT_INVALID",
        Some("c"),
    );

    for answer in &answers {
        for secret in [WIDGET_SECRET, "rotated-secret-77"] {
            assert!(
                !answer.text.contains(secret),
                "an answer echoed the widget secret: {answer:?}"
            );
        }
    }
    let deleted = admin_a.delete(&path).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_http_error(&admin_a.get(&path).await, 404, "NOT_FOUND");
    server.shutdown().await.unwrap();
}

/// Runs one turn as the holder of `token` (anonymous when `None`).
async fn turn_as(server: &ServerHandle, token: Option<&str>) {
    let (mut client, data) = ws_session(server, token).await;
    client
        .send(json!({"action": "send_message", "requestId": "r",
                     "sessionId": data["sessionId"], "message": "Hello", "stream": false}))
        .await;
    let ack = client.recv().await;
    assert_eq!(ack["status"], 202, "{ack}");
    let done = client.recv().await;
    assert_eq!(done["type"], "eventual_response", "{done}");
    assert!(!done.to_string().contains("key-for-"), "{done}");
}

#[tokio::test]
async fn an_organisations_gateway_key_is_used_by_its_turns_and_never_echoed() {
    let gateway = MockGateway::start((0..6).map(|_| Reply::tokens(&["Hi."])).collect()).await;
    let mut config = principals_config();
    config.agent.gateway_url = Some(gateway.base_url());
    config.agent.gateway_key = Some("server-key".into());
    let server = start_with(config).await;
    let user_a = token("alice", "org-a", "basic");
    let user_b = token("dave", "org-b", "basic");
    let admin_a = as_user(&server, &token("carol", "org-a", "admin"));
    let admin_b = as_user(&server, &token("erin", "org-b", "admin"));
    let key_path = "/admin/orgs/org-a/gateway-key";
    let body = json!({"key": "key-for-a"});
    let mut answers = Vec::new();

    for (who, caller) in [
        ("org B's admin", &admin_b),
        (
            "org A's curator",
            &as_user(&server, &token("cur", "org-a", "curator")),
        ),
        ("org A's basic user", &as_user(&server, &user_a)),
    ] {
        let answer = send_json(caller, Method::PUT, key_path, &body).await;
        assert_eq!(answer.status, 403, "{who}: {answer:?}");
        assert_http_error(&answer, 403, "FORBIDDEN");
        answers.push(answer);
    }
    for bad in [
        json!({"key": "key-for-a", "extra": true}),
        json!({"key": ""}),
        json!({"key": "key-for-a\u{7}"}),
        json!({"secret": "key-for-a"}),
    ] {
        let answer = send_json(&admin_a, Method::PUT, key_path, &bad).await;
        assert_http_error(&answer, 400, "VALIDATION_ERROR");
        answers.push(answer);
    }
    let broken = admin_a
        .send(
            admin_a
                .request(Method::PUT, key_path)
                .header("content-type", "application/json")
                .body("{\"key\": \"key-for-a\""),
        )
        .await;
    assert_http_error(&broken, 400, "VALIDATION_ERROR");
    answers.push(broken);
    let set = send_json(&admin_a, Method::PUT, key_path, &body).await;
    assert_eq!(set.status, 204, "{set:?}");
    answers.push(set);

    turn_as(&server, Some(&user_a)).await;
    turn_as(&server, Some(&user_b)).await;
    turn_as(&server, None).await;
    // The admin token may set any organisation's key.
    let root = Admin::new(&server);
    let set_b = send_json(
        &root,
        Method::PUT,
        "/admin/orgs/org-b/gateway-key",
        &json!({"key": "key-for-b"}),
    )
    .await;
    assert_eq!(set_b.status, 204, "{set_b:?}");
    turn_as(&server, Some(&user_b)).await;
    // Only org A's admin clears org A's key.
    let answer = admin_b.delete(key_path).await;
    assert_http_error(&answer, 403, "FORBIDDEN");
    let cleared = admin_a.delete(key_path).await;
    assert_eq!(cleared.status, 204, "{cleared:?}");
    turn_as(&server, Some(&user_a)).await;

    let authorizations: Vec<Option<String>> = gateway
        .requests()
        .iter()
        .map(|r| r.authorization.clone())
        .collect();
    let bearer = |key: &str| Some(format!("Bearer {key}"));
    assert_eq!(
        authorizations,
        [
            bearer("key-for-a"),
            bearer("server-key"),
            bearer("server-key"),
            bearer("key-for-b"),
            bearer("server-key"),
        ]
    );

    for path in [
        "/admin/me",
        "/admin/agents",
        "/admin/conversations",
        "/admin/documents",
    ] {
        answers.push(admin_a.get(path).await);
        answers.push(root.get(path).await);
    }
    for answer in &answers {
        assert!(
            !answer.text.contains("key-for-a") && !answer.text.contains("key-for-b"),
            "an answer echoed a gateway key: {answer:?}"
        );
    }
    server.shutdown().await.unwrap();
}
