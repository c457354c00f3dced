-- Sharded stock for hot products (docs/data-layer.md, "Stock buckets").
--
-- A product's stock lives in one of two places, never both:
-- * products.stock_quantity, when the product has one bucket (the default, and every product that
--   existed before this migration: stock_buckets NULL means 1). Orders decrement that row, as before.
-- * product_stock_buckets, when an operator gave it 2 or more buckets: stock_quantity is then 0 and
--   the units are spread over rows (product_id, 0 .. stock_buckets - 1). An order decrements one
--   bucket that can cover its line, so concurrent buyers of one product rarely write the same row
--   (DSQL aborts all but one writer of a row at COMMIT: user guide, "Concurrency control in Aurora
--   DSQL", working-with-concurrency-control.html, read 2026-12-07).
-- The total a product has is always stock_quantity + sum(bucket quantities). Existing stock stays on
-- its row (one bucket), so this migration moves no units and cannot lose or invent any; an operator's
-- `ecommerce stock-buckets` moves them, in one transaction, when a product becomes hot.
--
-- DSQL: ADD COLUMN takes a name and a type only, no DEFAULT or NOT NULL (user guide, "ALTER TABLE",
-- alter-table-syntax-support.html, read 2026-11-27), hence NULL = 1 bucket.
ALTER TABLE products ADD COLUMN IF NOT EXISTS stock_buckets integer;

-- No foreign key to products: an order's hot-path UPDATE of a bucket must not widen its conflict set
-- (docs/decisions/0001-foreign-keys.md); buckets are only created by the statements that create or
-- re-shard a product, which read the product in the same transaction. At most 16 buckets: a 100-line
-- order that has to take from every bucket of every line modifies 100 x 16 + 102 = 1,702 rows, under
-- DSQL's 3,000 per transaction (user guide, "Cluster quotas and database
-- limits", CHAP_quotas.html, read 2026-12-07).
CREATE TABLE IF NOT EXISTS product_stock_buckets (
    product_id uuid NOT NULL,
    bucket integer NOT NULL,
    quantity integer NOT NULL,
    PRIMARY KEY (product_id, bucket),
    CONSTRAINT product_stock_buckets_bucket_check CHECK (bucket BETWEEN 0 AND 15),
    CONSTRAINT product_stock_buckets_quantity_check CHECK (quantity >= 0)
);

-- An idempotent replay reads the record and the order it points to in the same round trip as the
-- order statement (before: the record's JSON had to be read first, then the order). Records written
-- before this migration have no order_id; their replays take the older, longer path.
ALTER TABLE idempotency_records ADD COLUMN IF NOT EXISTS order_id uuid;
