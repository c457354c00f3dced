"""Sharded stock for hot products (migration 0007, docs/data-layer.md "Stock buckets"): the same
contract as one stock row — exact out-of-stock, cancel restocks once, 4xx — and units neither lost
nor invented while operators change the bucket count under load."""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

import psycopg
import pytest
from test_api_concurrency import concurrently, patient_client, sold

from api_support import OPERATOR, Client, stock
from handlers.api.handler import _after_restore
from handlers.shop import repository

orders = pytest.mark.usefixtures("order_strategy")


def buckets(admin: psycopg.Connection, product_id: str) -> tuple[int, list[int]]:
    """(the row's stock, the buckets' quantities in bucket order)."""
    row = admin.execute("SELECT stock_quantity FROM products WHERE product_id = %s", (product_id,)).fetchone()
    assert row is not None
    rows = admin.execute(
        "SELECT quantity FROM product_stock_buckets WHERE product_id = %s ORDER BY bucket", (product_id,)
    ).fetchall()
    return int(row[0]), [int(r[0]) for r in rows]


def test_operators_set_buckets_and_everyone_reads_the_total(
    client: Client, admin: psycopg.Connection
) -> None:
    product = client.new_product(10, buckets=4)
    assert buckets(admin, product) == (0, [3, 3, 2, 2])
    public = client.get(f"/products/{product}")
    assert public.body["stock_quantity"] == 10
    assert "stock_buckets" not in public.body  # an operator's setting, shown on catalog writes only
    listed = [p for p in client.get("/products", query={"category": "Test", "limit": "100"}).body["products"]]
    assert {p["stock_quantity"] for p in listed if p["product_id"] == product} == {10}

    more = client.request("PATCH", f"/products/{product}", {"stock_buckets": 16}, who=OPERATOR)
    assert (more.status, more.body["stock_buckets"], more.body["stock_quantity"]) == (200, 16, 10)
    assert buckets(admin, product) == (0, [1] * 10 + [0] * 6)
    total = client.request("PATCH", f"/products/{product}", {"stock_quantity": 33}, who=OPERATOR)
    assert (total.body["stock_buckets"], total.body["stock_quantity"]) == (16, 33)
    assert sum(buckets(admin, product)[1]) == 33
    back = client.request("PATCH", f"/products/{product}", {"stock_buckets": 1}, who=OPERATOR)
    assert (back.body["stock_buckets"], back.body["stock_quantity"]) == (1, 33)
    assert buckets(admin, product) == (33, [])  # back on the row, as before the migration


@pytest.mark.parametrize("value", [0, 17, 2.5, "4", None])
def test_bucket_counts_outside_1_to_16_are_refused(client: Client, value: object) -> None:
    product = client.new_product(5)
    reply = client.request("PATCH", f"/products/{product}", {"stock_buckets": value}, who=OPERATOR)
    assert reply.status == 422
    assert reply.body["errors"][0]["field"] == "stock_buckets"


def test_customers_cannot_set_buckets(client: Client) -> None:
    product = client.new_product(5)
    reply = client.request("PATCH", f"/products/{product}", {"stock_buckets": 4})
    assert reply.status == 403


@orders
def test_a_line_no_bucket_covers_takes_from_several(client: Client, admin: psycopg.Connection) -> None:
    product = client.new_product(8, buckets=4)  # 2 + 2 + 2 + 2
    placed = client.order([(product, 7)])
    assert placed.status == 201, placed.body
    assert sorted(buckets(admin, product)[1]) == [0, 0, 0, 1]
    short = client.order([(product, 2)])
    assert (short.status, short.problem_type) == (409, "insufficient-stock")
    assert "requested 2, available 1" in short.body["detail"]
    assert client.order([(product, 1)]).status == 201  # never refused while a unit remains
    assert stock(admin, product) == 0
    assert client.order([(product, 1)]).status == 409
    # Cancelling puts the units back (into one bucket); the total is exact again.
    assert client.post(f"/orders/{placed.body['order_id']}/cancel").status == 200
    assert stock(admin, product) == 7


@orders
def test_mixed_orders_and_their_4xx(client: Client, admin: psycopg.Connection) -> None:
    hot, plain = client.new_product(20, buckets=4), client.new_product(5)
    reply = client.order([(hot, 3), (plain, 2)])
    assert reply.status == 201
    assert reply.body["total_amount"] == "50.00"
    assert (stock(admin, hot), stock(admin, plain)) == (17, 3)
    unknown = client.order([(hot, 1), (str(uuid4()), 1)])
    assert (unknown.status, unknown.problem_type) == (422, "unknown-products")
    assert stock(admin, hot) == 17  # nothing taken


def test_an_environment_keeps_its_bucket_and_environments_spread(
    client: Client, shop_dsn: str, admin: psycopg.Connection
) -> None:
    """The rotation starts at the environment's home (repository._home): one environment's
    uncontended orders stay in one bucket, and separate environments land in many."""
    product = client.new_product(1600, buckets=16)
    for _ in range(8):
        assert client.order([(product, 1)]).status == 201
    assert sorted(buckets(admin, product)[1])[:2] == [92, 100]  # one bucket took all 8
    others = [Client(shop_dsn) for _ in range(16)]
    try:
        for other in others:
            assert other.order([(product, 1)]).status == 201
    finally:
        for other in others:
            other.close()
    touched = sum(1 for q in buckets(admin, product)[1] if q < 100)
    assert touched >= 4  # 16 random homes in at most 3 of 16 buckets is ~1.3e-9 likely
    assert repository._HOMES  # and a SnapStart restore forgets them (handler._after_restore)
    _after_restore()
    assert not repository._HOMES


def _first_buckets(admin: psycopg.Connection, product: str, starts: range) -> list[int]:
    """The bucket BUCKET_PLAN takes a one-unit line from, for each start."""
    plan = repository.BUCKET_PLAN.format(
        lines="(SELECT %(product)s::uuid AS product_id, 1 AS quantity, %(start)s::int AS start, "
        "p.stock_buckets AS buckets FROM products AS p WHERE p.product_id = %(product)s)"
    )
    taken = []
    for start in starts:
        rows = admin.execute(plan, {"product": product, "start": start}).fetchall()
        assert len(rows) == 1 and rows[0][2] == 1
        taken.append(int(rows[0][1]))
    return taken


def test_environments_whose_home_is_empty_fall_through_to_different_buckets(
    client: Client, admin: psycopg.Connection
) -> None:
    """Review: with a rotation from the home, every environment whose home sits in a run of empty
    buckets fell through to the same next bucket. Each start orders the buckets differently."""
    product = client.new_product(160, buckets=16)
    starts = range(272)  # every (start mod 16, start mod 17) pair: all the orders there are
    homes = _first_buckets(admin, product, starts)
    assert len(Counter(homes)) == 16  # every bucket is some start's home
    admin.execute(
        "UPDATE product_stock_buckets SET quantity = 0 WHERE product_id = %s AND bucket < 8", (product,)
    )
    fallen = [
        taken for home, taken in zip(homes, _first_buckets(admin, product, starts), strict=True) if home < 8
    ]
    assert all(bucket >= 8 for bucket in fallen)
    assert len(set(fallen)) == 8  # spread over all the live buckets, not piled on bucket 8


@pytest.mark.parametrize("count", [3, 5, 16])
def test_homes_are_uniform_over_the_buckets(client: Client, admin: psycopg.Connection, count: int) -> None:
    """Review: ordering all buckets by the permutation alone made the first one non-uniform for
    3-15 buckets (the end buckets won more often). The home bucket is start mod count."""
    product = client.new_product(10 * count, buckets=count)
    shares = Counter(_first_buckets(admin, product, range(272)))
    assert len(shares) == count and max(shares.values()) - min(shares.values()) <= 1


@orders
def test_64_buyers_16_buckets_sell_exactly_the_stock(
    client: Client, shop_dsn: str, admin: psycopg.Connection
) -> None:
    product = client.new_product(40, buckets=16)
    replies = concurrently(64, lambda i: patient_client(shop_dsn), lambda c: c.order([(product, 1)]))
    assert Counter(r.status for r in replies) == {201: 40, 409: 24}
    assert all(r.problem_type == "insufficient-stock" for r in replies if r.status == 409)
    assert (stock(admin, product), sold(admin, product)) == (0, 40)
    row, quantities = buckets(admin, product)
    assert row == 0 and quantities == [0] * 16


@orders
def test_changing_buckets_under_load_neither_loses_nor_invents_units(
    client: Client, shop_dsn: str, admin: psycopg.Connection
) -> None:
    initial = 300
    product = client.new_product(initial, buckets=4)
    stop = threading.Event()
    layouts: list[int] = []

    def operator() -> None:
        ops = patient_client(shop_dsn)
        try:
            for count in (16, 2, 1, 8, 3, 16, 1, 4):
                reply = ops.request("PATCH", f"/products/{product}", {"stock_buckets": count}, who=OPERATOR)
                assert reply.status == 200, reply.body
                layouts.append(count)
        finally:
            ops.close()
            stop.set()

    thread = threading.Thread(target=operator)
    thread.start()

    def buy(c: Client) -> list[int]:
        statuses = []
        while not stop.is_set() or len(statuses) < 3:
            statuses.append(c.order([(product, 2)]).status)
        return statuses

    results = concurrently(8, lambda i: patient_client(shop_dsn), buy)
    thread.join()
    assert layouts == [16, 2, 1, 8, 3, 16, 1, 4]
    statuses = Counter(s for r in results for s in r)
    assert set(statuses) <= {201, 409}, statuses
    assert sold(admin, product) == 2 * statuses[201]
    assert stock(admin, product) + sold(admin, product) == initial
    row, quantities = buckets(admin, product)
    assert row == 0 and len(quantities) == 4 and min(quantities) >= 0


def test_the_operator_command_shows_and_changes_the_bucket_count(
    client: Client, shop_dsn: str, admin: psycopg.Connection
) -> None:
    from click.testing import CliRunner

    from ecommerce_ops.cli import main

    product = client.new_product(10)
    runner = CliRunner()
    shown = runner.invoke(main, ["stock-buckets", "--dsn", shop_dsn, product])
    assert (shown.exit_code, shown.output.strip()) == (0, f"{product}: 10 units in 1 bucket")
    changed = runner.invoke(main, ["stock-buckets", "--dsn", shop_dsn, product, "4"])
    assert (changed.exit_code, changed.output.strip()) == (0, f"{product}: 10 units in 4 buckets")
    assert buckets(admin, product) == (0, [3, 3, 2, 2])
    refused = runner.invoke(main, ["stock-buckets", "--dsn", shop_dsn, product, "17"])
    assert refused.exit_code == 2
    missing = runner.invoke(main, ["stock-buckets", "--dsn", shop_dsn, str(uuid4()), "2"])
    assert missing.exit_code == 1 and "does not exist" in missing.output


PAUSE_KEY = 2424


@contextlib.contextmanager
def paused_bucket_updates(admin: psycopg.Connection, product: str) -> Iterator[None]:
    """A test hook in the database: every UPDATE of this product's bucket 0 waits (after its
    transaction's snapshot, before the row's CHECK) while another session holds PAUSE_KEY."""
    admin.execute(
        f"""CREATE FUNCTION pause_bucket_update() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF NEW.product_id = '{product}'::uuid AND NEW.bucket = 0 THEN
                PERFORM pg_advisory_lock_shared({PAUSE_KEY});
                PERFORM pg_advisory_unlock_shared({PAUSE_KEY});
              END IF;
              RETURN NEW;
            END $$"""
    )
    admin.execute(
        "CREATE TRIGGER pause_bucket_update BEFORE UPDATE ON product_stock_buckets "
        "FOR EACH ROW EXECUTE FUNCTION pause_bucket_update()"
    )
    try:
        yield
    finally:
        admin.execute("DROP TRIGGER pause_bucket_update ON product_stock_buckets")
        admin.execute("DROP FUNCTION pause_bucket_update()")


def _wait_until_blocked(admin: psycopg.Connection, locker_pid: int) -> None:
    """Until a session waits on a lock the locker holds."""
    for _ in range(500):
        row = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (locker_pid,)
        ).fetchone()
        if row and row[0]:
            return
        time.sleep(0.01)
    raise AssertionError("the order never waited on the paused bucket")


@orders
def test_a_bucket_restocked_after_the_snapshot_is_not_a_503(
    client: Client, shop_dsn: str, admin: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review B1: buckets (1, 0), an order of 2. Its plan (from its snapshot) takes both units from
    bucket 0 (the rotation puts it last); bucket 1 is restocked after the snapshot. The bucket's CHECK
    fires, yet the total covers the order: a re-run on a newer snapshot sells it (201, never 503),
    counted as a conflict retry."""
    draws: list[int] = []
    # Start 16: of buckets (0, 1), bucket 1 first and bucket 0 last, in every attempt.
    monkeypatch.setattr(repository, "_start", lambda: draws.append(16) or 16)
    monkeypatch.setattr(repository, "_HOMES", weakref.WeakKeyDictionary())
    product = client.new_product(1, buckets=2)
    assert buckets(admin, product) == (0, [1, 0])
    buyer = Client(shop_dsn)
    with psycopg.connect(shop_dsn, autocommit=True) as locker, paused_bucket_updates(admin, product):
        locker.execute("SELECT pg_advisory_lock(%s)", (PAUSE_KEY,))
        with ThreadPoolExecutor(1) as pool:
            placed = pool.submit(buyer.order, [(product, 2)])
            _wait_until_blocked(admin, locker.info.backend_pid)  # the order has its snapshot
            admin.execute(  # what a cancel's restock into bucket 1 writes
                "UPDATE product_stock_buckets SET quantity = quantity + 5 "
                "WHERE product_id = %s AND bucket = 1",
                (product,),
            )
            locker.execute("SELECT pg_advisory_unlock(%s)", (PAUSE_KEY,))
            reply = placed.result(timeout=30)
    try:
        assert reply.status == 201, reply.body
        assert stock(admin, product) == 4
        assert buyer.handlers["orders"].database.stats.conflicts == 1
        assert len(draws) == 2  # the environment's home, and a new one for the re-run
    finally:
        buyer.close()


@orders
def test_still_out_of_stock_when_the_total_cannot_cover(
    client: Client, admin: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The re-run of B1 happens only when units remain: buckets (1, 0), an order of 2 is 409."""
    monkeypatch.setattr(repository, "_start", lambda: 16)
    monkeypatch.setattr(repository, "_HOMES", weakref.WeakKeyDictionary())
    product = client.new_product(1, buckets=2)
    short = client.order([(product, 2)])
    assert (short.status, short.problem_type) == (409, "insufficient-stock")
    assert client.handlers["orders"].database.stats.conflicts == 0
    assert client.handlers["orders"].database in repository._HOMES  # a 409 is no collision: kept


def test_an_order_out_of_attempts_forgets_its_home(fresh_dsn: str) -> None:
    """Conflicts with no retry left: the next order draws a home instead of going back there."""
    from handlers.db import Database, RetriesExhaustedError

    database = Database(connector=lambda: psycopg.connect(fresh_dsn, autocommit=True))
    repository._HOMES[database] = 5

    def exhausted(work: object, **_: object) -> None:
        raise RetriesExhaustedError(8, None, reason="attempts")

    with pytest.raises(RetriesExhaustedError):
        repository._forgetting_home_on_failure(database, exhausted, None)
    assert database not in repository._HOMES


@orders
def test_a_sharded_product_without_bucket_rows_is_not_sold_for_nothing(
    client: Client, admin: psycopg.Connection
) -> None:
    """Review S1: a restore or backfill that kept stock_buckets but lost the bucket rows. The plan
    then takes nothing; the order must fail like other rejections, not succeed taking no stock."""
    product = client.new_product(4, buckets=2)
    admin.execute("DELETE FROM product_stock_buckets WHERE product_id = %s", (product,))
    reply = client.order([(product, 1)])
    assert (reply.status, reply.problem_type) == (409, "insufficient-stock"), reply.body
    assert sold(admin, product) == 0
    plain = client.new_product(3)  # a one-bucket line in the same order does not hide it
    mixed = client.order([(plain, 1), (product, 1)])
    assert mixed.status == 409
    assert stock(admin, plain) == 3


def test_the_bucket_migration_on_a_populated_database_moves_no_unit(fresh_dsn: str) -> None:
    """Review S3: 0001..0005 with data (the sample catalog and orders placed by the code of then),
    then 0007: every product's stock is what it was; sharding one with the API keeps its total."""
    from ecommerce_dev.guarded import guarded_connector
    from handlers.db.migrate import apply_migrations, load_migrations

    def connect() -> psycopg.Connection:
        return psycopg.connect(fresh_dsn, autocommit=True)

    before = [m for m in load_migrations() if m.version < "0007"]
    assert before and "0007" in [m.version for m in load_migrations()]
    migrate = guarded_connector(fresh_dsn)  # as the runner migrates: DSQL's dialect, the guard on
    apply_migrations(migrate, migrations=before, include_sample_data=True, poll_interval=0.01)
    with connect() as conn:
        product = str(
            conn.execute("SELECT product_id FROM products ORDER BY product_id LIMIT 1").fetchone()[0]
        )  # type: ignore[index]
        conn.execute("UPDATE products SET stock_quantity = 37 WHERE product_id = %s", (product,))
        stocked = dict(conn.execute("SELECT product_id, stock_quantity FROM products").fetchall())
    upto_0007 = [m for m in load_migrations() if m.version <= "0007"]
    result = apply_migrations(migrate, migrations=upto_0007, poll_interval=0.01)
    assert result.applied == ("0007",)
    with connect() as conn:
        after = dict(conn.execute("SELECT product_id, stock_quantity FROM products").fetchall())
        assert conn.execute("SELECT count(*) FROM product_stock_buckets").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM products WHERE stock_buckets IS NOT NULL").fetchone() == (
            0,
        )
    assert after == stocked
    apply_migrations(migrate, poll_interval=0.01)  # the later ones (0008: the outbox the API writes)
    api = Client(fresh_dsn)
    try:
        sharded = api.request("PATCH", f"/products/{product}", {"stock_buckets": 4}, who=OPERATOR)
        assert (sharded.status, sharded.body["stock_quantity"]) == (200, 37), sharded.body
        with connect() as conn:
            assert buckets(conn, product) == (0, [10, 9, 9, 9])
        assert api.order([(product, 5)]).status == 201
        assert api.get(f"/products/{product}").body["stock_quantity"] == 32
    finally:
        api.close()
