//! Who is on a socket: JWT principals (HS256, RS256, a rotating JWKS), refused tokens, required
//! authentication, ownership of sessions by principal, and document ACLs driven by the token's
//! groups.

mod common;

use std::sync::{Arc, Mutex};

use axum::routing::get;
use axum::{Json, Router};
use common::gateway::{MockGateway, Reply};
use common::*;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use smooth_operator::config::Config;
use smooth_operator::server::ServerHandle;

const SECRET: &str = "identity-test-secret-0123456789";

fn in_an_hour() -> u64 {
    jsonwebtoken::get_current_timestamp() + 3600
}

/// An HS256 token for `claims` (an `exp` an hour ahead is added when missing).
fn hs256(secret: &str, mut claims: Value) -> String {
    if claims.get("exp").is_none() {
        claims["exp"] = json!(in_an_hour());
    }
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("key"),
    )
    .expect("token signs")
}

fn key_file(name: &str) -> String {
    let path = format!("{}/tests/fixtures/keys/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// An RS256 token signed with the private key in `tests/fixtures/keys/<key>.pem`.
fn rs256(key: &str, kid: Option<&str>, claims: Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    let mut claims = claims;
    claims["exp"] = json!(in_an_hour());
    let key = EncodingKey::from_rsa_pem(key_file(&format!("{key}.pem")).as_bytes())
        .expect("test key parses");
    jsonwebtoken::encode(&header, &claims, &key).expect("token signs")
}

fn hs_config() -> Config {
    let mut config = Config::for_tests();
    config.auth.jwt_hs256_secret = Some(SECRET.into());
    config
}

fn user(sub: &str, org: &str) -> Value {
    json!({"sub": sub, "org": org, "role": "basic"})
}

async fn create(client: &mut Client) -> String {
    client.create_session().await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string()
}

/// Asserts that `client` cannot reach `session` through any action that takes a sessionId.
async fn assert_cannot_reach(client: &mut Client, session: &str, who: &str) {
    for (action, extra) in [
        ("get_session", json!({})),
        ("get_conversation_messages", json!({})),
        ("send_message", json!({"message": "hello?"})),
        ("cancel", json!({})),
    ] {
        let mut frame = json!({"action": action, "requestId": "probe", "sessionId": session});
        for (k, v) in extra.as_object().unwrap() {
            frame[k] = v.clone();
        }
        let event = client.request(frame).await;
        assert_error(&event, "SESSION_NOT_FOUND", Some("probe"));
        assert!(
            event["error"]["message"]
                .as_str()
                .unwrap()
                .contains(session),
            "{who}: {event}"
        );
    }
    let event = client
        .request(
            json!({"action": "confirm_tool_action", "requestId": "probe",
                        "sessionId": session, "approved": true}),
        )
        .await;
    assert_error(&event, "NO_PENDING_CONFIRMATION", Some("probe"));
    client.assert_alive().await;
}

async fn assert_can_reach(client: &mut Client, session: &str) {
    let event = client
        .request(json!({"action": "get_session", "requestId": "g", "sessionId": session}))
        .await;
    assert_eq!(event["type"], "immediate_response", "{event}");
    assert_eq!(event["data"]["sessionId"], session);
}

#[tokio::test]
async fn a_signed_in_user_owns_its_sessions_and_nobody_else_reaches_them() {
    let server = start_with(hs_config()).await;
    let alice_token = hs256(SECRET, user("alice", "acme"));
    let mut alice = Client::connect_bearer(&server, &alice_token).await;
    let session = create(&mut alice).await;
    assert_can_reach(&mut alice, &session).await;

    // The same user on another socket, with the token in the query string (as browsers do).
    let mut again = Client::connect_with(&server, &[], Some(&format!("token={alice_token}")))
        .await
        .expect("connects");
    assert_can_reach(&mut again, &session).await;

    let mut bob = Client::connect_bearer(&server, &hs256(SECRET, user("bob", "acme"))).await;
    assert_cannot_reach(&mut bob, &session, "another user").await;
    let mut other_org =
        Client::connect_bearer(&server, &hs256(SECRET, user("alice", "globex"))).await;
    assert_cannot_reach(&mut other_org, &session, "the same id in another org").await;
    let mut anonymous = Client::connect(&server).await;
    assert_cannot_reach(&mut anonymous, &session, "an anonymous connection").await;

    // Anonymous sessions stay bearer capabilities, for signed-in users too.
    let open = create(&mut anonymous).await;
    assert_can_reach(&mut bob, &open).await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn refused_tokens_leave_the_connection_anonymous() {
    let mut config = hs_config();
    config.auth.jwt_issuer = Some("https://issuer.test".into());
    config.auth.jwt_audience = Some("smooth".into());
    let server = start_with(config).await;
    let good = json!({"sub": "u1", "org": "acme", "iss": "https://issuer.test", "aud": "smooth"});
    let with = |patch: Value| {
        let mut claims = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            claims[k] = v.clone();
        }
        claims
    };
    let past = jsonwebtoken::get_current_timestamp() - 3600;
    let refused = [
        ("expired", hs256(SECRET, with(json!({"exp": past})))),
        (
            "wrong signature",
            hs256("some-other-secret-0123456789", good.clone()),
        ),
        (
            "wrong issuer",
            hs256(SECRET, with(json!({"iss": "https://evil.test"}))),
        ),
        (
            "wrong audience",
            hs256(SECRET, with(json!({"aud": "other"}))),
        ),
        (
            "unknown role",
            hs256(SECRET, with(json!({"role": "superuser"}))),
        ),
        ("not a JWT", "definitely-not-a-jwt".to_string()),
    ];
    let mut stranger = Client::connect(&server).await;
    for (why, token) in refused {
        let mut client = Client::connect_bearer(&server, &token).await;
        let session = create(&mut client).await;
        // Only an anonymous session is reachable by a stranger holding its id.
        assert_can_reach(&mut stranger, &session).await;
        let _ = why;
    }
    let mut signed_in = Client::connect_bearer(&server, &hs256(SECRET, good)).await;
    let owned = create(&mut signed_in).await;
    assert_cannot_reach(&mut stranger, &owned, "a stranger").await;
    server.shutdown().await.unwrap();
}

/// The HTTP status of a refused WebSocket handshake.
fn refused_status(result: Result<Client, tokio_tungstenite::tungstenite::Error>) -> u16 {
    match result {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("the handshake was accepted"),
    }
}

#[tokio::test]
async fn required_authentication_refuses_upgrades_without_a_valid_token() {
    let mut config = hs_config();
    config.auth.auth_required = true;
    let server = start_with(config).await;
    assert_eq!(
        refused_status(Client::connect_with(&server, &[], None).await),
        401
    );
    let forged = format!(
        "Bearer {}",
        hs256("wrong-secret-0123456789abcdef", user("u", "o"))
    );
    assert_eq!(
        refused_status(Client::connect_with(&server, &[("authorization", &forged)], None).await),
        401
    );
    assert_eq!(
        refused_status(Client::connect_with(&server, &[], Some("token=garbage")).await),
        401
    );
    let mut client = Client::connect_bearer(&server, &hs256(SECRET, user("u", "o"))).await;
    client.assert_alive().await;
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn rs256_tokens_verify_against_the_configured_public_key() {
    let mut config = Config::for_tests();
    config.auth.jwt_rs256_public_key = Some(key_file("rsa-a.pub.pem"));
    let server = start_with(config).await;
    let mut owner = Client::connect_bearer(&server, &rs256("rsa-a", None, user("u", "o"))).await;
    let session = create(&mut owner).await;
    let mut stranger = Client::connect(&server).await;
    assert_cannot_reach(&mut stranger, &session, "a stranger").await;
    // Signed by another key: anonymous.
    let mut forged = Client::connect_bearer(&server, &rs256("rsa-b", None, user("u", "o"))).await;
    assert_cannot_reach(&mut forged, &session, "a token signed by another key").await;
    // An HS256 token "signed" with the public key text must not pass as RS256.
    let confused = hs256(&key_file("rsa-a.pub.pem"), user("u", "o"));
    let mut confused = Client::connect_bearer(&server, &confused).await;
    assert_cannot_reach(&mut confused, &session, "an algorithm-confusion token").await;
    server.shutdown().await.unwrap();
}

/// A local JWKS endpoint whose keys the test can swap, counting fetches.
struct JwksServer {
    url: String,
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<Mutex<usize>>,
}

fn jwk(key: &str, kid: &str) -> Jwk {
    let private = EncodingKey::from_rsa_pem(key_file(&format!("{key}.pem")).as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&private, Algorithm::RS256).expect("jwk from key");
    jwk.common.key_id = Some(kid.to_string());
    jwk
}

async fn jwks_server(initial: Vec<Jwk>) -> JwksServer {
    let keys = Arc::new(Mutex::new(JwkSet { keys: initial }));
    let fetches = Arc::new(Mutex::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    let app = Router::new().route(
        "/jwks.json",
        get(move || {
            let (k, f) = (k.clone(), f.clone());
            async move {
                *f.lock().unwrap() += 1;
                Json(k.lock().unwrap().clone())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    JwksServer { url, keys, fetches }
}

/// Whether a connection with `token` is its session's owner (a stranger cannot reach it).
async fn is_signed_in(server: &ServerHandle, token: &str) -> bool {
    let mut client = Client::connect_bearer(server, token).await;
    let session = create(&mut client).await;
    let mut stranger = Client::connect(server).await;
    let event = stranger
        .request(json!({"action": "get_session", "requestId": "g", "sessionId": session}))
        .await;
    event["type"] == "error"
}

#[tokio::test]
async fn jwks_keys_rotate_and_unknown_kids_refetch_at_most_once_per_window() {
    let jwks = jwks_server(vec![jwk("rsa-a", "key-a")]).await;
    let mut config = Config::for_tests();
    config.auth.jwt_jwks_url = Some(jwks.url.clone());
    let server = start_with(config).await;
    let fetches = || *jwks.fetches.lock().unwrap();

    assert!(is_signed_in(&server, &rs256("rsa-a", Some("key-a"), user("u", "o"))).await);
    assert_eq!(fetches(), 1, "the first token fetches the set");
    assert!(is_signed_in(&server, &rs256("rsa-a", Some("key-a"), user("v", "o"))).await);
    assert_eq!(fetches(), 1, "a known kid is served from the cache");

    // The issuer rotates to a new key: the unknown kid triggers one refetch.
    *jwks.keys.lock().unwrap() = JwkSet {
        keys: vec![jwk("rsa-b", "key-b")],
    };
    assert!(is_signed_in(&server, &rs256("rsa-b", Some("key-b"), user("u", "o"))).await);
    assert_eq!(fetches(), 2, "an unknown kid refetches the set");

    // Forged kids within the window do not reach the endpoint again.
    for kid in ["forged-1", "forged-2", "forged-3"] {
        assert!(!is_signed_in(&server, &rs256("rsa-b", Some(kid), user("u", "o"))).await);
    }
    assert_eq!(
        fetches(),
        2,
        "unknown kids refetched more than once per window"
    );
    // The retired key no longer verifies.
    assert!(!is_signed_in(&server, &rs256("rsa-a", Some("key-a"), user("u", "o"))).await);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_group_restricted_document_is_retrieved_and_cited_for_its_group_only() {
    let gateway = MockGateway::start(vec![
        Reply::tokens(&["Bands are on the wiki."]),
        Reply::tokens(&["I cannot see that."]),
    ])
    .await;
    let mut config = admin_config();
    config.auth.jwt_hs256_secret = Some(SECRET.into());
    config.agent.gateway_url = Some(gateway.base_url());
    let server = start_with(config).await;
    let admin = Admin::new(&server);
    admin
        .ingest(
            &json!({"source": "hr/salary-bands.md",
                    "content": "Quarterly salary bands for engineers are set by the staff council.",
                    "acl": {"groups": ["staff"]}}),
            "created",
        )
        .await;

    let turn = |token: String| {
        let server = &server;
        async move {
            let mut client = Client::connect_bearer(server, &token).await;
            let session = create(&mut client).await;
            client
                .send(
                    json!({"action": "send_message", "requestId": "r", "sessionId": session,
                             "message": "What are the salary bands?", "stream": false}),
                )
                .await;
            let ack = client.recv().await;
            assert_eq!(ack["status"], 202, "{ack}");
            let done = client.recv().await;
            assert_eq!(done["type"], "eventual_response", "{done}");
            done["data"]["data"]["citations"].clone()
        }
    };
    let staff = json!({"sub": "s1", "org": "acme", "groups": ["staff"]});
    let cited = turn(hs256(SECRET, staff)).await;
    assert_eq!(cited[0]["id"], "hr/salary-bands.md", "{cited}");
    let outsider = json!({"sub": "o1", "org": "acme", "groups": ["sales"]});
    let cited = turn(hs256(SECRET, outsider)).await;
    assert!(
        cited.as_array().is_none_or(|c| c.is_empty()),
        "an outsider was cited a staff document: {cited}"
    );
    let requests = gateway.requests();
    assert_eq!(requests.len(), 2);
    let text = |i: usize| requests[i].body.to_string();
    assert!(
        text(0).contains("staff council"),
        "the entitled turn lacked the document"
    );
    assert!(
        !text(1).contains("staff council"),
        "the outsider's turn saw the document"
    );
    server.shutdown().await.unwrap();
}
