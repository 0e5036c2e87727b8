//! The conversation half of the Postgres store: sessions with their conversation and
//! participants, messages, history pages and the memory window.

use std::str::FromStr;

use serde_json::{Map, Value};
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::{escape_nul, escape_opt, micros, unescape_nul, unescape_opt, PostgresStore};
use crate::protocol::{
    ConversationMessage, ConversationMessageContent, Message, MessageContent, MessageDirection,
    ParticipantRef, Session, SessionStatus,
};
use crate::store::{MessagePage, NewMessage, NewSession, PageRequest, StoreError};

pub(super) fn parse_object(text: Option<String>) -> Result<Option<Map<String, Value>>, StoreError> {
    match text {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("bad stored JSON: {e}"))),
    }
}

fn direction_text(direction: MessageDirection) -> &'static str {
    match direction {
        MessageDirection::Inbound => "inbound",
        MessageDirection::Outbound => "outbound",
    }
}

fn parse_direction(text: &str) -> Result<MessageDirection, StoreError> {
    MessageDirection::from_str(text)
        .map_err(|_| StoreError::Backend(format!("bad stored direction {text:?}")))
}

fn session_from_row(row: &PgRow) -> Result<Session, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(Session {
        session_id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        organization_id: row.try_get("organization_id")?,
        owner_id: row.try_get("owner_id")?,
        owner_organization_id: row.try_get("owner_org")?,
        verified_user_id: row.try_get("verified_user_id")?,
        contact_email: unescape_opt(row.try_get("contact_email")?),
        otp_verified_at: row.try_get("otp_verified_at")?,
        workflow_step: row.try_get("workflow_step")?,
        workflow_step_turns: Some(
            u64::try_from(row.try_get::<i64, _>("workflow_step_turns")?).unwrap_or(0),
        ),
        agent_id: row.try_get("agent_id")?,
        agent_name: unescape_nul(row.try_get("agent_name")?),
        user_participant_id: row.try_get("user_participant_id")?,
        agent_participant_id: row.try_get("agent_participant_id")?,
        thread_id: row.try_get("thread_id")?,
        status: SessionStatus::from_str(&status)
            .map_err(|_| StoreError::Backend(format!("bad stored status {status:?}")))?,
        created_at: row.try_get("created_at")?,
    })
}

fn message_from_row(row: &PgRow) -> Result<Message, StoreError> {
    Ok(Message {
        id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        organization_id: row.try_get("organization_id")?,
        direction: parse_direction(row.try_get("direction")?)?,
        content: MessageContent {
            text: unescape_opt(row.try_get("text")?),
            structured_response: parse_object(row.try_get("structured_response")?)?,
        },
        from_participant_id: row.try_get("from_participant_id")?,
        to_participant_id: row.try_get("to_participant_id")?,
        created_at: row.try_get("created_at")?,
    })
}

fn participant_ref(row: &PgRow, prefix: &str) -> Result<Option<ParticipantRef>, StoreError> {
    let id: Option<Uuid> = row.try_get(format!("{prefix}_id").as_str())?;
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(Some(ParticipantRef {
        id,
        type_: row
            .try_get::<Option<String>, _>(format!("{prefix}_kind").as_str())?
            .unwrap_or_else(|| "user".to_string()),
        name: unescape_opt(row.try_get(format!("{prefix}_name").as_str())?),
    }))
}

const SESSION_COLUMNS: &str = "id, conversation_id, organization_id, owner_id, owner_org, \
     verified_user_id, contact_email, otp_verified_at, workflow_step, workflow_step_turns, \
     agent_id, agent_name, user_participant_id, agent_participant_id, thread_id, status, \
     created_at";

const MESSAGE_COLUMNS: &str = "id, conversation_id, organization_id, direction, text, \
     structured_response::text AS structured_response, from_participant_id, to_participant_id, \
     created_at";

/// The message a cursor names: only the canonical text of a message id names one, as in SQLite
/// (which compares the text).
fn cursor_id(cursor: &str) -> Option<Uuid> {
    Uuid::parse_str(cursor)
        .ok()
        .filter(|id| id.to_string() == cursor)
}

impl PostgresStore {
    pub(super) async fn insert_session(&self, new: NewSession) -> Result<Session, StoreError> {
        let now = self.now();
        let metadata = if new.metadata.is_empty() {
            None
        } else {
            Some(Value::Object(new.metadata.clone()).to_string())
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO conversations (id, platform, name, organization_id, idempotency_key, \
             metadata, created_at, updated_at) VALUES ($1, 'web', $2, $3, $4, $5::json, $6, $6)",
        )
        .bind(new.conversation_id)
        .bind(format!("Session {}", new.session_id))
        .bind(&new.organization_id)
        .bind(new.session_id.to_string())
        .bind(metadata)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let insert_participant = "INSERT INTO participants (id, conversation_id, \
             organization_id, kind, name, external_id, internal_id, email, browser_fingerprint, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
        // The user's external id: the signed-in user, else the user a widget vouched for.
        let external_id = new.owner_id.as_ref().or(new.verified_user_id.as_ref());
        let user_name = escape_nul(&new.user_name);
        let agent_name = escape_nul(&new.agent_name);
        let email = escape_opt(new.user_email.as_deref());
        let fingerprint = escape_opt(new.browser_fingerprint.as_deref());
        sqlx::query(insert_participant)
            .bind(new.user_participant_id)
            .bind(new.conversation_id)
            .bind(&new.organization_id)
            .bind("user")
            .bind(&*user_name)
            .bind(external_id)
            .bind(None::<String>)
            .bind(&email)
            .bind(&fingerprint)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(insert_participant)
            .bind(new.agent_participant_id)
            .bind(new.conversation_id)
            .bind(&new.organization_id)
            .bind("ai-agent")
            .bind(&*agent_name)
            .bind(None::<String>)
            .bind(&new.agent_id)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id, conversation_id, organization_id, owner_id, owner_org, \
             verified_user_id, contact_email, agent_id, agent_name, user_participant_id, \
             agent_participant_id, thread_id, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active', $13)",
        )
        .bind(new.session_id)
        .bind(new.conversation_id)
        .bind(&new.organization_id)
        .bind(&new.owner_id)
        .bind(&new.owner_org)
        .bind(&new.verified_user_id)
        .bind(&email)
        .bind(&new.agent_id)
        .bind(&*agent_name)
        .bind(new.user_participant_id)
        .bind(new.agent_participant_id)
        .bind(new.conversation_id.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Session {
            session_id: new.session_id,
            conversation_id: new.conversation_id,
            organization_id: new.organization_id,
            owner_id: new.owner_id,
            owner_organization_id: new.owner_org,
            verified_user_id: new.verified_user_id,
            contact_email: new.user_email.clone(),
            otp_verified_at: None,
            workflow_step: None,
            workflow_step_turns: Some(0),
            agent_id: new.agent_id,
            agent_name: new.agent_name,
            user_participant_id: new.user_participant_id,
            agent_participant_id: new.agent_participant_id,
            thread_id: new.conversation_id.to_string(),
            status: SessionStatus::Active,
            created_at: now,
        })
    }

    pub(super) async fn session(&self, session_id: Uuid) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        ))
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    pub(super) async fn insert_message(&self, message: NewMessage) -> Result<Message, StoreError> {
        let created_at = self.now();
        let structured = message
            .structured_response
            .as_ref()
            .map(|m| Value::Object(m.clone()).to_string());
        sqlx::query(
            "INSERT INTO messages (id, conversation_id, organization_id, direction, text, \
             structured_response, from_participant_id, to_participant_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, $9)",
        )
        .bind(message.id)
        .bind(message.conversation_id)
        .bind(&message.organization_id)
        .bind(direction_text(message.direction))
        .bind(escape_opt(message.text.as_deref()))
        .bind(structured)
        .bind(message.from_participant_id)
        .bind(message.to_participant_id)
        .bind(created_at)
        .execute(&self.pool)
        .await?;
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
        let below_seq: i64 = match &page.cursor {
            None => i64::MAX,
            Some(cursor) => {
                let Some(id) = cursor_id(cursor) else {
                    return Err(StoreError::UnknownCursor);
                };
                sqlx::query_scalar::<_, i64>(
                    "SELECT seq FROM messages WHERE id = $1 AND conversation_id = $2",
                )
                .bind(id)
                .bind(conversation_id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::UnknownCursor)?
            }
        };
        let rows = sqlx::query(
            "SELECT m.id, m.direction, m.text, m.structured_response::text AS structured_response, \
                    m.created_at, \
                    f.id AS from_id, f.kind AS from_kind, f.name AS from_name, \
                    t.id AS to_id, t.kind AS to_kind, t.name AS to_name \
             FROM messages m \
             LEFT JOIN participants f ON f.id = m.from_participant_id \
             LEFT JOIN participants t ON t.id = m.to_participant_id \
             WHERE m.conversation_id = $1 AND m.seq < $2 \
               AND ($3::timestamptz IS NULL OR m.created_at < $3) \
             ORDER BY m.seq DESC LIMIT $4",
        )
        .bind(conversation_id)
        .bind(below_seq)
        .bind(page.before.map(micros))
        .bind(i64::from(page.limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let has_more = rows.len() > page.limit as usize;
        let messages = rows
            .iter()
            .take(page.limit as usize)
            .map(|row| {
                Ok(ConversationMessage {
                    id: row.try_get("id")?,
                    direction: parse_direction(row.try_get("direction")?)?,
                    content: ConversationMessageContent {
                        text: unescape_opt(row.try_get("text")?),
                        structured_response: parse_object(row.try_get("structured_response")?)?,
                    },
                    from: participant_ref(row, "from")?,
                    to: participant_ref(row, "to")?,
                    created_at: row.try_get("created_at")?,
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
            "SELECT {MESSAGE_COLUMNS} FROM (SELECT * FROM messages WHERE conversation_id = $1 \
             ORDER BY seq DESC LIMIT $2) m ORDER BY seq ASC"
        ))
        .bind(conversation_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_ids_are_cursors() {
        let id = Uuid::new_v4();
        assert_eq!(cursor_id(&id.to_string()), Some(id));
        assert_eq!(cursor_id(&id.to_string().to_uppercase()), None);
        assert_eq!(cursor_id(&id.simple().to_string()), None);
        assert_eq!(cursor_id("nope"), None);
    }
}
