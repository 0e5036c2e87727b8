-- Rich interactions: the end-user contact an identity_intake collects (the e-mail goes to the
-- existing contact_email, which one-time codes use).

ALTER TABLE sessions ADD COLUMN contact_name TEXT;
ALTER TABLE sessions ADD COLUMN contact_phone TEXT;
