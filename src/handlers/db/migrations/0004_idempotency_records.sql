-- Idempotency-Key records, written in the same transaction as the order they protect (a separate
-- store can double-order when the function dies between commit and "mark complete").
-- response_body is text: DSQL has no jsonb.
CREATE TABLE IF NOT EXISTS idempotency_records (
    scope text NOT NULL,
    idempotency_key text NOT NULL,
    request_hash text NOT NULL,
    status text NOT NULL DEFAULT 'in_progress',
    response_status integer,
    response_body text,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (scope, idempotency_key),
    CONSTRAINT idempotency_records_key_check CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    CONSTRAINT idempotency_records_status_check CHECK (status IN ('in_progress', 'completed')),
    CONSTRAINT idempotency_records_response_check CHECK (
        status = 'in_progress' OR (response_status BETWEEN 100 AND 599 AND response_body IS NOT NULL)
    ),
    CONSTRAINT idempotency_records_expiry_check CHECK (expires_at > created_at)
);

-- Pruning expired records in small batches (DSQL: at most 3,000 modified rows per transaction).
CREATE INDEX ASYNC IF NOT EXISTS idempotency_records_expires_at_idx ON idempotency_records (expires_at);
