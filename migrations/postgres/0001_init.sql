-- Conversations, their participants, chat sessions and messages (the PostgreSQL twin of
-- migrations/sqlite/0001_init.sql). Timestamps are timestamptz: microsecond precision, like the
-- SQLite text timestamps. Ids are uuid (their order is the order of their text), text that is
-- sorted or compared is COLLATE "C" (byte order, as in SQLite), JSON kept as written is json.

CREATE TABLE conversations (
    id               uuid PRIMARY KEY,
    platform         text NOT NULL,
    name             text NOT NULL,
    organization_id  text COLLATE "C",
    idempotency_key  text COLLATE "C" NOT NULL UNIQUE,
    metadata         json,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE TABLE participants (
    id                   uuid PRIMARY KEY,
    conversation_id      uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    kind                 text NOT NULL,
    name                 text NOT NULL,
    external_id          text,
    internal_id          text,
    email                text,
    browser_fingerprint  text,
    created_at           timestamptz NOT NULL
);

CREATE INDEX participants_by_conversation ON participants (conversation_id);

CREATE TABLE sessions (
    id                    uuid PRIMARY KEY,
    conversation_id       uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    organization_id       text COLLATE "C",
    owner_id              text COLLATE "C",
    agent_id              text NOT NULL,
    agent_name            text NOT NULL,
    user_participant_id   uuid NOT NULL REFERENCES participants (id),
    agent_participant_id  uuid NOT NULL REFERENCES participants (id),
    thread_id             text NOT NULL,
    status                text NOT NULL,
    created_at            timestamptz NOT NULL
);

CREATE TABLE messages (
    seq                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                   uuid NOT NULL UNIQUE,
    conversation_id      uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    organization_id      text,
    direction            text NOT NULL,
    text                 text,
    structured_response  json,
    from_participant_id  uuid REFERENCES participants (id),
    to_participant_id    uuid REFERENCES participants (id),
    created_at           timestamptz NOT NULL
);

CREATE INDEX messages_by_conversation ON messages (conversation_id, seq);
