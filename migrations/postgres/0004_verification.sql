-- Verified end users and guided workflows (the PostgreSQL twin of
-- migrations/sqlite/0004_verification.sql): the e-mail a one-time code goes to, when a session's
-- end user passed a one-time code, the session's workflow step, the pending one-time codes (only
-- a keyed hash of each), and server-wide secrets shared by every process on this database.

ALTER TABLE sessions ADD COLUMN contact_email text;
ALTER TABLE sessions ADD COLUMN otp_verified_at timestamptz;
ALTER TABLE sessions ADD COLUMN workflow_step text;
ALTER TABLE sessions ADD COLUMN workflow_step_turns bigint NOT NULL DEFAULT 0;

CREATE TABLE otp_codes (
    session_id     uuid PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    code_hash      text NOT NULL,
    channel        text NOT NULL,
    destination    text NOT NULL,
    attempts_left  bigint NOT NULL,
    expires_at     timestamptz NOT NULL,
    sent_at        timestamptz NOT NULL,
    request_id     text NOT NULL,
    tool           text NOT NULL,
    -- Refreshed every second by the turn waiting for the code, wherever it runs.
    heartbeat_at   timestamptz
);

CREATE TABLE server_secrets (
    name        text COLLATE "C" PRIMARY KEY,
    value       text NOT NULL,
    created_at  timestamptz NOT NULL
);
