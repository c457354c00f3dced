-- Customers belong to an identity: the subject ("sub") of the caller's token (Cognito user pool,
-- or the local issuer of make dev). One profile per identity: the unique index.
-- DSQL: ADD COLUMN takes a name and a type only, no DEFAULT or NOT NULL (user guide, "ALTER TABLE",
-- alter-table-syntax-support.html, read 2026-11-27), so the column is nullable: profiles created
-- before identities existed have none until given one. Unique ignores NULLs, as in PostgreSQL.
ALTER TABLE customers ADD COLUMN IF NOT EXISTS identity_subject text;

CREATE UNIQUE INDEX ASYNC IF NOT EXISTS customers_identity_subject_key ON customers (identity_subject);
