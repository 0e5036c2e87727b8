//! Sessions, messages, history pages and the memory window.

use chrono::Duration;
use serde_json::json;
use smooth_operator::protocol::MessageDirection::{Inbound, Outbound};
use smooth_operator::protocol::SessionStatus;
use smooth_operator::store::{PageRequest, StoreError};
use uuid::Uuid;

use super::{epoch, micros, new_session, session, text_message, Env};

pub async fn ping_answers(env: Env) {
    env.store.ping().await.expect("ping");
}

pub async fn sessions_round_trip_with_clock_timestamps(env: Env) {
    let mut new = new_session(Some("acme"), Some(("u1", Some("acme"))));
    new.verified_user_id = Some("end-user-7".into());
    new.metadata.insert("k".into(), json!("v"));
    let created = env.store.create_session(new.clone()).await.unwrap();
    assert_eq!(created.created_at, micros(epoch()), "{}", env.backend);
    assert_eq!(created.session_id, new.session_id);
    assert_eq!(created.conversation_id, new.conversation_id);
    assert_eq!(created.thread_id, new.conversation_id.to_string());
    assert_eq!(created.status, SessionStatus::Active);
    assert_eq!(created.owner_id.as_deref(), Some("u1"));
    assert_eq!(created.owner_organization_id.as_deref(), Some("acme"));
    assert_eq!(created.verified_user_id.as_deref(), Some("end-user-7"));
    assert_eq!(created.contact_email.as_deref(), Some("ada@example.com"));
    assert_eq!(created.workflow_step, None);
    assert_eq!(created.workflow_step_turns, Some(0));
    assert_eq!(created.otp_verified_at, None);
    let read = env.store.get_session(new.session_id).await.unwrap();
    assert_eq!(read.as_ref(), Some(&created), "{}", env.backend);
    assert_eq!(env.store.get_session(Uuid::new_v4()).await.unwrap(), None);

    let conversation = env
        .store
        .get_conversation(new.conversation_id)
        .await
        .unwrap()
        .expect("conversation");
    assert_eq!(conversation.name, format!("Session {}", new.session_id));
    assert_eq!(conversation.platform, "web");
    assert_eq!(conversation.organization_id.as_deref(), Some("acme"));
    assert_eq!(conversation.owner_id.as_deref(), Some("u1"));
    assert_eq!(conversation.owner_org.as_deref(), Some("acme"));
    assert_eq!(conversation.created_at, micros(epoch()));
    assert_eq!(conversation.updated_at, micros(epoch()));

    // Anonymous, without organisation.
    let anonymous = env
        .store
        .create_session(new_session(None, None))
        .await
        .unwrap();
    assert_eq!(
        anonymous.created_at,
        micros(epoch() + Duration::milliseconds(1))
    );
    let read = env.store.get_session(anonymous.session_id).await.unwrap();
    assert_eq!(read, Some(anonymous));
}

pub async fn a_failed_session_leaves_nothing_behind(env: Env) {
    let first = session(&env).await;
    // The same session id again, with a new conversation: the session insert fails last.
    let mut again = new_session(Some("acme"), None);
    again.session_id = first.session_id;
    let err = env.store.create_session(again.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(
        env.store
            .get_conversation(again.conversation_id)
            .await
            .unwrap(),
        None,
        "{}: the conversation of a failed session was kept",
        env.backend
    );
    let (all, _) = env
        .store
        .list_conversations(smooth_operator::store::ConversationQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        env.store.get_session(first.session_id).await.unwrap(),
        Some(first)
    );
    // A message for a conversation that does not exist is refused.
    let ghost = smooth_operator::store::NewMessage {
        conversation_id: Uuid::new_v4(),
        ..text_message(&session(&env).await, Inbound, "x")
    };
    assert!(env.store.append_message(ghost).await.is_err());
}

pub async fn message_pages_follow_cursors(env: Env) {
    let s = session(&env).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let direction = if i % 2 == 0 { Inbound } else { Outbound };
        let stored = env
            .store
            .append_message(text_message(&s, direction, &format!("m{i}")))
            .await
            .unwrap();
        ids.push(stored.id);
    }
    let page = |limit, cursor: Option<Uuid>| PageRequest {
        limit,
        cursor: cursor.map(|c| c.to_string()),
        before: None,
    };
    let first = env
        .store
        .list_messages(s.conversation_id, page(2, None))
        .await
        .unwrap();
    let texts = |p: &smooth_operator::store::MessagePage| -> Vec<String> {
        p.messages
            .iter()
            .map(|m| m.content.text.clone().unwrap_or_default())
            .collect()
    };
    assert_eq!(texts(&first), ["m4", "m3"]);
    assert!(first.has_more);
    assert_eq!(first.messages[0].from.as_ref().unwrap().type_, "user");
    assert_eq!(
        first.messages[0].from.as_ref().unwrap().name.as_deref(),
        Some("Ada")
    );
    assert_eq!(first.messages[0].to.as_ref().unwrap().type_, "ai-agent");
    assert_eq!(
        first.messages[1].from.as_ref().unwrap().name.as_deref(),
        Some("Helper")
    );
    let second = env
        .store
        .list_messages(s.conversation_id, page(2, Some(first.messages[1].id)))
        .await
        .unwrap();
    assert_eq!(texts(&second), ["m2", "m1"]);
    assert!(second.has_more);
    let last = env
        .store
        .list_messages(s.conversation_id, page(2, Some(second.messages[1].id)))
        .await
        .unwrap();
    assert_eq!(texts(&last), ["m0"]);
    assert!(!last.has_more);
    // Exactly the rest: no more.
    let exact = env
        .store
        .list_messages(s.conversation_id, page(4, Some(ids[4])))
        .await
        .unwrap();
    assert_eq!(texts(&exact), ["m3", "m2", "m1", "m0"]);
    assert!(!exact.has_more);
    let empty = env
        .store
        .list_messages(s.conversation_id, page(0, None))
        .await
        .unwrap();
    assert!(empty.messages.is_empty());
    assert!(empty.has_more);
    let everything = env
        .store
        .list_messages(s.conversation_id, page(50, None))
        .await
        .unwrap();
    assert_eq!(everything.messages.len(), 5);
    assert!(!everything.has_more);
    // Another conversation's history is its own.
    let other = session(&env).await;
    let none = env
        .store
        .list_messages(other.conversation_id, page(10, None))
        .await
        .unwrap();
    assert!(none.messages.is_empty() && !none.has_more);
}

pub async fn before_is_a_strict_upper_bound(env: Env) {
    let s = session(&env).await;
    let mut stored = Vec::new();
    for i in 0..4 {
        stored.push(
            env.store
                .append_message(text_message(&s, Inbound, &format!("m{i}")))
                .await
                .unwrap(),
        );
    }
    let list = |before, cursor: Option<Uuid>| {
        let store = env.store.clone();
        let conversation = s.conversation_id;
        async move {
            store
                .list_messages(
                    conversation,
                    PageRequest {
                        limit: 10,
                        cursor: cursor.map(|c| c.to_string()),
                        before,
                    },
                )
                .await
                .unwrap()
                .messages
                .into_iter()
                .map(|m| m.content.text.unwrap_or_default())
                .collect::<Vec<_>>()
        }
    };
    let at_m2 = stored[2].created_at;
    assert_eq!(
        list(Some(at_m2), None).await,
        ["m1", "m0"],
        "{}",
        env.backend
    );
    // Sub-microsecond digits of `before` are cut like stored timestamps: still m2 excluded.
    assert_eq!(
        list(Some(at_m2 + Duration::nanoseconds(999)), None).await,
        ["m1", "m0"]
    );
    assert_eq!(
        list(Some(at_m2 + Duration::microseconds(1)), None).await,
        ["m2", "m1", "m0"]
    );
    assert!(list(Some(stored[0].created_at), None).await.is_empty());
    // Both bounds: the stricter wins.
    assert_eq!(list(Some(at_m2), Some(stored[1].id)).await, ["m0"]);
    assert_eq!(
        list(Some(stored[3].created_at), Some(stored[2].id)).await,
        ["m1", "m0"]
    );
}

pub async fn pages_keep_insertion_order_when_timestamps_tie(env: Env) {
    env.clock.step(Duration::zero());
    let s = session(&env).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let m = env
            .store
            .append_message(text_message(&s, Inbound, &format!("m{i}")))
            .await
            .unwrap();
        ids.push(m.id);
    }
    let page = env
        .store
        .list_messages(
            s.conversation_id,
            PageRequest {
                limit: 2,
                cursor: None,
                before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
        [ids[2], ids[1]]
    );
    let recent = env
        .store
        .recent_messages(s.conversation_id, 3)
        .await
        .unwrap();
    assert_eq!(recent.iter().map(|m| m.id).collect::<Vec<_>>(), ids);
    // Every message has the same instant: `before` it, nothing.
    let before = env
        .store
        .list_messages(
            s.conversation_id,
            PageRequest {
                limit: 10,
                cursor: None,
                before: Some(recent[0].created_at),
            },
        )
        .await
        .unwrap();
    assert!(before.messages.is_empty() && !before.has_more);
}

pub async fn unknown_cursors_are_refused(env: Env) {
    let s = session(&env).await;
    let mine = env
        .store
        .append_message(text_message(&s, Inbound, "mine"))
        .await
        .unwrap();
    let other = session(&env).await;
    let theirs = env
        .store
        .append_message(text_message(&other, Inbound, "theirs"))
        .await
        .unwrap();
    for cursor in [
        Uuid::new_v4().to_string(),
        theirs.id.to_string(),
        mine.id.to_string().to_uppercase(),
        mine.id.simple().to_string(),
        "not-a-uuid".to_string(),
        String::new(),
    ] {
        let err = env
            .store
            .list_messages(
                s.conversation_id,
                PageRequest {
                    limit: 5,
                    cursor: Some(cursor.clone()),
                    before: None,
                },
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::UnknownCursor),
            "{}: {cursor:?} gave {err:?}",
            env.backend
        );
    }
}

pub async fn recent_messages_are_chronological(env: Env) {
    let s = session(&env).await;
    assert!(env
        .store
        .recent_messages(s.conversation_id, 5)
        .await
        .unwrap()
        .is_empty());
    for i in 0..6 {
        env.store
            .append_message(text_message(&s, Outbound, &format!("m{i}")))
            .await
            .unwrap();
    }
    let texts = |limit| {
        let store = env.store.clone();
        let conversation = s.conversation_id;
        async move {
            store
                .recent_messages(conversation, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.content.text.unwrap_or_default())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(texts(3).await, ["m3", "m4", "m5"]);
    assert_eq!(texts(100).await.len(), 6);
    assert_eq!(texts(100).await[0], "m0");
    assert!(texts(0).await.is_empty());
}

pub async fn messages_keep_their_content(env: Env) {
    let s = session(&env).await;
    let mut structured = serde_json::Map::new();
    structured.insert("b".into(), json!([1, 2.5, -0.0, 1e300, "x\u{0}y"]));
    structured.insert("a".into(), json!({"nested": {"k": null, "big": u64::MAX}}));
    let message = smooth_operator::store::NewMessage {
        text: None,
        structured_response: Some(structured.clone()),
        from_participant_id: None,
        to_participant_id: None,
        organization_id: None,
        ..text_message(&s, Outbound, "")
    };
    let stored = env.store.append_message(message.clone()).await.unwrap();
    assert_eq!(
        stored.created_at,
        micros(epoch() + Duration::milliseconds(1))
    );
    let recent = env
        .store
        .recent_messages(s.conversation_id, 1)
        .await
        .unwrap();
    assert_eq!(recent, vec![stored.clone()], "{}", env.backend);
    assert_eq!(
        recent[0].content.structured_response.as_ref(),
        Some(&structured)
    );
    let page = env
        .store
        .list_messages(
            s.conversation_id,
            PageRequest {
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let listed = &page.messages[0];
    assert_eq!(listed.id, stored.id);
    assert_eq!(listed.content.text, None);
    assert_eq!(listed.content.structured_response, Some(structured));
    assert_eq!(listed.from, None);
    assert_eq!(listed.to, None);
    assert_eq!(listed.created_at, stored.created_at);
}
