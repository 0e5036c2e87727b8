-- Rich interactions (the PostgreSQL twin of migrations/sqlite/0006_interactions.sql): the
-- end-user contact an identity_intake collects (the e-mail goes to the existing contact_email,
-- which one-time codes use).

ALTER TABLE sessions ADD COLUMN contact_name text;
ALTER TABLE sessions ADD COLUMN contact_phone text;
