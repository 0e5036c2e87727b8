//! One-time codes, the verified flag, workflow positions, server secrets and text fidelity.

use std::sync::Arc;

use chrono::{Duration, Utc};
use smooth_operator::protocol::MessageDirection::Inbound;
use smooth_operator::store::{NewDocument, OtpRecord, PageRequest, Reader};
use uuid::Uuid;

use super::knowledge::{doc, search, sources};
use super::{epoch, micros, new_session, session, text_message, Env};

fn code(session_id: Uuid, attempts: u32) -> OtpRecord {
    let sent = chrono::DateTime::parse_from_rfc3339("2031-05-06T07:08:09.987654321Z")
        .unwrap()
        .with_timezone(&Utc);
    OtpRecord {
        session_id,
        code_hash: "hash".into(),
        channel: "email".into(),
        destination: "ada@example.com".into(),
        attempts_left: attempts,
        expires_at: sent + Duration::minutes(10),
        sent_at: sent,
        request_id: "req-1".into(),
        tool: "refund".into(),
        heartbeat_at: None,
    }
}

/// `record` as stored: timestamps at microsecond precision.
fn stored(mut record: OtpRecord) -> OtpRecord {
    record.expires_at = micros(record.expires_at);
    record.sent_at = micros(record.sent_at);
    record.heartbeat_at = record.heartbeat_at.map(micros);
    record
}

pub async fn otp_codes_put_get_replace_delete(env: Env) {
    let s = session(&env).await;
    assert_eq!(env.store.get_otp(s.session_id).await.unwrap(), None);
    let first = code(s.session_id, 3);
    env.store.put_otp(&first).await.unwrap();
    assert_eq!(
        env.store.get_otp(s.session_id).await.unwrap(),
        Some(stored(first.clone())),
        "{}",
        env.backend
    );
    let mut second = code(s.session_id, 5);
    second.code_hash = "other".into();
    second.channel = "sms".into();
    second.heartbeat_at = Some(epoch());
    env.store.put_otp(&second).await.unwrap();
    assert_eq!(
        env.store.get_otp(s.session_id).await.unwrap(),
        Some(stored(second))
    );
    env.store.delete_otp(s.session_id).await.unwrap();
    assert_eq!(env.store.get_otp(s.session_id).await.unwrap(), None);
    env.store.delete_otp(s.session_id).await.unwrap();
    // A code belongs to an existing session.
    assert!(env.store.put_otp(&code(Uuid::new_v4(), 3)).await.is_err());
}

pub async fn otp_attempts_are_spent_atomically(env: Env) {
    let s = session(&env).await;
    assert_eq!(
        env.store.spend_otp_attempt(s.session_id).await.unwrap(),
        None
    );
    env.store.put_otp(&code(s.session_id, 2)).await.unwrap();
    let after = env
        .store
        .spend_otp_attempt(s.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.attempts_left, 1);
    assert_eq!(after.code_hash, "hash");
    let after = env
        .store
        .spend_otp_attempt(s.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.attempts_left, 0);
    assert_eq!(
        env.store.spend_otp_attempt(s.session_id).await.unwrap(),
        None
    );
    assert_eq!(
        env.store
            .get_otp(s.session_id)
            .await
            .unwrap()
            .unwrap()
            .attempts_left,
        0,
        "{}: the count went below zero",
        env.backend
    );
    // Many at once: exactly as many succeed as there were attempts.
    env.store.put_otp(&code(s.session_id, 3)).await.unwrap();
    let tries: Vec<_> = (0..12)
        .map(|_| {
            let store = Arc::clone(&env.store);
            let id = s.session_id;
            tokio::spawn(async move { store.spend_otp_attempt(id).await.unwrap() })
        })
        .collect();
    let mut left = Vec::new();
    for t in tries {
        if let Some(record) = t.await.unwrap() {
            left.push(record.attempts_left);
        }
    }
    left.sort();
    assert_eq!(left, [0, 1, 2], "{}", env.backend);
}

pub async fn otp_heartbeat_verified_and_workflow(env: Env) {
    let s = session(&env).await; // at epoch
    env.store.put_otp(&code(s.session_id, 3)).await.unwrap();
    env.store.otp_heartbeat(s.session_id).await.unwrap(); // +1 ms
    let beat = env.store.get_otp(s.session_id).await.unwrap().unwrap();
    assert_eq!(
        beat.heartbeat_at,
        Some(micros(epoch() + Duration::milliseconds(1))),
        "{}",
        env.backend
    );
    // A heartbeat without a code changes nothing.
    env.store.otp_heartbeat(Uuid::new_v4()).await.unwrap();
    assert_eq!(
        env.store.get_otp(s.session_id).await.unwrap().unwrap(),
        beat
    );
    let verified_at = env.clock.peek();
    env.store.mark_otp_verified(s.session_id).await.unwrap();
    env.store
        .set_workflow_step(s.session_id, "collect-email", 2)
        .await
        .unwrap();
    let read = env.store.get_session(s.session_id).await.unwrap().unwrap();
    assert_eq!(read.otp_verified_at, Some(micros(verified_at)));
    assert_eq!(read.workflow_step.as_deref(), Some("collect-email"));
    assert_eq!(read.workflow_step_turns, Some(2));
    env.store
        .set_workflow_step(s.session_id, "done", 0)
        .await
        .unwrap();
    let read = env.store.get_session(s.session_id).await.unwrap().unwrap();
    assert_eq!(read.workflow_step.as_deref(), Some("done"));
    assert_eq!(read.workflow_step_turns, Some(0));
    // Unknown sessions: nothing to update, no error.
    env.store.mark_otp_verified(Uuid::new_v4()).await.unwrap();
    env.store
        .set_workflow_step(Uuid::new_v4(), "x", 1)
        .await
        .unwrap();
}

pub async fn secrets_keep_the_first_writer(env: Env) {
    assert_eq!(
        env.store.ensure_secret("otp-key", "first").await.unwrap(),
        "first"
    );
    assert_eq!(
        env.store.ensure_secret("otp-key", "second").await.unwrap(),
        "first"
    );
    assert_eq!(env.store.ensure_secret("other", "x").await.unwrap(), "x");
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = Arc::clone(&env.store);
            tokio::spawn(
                async move { store.ensure_secret("race", &format!("v{i}")).await.unwrap() },
            )
        })
        .collect();
    let mut values = Vec::new();
    for r in racers {
        values.push(r.await.unwrap());
    }
    values.dedup();
    assert_eq!(values.len(), 1, "{}: {values:?}", env.backend);
}

/// Every character a client can send in free text survives storage: NUL (which Postgres text
/// cannot hold, so that store escapes it), astral planes, quotes, and the escape character
/// itself. Identifiers (organisations, owners, sources) come from tokens, configuration or a
/// validated ingest and are not part of this promise.
pub async fn text_keeps_every_character(env: Env) {
    let tricky = "nul:\u{0} emoji:\u{1F600} quote:' \" back\\slash tab:\t cr:\r \
                  esc:\u{FFFF}0 \u{FFFF}\u{FFFF} end\u{FFFF}";
    let mut new = new_session(Some("org-\u{1F600}"), Some(("u'1", None)));
    new.user_name = tricky.to_string();
    new.agent_name = tricky.to_string();
    new.user_email = Some(format!("{tricky}@example.com"));
    let s = env.store.create_session(new).await.unwrap();
    let read = env.store.get_session(s.session_id).await.unwrap().unwrap();
    assert_eq!(read.agent_name, tricky, "{}", env.backend);
    assert_eq!(read.contact_email, Some(format!("{tricky}@example.com")));
    assert_eq!(read.owner_id.as_deref(), Some("u'1"));
    assert_eq!(read.organization_id.as_deref(), Some("org-\u{1F600}"));
    let mut otp = code(s.session_id, 3);
    otp.destination = tricky.to_string();
    otp.request_id = tricky.to_string();
    env.store.put_otp(&otp).await.unwrap();
    assert_eq!(
        env.store.get_otp(s.session_id).await.unwrap(),
        Some(stored(otp))
    );
    let m = env
        .store
        .append_message(text_message(&s, Inbound, tricky))
        .await
        .unwrap();
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
    assert_eq!(page.messages[0].id, m.id);
    assert_eq!(page.messages[0].content.text.as_deref(), Some(tricky));
    assert_eq!(
        page.messages[0].from.as_ref().unwrap().name.as_deref(),
        Some(tricky)
    );
    let recent = env
        .store
        .recent_messages(s.conversation_id, 1)
        .await
        .unwrap();
    assert_eq!(recent[0].content.text.as_deref(), Some(tricky));
    let mut d: NewDocument = doc("tricky.md", &[tricky], None);
    d.title = tricky.to_string();
    let stored_doc = env.store.put_document(d).await.unwrap();
    assert_eq!(stored_doc.title, tricky);
    assert_eq!(
        env.store
            .get_document("tricky.md")
            .await
            .unwrap()
            .unwrap()
            .title,
        tricky
    );
    let hits = search(&env, "emoji", Reader::Admin, 5).await;
    assert_eq!(sources(&hits), ["tricky.md"]);
    assert_eq!(hits[0].text, tricky);
    assert_eq!(hits[0].title, tricky);
    let _ = session(&env).await;
}
