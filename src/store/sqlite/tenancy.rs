//! The tenancy half of the SQLite store: agent definitions, per-organisation settings (the
//! gateway key) and the conversation listings of the admin API.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use super::sessions::parse_uuid;
use super::{parse_ts, ts, SqliteStore};
use crate::store::agent::AgentDefinition;
use crate::store::{AgentRecord, ConversationQuery, ConversationRecord, StoreError};

fn agent_from_row(row: &SqliteRow) -> Result<AgentRecord, StoreError> {
    let text: String = row.try_get("definition")?;
    let definition: AgentDefinition = serde_json::from_str(&text)
        .map_err(|e| StoreError::Backend(format!("bad stored agent definition: {e}")))?;
    Ok(AgentRecord {
        definition,
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

/// The conversation columns with the owner of its (first) session, its title (the given one,
/// else its first user message), its message count and its last activity.
const CONVERSATION_SELECT: &str = "SELECT c.id, c.name, c.platform, c.organization_id, \
     c.created_at, \
     MAX(c.updated_at, COALESCE((SELECT m.created_at FROM messages m \
         WHERE m.conversation_id = c.id ORDER BY m.seq DESC LIMIT 1), '')) AS updated_at, \
     COALESCE(c.title, (SELECT m.text FROM messages m WHERE m.conversation_id = c.id \
         AND m.direction = 'inbound' ORDER BY m.seq LIMIT 1)) AS title, \
     (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id) AS message_count, \
     (SELECT s.owner_id FROM sessions s WHERE s.conversation_id = c.id \
      ORDER BY s.created_at LIMIT 1) AS owner_id, \
     (SELECT s.owner_org FROM sessions s WHERE s.conversation_id = c.id \
      ORDER BY s.created_at LIMIT 1) AS owner_org \
     FROM conversations c";

fn conversation_from_row(row: &SqliteRow) -> Result<ConversationRecord, StoreError> {
    Ok(ConversationRecord {
        id: parse_uuid(row.try_get("id")?)?,
        name: row.try_get("name")?,
        platform: row.try_get("platform")?,
        organization_id: row.try_get("organization_id")?,
        owner_id: row.try_get("owner_id")?,
        owner_org: row.try_get("owner_org")?,
        title: row.try_get("title")?,
        message_count: u64::try_from(row.try_get::<i64, _>("message_count")?).unwrap_or(0),
        created_at: parse_ts(row.try_get("created_at")?)?,
        updated_at: parse_ts(row.try_get("updated_at")?)?,
    })
}

impl SqliteStore {
    pub(super) async fn upsert_agent(
        &self,
        agent: &AgentDefinition,
    ) -> Result<AgentRecord, StoreError> {
        let now = ts(self.clock.now());
        let text = serde_json::to_string(agent).map_err(|e| StoreError::Backend(e.to_string()))?;
        sqlx::query(
            "INSERT INTO agents (id, organization_id, definition, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET \
             organization_id = excluded.organization_id, definition = excluded.definition, \
             updated_at = excluded.updated_at",
        )
        .bind(&agent.id)
        .bind(&agent.organization_id)
        .bind(text)
        .bind(&now)
        .bind(&now)
        .execute(&self.pool)
        .await?;
        self.agent(&agent.id)
            .await?
            .ok_or_else(|| StoreError::Backend("stored agent vanished".to_string()))
    }

    pub(super) async fn agent(&self, id: &str) -> Result<Option<AgentRecord>, StoreError> {
        let row = sqlx::query("SELECT definition, created_at, updated_at FROM agents WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(agent_from_row).transpose()
    }

    pub(super) async fn agents(
        &self,
        organization_id: Option<&str>,
    ) -> Result<Vec<AgentRecord>, StoreError> {
        let rows = match organization_id {
            None => {
                sqlx::query("SELECT definition, created_at, updated_at FROM agents ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(org) => {
                sqlx::query(
                    "SELECT definition, created_at, updated_at FROM agents \
                     WHERE organization_id = ? ORDER BY id",
                )
                .bind(org)
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(agent_from_row).collect()
    }

    pub(super) async fn remove_agent(&self, id: &str) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM agents WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed > 0)
    }

    pub(super) async fn store_gateway_key(
        &self,
        organization_id: &str,
        key: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO org_settings (organization_id, gateway_key, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (organization_id) DO UPDATE SET gateway_key = excluded.gateway_key, \
             updated_at = excluded.updated_at",
        )
        .bind(organization_id)
        .bind(key)
        .bind(ts(self.clock.now()))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn org_gateway_key(
        &self,
        organization_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let key: Option<Option<String>> =
            sqlx::query_scalar("SELECT gateway_key FROM org_settings WHERE organization_id = ?")
                .bind(organization_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(key.flatten())
    }

    pub(super) async fn conversations(
        &self,
        query: ConversationQuery,
    ) -> Result<(Vec<ConversationRecord>, bool), StoreError> {
        let (owner, owner_org) = match &query.owner {
            Some((user, org)) => (Some(user.clone()), org.clone()),
            None => (None, None),
        };
        // NULL parameters mean "no filter"; the owner's organisation must match exactly,
        // NULL included, so `IS` is used for it.
        let sql = format!(
            "SELECT * FROM ({CONVERSATION_SELECT}) \
             WHERE (?1 IS NULL OR organization_id = ?1) \
               AND (?2 IS NULL OR (owner_id = ?2 AND owner_org IS ?3)) \
             ORDER BY {order} DESC, id LIMIT ?4 OFFSET ?5",
            order = if query.by_activity {
                "updated_at"
            } else {
                "created_at"
            }
        );
        let rows = sqlx::query(&sql)
            .bind(&query.organization_id)
            .bind(owner)
            .bind(owner_org)
            .bind(i64::from(query.limit) + 1)
            .bind(i64::try_from(query.offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() > query.limit as usize;
        let records = rows
            .iter()
            .take(query.limit as usize)
            .map(conversation_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((records, more))
    }

    pub(super) async fn conversation(
        &self,
        id: Uuid,
    ) -> Result<Option<ConversationRecord>, StoreError> {
        let row = sqlx::query(&format!("{CONVERSATION_SELECT} WHERE c.id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(conversation_from_row).transpose()
    }

    pub(super) async fn retitle_conversation(
        &self,
        id: Uuid,
        title: &str,
    ) -> Result<bool, StoreError> {
        let changed =
            sqlx::query("UPDATE conversations SET title = ?, updated_at = ? WHERE id = ?")
                .bind(title)
                .bind(ts(self.clock.now()))
                .bind(id.to_string())
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(changed > 0)
    }
}
