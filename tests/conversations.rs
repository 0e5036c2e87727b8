//! Conversations across sessions at the store seam: the capabilities a client declared are kept
//! on the conversation (inherited by a resumed session unless it declares its own, `[]` meaning
//! text only), the newest session is found, a title is given or derived, and the listing is
//! ordered by activity with message counts. Also: a conversation resumed after a restart.

mod common;

use common::*;
use serde_json::json;
use smooth_operator::protocol::MessageDirection;
use smooth_operator::store::sqlite::SqliteStore;
use smooth_operator::store::{ConversationQuery, NewMessage, NewSession, Store};
use uuid::Uuid;

fn new_session(supports: Option<Vec<&str>>) -> NewSession {
    NewSession {
        session_id: Uuid::new_v4(),
        conversation_id: Uuid::new_v4(),
        user_participant_id: Uuid::new_v4(),
        agent_participant_id: Uuid::new_v4(),
        agent_id: "agent".into(),
        agent_name: "smooth-agent".into(),
        organization_id: Some("acme".into()),
        owner_id: Some("alice".into()),
        owner_org: Some("acme".into()),
        verified_user_id: None,
        user_name: "Alice".into(),
        user_email: None,
        browser_fingerprint: None,
        metadata: Default::default(),
        supports: supports.map(|s| s.into_iter().map(String::from).collect()),
    }
}

/// A new session in the conversation of `first`, declaring `supports`.
fn resumed(first: &NewSession, supports: Option<Vec<&str>>) -> NewSession {
    NewSession {
        session_id: Uuid::new_v4(),
        conversation_id: first.conversation_id,
        user_participant_id: first.user_participant_id,
        agent_participant_id: first.agent_participant_id,
        ..new_session(supports)
    }
}

async fn say(store: &SqliteStore, session: &NewSession, text: &str) {
    store
        .append_message(NewMessage {
            id: Uuid::new_v4(),
            conversation_id: session.conversation_id,
            organization_id: session.organization_id.clone(),
            direction: MessageDirection::Inbound,
            text: Some(text.into()),
            structured_response: None,
            from_participant_id: Some(session.user_participant_id),
            to_participant_id: Some(session.agent_participant_id),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn capabilities_live_on_the_conversation_and_resumes_inherit_or_replace_them() {
    let store = SqliteStore::open_memory()
        .await
        .unwrap()
        .with_clock(SteppingClock::shared());
    let first = new_session(Some(vec!["identity_form", "choice_chips"]));
    let created = store.create_session(first.clone()).await.unwrap();
    assert_eq!(created.supports, ["identity_form", "choice_chips"]);

    // Omitted on the resume: inherited, also when read back.
    let second = resumed(&first, None);
    let session = store.resume_session(second.clone()).await.unwrap();
    assert_eq!(session.conversation_id, first.conversation_id);
    assert_eq!(session.supports, ["identity_form", "choice_chips"]);
    let read = store.get_session(second.session_id).await.unwrap().unwrap();
    assert_eq!(read.supports, ["identity_form", "choice_chips"]);
    assert_eq!(read.user_participant_id, first.user_participant_id);

    // `[]`: explicitly text only, for every session of the conversation from now on.
    let third = resumed(&first, Some(vec![]));
    assert!(store
        .resume_session(third.clone())
        .await
        .unwrap()
        .supports
        .is_empty());
    let earlier = store.get_session(first.session_id).await.unwrap().unwrap();
    assert!(earlier.supports.is_empty(), "{:?}", earlier.supports);

    // The newest session of the conversation.
    let latest = store
        .latest_session(first.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.session_id, third.session_id);
    assert!(store
        .latest_session(Uuid::new_v4())
        .await
        .unwrap()
        .is_none());

    // A conversation that never declared anything reads as text only.
    let plain = new_session(None);
    assert!(store
        .create_session(plain)
        .await
        .unwrap()
        .supports
        .is_empty());
}

#[tokio::test]
async fn titles_counts_and_activity_order() {
    let store = SqliteStore::open_memory()
        .await
        .unwrap()
        .with_clock(SteppingClock::shared());
    let older = new_session(None);
    let newer = new_session(None);
    store.create_session(older.clone()).await.unwrap();
    store.create_session(newer.clone()).await.unwrap();
    say(&store, &newer, "Do you ship to Canada?").await;
    say(&store, &older, "Where is my order?").await;
    say(&store, &older, "Hello?").await;

    let query = |by_activity| ConversationQuery {
        organization_id: None,
        owner: Some(("alice".into(), Some("acme".into()))),
        limit: 10,
        offset: 0,
        by_activity,
    };
    let (listed, more) = store.list_conversations(query(true)).await.unwrap();
    assert!(!more);
    let ids: Vec<Uuid> = listed.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [older.conversation_id, newer.conversation_id],
        "activity order"
    );
    assert_eq!(listed[0].title.as_deref(), Some("Where is my order?"));
    assert_eq!(listed[0].message_count, 2);
    assert_eq!(listed[1].message_count, 1);
    assert!(listed[0].updated_at > listed[0].created_at);
    let (by_creation, _) = store.list_conversations(query(false)).await.unwrap();
    assert_eq!(by_creation[0].id, newer.conversation_id, "creation order");

    assert!(store
        .rename_conversation(newer.conversation_id, "Canada")
        .await
        .unwrap());
    assert!(!store
        .rename_conversation(Uuid::new_v4(), "x")
        .await
        .unwrap());
    let (listed, _) = store.list_conversations(query(true)).await.unwrap();
    assert_eq!(listed[0].id, newer.conversation_id, "a rename is activity");
    assert_eq!(listed[0].title.as_deref(), Some("Canada"));
    let record = store
        .get_conversation(newer.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.title.as_deref(), Some("Canada"));
    assert_eq!(record.owner_id.as_deref(), Some("alice"));
}

#[tokio::test]
async fn a_conversation_is_resumed_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("resume.db");
    let server = start_file(&path).await;
    let mut client = Client::connect(&server).await;
    let created = client.create_session().await;
    let store = open_store(&path).await;
    append_text(&store, &created, MessageDirection::Inbound, "hello").await;
    store.close().await;
    drop(store);
    client.ws.close(None).await.expect("client closes");
    drop(client);
    server.shutdown().await.expect("clean shutdown");

    let server = start_file(&path).await;
    let mut client = Client::connect(&server).await;
    let resumed = client
        .request(json!({
            "action": "create_conversation_session",
            "requestId": "again",
            "agentId": created["agentId"],
            "conversationId": created["conversationId"],
            "supports": ["identity_form"]
        }))
        .await;
    assert_eq!(resumed["type"], "immediate_response", "{resumed}");
    assert_eq!(resumed["status"], 200, "{resumed}");
    assert_matches_def("create-conversation-session", "Response", &resumed["data"]);
    assert_eq!(resumed["data"]["conversationId"], created["conversationId"]);
    assert_ne!(resumed["data"]["sessionId"], created["sessionId"]);
    assert_eq!(
        resumed["data"]["userParticipantId"],
        created["userParticipantId"]
    );
    let history = client
        .request(json!({
            "action": "get_conversation_messages",
            "sessionId": resumed["data"]["sessionId"]
        }))
        .await;
    assert_eq!(
        history["data"]["messages"][0]["content"]["text"], "hello",
        "{history}"
    );
    server.shutdown().await.expect("clean shutdown");
}
