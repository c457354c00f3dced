-- Orders and their lines. Lifecycle: orders are created 'confirmed' (stock is decremented in the same
-- transaction); cancelling moves confirmed -> cancelled and restocks. 'pending' is reserved for a
-- future asynchronous payment step and not produced today (DSQL cannot easily change a CHECK later).
-- Foreign keys: see docs/decisions/0001-foreign-keys.md.
CREATE TABLE IF NOT EXISTS orders (
    order_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid NOT NULL REFERENCES customers (customer_id),
    status text NOT NULL DEFAULT 'confirmed',
    total_amount numeric(10,2) NOT NULL,
    currency text NOT NULL DEFAULT 'USD',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_status_check CHECK (status IN ('pending', 'confirmed', 'cancelled')),
    CONSTRAINT orders_total_amount_check CHECK (total_amount >= 0),
    CONSTRAINT orders_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);

-- One line per product (duplicate lines are merged before touching stock); unit_price is the price
-- at order time.
CREATE TABLE IF NOT EXISTS order_items (
    order_id uuid NOT NULL REFERENCES orders (order_id),
    product_id uuid NOT NULL REFERENCES products (product_id),
    quantity integer NOT NULL,
    unit_price numeric(10,2) NOT NULL,
    PRIMARY KEY (order_id, product_id),
    CONSTRAINT order_items_quantity_check CHECK (quantity > 0),
    CONSTRAINT order_items_unit_price_check CHECK (unit_price >= 0)
);

-- A customer's orders, newest first, keyset-paged.
CREATE INDEX ASYNC IF NOT EXISTS orders_customer_created_at_idx ON orders (customer_id, created_at, order_id);
