"""``make chaos``: the shop's invariants under faults, checked by SQL afterwards.

A concurrent order-and-cancel load runs through both simulated regions (each region's execution
environments reach the one database through its own latency proxy, as two peered clusters are one
logical database) while faults are injected:

* ``terminate``: ``pg_terminate_backend`` of a random shop connection (the server ends it);
* ``cut``: the proxy cuts a random connection (a network failure);
* ``commit_lost``: the proxy cuts the next connection right after a ``COMMIT`` reached the server,
  so the commit happens and its answer is lost (outcome unknown to the client);
* ``stall``: the proxy holds the next query result longer than the function may run, so the
  emulated Lambda timeout kills that execution environment (API Gateway then answers 504);
* ``restart``: the database is stopped and started again;
* ``40001`` / ``XX000`` at random write statements and at ``COMMIT``: raised by the server itself
  (fault-injection triggers installed out of band on this throwaway database; they are no part of
  the schema and nothing like them runs on DSQL).

Afterwards, with faults off and the database quiet, every order whose outcome the client could not
know (503, 504) is sent again with its idempotency key, as a client would; then the invariants are
checked: stock + units sold - units restocked = initial stock per product; every order's total is
the sum of its items; no idempotency key maps to two orders; no order without items; no request hung
past its deadline; every client-visible outcome is consistent with the database (a 201 means the
order exists with that id and those lines; a 409/422 means the key has no order; a successful or
"already cancelled" cancel means the order is cancelled).

Bounded in requests and in time; randomness is seeded (the verdict is deterministic, the exact
counts of faults are not: they depend on thread timing). ``ChaosConfig.small()`` runs in
``make test`` (tests/integration/test_chaos.py), ``ChaosConfig.large()`` under ``make chaos``.

Usage: python -m bench.chaos [--large] [--seed N] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg

from bench.latency import ProxyProcess
from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.events_relay import Disorder, LocalBus, MemoryDedupe, MemoryFailures, Relay
from ecommerce_dev.identity import LocalIdentity, subject_for
from ecommerce_dev.invoker import Environment, Reply, claims_for, order_body, plain_connector, quiet_handlers
from handlers.db.migrate import apply_migrations
from handlers.events.publisher import Publisher

REGIONS = ("us-east-1", "us-east-2")
APP_PREFIX = "chaos-"
#: How late the emulated API Gateway may answer after the function timeout (thread scheduling).
ANSWER_GRACE = 1.0
#: A killed environment's invocation must end within this; longer counts as hung.
KILL_GRACE = 5.0
UNKNOWN = frozenset({500, 502, 503, 504})

# Fault injection on the server: statement-level BEFORE triggers on every table an order or cancel
# writes, and a deferred constraint trigger on orders that fires at COMMIT. Sequences count what was
# injected (they are not transactional, so the counts survive the rollback the fault causes).
FAULT_SCHEMA = """
CREATE SCHEMA chaos;
CREATE TABLE chaos.config (id int PRIMARY KEY, p_statement float8 NOT NULL, p_commit float8 NOT NULL);
INSERT INTO chaos.config VALUES (1, 0, 0);
CREATE TABLE chaos.initial_stock (product_id uuid PRIMARY KEY, stock integer NOT NULL);
CREATE SEQUENCE chaos.statement_40001;
CREATE SEQUENCE chaos.statement_xx000;
CREATE SEQUENCE chaos.commit_40001;
CREATE SEQUENCE chaos.commit_xx000;
CREATE FUNCTION chaos.fail(kind text, stage text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval(format('chaos.%s_%s', stage, lower(kind)));
    IF kind = '40001' THEN
        RAISE EXCEPTION USING ERRCODE = '40001',
            MESSAGE = format('chaos: injected conflict with another transaction (OC000) at %s', stage);
    ELSE
        RAISE EXCEPTION USING ERRCODE = 'XX000',
            MESSAGE = format('chaos: injected server unavailable at %s', stage);
    END IF;
END $$;
CREATE FUNCTION chaos.statement_fault() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p float8; r float8 := random();
BEGIN
    SELECT p_statement INTO p FROM chaos.config WHERE id = 1;
    IF r < p / 2 THEN PERFORM chaos.fail('40001', 'statement');
    ELSIF r < p THEN PERFORM chaos.fail('XX000', 'statement');
    END IF;
    RETURN NULL;
END $$;
CREATE FUNCTION chaos.commit_fault() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE p float8; r float8 := random();
BEGIN
    SELECT p_commit INTO p FROM chaos.config WHERE id = 1;
    IF r < p / 2 THEN PERFORM chaos.fail('40001', 'commit');
    ELSIF r < p THEN PERFORM chaos.fail('XX000', 'commit');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER chaos_statement BEFORE UPDATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION chaos.statement_fault();
CREATE TRIGGER chaos_statement BEFORE UPDATE ON product_stock_buckets
    FOR EACH STATEMENT EXECUTE FUNCTION chaos.statement_fault();
CREATE TRIGGER chaos_statement BEFORE INSERT OR UPDATE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION chaos.statement_fault();
CREATE TRIGGER chaos_statement BEFORE INSERT ON order_items
    FOR EACH STATEMENT EXECUTE FUNCTION chaos.statement_fault();
CREATE TRIGGER chaos_statement BEFORE INSERT ON idempotency_records
    FOR EACH STATEMENT EXECUTE FUNCTION chaos.statement_fault();
CREATE CONSTRAINT TRIGGER chaos_commit AFTER INSERT OR UPDATE ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION chaos.commit_fault();
"""
INJECTED = (
    "SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM chaos.statement_40001),"
    " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM chaos.statement_xx000),"
    " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM chaos.commit_40001),"
    " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM chaos.commit_xx000)"
)


@dataclass(frozen=True)
class ChaosConfig:
    seed: int = 1
    #: Load requests (bounded in count) and seconds (bounded in time), whichever ends first.
    requests: int = 6_000
    max_seconds: float = 180.0
    workers_per_region: int = 4
    products: int = 8
    stock: int = 250
    #: The emulated Lambda timeout (the handler's deadline is one second less: DEADLINE_MARGIN_SECONDS).
    function_timeout: float = 4.0
    #: Network and server faults during the load (at seeded random request counts), and their mix;
    #: every kind is injected at least once.
    faults: int = 300
    fault_weights: tuple[tuple[str, int], ...] = (
        ("terminate", 4),
        ("cut", 3),
        ("commit_lost", 2),
        ("stall", 1),
        ("reshard", 1),
    )
    #: Database stops during the load (each at an even fraction of the requests).
    restarts: int = 3
    #: Probability that a write statement, or a COMMIT of a transaction writing an order, fails.
    p_statement: float = 0.02
    p_commit: float = 0.02
    rtt_ms: float = 1.0
    #: The hot product: the first product's stock is spread over this many buckets, and the
    #: "reshard" fault changes the count (an operator's `ecommerce stock-buckets`) during the load.
    hot_buckets: int = 4
    #: The latency proxy's commit-cost model (0: off, as in make test).
    commit_ms: float = 0.0

    @classmethod
    def small(cls, seed: int = 1) -> ChaosConfig:
        """The run in make test: ~15 s, every fault type at least once."""
        return cls(
            seed=seed,
            requests=300,
            max_seconds=14.0,
            workers_per_region=2,
            products=5,
            stock=40,
            function_timeout=2.5,
            faults=12,
            restarts=1,
        )

    @classmethod
    def large(cls, seed: int = 1) -> ChaosConfig:
        return cls(seed=seed, commit_ms=20.0)


@dataclass
class Outcome:
    kind: str  # order, replay, cancel
    customer: int
    key: str | None
    order_id: str | None
    lines: tuple[tuple[str, int], ...]
    region: str
    status: int
    problem: str
    started: float
    seconds: float
    killed: bool = False
    phase: str = "load"

    @property
    def unknown(self) -> bool:
        return self.status in UNKNOWN


@dataclass
class Invariant:
    name: str
    holds: bool
    detail: str = ""


@dataclass
class ChaosReport:
    config: dict[str, Any]
    seconds: float
    requests: dict[str, Any]
    faults: dict[str, int]
    retries: dict[str, float]
    deadline: dict[str, Any]
    invariants: list[Invariant]
    database: dict[str, int]
    handler_output_lines: int = 0

    @property
    def ok(self) -> bool:
        return all(invariant.holds for invariant in self.invariants)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


# ---- the load ------------------------------------------------------------------------------------


@dataclass
class _Customer:
    index: int
    email: str
    claims: dict[str, str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    placed: list[Outcome] = field(default_factory=list)  # 201s: replay or cancel candidates


class _Slot:
    """A worker's current execution environment; replaced when the emulated Lambda kills it."""

    def __init__(self, make: Callable[[], Environment]) -> None:
        self._make = make
        self.env = make()
        self.killed = 0
        self.hung = 0

    def invoke(self, call: Callable[[Environment], Reply], timeout: float) -> Reply | None:
        """Run one invocation; None when it outlived the function timeout (the environment is killed)."""
        env = self.env
        box: list[Any] = []
        thread = threading.Thread(target=lambda: box.append(_capture(call, env)), daemon=True)
        thread.start()
        thread.join(timeout)
        if not thread.is_alive():
            result = box[0]
            if isinstance(result, BaseException):
                raise result
            return result  # type: ignore[no-any-return]
        # Lambda ends the process at its timeout: its sockets close, whatever it was waiting for.
        self.killed += 1
        for database in env.databases():
            _shut(database.connection)
        thread.join(KILL_GRACE)
        if thread.is_alive():
            self.hung += 1
        self.env = self._make()  # a new execution environment (a cold start)
        return None


def _capture(call: Callable[[Environment], Reply], env: Environment) -> Reply | BaseException:
    try:
        return call(env)
    except BaseException as exc:  # re-raised on the worker thread
        return exc


def _shut(conn: psycopg.Connection[Any] | None) -> None:
    if conn is None or conn.closed:
        return
    with contextlib.suppress(Exception):
        duplicate = socket.socket(fileno=os.dup(conn.pgconn.socket))
        with contextlib.suppress(OSError):
            duplicate.shutdown(socket.SHUT_RDWR)
        duplicate.close()


class _Run:
    def __init__(self, config: ChaosConfig, directory: Path) -> None:
        self.config = config
        self.directory = directory
        self.rng = random.Random(config.seed)  # noqa: S311 - a fault schedule, not a secret
        # wal_level = logical: the events relay reads the outbox as make dev's does (check_events).
        self.engine = LocalEngine.start(directory / "engine", durable=False, logical=True)
        self.dsn = self.engine.create_database("chaos")
        apply_migrations(lambda: self.engine.connect(dsn=self.dsn, autocommit=True), poll_interval=0.01)
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(FAULT_SCHEMA.encode())
        self.bus = LocalBus()
        self.event_failures = MemoryFailures()
        self.relay = Relay(
            lambda: psycopg.connect(self.dsn, autocommit=True),  # the current dsn, also after a restart
            Publisher(self.bus, MemoryDedupe(), self.event_failures),
            disorder=Disorder(duplicate=0.3, shuffle=1.0, rng=random.Random(config.seed)),  # noqa: S311
        )
        self.relay.ensure_slot()
        self.identity = LocalIdentity.open(directory)
        self.proxies = {region: ProxyProcess(self.dsn) for region in REGIONS}
        for proxy in self.proxies.values():
            proxy.set_rtt_ms(config.rtt_ms)
            proxy.set_commit_ms(config.commit_ms)
        self.customers = self._customers()
        self.products = self._products()
        self.outcomes: list[Outcome] = []
        self.outcomes_lock = threading.Lock()
        self.issued = 0
        self.issued_lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.planned: Counter[str] = Counter()
        self.environments: list[Environment] = []
        self.environments_lock = threading.Lock()
        self.slots: list[_Slot] = []
        self.restart_lock = threading.Lock()
        self.restart_seconds: list[float] = []

    # -- setup -----------------------------------------------------------------------------------

    def _customers(self) -> list[_Customer]:
        customers = []
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for index in range(self.config.workers_per_region):
                email = f"chaos-{self.config.seed}-{index}@example.com"
                conn.execute(
                    "INSERT INTO customers (email, first_name, last_name, identity_subject) "
                    "VALUES (%s, 'Chaos', %s, %s)",
                    (email, f"Buyer {index}", subject_for(email)),
                )
                customers.append(_Customer(index, email, claims_for(self.identity, email)))
        return customers

    def _products(self) -> list[str]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "INSERT INTO products (name, price, stock_quantity, category) "
                "SELECT 'chaos ' || n, (n * 3 + 0.99)::numeric(10,2), %s, 'Chaos' "
                "FROM generate_series(1, %s) AS n RETURNING product_id",
                (self.config.stock, self.config.products),
            ).fetchall()
            conn.execute(
                "INSERT INTO chaos.initial_stock SELECT product_id, stock_quantity FROM products "
                "WHERE category = 'Chaos'"
            )
        products = sorted(str(row[0]) for row in rows)
        if self.config.hot_buckets > 1 and not self._lay_out(products[0], self.config.hot_buckets):
            raise RuntimeError(f"could not shard the hot product {products[0]}: conflicts throughout")
        return products

    def _lay_out(self, product: str, buckets: int, *, attempts: int = 50) -> bool:
        """The operators' statements (the repository's), in one transaction, retried on conflicts;
        False when every attempt conflicted (nothing changed)."""
        from handlers.shop.repository import _LAYOUT

        def work(conn: psycopg.Connection[Any]) -> bool:
            for _ in range(attempts):
                try:
                    with conn.transaction():
                        for statement in _LAYOUT:
                            conn.execute(
                                statement, {"product_id": product, "total": None, "buckets": buckets}
                            )
                    return True
                except psycopg.errors.SerializationFailure:
                    time.sleep(0.01)
            return False

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("SET default_transaction_isolation = 'repeatable read'")
            return work(conn)

    def environment(self, region: str) -> Environment:
        env = Environment(
            plain_connector(self.proxies[region].dsn, application_name=f"{APP_PREFIX}{region}"),
            region=region,
            timeout_seconds=self.config.function_timeout,
        )
        with self.environments_lock:
            self.environments.append(env)
        return env

    # -- faults ------------------------------------------------------------------------------------

    def set_server_faults(self, on: bool) -> None:
        p_statement, p_commit = (self.config.p_statement, self.config.p_commit) if on else (0.0, 0.0)
        self._admin(
            lambda conn: conn.execute(
                "UPDATE chaos.config SET p_statement = %s, p_commit = %s WHERE id = 1",
                (p_statement, p_commit),
            )
        )

    def _admin(self, work: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        """An unguarded superuser connection straight to the server (never through a proxy)."""
        with self.restart_lock, psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            return work(conn)

    def inject(self, kind: str) -> None:
        proxy = self.proxies[self.rng.choice(REGIONS)]
        if kind == "terminate":
            pids = self._admin(
                lambda conn: [
                    row[0]
                    for row in conn.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name LIKE %s ORDER BY pid",
                        (APP_PREFIX + "%",),
                    )
                ]
            )
            if pids:
                pid = self.rng.choice(pids)
                self._admin(lambda conn: conn.execute("SELECT pg_terminate_backend(%s)", (pid,)))
                self.faults["terminate"] += 1
        elif kind == "cut":
            if proxy.kill_random(self.rng.randrange(1 << 30)):
                self.faults["cut"] += 1
        elif kind == "commit_lost":
            proxy.cut_on(b"COMMIT", after=True)
            self.faults["commit_lost_armed"] += 1
        elif kind == "stall":
            proxy.stall(self.config.function_timeout + 2.0)
            self.faults["stall_armed"] += 1
        elif kind == "reshard" and self.config.hot_buckets > 1:
            count = self.rng.choice([1, 2, 4, 8, 16])
            with self.restart_lock:
                laid_out = self._lay_out(self.products[0], count)
            # A reshard that lost every attempt to the orders changed nothing: not a fault injected.
            self.faults["reshard" if laid_out else "reshard_failed"] += 1

    def restart(self) -> None:
        with self.restart_lock:
            started = time.monotonic()
            self.engine.stop()
            time.sleep(0.3)
            self.engine = LocalEngine.start(self.directory / "engine", durable=False, logical=True)
            self.dsn = self.engine.dsn_for("chaos")
            for proxy in self.proxies.values():
                proxy.set_target(self.dsn)
            self.faults["restart"] += 1
            self.restart_seconds.append(round(time.monotonic() - started, 2))

    def drain_events(self, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Relay every committed outbox row to the local bus (with DSQL's duplicates and reordering),
        until the bus holds as many events as the outbox has rows, or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM outbox").fetchone()
        expected = int(row[0]) if row else 0
        while True:
            self.relay.poll()
            if len(self.bus.events) >= expected or time.monotonic() > deadline:
                return list(self.bus.events)
            time.sleep(0.1)

    def fault_plan(self) -> list[tuple[int, str]]:
        """(request count, fault) pairs: when the load has issued that many requests, inject it."""
        rng = random.Random(self.config.seed + 1)  # noqa: S311 - a fault schedule, not a secret
        kinds = [kind for kind, _ in self.config.fault_weights]
        weights = [weight for _, weight in self.config.fault_weights]
        chosen = kinds + rng.choices(kinds, weights, k=max(0, self.config.faults - len(kinds)))
        rng.shuffle(chosen)
        span = range(
            self.config.requests // 20, max(self.config.requests * 19 // 20, self.config.requests // 20 + 1)
        )
        at = sorted(rng.choices(span, k=len(chosen)))
        restarts = [
            (self.config.requests * (i + 1) // (self.config.restarts + 1), "restart")
            for i in range(self.config.restarts)
        ]
        return sorted([*zip(at, chosen, strict=True), *restarts])

    def chaos_monkey(self, stop: threading.Event, plan: list[tuple[int, str]]) -> None:
        pending = list(plan)
        while pending and not stop.wait(0.005):
            with self.issued_lock:
                issued = self.issued
            while pending and pending[0][0] <= issued:
                _, kind = pending.pop(0)
                self.planned[kind] += 1
                if kind == "restart":
                    self.restart()
                    continue
                with contextlib.suppress(psycopg.Error, RuntimeError):
                    self.inject(kind)

    # -- load --------------------------------------------------------------------------------------

    def take_ticket(self) -> bool:
        with self.issued_lock:
            if self.issued >= self.config.requests:
                return False
            self.issued += 1
            return True

    def record(self, outcome: Outcome) -> None:
        with self.outcomes_lock:
            self.outcomes.append(outcome)

    def worker(self, region: str, customer: _Customer, seed: int, deadline: float) -> None:
        rng = random.Random(seed)  # noqa: S311 - a load pattern, not a secret
        slot = _Slot(lambda: self.environment(region))
        self.slots.append(slot)
        while time.monotonic() < deadline and self.take_ticket():
            with customer.lock:
                placed = list(customer.placed)
            roll = rng.random()
            if placed and roll < 0.2:
                target = rng.choice(placed)
                self.cancel(slot, region, customer, target.order_id or "")
            elif placed and roll < 0.35:
                target = rng.choice(placed)
                self.order(slot, region, customer, target.lines, target.key or "", kind="replay")
            else:
                chosen = rng.sample(self.products, rng.randint(1, 3))
                lines = tuple((product, rng.randint(1, 3)) for product in sorted(chosen))
                self.order(slot, region, customer, lines, str(uuid.UUID(int=rng.getrandbits(128), version=4)))

    def order(
        self,
        slot: _Slot,
        region: str,
        customer: _Customer,
        lines: tuple[tuple[str, int], ...],
        key: str,
        *,
        kind: str = "order",
        phase: str = "load",
    ) -> Outcome:
        def call(env: Environment) -> Reply:
            return env.request(
                "POST",
                "/orders",
                order_body(list(lines)),
                claims=customer.claims,
                headers={"Idempotency-Key": key},
            )

        outcome = self._invoke(slot, call, kind, customer, key, None, lines, region, phase)
        if outcome.status == 201:
            with customer.lock:
                if not any(o.key == key for o in customer.placed):
                    customer.placed.append(outcome)
        return outcome

    def cancel(
        self, slot: _Slot, region: str, customer: _Customer, order_id: str, phase: str = "load"
    ) -> Outcome:
        def call(env: Environment) -> Reply:
            return env.request("POST", f"/orders/{order_id}/cancel", claims=customer.claims)

        return self._invoke(slot, call, "cancel", customer, None, order_id, (), region, phase)

    def _invoke(
        self,
        slot: _Slot,
        call: Callable[[Environment], Reply],
        kind: str,
        customer: _Customer,
        key: str | None,
        order_id: str | None,
        lines: tuple[tuple[str, int], ...],
        region: str,
        phase: str,
    ) -> Outcome:
        started = time.monotonic()
        reply = slot.invoke(call, self.config.function_timeout)
        seconds = time.monotonic() - started
        if reply is None:
            status, problem, killed = 504, "function-timeout", True
        else:
            status, problem, killed = reply.status, reply.problem_type, False
            if kind != "cancel" and status == 201:
                order_id = str(reply.body["order_id"])
        outcome = Outcome(
            kind,
            customer.index,
            key,
            order_id,
            lines,
            region,
            status,
            problem,
            started,
            seconds,
            killed,
            phase,
        )
        self.record(outcome)
        return outcome

    # -- after the load -----------------------------------------------------------------------------

    def quiesce(self, timeout: float = 15.0) -> None:
        """Wait until no shop session runs a statement (a killed client's transaction may linger)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self._admin(
                lambda conn: conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name LIKE %s AND state <> 'idle'",
                    (APP_PREFIX + "%",),
                ).fetchall()[0][0]
            )
            if not busy:
                return
            time.sleep(0.1)

    def resolve(self) -> None:
        """Faults off: what a client does with an unknown outcome — send the same request again."""
        slot = _Slot(lambda: self.environment(REGIONS[0]))
        by_key: dict[tuple[int, str], list[Outcome]] = {}
        for outcome in self.outcomes:
            if outcome.kind in ("order", "replay") and outcome.key:
                by_key.setdefault((outcome.customer, outcome.key), []).append(outcome)
        for (index, key), outcomes in sorted(by_key.items()):
            if all(o.unknown for o in outcomes):
                for _ in range(5):
                    settled = self.order(
                        slot, REGIONS[0], self.customers[index], outcomes[0].lines, key, phase="resolve"
                    )
                    if not settled.unknown:
                        break
        cancels: dict[tuple[int, str], list[Outcome]] = {}
        for outcome in self.outcomes:
            if outcome.kind == "cancel" and outcome.order_id:
                cancels.setdefault((outcome.customer, outcome.order_id), []).append(outcome)
        for (index, order_id), outcomes in sorted(cancels.items()):
            if all(o.unknown for o in outcomes):
                for _ in range(5):
                    if not self.cancel(slot, REGIONS[0], self.customers[index], order_id, "resolve").unknown:
                        break

    def close(self) -> None:
        with self.environments_lock:
            for env in self.environments:
                with contextlib.suppress(Exception):
                    env.close()
        for proxy in self.proxies.values():
            with contextlib.suppress(Exception):
                proxy.close()
        with contextlib.suppress(Exception):
            self.engine.stop()


# ---- checks --------------------------------------------------------------------------------------


def check_database(conn: psycopg.Connection[Any]) -> list[Invariant]:
    """The invariants that SQL alone decides."""
    checks = [
        (
            "stock + units sold - units restocked = initial stock, per product",
            """SELECT s.product_id FROM chaos.initial_stock AS s JOIN products AS p USING (product_id)
                WHERE p.stock_quantity
                    + coalesce((SELECT sum(b.quantity) FROM product_stock_buckets AS b
                                 WHERE b.product_id = s.product_id), 0)
                    + coalesce((SELECT sum(i.quantity) FROM order_items AS i
                                 WHERE i.product_id = s.product_id), 0)
                    - coalesce((SELECT sum(i.quantity) FROM order_items AS i JOIN orders AS o USING (order_id)
                                 WHERE i.product_id = s.product_id AND o.status = 'cancelled'), 0)
                    <> s.stock""",
        ),
        (
            "every order's total equals the sum of its items",
            """SELECT o.order_id FROM orders AS o
                WHERE o.total_amount <> (SELECT coalesce(sum(i.quantity * i.unit_price), 0)
                                           FROM order_items AS i WHERE i.order_id = o.order_id)""",
        ),
        (
            "no idempotency key maps to two orders (and every order has exactly one key)",
            """SELECT order_id FROM (
                   SELECT (r.response_body::json ->> 'order_id')::uuid AS order_id
                     FROM idempotency_records AS r
               ) AS k GROUP BY order_id HAVING count(*) > 1
               UNION ALL
               SELECT o.order_id FROM orders AS o WHERE NOT EXISTS (
                   SELECT 1 FROM idempotency_records AS r
                    WHERE (r.response_body::json ->> 'order_id')::uuid = o.order_id)
               UNION ALL
               SELECT (r.response_body::json ->> 'order_id')::uuid FROM idempotency_records AS r
                WHERE NOT EXISTS (SELECT 1 FROM orders AS o
                                   WHERE o.order_id = (r.response_body::json ->> 'order_id')::uuid)""",
        ),
        (
            "stock lives on the row or in the buckets, never both, and no bucket is below zero",
            """SELECT p.product_id FROM products AS p
                WHERE (coalesce(p.stock_buckets, 1) > 1 AND p.stock_quantity <> 0)
                   OR (coalesce(p.stock_buckets, 1) = 1
                       AND EXISTS (SELECT 1 FROM product_stock_buckets AS b
                                    WHERE b.product_id = p.product_id))
                   OR (coalesce(p.stock_buckets, 1) > 1
                       AND p.stock_buckets <> (SELECT count(*) FROM product_stock_buckets AS b
                                                WHERE b.product_id = p.product_id))
               UNION ALL
               SELECT b.product_id FROM product_stock_buckets AS b WHERE b.quantity < 0""",
        ),
        (
            "every idempotency record points at the order in its stored response (when it points)",
            """SELECT r.order_id FROM idempotency_records AS r
                WHERE r.order_id <> (r.response_body::json ->> 'order_id')::uuid""",
        ),
        (
            "no order without items",
            """SELECT o.order_id FROM orders AS o
                WHERE NOT EXISTS (SELECT 1 FROM order_items AS i WHERE i.order_id = o.order_id)""",
        ),
    ]
    results = []
    for name, query in checks:
        rows = conn.execute(query).fetchall()
        results.append(
            Invariant(name, not rows, f"{len(rows)} violation(s): {[str(r[0]) for r in rows[:5]]}")
        )
    return results


def check_events(
    conn: psycopg.Connection[Any], events: list[dict[str, Any]], failures: list[tuple[str, dict[str, Any]]]
) -> list[Invariant]:
    """The events the local bus received (docs/events.md): every committed order exactly one
    OrderPlaced, every cancelled one exactly one OrderCancelled, nothing for rolled-back work, and
    the bus saw each outbox row once."""
    orders = dict(conn.execute("SELECT order_id::text, status FROM orders").fetchall())
    outbox = {str(r[0]) for r in conn.execute("SELECT event_id FROM outbox").fetchall()}
    counts = Counter((e["detail"]["entityId"], e["detail-type"]) for e in events)
    placed_wrong = [o for o in orders if counts[(o, "OrderPlaced")] != 1]
    cancelled_wrong = [
        o
        for o, status in orders.items()
        if counts[(o, "OrderCancelled")] != (1 if status == "cancelled" else 0)
    ]
    phantom = sorted(
        {e["detail"]["entityId"] for e in events if e["detail-type"].startswith("Order")} - set(orders)
    )
    ids = [e["detail"]["eventId"] for e in events]
    duplicated = [i for i, n in Counter(ids).items() if n > 1]
    mismatched = sorted(outbox ^ set(ids))
    return [
        Invariant(
            "events: every committed order exactly one OrderPlaced",
            not placed_wrong,
            f"{len(placed_wrong)} violation(s): {placed_wrong[:5]}",
        ),
        Invariant(
            "events: every cancelled order exactly one OrderCancelled, other orders none",
            not cancelled_wrong,
            f"{len(cancelled_wrong)} violation(s): {cancelled_wrong[:5]}",
        ),
        Invariant(
            "events: nothing for rolled-back work",
            not phantom,
            f"{len(phantom)} event(s) of orders that do not exist: {phantom[:5]}",
        ),
        Invariant(
            "events: the bus saw every outbox row once and nothing else",
            not duplicated and not mismatched and not failures,
            f"{len(duplicated)} duplicated, {len(mismatched)} missing or extra, {len(failures)} failed: "
            f"{(duplicated + mismatched)[:5]} {[reason for reason, _ in failures[:3]]}",
        ),
    ]


def check_outcomes(conn: psycopg.Connection[Any], run: _Run) -> list[Invariant]:
    """Every answer a client saw agrees with the database."""
    records = {
        (str(scope), str(key)): str(json.loads(body)["order_id"])
        for scope, key, body in conn.execute(
            "SELECT scope, idempotency_key, response_body FROM idempotency_records"
        ).fetchall()
    }
    orders = {
        str(order_id): (str(customer_id), str(status))
        for order_id, customer_id, status in conn.execute("SELECT order_id, customer_id, status FROM orders")
    }
    items: dict[str, set[tuple[str, int]]] = {}
    for order_id, product_id, quantity in conn.execute(
        "SELECT order_id, product_id, quantity FROM order_items"
    ):
        items.setdefault(str(order_id), set()).add((str(product_id), int(quantity)))
    customer_ids = {
        str(subject): str(customer_id)
        for customer_id, subject in conn.execute("SELECT customer_id, identity_subject FROM customers")
    }
    problems: list[str] = []
    by_key: dict[tuple[int, str], list[Outcome]] = {}
    for outcome in run.outcomes:
        if outcome.kind in ("order", "replay") and outcome.key:
            by_key.setdefault((outcome.customer, outcome.key), []).append(outcome)
    for (index, key), outcomes in by_key.items():
        subject = subject_for(run.customers[index].email)
        recorded = records.get((f"POST /orders {subject}", key))
        created = {o.order_id for o in outcomes if o.status == 201}
        refused = [o for o in outcomes if o.status in (409, 422)]
        if len(created) > 1:
            problems.append(f"key {key}: 201s with different orders {sorted(map(str, created))}")
        for order_id in created:
            if recorded != order_id:
                problems.append(f"key {key}: 201 with {order_id}, database has {recorded}")
            elif order_id not in orders:
                problems.append(f"key {key}: 201 with {order_id}, no such order")
            else:
                if orders[order_id][0] != customer_ids.get(subject):
                    problems.append(f"order {order_id} belongs to another customer")
                if items.get(order_id) != set(outcomes[0].lines):
                    problems.append(
                        f"order {order_id}: items {items.get(order_id)} != request {outcomes[0].lines}"
                    )
        if refused and created:
            problems.append(f"key {key}: both {refused[0].status} and 201")
        if refused and not created and recorded is not None:
            problems.append(f"key {key}: answered {refused[0].status} but the database has order {recorded}")
        if all(o.unknown for o in outcomes):
            problems.append(f"key {key}: outcome still unknown after resolution")
    cancelled_asked = {o.order_id for o in run.outcomes if o.kind == "cancel"}
    for outcome in run.outcomes:
        if outcome.kind != "cancel" or outcome.unknown:
            continue
        state = orders.get(outcome.order_id or "")
        if outcome.status in (200, 409) and (state is None or state[1] != "cancelled"):
            problems.append(f"cancel of {outcome.order_id} answered {outcome.status}, order is {state}")
        elif outcome.status not in (200, 409):
            problems.append(f"cancel of {outcome.order_id} answered {outcome.status} {outcome.problem}")
    for order_id, (_, status) in orders.items():
        if status == "cancelled" and order_id not in cancelled_asked:
            problems.append(f"order {order_id} is cancelled but nobody asked")
    unexpected = [o for o in run.outcomes if o.status not in (200, 201, 409, 422) and not o.unknown]
    for outcome in unexpected[:5]:
        problems.append(f"{outcome.kind} answered {outcome.status} {outcome.problem}")
    return [
        Invariant(
            "every client-visible outcome is consistent with the database",
            not problems,
            f"{len(problems)} problem(s): {problems[:5]}",
        )
    ]


def check_deadlines(run: _Run) -> tuple[Invariant, dict[str, Any]]:
    bound = run.config.function_timeout + ANSWER_GRACE
    slowest = max((o.seconds for o in run.outcomes), default=0.0)
    late = [o for o in run.outcomes if o.seconds > bound]
    hung = sum(slot.hung for slot in run.slots)
    killed = sum(slot.killed for slot in run.slots)
    within = [o for o in run.outcomes if not o.killed]
    handler_deadline = run.config.function_timeout - 1.0
    details = {
        "function_timeout_seconds": run.config.function_timeout,
        "handler_deadline_seconds": handler_deadline,
        "bound_seconds": bound,
        "slowest_answer_seconds": round(slowest, 3),
        "answered_by_the_function": len(within),
        "slowest_function_answer_seconds": round(max((o.seconds for o in within), default=0.0), 3),
        "killed_at_the_function_timeout": killed,
        "hung_after_kill": hung,
    }
    # The data layer cuts a database wait at the handler's deadline, so the function answers every
    # request itself (503 with Retry-After at worst): an invocation Lambda had to kill is a failure.
    holds = not late and hung == 0 and killed == 0
    detail = (
        f"slowest answer {slowest:.2f} s (bound {bound:.1f} s); {len(late)} late; "
        f"{killed} killed at the function timeout; {hung} hung after kill"
    )
    return Invariant("no request hung past its deadline", holds, detail), details


# ---- the run ---------------------------------------------------------------------------------------


def run_chaos(config: ChaosConfig, *, progress: Callable[[str], None] | None = None) -> ChaosReport:
    say = progress or (lambda message: None)
    started = time.monotonic()
    directory = Path(tempfile.mkdtemp(prefix="ecommerce-chaos-"))
    run: _Run | None = None
    try:
        with quiet_handlers() as sink:
            run = _Run(config, directory)
            say(f"load: {config.requests} requests, {2 * config.workers_per_region} workers, faults on")
            run.set_server_faults(True)
            stop = threading.Event()
            monkey = threading.Thread(target=run.chaos_monkey, args=(stop, run.fault_plan()), daemon=True)
            monkey.start()
            deadline = time.monotonic() + config.max_seconds
            workers = [
                threading.Thread(
                    target=run.worker,
                    args=(region, run.customers[index], config.seed * 100 + n, deadline),
                    daemon=True,
                )
                for n, (index, region) in enumerate(
                    (index, region) for index in range(config.workers_per_region) for region in REGIONS
                )
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(config.max_seconds + config.function_timeout + KILL_GRACE + 30)
            stop.set()
            monkey.join(60)
            say(f"load done: {len(run.outcomes)} requests; faults off, resolving unknown outcomes")
            run.set_server_faults(False)
            for proxy in run.proxies.values():
                proxy.clear_faults()
            run.quiesce()
            faults = _fault_counts(run)
            run.resolve()
            run.quiesce()
            events = run.drain_events()
            with psycopg.connect(run.dsn, autocommit=True) as conn:
                invariants = check_database(conn)
                invariants += check_outcomes(conn, run)
                invariants += check_events(conn, events, run.event_failures.sent)
                database = _database_counts(conn)
            deadline_invariant, deadline_details = check_deadlines(run)
            invariants.append(deadline_invariant)
            retries = _retry_counts(run)
            output_lines = sink.lines
        return ChaosReport(
            config=asdict(config),
            seconds=round(time.monotonic() - started, 1),
            requests=_request_counts(run),
            faults=faults,
            retries=retries,
            deadline=deadline_details,
            invariants=invariants,
            database=database,
            handler_output_lines=output_lines,
        )
    finally:
        if run is not None:
            run.close()
        shutil.rmtree(directory, ignore_errors=True)


def _fault_counts(run: _Run) -> dict[str, int]:
    counts: Counter[str] = Counter({k: v for k, v in run.faults.items() if not k.endswith("_armed")})
    for proxy in run.proxies.values():
        proxy_faults = proxy.stats()["faults"]
        counts["stall"] += int(proxy_faults.get("stalled", 0))
        counts["commit_lost"] += int(proxy_faults.get("cut_after_forward", 0))
    with psycopg.connect(run.dsn, autocommit=True) as conn:
        row = conn.execute(INJECTED).fetchone()
    assert row is not None
    counts["40001_statement"], counts["XX000_statement"], counts["40001_commit"], counts["XX000_commit"] = (
        int(value) for value in row
    )
    order = ("terminate", "cut", "commit_lost", "stall", "restart")
    return {name: counts[name] for name in (*order, *sorted(set(counts) - set(order)))}


def _retry_counts(run: _Run) -> dict[str, float]:
    totals: Counter[str] = Counter()
    with run.environments_lock:
        for env in run.environments:
            for database in env.databases():
                for name, value in database.stats.as_dict().items():
                    totals[name] += value
    keys = ("units", "attempts", "retries", "conflicts", "unavailable", "connection_failures", "exhausted")
    result: dict[str, float] = {name: totals[name] for name in (*keys, "connections_opened")}
    result["backoff_seconds"] = round(totals["backoff_seconds"], 2)
    return result


def _request_counts(run: _Run) -> dict[str, Any]:
    by_kind: dict[str, Counter[str]] = {}
    for outcome in run.outcomes:
        label = f"{outcome.status}" + (f" {outcome.problem}" if outcome.problem else "")
        by_kind.setdefault(f"{outcome.kind} ({outcome.phase})", Counter())[label] += 1
    return {
        "total": len(run.outcomes),
        "load": sum(1 for o in run.outcomes if o.phase == "load"),
        "resolution": sum(1 for o in run.outcomes if o.phase == "resolve"),
        "outcomes": {kind: dict(sorted(counts.items())) for kind, counts in sorted(by_kind.items())},
    }


def _database_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    row = conn.execute(
        "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM orders WHERE status = 'cancelled'),"
        " (SELECT count(*) FROM idempotency_records), (SELECT coalesce(sum(quantity), 0) FROM order_items)"
    ).fetchone()
    assert row is not None
    return dict(
        zip(("orders", "cancelled", "idempotency_records", "units_ordered"), map(int, row), strict=True)
    )


@contextlib.contextmanager
def _stderr_progress() -> Iterator[Callable[[str], None]]:
    started = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] chaos  {message}", file=sys.stderr, flush=True)

    yield say


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--large", action="store_true", help="the make chaos run (default: the small one)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, help="override the number of load requests")
    parser.add_argument("--json", type=Path, help="write the report here (and a timestamped copy beside it)")
    args = parser.parse_args(argv)
    config = ChaosConfig.large(args.seed) if args.large else ChaosConfig.small(args.seed)
    if args.requests:
        config = replace(config, requests=args.requests)
    with _stderr_progress() as say:
        report = run_chaos(config, progress=say)
    data = report.as_dict()
    data["command"] = "make chaos" if args.large else "python -m bench.chaos"
    data["generated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    text = json.dumps(data, indent=2) + "\n"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        args.json.with_name(f"chaos-{stamp}.json").write_text(text)
    for invariant in report.invariants:
        print(f"{'ok  ' if invariant.holds else 'FAIL'} {invariant.name}: {invariant.detail}")
    print(f"requests {report.requests['total']}, faults {report.faults}, {report.seconds} s")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
