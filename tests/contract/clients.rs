//! What newer clients added to the store: resumed sessions (a new session in an existing
//! conversation) with the conversation's render capabilities, the newest session of a
//! conversation, conversation titles, message counts and last activity, and the contact an
//! identity intake collects.

use chrono::Duration;
use serde_json::Map;
use smooth_operator::protocol::MessageDirection::{Inbound, Outbound};
use smooth_operator::protocol::{Session, SessionStatus};
use smooth_operator::store::{ConversationQuery, NewMessage, NewSession, StoreError};
use uuid::Uuid;

use super::{epoch, micros, new_session, session, text_message, Env};

/// A new session in `first`'s conversation, reusing its participants, owned like `first`.
fn resumed(first: &Session, supports: Option<&[&str]>) -> NewSession {
    NewSession {
        session_id: Uuid::new_v4(),
        conversation_id: first.conversation_id,
        user_participant_id: first.user_participant_id,
        agent_participant_id: first.agent_participant_id,
        agent_id: first.agent_id.clone(),
        agent_name: first.agent_name.clone(),
        organization_id: first.organization_id.clone(),
        owner_id: first.owner_id.clone(),
        owner_org: first.owner_organization_id.clone(),
        verified_user_id: None,
        user_name: "Ada".to_string(),
        user_email: Some("ada.again@example.com".to_string()),
        browser_fingerprint: None,
        metadata: Map::new(),
        supports: supports.map(|s| s.iter().map(|c| c.to_string()).collect()),
    }
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| v.to_string()).collect()
}

pub async fn resumed_sessions_share_the_conversation(env: Env) {
    let mut new = new_session(Some("acme"), Some(("u1", Some("acme"))));
    new.supports = Some(strings(&["identity_form"]));
    let first = env.store.create_session(new).await.unwrap();
    env.store
        .append_message(text_message(&first, Inbound, "before"))
        .await
        .unwrap();
    let resume = resumed(&first, None);
    let second = env.store.resume_session(resume.clone()).await.unwrap();
    let at = micros(epoch() + Duration::milliseconds(2));
    assert_eq!(second.created_at, at, "{}", env.backend);
    assert_eq!(second.session_id, resume.session_id);
    assert_eq!(second.conversation_id, first.conversation_id);
    assert_eq!(second.thread_id, first.conversation_id.to_string());
    assert_eq!(second.user_participant_id, first.user_participant_id);
    assert_eq!(second.agent_participant_id, first.agent_participant_id);
    assert_eq!(second.status, SessionStatus::Active);
    assert_eq!(
        second.contact_email.as_deref(),
        Some("ada.again@example.com")
    );
    assert_eq!(second.contact_name, None);
    assert_eq!(second.contact_phone, None);
    assert_eq!(second.workflow_step_turns, Some(0));
    assert_eq!(
        second.supports,
        strings(&["identity_form"]),
        "{}",
        env.backend
    );
    assert_eq!(
        env.store.get_session(second.session_id).await.unwrap(),
        Some(second.clone()),
        "{}",
        env.backend
    );
    // The first session is kept as it was.
    assert_eq!(
        env.store.get_session(first.session_id).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        env.store
            .latest_session(first.conversation_id)
            .await
            .unwrap(),
        Some(second.clone()),
        "{}",
        env.backend
    );
    // One conversation still, owned by its first session, holding the messages of both.
    let (all, more) = env
        .store
        .list_conversations(ConversationQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "{}", env.backend);
    assert!(!more);
    assert_eq!(all[0].owner_id.as_deref(), Some("u1"));
    assert_eq!(all[0].owner_org.as_deref(), Some("acme"));
    env.store
        .append_message(text_message(&second, Outbound, "after"))
        .await
        .unwrap();
    let recent = env
        .store
        .recent_messages(first.conversation_id, 10)
        .await
        .unwrap();
    let texts: Vec<_> = recent
        .iter()
        .map(|m| m.content.text.clone().unwrap())
        .collect();
    assert_eq!(texts, ["before", "after"]);

    // Unknown conversations: no newest session, and no resume (nothing is stored).
    assert_eq!(
        env.store.latest_session(Uuid::new_v4()).await.unwrap(),
        None
    );
    let mut ghost = resumed(&first, Some(&["choice_chips"]));
    ghost.conversation_id = Uuid::new_v4();
    let err = env.store.resume_session(ghost.clone()).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert_eq!(env.store.get_session(ghost.session_id).await.unwrap(), None);
    // A failed resume changes nothing, the capabilities included.
    let mut clash = resumed(&first, Some(&["choice_chips"]));
    clash.session_id = second.session_id;
    assert!(env.store.resume_session(clash).await.is_err());
    assert_eq!(
        env.store
            .get_session(first.session_id)
            .await
            .unwrap()
            .unwrap()
            .supports,
        strings(&["identity_form"]),
        "{}",
        env.backend
    );
}

pub async fn resumes_keep_or_replace_capabilities(env: Env) {
    // Declared none: text only, and a resume without any keeps that.
    let plain = session(&env).await;
    assert_eq!(plain.supports, Vec::<String>::new());
    let kept = env
        .store
        .resume_session(resumed(&plain, None))
        .await
        .unwrap();
    assert_eq!(kept.supports, Vec::<String>::new());
    // A resume that declares some replaces the conversation's: every session reads them.
    let replaced = env
        .store
        .resume_session(resumed(&plain, Some(&["choice_chips", "identity_form"])))
        .await
        .unwrap();
    assert_eq!(
        replaced.supports,
        strings(&["choice_chips", "identity_form"])
    );
    for id in [plain.session_id, kept.session_id, replaced.session_id] {
        assert_eq!(
            env.store.get_session(id).await.unwrap().unwrap().supports,
            strings(&["choice_chips", "identity_form"]),
            "{}",
            env.backend
        );
    }
    // An empty list is a declaration too (text only), kept by a later resume without one.
    let emptied = env
        .store
        .resume_session(resumed(&plain, Some(&[])))
        .await
        .unwrap();
    assert_eq!(emptied.supports, Vec::<String>::new());
    let after = env
        .store
        .resume_session(resumed(&plain, None))
        .await
        .unwrap();
    assert_eq!(after.supports, Vec::<String>::new(), "{}", env.backend);
    assert_eq!(
        env.store
            .get_session(plain.session_id)
            .await
            .unwrap()
            .unwrap()
            .supports,
        Vec::<String>::new()
    );
    // Order and odd characters are kept as declared; other conversations are untouched.
    let mut new = new_session(None, None);
    new.supports = Some(strings(&["z", "a", "quote\"'\\", "\u{1F600}", "z"]));
    let odd = env.store.create_session(new).await.unwrap();
    assert_eq!(
        env.store
            .get_session(odd.session_id)
            .await
            .unwrap()
            .unwrap()
            .supports,
        strings(&["z", "a", "quote\"'\\", "\u{1F600}", "z"]),
        "{}",
        env.backend
    );
    let resumed_odd = env.store.resume_session(resumed(&odd, None)).await.unwrap();
    assert_eq!(resumed_odd.supports, odd.supports);
    assert_eq!(
        env.store
            .get_session(plain.session_id)
            .await
            .unwrap()
            .unwrap()
            .supports,
        Vec::<String>::new()
    );
}

pub async fn latest_session_breaks_ties_by_insertion(env: Env) {
    let first = session(&env).await;
    env.clock.step(Duration::zero());
    let mut ids = vec![first.session_id];
    for _ in 0..4 {
        let s = env
            .store
            .resume_session(resumed(&first, None))
            .await
            .unwrap();
        ids.push(s.session_id);
        let latest = env
            .store
            .latest_session(first.conversation_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.session_id, s.session_id, "{}", env.backend);
    }
    // An older timestamp inserted last is not the newest.
    env.clock.set(epoch() - Duration::seconds(60));
    env.store
        .resume_session(resumed(&first, None))
        .await
        .unwrap();
    assert_eq!(
        env.store
            .latest_session(first.conversation_id)
            .await
            .unwrap()
            .unwrap()
            .session_id,
        ids[4],
        "{}",
        env.backend
    );
}

pub async fn conversations_carry_title_count_and_activity(env: Env) {
    let s = session(&env).await;
    let get = |id| {
        let store = env.store.clone();
        async move { store.get_conversation(id).await.unwrap().unwrap() }
    };
    let fresh = get(s.conversation_id).await;
    assert_eq!(fresh.title, None, "{}", env.backend);
    assert_eq!(fresh.message_count, 0);
    assert_eq!(fresh.updated_at, s.created_at);
    // The agent speaking first gives no title; the first user message does.
    let greeting = env
        .store
        .append_message(text_message(&s, Outbound, "Welcome"))
        .await
        .unwrap();
    let c = get(s.conversation_id).await;
    assert_eq!(c.title, None, "{}", env.backend);
    assert_eq!(c.message_count, 1);
    assert_eq!(c.updated_at, greeting.created_at);
    env.store
        .append_message(text_message(&s, Inbound, "How do refunds work?"))
        .await
        .unwrap();
    let last = env
        .store
        .append_message(text_message(&s, Inbound, "And exchanges?"))
        .await
        .unwrap();
    let c = get(s.conversation_id).await;
    assert_eq!(c.title.as_deref(), Some("How do refunds work?"));
    assert_eq!(c.message_count, 3);
    assert_eq!(c.updated_at, last.created_at, "{}", env.backend);
    assert_eq!(c.created_at, s.created_at);
    // A rename sets the title and the activity; a later message moves only the activity.
    let renamed_at = micros(env.clock.peek());
    assert!(env
        .store
        .rename_conversation(s.conversation_id, "Refunds")
        .await
        .unwrap());
    let c = get(s.conversation_id).await;
    assert_eq!(c.title.as_deref(), Some("Refunds"));
    assert_eq!(c.updated_at, renamed_at, "{}", env.backend);
    assert_eq!(c.message_count, 3);
    let reply = env
        .store
        .append_message(text_message(&s, Outbound, "Sure"))
        .await
        .unwrap();
    let c = get(s.conversation_id).await;
    assert_eq!(c.title.as_deref(), Some("Refunds"));
    assert_eq!(c.updated_at, reply.created_at);
    assert_eq!(c.message_count, 4);
    // A message stamped before the rename (another clock) leaves the rename as the activity.
    let renamed_again_at = micros(env.clock.peek());
    assert!(env
        .store
        .rename_conversation(s.conversation_id, "Refunds, again")
        .await
        .unwrap());
    env.clock.set(epoch());
    env.store
        .append_message(text_message(&s, Inbound, "old clock"))
        .await
        .unwrap();
    let c = get(s.conversation_id).await;
    assert_eq!(c.updated_at, renamed_again_at, "{}", env.backend);
    assert_eq!(c.message_count, 5);
    // Unknown conversations are not renamed.
    assert!(!env
        .store
        .rename_conversation(Uuid::new_v4(), "x")
        .await
        .unwrap());
    // A first user message without text (structured only) gives no title.
    let structured = session(&env).await;
    let mut data = Map::new();
    data.insert("k".into(), "v".into());
    env.store
        .append_message(NewMessage {
            text: None,
            structured_response: Some(data),
            ..text_message(&structured, Inbound, "")
        })
        .await
        .unwrap();
    env.store
        .append_message(text_message(&structured, Inbound, "second"))
        .await
        .unwrap();
    let c = get(structured.conversation_id).await;
    assert_eq!(c.title, None, "{}", env.backend);
    assert_eq!(c.message_count, 2);
    // Listings carry the same fields.
    let (all, _) = env
        .store
        .list_conversations(ConversationQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let listed = all
        .iter()
        .find(|c| c.id == s.conversation_id)
        .expect("listed");
    assert_eq!(listed, &get(s.conversation_id).await, "{}", env.backend);
}

pub async fn conversations_list_by_activity(env: Env) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(session(&env).await);
    }
    let list = |by_activity, limit, offset| {
        let store = env.store.clone();
        async move {
            let (records, more) = store
                .list_conversations(ConversationQuery {
                    organization_id: Some("acme".into()),
                    limit,
                    offset,
                    by_activity,
                    ..Default::default()
                })
                .await
                .unwrap();
            (
                records.into_iter().map(|c| c.id).collect::<Vec<Uuid>>(),
                more,
            )
        }
    };
    let [a, b, c] = [0, 1, 2].map(|i| ids[i].conversation_id);
    // Without activity both orders are creation order, newest first.
    assert_eq!(list(true, 10, 0).await, (vec![c, b, a], false));
    env.store
        .append_message(text_message(&ids[0], Inbound, "a speaks"))
        .await
        .unwrap();
    assert_eq!(list(false, 10, 0).await, (vec![c, b, a], false));
    assert_eq!(
        list(true, 10, 0).await,
        (vec![a, c, b], false),
        "{}",
        env.backend
    );
    assert!(env.store.rename_conversation(b, "b").await.unwrap());
    assert_eq!(
        list(true, 10, 0).await,
        (vec![b, a, c], false),
        "{}",
        env.backend
    );
    assert_eq!(list(true, 2, 0).await, (vec![b, a], true));
    assert_eq!(list(true, 2, 2).await, (vec![c], false));
    // Same instant: by id.
    env.clock.step(Duration::zero());
    env.store
        .append_message(text_message(&ids[2], Inbound, "c"))
        .await
        .unwrap();
    env.store
        .append_message(text_message(&ids[1], Inbound, "b"))
        .await
        .unwrap();
    env.store
        .append_message(text_message(&ids[0], Inbound, "a"))
        .await
        .unwrap();
    let mut tied = vec![a, b, c];
    tied.sort();
    assert_eq!(list(true, 10, 0).await, (tied, false), "{}", env.backend);
}

pub async fn renames_keep_every_character(env: Env) {
    let tricky = "nul:\u{0} emoji:\u{1F600} quote:' \" back\\slash tab:\t \
                  esc:\u{FFFF}0 \u{FFFF}\u{FFFF} end\u{FFFF}";
    let s = session(&env).await;
    env.store
        .append_message(text_message(&s, Inbound, tricky))
        .await
        .unwrap();
    let c = env
        .store
        .get_conversation(s.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.title.as_deref(), Some(tricky), "{}", env.backend);
    let renamed = format!("renamed {tricky}");
    assert!(env
        .store
        .rename_conversation(s.conversation_id, &renamed)
        .await
        .unwrap());
    let c = env
        .store
        .get_conversation(s.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        c.title.as_deref(),
        Some(renamed.as_str()),
        "{}",
        env.backend
    );
    // An empty title is a title too.
    assert!(env
        .store
        .rename_conversation(s.conversation_id, "")
        .await
        .unwrap());
    let c = env
        .store
        .get_conversation(s.conversation_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.title.as_deref(), Some(""), "{}", env.backend);
}

pub async fn contacts_fill_in_and_keep(env: Env) {
    let s = session(&env).await;
    let read = |id| {
        let store = env.store.clone();
        async move { store.get_session(id).await.unwrap().unwrap() }
    };
    assert_eq!(s.contact_email.as_deref(), Some("ada@example.com"));
    // Only the name: the e-mail given at creation stays.
    env.store
        .set_contact(s.session_id, Some("Ada Lovelace"), None, None)
        .await
        .unwrap();
    let r = read(s.session_id).await;
    assert_eq!(r.contact_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(r.contact_email.as_deref(), Some("ada@example.com"));
    assert_eq!(r.contact_phone, None, "{}", env.backend);
    // E-mail and phone: the name stays.
    env.store
        .set_contact(
            s.session_id,
            None,
            Some("ada@lovelace.example"),
            Some("+441234567890"),
        )
        .await
        .unwrap();
    let r = read(s.session_id).await;
    assert_eq!(r.contact_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(r.contact_email.as_deref(), Some("ada@lovelace.example"));
    assert_eq!(r.contact_phone.as_deref(), Some("+441234567890"));
    // Nothing given changes nothing; the rest of the session is untouched.
    env.store
        .set_contact(s.session_id, None, None, None)
        .await
        .unwrap();
    let unchanged = read(s.session_id).await;
    assert_eq!(unchanged, r, "{}", env.backend);
    let expected = Session {
        contact_name: Some("Ada Lovelace".into()),
        contact_email: Some("ada@lovelace.example".into()),
        contact_phone: Some("+441234567890".into()),
        ..s.clone()
    };
    assert_eq!(unchanged, expected);
    // Every character round-trips; an empty value replaces too.
    let tricky = "nul:\u{0} emoji:\u{1F600} quote:' esc:\u{FFFF}0 \u{FFFF}\u{FFFF}";
    env.store
        .set_contact(s.session_id, Some(tricky), Some(tricky), Some(""))
        .await
        .unwrap();
    let r = read(s.session_id).await;
    assert_eq!(r.contact_name.as_deref(), Some(tricky), "{}", env.backend);
    assert_eq!(r.contact_email.as_deref(), Some(tricky));
    assert_eq!(r.contact_phone.as_deref(), Some(""));
    // Other sessions, of the same conversation included, keep theirs.
    let other = env.store.resume_session(resumed(&s, None)).await.unwrap();
    let r = read(other.session_id).await;
    assert_eq!(r.contact_name, None);
    assert_eq!(r.contact_email.as_deref(), Some("ada.again@example.com"));
    // An unknown session is no error and changes nothing.
    env.store
        .set_contact(Uuid::new_v4(), Some("x"), Some("x"), Some("x"))
        .await
        .unwrap();
    assert_eq!(read(other.session_id).await, other);
}
