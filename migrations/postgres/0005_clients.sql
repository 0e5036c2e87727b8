-- Newer clients (the PostgreSQL twin of migrations/sqlite/0005_clients.sql): the render
-- capabilities a client declared for a conversation (a JSON array of strings; NULL when none was
-- ever declared, which reads as text only) and a title given with rename_conversation (NULL: the
-- start of the first message is shown). A conversation can now hold several sessions (a resume):
-- seq orders them by insertion, as SQLite's rowid does, for sessions created in the same
-- microsecond.

ALTER TABLE conversations ADD COLUMN supports json;
ALTER TABLE conversations ADD COLUMN title text;
ALTER TABLE sessions ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;

CREATE INDEX sessions_by_conversation_created ON sessions (conversation_id, created_at, seq);
