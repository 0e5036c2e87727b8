//! The verification half of the SQLite store: pending one-time codes (keyed hashes only), the
//! verified flag and workflow position of a session, and server-wide secrets.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use uuid::Uuid;

use super::sessions::parse_uuid;
use super::{parse_ts, ts, SqliteStore};
use crate::store::{OtpRecord, StoreError};

const OTP_COLUMNS: &str = "session_id, code_hash, channel, destination, attempts_left, \
     expires_at, sent_at, request_id, tool, heartbeat_at";

fn otp_from_row(row: &SqliteRow) -> Result<OtpRecord, StoreError> {
    let attempts: i64 = row.try_get("attempts_left")?;
    Ok(OtpRecord {
        session_id: parse_uuid(row.try_get("session_id")?)?,
        code_hash: row.try_get("code_hash")?,
        channel: row.try_get("channel")?,
        destination: row.try_get("destination")?,
        attempts_left: u32::try_from(attempts).unwrap_or(0),
        expires_at: parse_ts(row.try_get("expires_at")?)?,
        sent_at: parse_ts(row.try_get("sent_at")?)?,
        request_id: row.try_get("request_id")?,
        tool: row.try_get("tool")?,
        heartbeat_at: row
            .try_get::<Option<String>, _>("heartbeat_at")?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
    })
}

impl SqliteStore {
    pub(super) async fn replace_otp(&self, record: &OtpRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT OR REPLACE INTO otp_codes ({OTP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(record.session_id.to_string())
        .bind(&record.code_hash)
        .bind(&record.channel)
        .bind(&record.destination)
        .bind(i64::from(record.attempts_left))
        .bind(ts(record.expires_at))
        .bind(ts(record.sent_at))
        .bind(&record.request_id)
        .bind(&record.tool)
        .bind(record.heartbeat_at.map(ts))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn otp(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {OTP_COLUMNS} FROM otp_codes WHERE session_id = ?"
        ))
        .bind(session_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(otp_from_row).transpose()
    }

    pub(super) async fn spend_attempt(
        &self,
        session_id: Uuid,
    ) -> Result<Option<OtpRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE otp_codes SET attempts_left = attempts_left - 1 \
             WHERE session_id = ? AND attempts_left > 0 RETURNING {OTP_COLUMNS}"
        ))
        .bind(session_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(otp_from_row).transpose()
    }

    pub(super) async fn heartbeat(&self, session_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE otp_codes SET heartbeat_at = ? WHERE session_id = ?")
            .bind(ts(self.clock.now()))
            .bind(session_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn remove_otp(&self, session_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM otp_codes WHERE session_id = ?")
            .bind(session_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn otp_verified(&self, session_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET otp_verified_at = ? WHERE id = ?")
            .bind(ts(self.clock.now()))
            .bind(session_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn workflow_step(
        &self,
        session_id: Uuid,
        step: &str,
        turns: u32,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET workflow_step = ?, workflow_step_turns = ? WHERE id = ?")
            .bind(step)
            .bind(i64::from(turns))
            .bind(session_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(ts(self.clock.now()))
        .execute(&self.pool)
        .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = ?")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }
}
