-- Verified end users and guided workflows: the e-mail a one-time code goes to, when a session's end user passed a one-time code,
-- the session's workflow step, the pending one-time codes (only a keyed hash of each), and
-- server-wide secrets (the key of those hashes, shared by every process on this database).

ALTER TABLE sessions ADD COLUMN contact_email TEXT;
ALTER TABLE sessions ADD COLUMN otp_verified_at TEXT;
ALTER TABLE sessions ADD COLUMN workflow_step TEXT;
ALTER TABLE sessions ADD COLUMN workflow_step_turns INTEGER NOT NULL DEFAULT 0;

CREATE TABLE otp_codes (
    session_id     TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    code_hash      TEXT NOT NULL,
    channel        TEXT NOT NULL,
    destination    TEXT NOT NULL,
    attempts_left  INTEGER NOT NULL,
    expires_at     TEXT NOT NULL,
    sent_at        TEXT NOT NULL,
    request_id     TEXT NOT NULL,
    tool           TEXT NOT NULL,
    -- Refreshed every second by the turn waiting for the code, wherever it runs.
    heartbeat_at   TEXT
);

CREATE TABLE server_secrets (
    name        TEXT PRIMARY KEY NOT NULL,
    value       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
