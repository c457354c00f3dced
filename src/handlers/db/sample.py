"""Ids of the sample data in ``sample_data.sql`` (fixed so docs, curl examples and tests can name them)."""

JOHN = "c1000000-0000-4000-8000-000000000001"  # john.doe@example.com
LAPTOP = "a1000000-0000-4000-8000-000000000001"  # 999.99, stock 50
MOUSE = "a1000000-0000-4000-8000-000000000002"  # 29.99, stock 200
JANE = "c1000000-0000-4000-8000-000000000002"  # jane.smith@example.com
EMAILS = {JOHN: "john.doe@example.com", JANE: "jane.smith@example.com"}
