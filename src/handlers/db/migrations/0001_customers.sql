-- Customers. Emails are stored lower-case so that the UNIQUE constraint is case-insensitive in effect
-- (DSQL has no citext and only the C collation); the API normalises before writing.
-- UNIQUE declared inside CREATE TABLE is built with the table: no async index job needed.
CREATE TABLE IF NOT EXISTS customers (
    customer_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email text NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_email_key UNIQUE (email),
    CONSTRAINT customers_email_check CHECK (
        email = lower(email) AND char_length(email) BETWEEN 3 AND 320 AND position('@' IN email) > 1
    ),
    CONSTRAINT customers_first_name_check CHECK (char_length(first_name) BETWEEN 1 AND 100),
    CONSTRAINT customers_last_name_check CHECK (char_length(last_name) BETWEEN 1 AND 100)
);
