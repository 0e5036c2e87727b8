//! The conversation half of the SQLite store: sessions with their conversation and
//! participants, messages, history pages and the memory window.

use std::str::FromStr;

use rusqlite::params;
use serde_json::Value;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use super::batch::Write;
use super::{parse_ts, ts, SqliteStore};
use crate::protocol::{
    ConversationMessage, ConversationMessageContent, Message, MessageContent, ParticipantRef,
    Session, SessionStatus,
};
use crate::store::codec::{
    direction_text, parse_direction, parse_object, parse_supports, supports_text,
};
use crate::store::{MessagePage, NewMessage, NewSession, PageRequest, StoreError};

pub(super) fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Backend(format!("bad stored id {text:?}: {e}")))
}

fn opt_uuid(text: Option<String>) -> Result<Option<Uuid>, StoreError> {
    text.as_deref().map(parse_uuid).transpose()
}

fn session_from_row(row: &SqliteRow) -> Result<Session, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(Session {
        supports: parse_supports(row.try_get("supports")?)?,
        session_id: parse_uuid(row.try_get("id")?)?,
        conversation_id: parse_uuid(row.try_get("conversation_id")?)?,
        organization_id: row.try_get("organization_id")?,
        owner_id: row.try_get("owner_id")?,
        owner_organization_id: row.try_get("owner_org")?,
        verified_user_id: row.try_get("verified_user_id")?,
        contact_email: row.try_get("contact_email")?,
        contact_name: row.try_get("contact_name")?,
        contact_phone: row.try_get("contact_phone")?,
        otp_verified_at: row
            .try_get::<Option<String>, _>("otp_verified_at")?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        workflow_step: row.try_get("workflow_step")?,
        workflow_step_turns: Some(
            u64::try_from(row.try_get::<i64, _>("workflow_step_turns")?).unwrap_or(0),
        ),
        agent_id: row.try_get("agent_id")?,
        agent_name: row.try_get("agent_name")?,
        user_participant_id: parse_uuid(row.try_get("user_participant_id")?)?,
        agent_participant_id: parse_uuid(row.try_get("agent_participant_id")?)?,
        thread_id: row.try_get("thread_id")?,
        status: SessionStatus::from_str(&status)
            .map_err(|_| StoreError::Backend(format!("bad stored status {status:?}")))?,
        created_at: parse_ts(row.try_get("created_at")?)?,
    })
}

fn message_from_row(row: &SqliteRow) -> Result<Message, StoreError> {
    Ok(Message {
        id: parse_uuid(row.try_get("id")?)?,
        conversation_id: parse_uuid(row.try_get("conversation_id")?)?,
        organization_id: row.try_get("organization_id")?,
        direction: parse_direction(row.try_get("direction")?)?,
        content: MessageContent {
            text: row.try_get("text")?,
            structured_response: parse_object(row.try_get("structured_response")?)?,
        },
        from_participant_id: opt_uuid(row.try_get("from_participant_id")?)?,
        to_participant_id: opt_uuid(row.try_get("to_participant_id")?)?,
        created_at: parse_ts(row.try_get("created_at")?)?,
    })
}

fn participant_ref(row: &SqliteRow, prefix: &str) -> Result<Option<ParticipantRef>, StoreError> {
    let id: Option<String> = row.try_get(format!("{prefix}_id").as_str())?;
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(Some(ParticipantRef {
        id: parse_uuid(&id)?,
        type_: row
            .try_get::<Option<String>, _>(format!("{prefix}_kind").as_str())?
            .unwrap_or_else(|| "user".to_string()),
        name: row.try_get(format!("{prefix}_name").as_str())?,
    }))
}

const SESSION_COLUMNS: &str = "id, conversation_id, organization_id, owner_id, owner_org, \
     verified_user_id, contact_email, contact_name, contact_phone, otp_verified_at, workflow_step, workflow_step_turns, agent_id, agent_name, \
     user_participant_id, agent_participant_id, thread_id, status, created_at, \
     (SELECT c.supports FROM conversations c WHERE c.id = sessions.conversation_id) AS supports";

const MESSAGE_COLUMNS: &str = "id, conversation_id, organization_id, direction, text, \
     structured_response, from_participant_id, to_participant_id, created_at";

impl SqliteStore {
    pub(super) async fn insert_session(&self, new: NewSession) -> Result<Session, StoreError> {
        let now_text = ts(self.clock.now());
        // Committed together with whatever else is being written right now (group commit).
        let written = self
            .writer
            .write(Write::Session {
                new: Box::new(new),
                at: now_text.clone(),
            })
            .await?;
        let Write::Session { new, .. } = written else {
            unreachable!("the writer hands back what it was given")
        };
        Self::new_session_value(*new, &now_text)
    }

    /// The session `new` describes, as just stored at `now_text`.
    fn new_session_value(new: NewSession, now_text: &str) -> Result<Session, StoreError> {
        Ok(Session {
            session_id: new.session_id,
            conversation_id: new.conversation_id,
            organization_id: new.organization_id,
            owner_id: new.owner_id,
            owner_organization_id: new.owner_org,
            verified_user_id: new.verified_user_id,
            contact_email: new.user_email.clone(),
            contact_name: None,
            contact_phone: None,
            otp_verified_at: None,
            workflow_step: None,
            workflow_step_turns: Some(0),
            agent_id: new.agent_id,
            agent_name: new.agent_name,
            user_participant_id: new.user_participant_id,
            agent_participant_id: new.agent_participant_id,
            thread_id: new.conversation_id.to_string(),
            status: SessionStatus::Active,
            supports: new.supports.unwrap_or_default(),
            created_at: parse_ts(now_text)?,
        })
    }

    pub(super) async fn insert_resumed_session(
        &self,
        new: NewSession,
    ) -> Result<Session, StoreError> {
        let now_text = ts(self.clock.now());
        let written = self
            .writer
            .write(Write::Resumed {
                new: Box::new(new),
                at: now_text.clone(),
                supports: None,
            })
            .await?;
        let Write::Resumed { new, supports, .. } = written else {
            unreachable!("the writer hands back what it was given")
        };
        let mut session = Self::new_session_value(*new, &now_text)?;
        session.supports = parse_supports(supports)?;
        Ok(session)
    }

    pub(super) async fn store_contact(
        &self,
        session_id: Uuid,
        name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET contact_name = COALESCE(?, contact_name), \
             contact_email = COALESCE(?, contact_email), \
             contact_phone = COALESCE(?, contact_phone) WHERE id = ?",
        )
        .bind(name)
        .bind(email)
        .bind(phone)
        .bind(session_id.to_string())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn newest_session_of(
        &self,
        conversation_id: Uuid,
    ) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE conversation_id = ? \
             ORDER BY created_at DESC, rowid DESC LIMIT 1"
        ))
        .bind(conversation_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    pub(super) async fn session(&self, session_id: Uuid) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?"
        ))
        .bind(session_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    pub(super) async fn insert_message(&self, message: NewMessage) -> Result<Message, StoreError> {
        let at = ts(self.clock.now());
        let created_at = parse_ts(&at)?;
        let written = self
            .writer
            .write(Write::Message {
                message: Box::new(message),
                at,
            })
            .await?;
        let Write::Message { message, .. } = written else {
            unreachable!("the writer hands back what it was given")
        };
        let message = *message;
        Ok(Message {
            id: message.id,
            conversation_id: message.conversation_id,
            organization_id: message.organization_id,
            direction: message.direction,
            content: MessageContent {
                text: message.text,
                structured_response: message.structured_response,
            },
            from_participant_id: message.from_participant_id,
            to_participant_id: message.to_participant_id,
            created_at,
        })
    }

    pub(super) async fn message_page(
        &self,
        conversation_id: Uuid,
        page: PageRequest,
    ) -> Result<MessagePage, StoreError> {
        let conversation = conversation_id.to_string();
        let below_seq: i64 = match &page.cursor {
            None => i64::MAX,
            Some(cursor) => sqlx::query_scalar::<_, i64>(
                "SELECT seq FROM messages WHERE id = ? AND conversation_id = ?",
            )
            .bind(cursor)
            .bind(&conversation)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::UnknownCursor)?,
        };
        // Any instant sorts below this sentinel, which stands for "no upper bound".
        let before = page.before.map(ts).unwrap_or_else(|| "~".to_string());
        let rows = sqlx::query(
            "SELECT m.id, m.direction, m.text, m.structured_response, m.created_at, \
                    f.id AS from_id, f.kind AS from_kind, f.name AS from_name, \
                    t.id AS to_id, t.kind AS to_kind, t.name AS to_name \
             FROM messages m \
             LEFT JOIN participants f ON f.id = m.from_participant_id \
             LEFT JOIN participants t ON t.id = m.to_participant_id \
             WHERE m.conversation_id = ? AND m.seq < ? AND m.created_at < ? \
             ORDER BY m.seq DESC LIMIT ?",
        )
        .bind(&conversation)
        .bind(below_seq)
        .bind(before)
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() > page.limit as usize;
        let messages = rows
            .iter()
            .take(page.limit as usize)
            .map(|row| {
                Ok(ConversationMessage {
                    id: parse_uuid(row.try_get("id")?)?,
                    direction: parse_direction(row.try_get("direction")?)?,
                    content: ConversationMessageContent {
                        text: row.try_get("text")?,
                        structured_response: parse_object(row.try_get("structured_response")?)?,
                    },
                    from: participant_ref(row, "from")?,
                    to: participant_ref(row, "to")?,
                    created_at: parse_ts(row.try_get("created_at")?)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(MessagePage { messages, has_more })
    }

    pub(super) async fn recent(
        &self,
        conversation_id: Uuid,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM (SELECT * FROM messages WHERE conversation_id = ? \
             ORDER BY seq DESC LIMIT ?) ORDER BY seq ASC"
        ))
        .bind(conversation_id.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from_row).collect()
    }
}

/// Inserts a new session with its conversation and both participants, inside the writer's
/// transaction.
pub(super) fn write_session(
    tx: &rusqlite::Connection,
    new: &NewSession,
    now_text: &str,
) -> rusqlite::Result<()> {
    let metadata = if new.metadata.is_empty() {
        None
    } else {
        Some(Value::Object(new.metadata.clone()).to_string())
    };
    let conversation_id = new.conversation_id.to_string();
    tx.prepare_cached(
        "INSERT INTO conversations (id, platform, name, organization_id, idempotency_key, \
         metadata, supports, created_at, updated_at) VALUES (?, 'web', ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        conversation_id,
        format!("Session {}", new.session_id),
        new.organization_id,
        new.session_id.to_string(),
        metadata,
        new.supports.as_deref().map(supports_text),
        now_text,
        now_text,
    ])?;
    // The user's external id: the signed-in user, else the user a widget vouched for.
    let external_id = new.owner_id.as_ref().or(new.verified_user_id.as_ref());
    tx.prepare_cached(
        "INSERT INTO participants (id, conversation_id, organization_id, kind, name, \
         external_id, internal_id, email, browser_fingerprint, created_at) \
         VALUES (?, ?, ?, 'user', ?, ?, NULL, ?, ?, ?), (?, ?, ?, 'ai-agent', ?, NULL, ?, NULL, NULL, ?)",
    )?
    .execute(params![
        new.user_participant_id.to_string(),
        conversation_id,
        new.organization_id,
        new.user_name,
        external_id,
        new.user_email,
        new.browser_fingerprint,
        now_text,
        new.agent_participant_id.to_string(),
        conversation_id,
        new.organization_id,
        new.agent_name,
        new.agent_id,
        now_text,
    ])?;
    write_session_row(tx, new, now_text)
}

/// Inserts a new session in the existing conversation `new.conversation_id` (a `Some`
/// `new.supports` replaces the conversation's), inside the writer's transaction; returns the
/// conversation's capabilities as stored.
pub(super) fn write_resumed(
    tx: &rusqlite::Connection,
    new: &NewSession,
    now_text: &str,
) -> rusqlite::Result<Option<String>> {
    let conversation_id = new.conversation_id.to_string();
    if let Some(supports) = &new.supports {
        tx.prepare_cached("UPDATE conversations SET supports = ? WHERE id = ?")?
            .execute(params![supports_text(supports), conversation_id])?;
    }
    write_session_row(tx, new, now_text)?;
    tx.prepare_cached("SELECT supports FROM conversations WHERE id = ?")?
        .query_row(params![conversation_id], |row| row.get(0))
}

/// Inserts the session row of `new`, inside the writer's transaction.
fn write_session_row(
    tx: &rusqlite::Connection,
    new: &NewSession,
    now_text: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO sessions (id, conversation_id, organization_id, owner_id, owner_org, \
         verified_user_id, contact_email, agent_id, agent_name, user_participant_id, \
         agent_participant_id, thread_id, status, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?)",
    )?
    .execute(params![
        new.session_id.to_string(),
        new.conversation_id.to_string(),
        new.organization_id,
        new.owner_id,
        new.owner_org,
        new.verified_user_id,
        new.user_email,
        new.agent_id,
        new.agent_name,
        new.user_participant_id.to_string(),
        new.agent_participant_id.to_string(),
        new.conversation_id.to_string(),
        now_text,
    ])?;
    Ok(())
}

/// Inserts one message, inside the writer's transaction.
pub(super) fn write_message(
    tx: &rusqlite::Connection,
    message: &NewMessage,
    created_at: &str,
) -> rusqlite::Result<()> {
    let structured = message
        .structured_response
        .as_ref()
        .map(|m| Value::Object(m.clone()).to_string());
    tx.prepare_cached(
        "INSERT INTO messages (id, conversation_id, organization_id, direction, text, \
         structured_response, from_participant_id, to_participant_id, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        message.id.to_string(),
        message.conversation_id.to_string(),
        message.organization_id,
        direction_text(message.direction),
        message.text,
        structured,
        message.from_participant_id.map(|id| id.to_string()),
        message.to_participant_id.map(|id| id.to_string()),
        created_at,
    ])?;
    Ok(())
}
