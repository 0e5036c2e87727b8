-- Identity and tenancy (the PostgreSQL twin of migrations/sqlite/0003_identity.sql): who owns a
-- session, the end user an embedding site vouched for, organisation on participants, agent
-- definitions and per-organisation settings (the gateway key).

ALTER TABLE sessions ADD COLUMN owner_org text COLLATE "C";
ALTER TABLE sessions ADD COLUMN verified_user_id text;
ALTER TABLE participants ADD COLUMN organization_id text;

CREATE INDEX sessions_by_conversation ON sessions (conversation_id);
CREATE INDEX conversations_by_org ON conversations (organization_id, created_at);

CREATE TABLE agents (
    id               text COLLATE "C" PRIMARY KEY,
    organization_id  text COLLATE "C",
    definition       json NOT NULL,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

CREATE INDEX agents_by_org ON agents (organization_id, id);

CREATE TABLE org_settings (
    organization_id  text COLLATE "C" PRIMARY KEY,
    gateway_key      text,
    updated_at       timestamptz NOT NULL
);
