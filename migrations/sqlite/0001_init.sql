-- Conversations, their participants, chat sessions and messages.
-- Timestamps are RFC 3339 UTC text with fixed microsecond precision, so text order is time order.

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY NOT NULL,
    platform         TEXT NOT NULL,
    name             TEXT NOT NULL,
    organization_id  TEXT,
    idempotency_key  TEXT NOT NULL UNIQUE,
    metadata         TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE participants (
    id                   TEXT PRIMARY KEY NOT NULL,
    conversation_id      TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind                 TEXT NOT NULL,
    name                 TEXT NOT NULL,
    external_id          TEXT,
    internal_id          TEXT,
    email                TEXT,
    browser_fingerprint  TEXT,
    created_at           TEXT NOT NULL
);

CREATE INDEX participants_by_conversation ON participants (conversation_id);

CREATE TABLE sessions (
    id                    TEXT PRIMARY KEY NOT NULL,
    conversation_id       TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    organization_id       TEXT,
    owner_id              TEXT,
    agent_id              TEXT NOT NULL,
    agent_name            TEXT NOT NULL,
    user_participant_id   TEXT NOT NULL REFERENCES participants (id),
    agent_participant_id  TEXT NOT NULL REFERENCES participants (id),
    thread_id             TEXT NOT NULL,
    status                TEXT NOT NULL,
    created_at            TEXT NOT NULL
);

CREATE TABLE messages (
    seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
    id                   TEXT NOT NULL UNIQUE,
    conversation_id      TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    organization_id      TEXT,
    direction            TEXT NOT NULL,
    text                 TEXT,
    structured_response  TEXT,
    from_participant_id  TEXT REFERENCES participants (id),
    to_participant_id    TEXT REFERENCES participants (id),
    created_at           TEXT NOT NULL
);

CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
