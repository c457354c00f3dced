-- Sample data for local development and demos (the original recipe's 3 customers and 5 products).
-- Fixed UUIDs so documentation and curl examples can reference them; idempotent to load.
-- Never a numbered migration: load with apply_migrations(..., include_sample_data=True).
-- identity_subject: the subject `ecommerce dev token --customer EMAIL` issues for that email (uuid5 of
-- the local issuer and the email, src/ecommerce_dev/identity.py), so the sample customers can sign in.
INSERT INTO customers (customer_id, email, first_name, last_name, created_at, identity_subject) VALUES
    ('c1000000-0000-4000-8000-000000000001', 'john.doe@example.com', 'John', 'Doe', '2026-01-01T00:00:01Z', '5bbf7215-c13c-51c1-9687-b5c8e9c5693c'),
    ('c1000000-0000-4000-8000-000000000002', 'jane.smith@example.com', 'Jane', 'Smith', '2026-01-01T00:00:02Z', 'cf480987-efc0-5e53-bb1d-56ec4cd6a1f4'),
    ('c1000000-0000-4000-8000-000000000003', 'bob.wilson@example.com', 'Bob', 'Wilson', '2026-01-01T00:00:03Z', 'dccacd58-a18c-5f51-ab59-7b4902a6434b')
ON CONFLICT DO NOTHING;

-- Databases loaded before customers had identities: give the sample customers theirs.
UPDATE customers SET identity_subject = '5bbf7215-c13c-51c1-9687-b5c8e9c5693c'
    WHERE customer_id = 'c1000000-0000-4000-8000-000000000001' AND identity_subject IS NULL;
UPDATE customers SET identity_subject = 'cf480987-efc0-5e53-bb1d-56ec4cd6a1f4'
    WHERE customer_id = 'c1000000-0000-4000-8000-000000000002' AND identity_subject IS NULL;
UPDATE customers SET identity_subject = 'dccacd58-a18c-5f51-ab59-7b4902a6434b'
    WHERE customer_id = 'c1000000-0000-4000-8000-000000000003' AND identity_subject IS NULL;

INSERT INTO products (product_id, name, description, price, currency, stock_quantity, category, created_at) VALUES
    ('a1000000-0000-4000-8000-000000000001', 'Laptop', '14-inch laptop, 16 GB RAM, 512 GB SSD', 999.99, 'USD', 50, 'Electronics', '2026-01-01T00:00:01Z'),
    ('a1000000-0000-4000-8000-000000000002', 'Wireless Mouse', 'Ergonomic 2.4 GHz wireless mouse', 29.99, 'USD', 200, 'Electronics', '2026-01-01T00:00:02Z'),
    ('a1000000-0000-4000-8000-000000000003', 'Coffee Mug', 'Ceramic mug, 350 ml', 12.99, 'USD', 150, 'Kitchen', '2026-01-01T00:00:03Z'),
    ('a1000000-0000-4000-8000-000000000004', 'Notebook', 'A5 dotted notebook, 120 pages', 4.99, 'USD', 500, 'Office', '2026-01-01T00:00:04Z'),
    ('a1000000-0000-4000-8000-000000000005', 'Headphones', 'Over-ear noise-cancelling headphones', 149.99, 'USD', 75, 'Electronics', '2026-01-01T00:00:05Z')
ON CONFLICT DO NOTHING;
