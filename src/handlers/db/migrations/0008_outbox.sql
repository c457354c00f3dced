-- The transactional outbox (docs/events.md). The statements that place and cancel orders and change
-- the catalog insert one row per domain event in the same transaction (and the same round trip) as the
-- change itself, so an event exists exactly when its change committed: rolled-back work writes nothing.
-- Aurora DSQL's change data capture streams every committed insert to Kinesis; the publisher turns the
-- outbox's inserts into EventBridge events and ignores every other table's records. The row is the
-- complete event, computed in the statement (CDC updates carry no `before` image, and reassembling an
-- order from its rows across shards has no end-of-transaction marker: user guide, "CDC record format",
-- cdc-record-format.html, GA text of 2026-07-01).
--
-- * event_id: the event's identity (EventBridge's PutEvents takes no id: it travels as detail.eventId);
--   a random UUID primary key, because CDC identifies a duplicate by commit timestamp and primary key
--   (user guide, "CDC streams", cdc-streams.html, 2026-07-01).
-- * payload: the event's data as JSON text, shaped by the models in handlers/events/models.py.
-- * created_at: when the row was written. Rows are never read by the shop; the pruning job (issue 26)
--   deletes those older than the retention, in batches, by created_at (hence the index). The
--   statements set it explicitly; the DEFAULT covers anything else (DSQL accepts DEFAULT in
--   CREATE TABLE, only ADD COLUMN refuses it: user guide, "CREATE TABLE" create-table-syntax-support.html
--   and "ALTER TABLE" alter-table-syntax-support.html, read 2026-11-27).
-- * No foreign keys: an order's hot path must not widen its conflict set (docs/decisions/0001-foreign-keys.md).
CREATE TABLE IF NOT EXISTS outbox (
    event_id uuid PRIMARY KEY,
    event_type text NOT NULL,
    event_version integer NOT NULL,
    entity_id uuid NOT NULL,
    payload text NOT NULL,
    region text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT outbox_event_type_check CHECK (char_length(event_type) BETWEEN 1 AND 100),
    CONSTRAINT outbox_event_version_check CHECK (event_version >= 1)
);

-- The pruning job's batches: the oldest rows first.
CREATE INDEX ASYNC IF NOT EXISTS outbox_created_at_idx ON outbox (created_at);
