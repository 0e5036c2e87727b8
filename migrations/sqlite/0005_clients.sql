-- Newer clients: the render capabilities a client declared for a conversation (a JSON array of
-- strings; NULL when none was ever declared, which reads as text only) and a title given with
-- rename_conversation (NULL: the start of the first message is shown).

ALTER TABLE conversations ADD COLUMN supports TEXT;
ALTER TABLE conversations ADD COLUMN title TEXT;
