-- Identity and tenancy: who owns a session (user and organisation), the end user an embedding
-- site vouched for, organisation on participants, per-agent definitions and per-organisation
-- settings (the gateway key).

ALTER TABLE sessions ADD COLUMN owner_org TEXT;
ALTER TABLE sessions ADD COLUMN verified_user_id TEXT;
ALTER TABLE participants ADD COLUMN organization_id TEXT;

CREATE INDEX sessions_by_conversation ON sessions (conversation_id);
CREATE INDEX conversations_by_org ON conversations (organization_id, created_at);

CREATE TABLE agents (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT,
    definition       TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE INDEX agents_by_org ON agents (organization_id, id);

CREATE TABLE org_settings (
    organization_id  TEXT PRIMARY KEY NOT NULL,
    gateway_key      TEXT,
    updated_at       TEXT NOT NULL
);
