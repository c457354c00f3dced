-- Products. Money is numeric(10,2) plus an ISO 4217 code; never float. stock_quantity can never go
-- negative: a conditional decrement that would oversell fails with 23514 and aborts the order.
-- Products are retired with active = false, never deleted (orders keep referencing them).
CREATE TABLE IF NOT EXISTS products (
    product_id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL,
    description text NOT NULL DEFAULT '',
    price numeric(10,2) NOT NULL,
    currency text NOT NULL DEFAULT 'USD',
    stock_quantity integer NOT NULL DEFAULT 0,
    category text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_name_check CHECK (char_length(name) BETWEEN 1 AND 200),
    CONSTRAINT products_description_check CHECK (char_length(description) <= 4000),
    CONSTRAINT products_price_check CHECK (price >= 0),
    CONSTRAINT products_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT products_stock_quantity_check CHECK (stock_quantity >= 0),
    CONSTRAINT products_category_check CHECK (char_length(category) BETWEEN 1 AND 100)
);

-- Newest-first catalog pages: ORDER BY created_at DESC, product_id DESC with a keyset cursor
-- (DSQL indexes take no ASC/DESC; a backward scan serves the descending order).
CREATE INDEX ASYNC IF NOT EXISTS products_created_at_idx ON products (created_at, product_id);

-- The same, filtered by category.
CREATE INDEX ASYNC IF NOT EXISTS products_category_created_at_idx ON products (category, created_at, product_id);
