//! The conversation half of the Postgres store: sessions with their conversation and
//! participants, messages, history pages and the memory window.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::{escape_nul, escape_opt, micros, unescape_nul, unescape_opt, PostgresStore};
use crate::protocol::{
    ConversationMessage, ConversationMessageContent, Message, MessageContent, ParticipantRef,
    Session, SessionStatus,
};
use crate::store::codec::{
    direction_text, parse_direction, parse_object, parse_supports, supports_text,
};
use crate::store::{MessagePage, NewMessage, NewSession, PageRequest, StoreError};

fn session_from_row(row: &PgRow) -> Result<Session, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(Session {
        supports: parse_supports(row.try_get("supports")?)?,
        session_id: row.try_get("id")?,
        conversation_id: row.try_get("conversation_id")?,
        organization_id: row.try_get("organization_id")?,
        owner_id: row.try_get("owner_id")?,
        owner_organization_id: row.try_get("owner_org")?,
        verified_user_id: row.try_get("verified_user_id")?,
        contact_email: unescape_opt(row.try_get("contact_email")?),
        contact_name: unescape_opt(row.try_get("contact_name")?),
        contact_phone: unescape_opt(row.try_get("contact_phone")?),
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
     verified_user_id, contact_email, contact_name, contact_phone, otp_verified_at, \
     workflow_step, workflow_step_turns, agent_id, agent_name, user_participant_id, \
     agent_participant_id, thread_id, status, created_at, \
     (SELECT c.supports::text FROM conversations c WHERE c.id = sessions.conversation_id) \
     AS supports";

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
             metadata, supports, created_at, updated_at) \
             VALUES ($1, 'web', $2, $3, $4, $5::json, $6::json, $7, $7)",
        )
        .bind(new.conversation_id)
        .bind(format!("Session {}", new.session_id))
        .bind(&new.organization_id)
        .bind(new.session_id.to_string())
        .bind(metadata)
        .bind(new.supports.as_deref().map(supports_text))
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
        Self::insert_session_row(&mut tx, &new, now).await?;
        tx.commit().await?;
        Ok(Self::new_session_value(new, now))
    }

    /// Inserts the session row of `new` inside `tx`.
    async fn insert_session_row(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        new: &NewSession,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
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
        .bind(escape_opt(new.user_email.as_deref()))
        .bind(&new.agent_id)
        .bind(&*escape_nul(&new.agent_name))
        .bind(new.user_participant_id)
        .bind(new.agent_participant_id)
        .bind(new.conversation_id.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// The session `new` describes, as just stored at `now`.
    fn new_session_value(new: NewSession, now: DateTime<Utc>) -> Session {
        Session {
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
            created_at: now,
        }
    }

    pub(super) async fn insert_resumed_session(
        &self,
        new: NewSession,
    ) -> Result<Session, StoreError> {
        let now = self.now();
        let mut tx = self.pool.begin().await?;
        if let Some(supports) = &new.supports {
            sqlx::query("UPDATE conversations SET supports = $1::json WHERE id = $2")
                .bind(supports_text(supports))
                .bind(new.conversation_id)
                .execute(&mut *tx)
                .await?;
        }
        Self::insert_session_row(&mut tx, &new, now).await?;
        let supports: Option<String> =
            sqlx::query_scalar("SELECT supports::text FROM conversations WHERE id = $1")
                .bind(new.conversation_id)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        let mut session = Self::new_session_value(new, now);
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
            "UPDATE sessions SET contact_name = COALESCE($1, contact_name), \
             contact_email = COALESCE($2, contact_email), \
             contact_phone = COALESCE($3, contact_phone) WHERE id = $4",
        )
        .bind(escape_opt(name))
        .bind(escape_opt(email))
        .bind(escape_opt(phone))
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn newest_session_of(
        &self,
        conversation_id: Uuid,
    ) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE conversation_id = $1 \
             ORDER BY created_at DESC, seq DESC LIMIT 1"
        ))
        .bind(conversation_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(session_from_row).transpose()
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
