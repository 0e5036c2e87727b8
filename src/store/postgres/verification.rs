//! The verification half of the Postgres store: pending one-time codes (keyed hashes only), the
//! verified flag and workflow position of a session, and server-wide secrets.

use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

use super::{escape_nul, micros, unescape_nul, PostgresStore};
use crate::store::{OtpRecord, StoreError};

const OTP_COLUMNS: &str = "session_id, code_hash, channel, destination, attempts_left, \
     expires_at, sent_at, request_id, tool, heartbeat_at";

fn otp_from_row(row: &PgRow) -> Result<OtpRecord, StoreError> {
    let attempts: i64 = row.try_get("attempts_left")?;
    Ok(OtpRecord {
        session_id: row.try_get("session_id")?,
        code_hash: row.try_get("code_hash")?,
        channel: row.try_get("channel")?,
        destination: unescape_nul(row.try_get("destination")?),
        attempts_left: u32::try_from(attempts).unwrap_or(0),
        expires_at: row.try_get("expires_at")?,
        sent_at: row.try_get("sent_at")?,
        request_id: unescape_nul(row.try_get("request_id")?),
        tool: row.try_get("tool")?,
        heartbeat_at: row.try_get("heartbeat_at")?,
    })
}

impl PostgresStore {
    pub(super) async fn replace_otp(&self, record: &OtpRecord) -> Result<(), StoreError> {
        sqlx::query(&format!(
            "INSERT INTO otp_codes ({OTP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (session_id) DO UPDATE SET code_hash = excluded.code_hash, \
             channel = excluded.channel, destination = excluded.destination, \
             attempts_left = excluded.attempts_left, expires_at = excluded.expires_at, \
             sent_at = excluded.sent_at, request_id = excluded.request_id, tool = excluded.tool, \
             heartbeat_at = excluded.heartbeat_at"
        ))
        .bind(record.session_id)
        .bind(&record.code_hash)
        .bind(&record.channel)
        .bind(&*escape_nul(&record.destination))
        .bind(i64::from(record.attempts_left))
        .bind(micros(record.expires_at))
        .bind(micros(record.sent_at))
        .bind(&*escape_nul(&record.request_id))
        .bind(&record.tool)
        .bind(record.heartbeat_at.map(micros))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn otp(&self, session_id: Uuid) -> Result<Option<OtpRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {OTP_COLUMNS} FROM otp_codes WHERE session_id = $1"
        ))
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(otp_from_row).transpose()
    }

    pub(super) async fn spend_attempt(
        &self,
        session_id: Uuid,
    ) -> Result<Option<OtpRecord>, StoreError> {
        // One statement: the row lock makes concurrent attempts take turns, and none goes
        // below zero.
        let row = sqlx::query(&format!(
            "UPDATE otp_codes SET attempts_left = attempts_left - 1 \
             WHERE session_id = $1 AND attempts_left > 0 RETURNING {OTP_COLUMNS}"
        ))
        .bind(session_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(otp_from_row).transpose()
    }

    pub(super) async fn heartbeat(&self, session_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE otp_codes SET heartbeat_at = $1 WHERE session_id = $2")
            .bind(self.now())
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn remove_otp(&self, session_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM otp_codes WHERE session_id = $1")
            .bind(session_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn otp_verified(&self, session_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("UPDATE sessions SET otp_verified_at = $1 WHERE id = $2")
            .bind(self.now())
            .bind(session_id)
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
        sqlx::query(
            "UPDATE sessions SET workflow_step = $1, workflow_step_turns = $2 WHERE id = $3",
        )
        .bind(step)
        .bind(i64::from(turns))
        .bind(session_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
        // Inserted or not, the row exists afterwards: every process reads the first writer's.
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(self.now())
        .execute(&self.pool)
        .await?;
        let value: String = sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        Ok(value)
    }
}
