"""The benchmark harness: exact round trips on both arms, the latency proxy, the reference's flow,
and a smoke run of every measuring section. Structure and correctness only: no test here asserts
how fast anything is."""

from __future__ import annotations

import contextlib
import json
import runpy
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bench.latency import LatencyProxy, ProxyProcess, commit_offset

from ecommerce_dev.engine import LocalEngine
from ecommerce_dev.identity import LocalIdentity
from handlers.db.sample import JOHN

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is a top-level package of the repository, not of src/
    sys.path.insert(0, str(ROOT))

from bench import run as bench_run  # noqa: E402
from bench.common import CONNECT_ROUND_TRIPS, Lab, Progress, interleaved, percentile, summary  # noqa: E402
from bench.reference import OutOfStock, Reference  # noqa: E402
from bench.sections import cold_start, round_trips  # noqa: E402


@pytest.fixture(scope="module")
def lab(local_engine: LocalEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    directory = tmp_path_factory.mktemp("lab")
    lab = Lab(local_engine, directory, LocalIdentity.open(directory))
    yield lab
    for proxy in lab.proxies:
        proxy.close()


# ---- statistics and scheduling ------------------------------------------------------------------


def test_percentiles_interpolate_like_numpy() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.5) == statistics.median(samples)
    assert percentile(samples, 0.99) == pytest.approx(99.01)
    assert summary([3.0, 1.0, 2.0]) == {"n": 3, "p50": 2.0, "p99": 2.98, "min": 1.0, "max": 3.0, "iqr": 1.0}


def test_interleaving_visits_every_arm_once_per_round_in_varying_order() -> None:
    arms = ["a", "b", "c", "d"]
    visits = list(interleaved(6, arms))
    rounds = [[arm for index, arm in visits if index == r] for r in range(6)]
    assert all(sorted(r) == arms for r in rounds)
    assert len({tuple(r) for r in rounds}) > 1


# ---- the latency proxy --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [LatencyProxy, ProxyProcess])
def test_proxy_counts_round_trips_and_charges_new_connections(
    shop_dsn: str, kind: type[LatencyProxy]
) -> None:
    with kind(shop_dsn, connect_round_trips=3) as proxy:
        conn = psycopg.connect(proxy.dsn, autocommit=True)
        assert proxy.round_trips == 3 + 1  # modelled handshakes + the startup exchange
        proxy.reset()
        conn.execute("SELECT 1").fetchone()
        assert proxy.round_trips == 1
        proxy.reset()
        with conn.pipeline():
            conn.execute("BEGIN")
            conn.execute("SELECT 1")
            conn.execute("COMMIT")
        assert proxy.round_trips == 1
        conn.close()


def test_proxy_never_delivers_before_the_delay(shop_dsn: str) -> None:
    """A lower bound of the mechanism (bytes wait their delay each way), not a performance claim."""
    with LatencyProxy(shop_dsn) as proxy, psycopg.connect(proxy.dsn, autocommit=True) as conn:
        proxy.set_rtt_ms(20)
        started = time.monotonic()
        conn.execute("SELECT 1").fetchone()
        assert time.monotonic() - started >= 0.020
        assert proxy.one_way_delay == pytest.approx(0.010)


def test_commit_model_holds_the_commit_and_the_locks_not_the_reads(shop_dsn: str) -> None:
    """The commit-cost model: a transaction's COMMIT reaches the server ``commit_delay`` late, so its
    row stays locked that long (a hot row); reads and the pipeline's other statements are not held,
    and a pipelined unit is still one round trip."""
    from bench.common import new_products

    assert commit_offset(b"B....Q\x00\x00\x00\x0bCOMMIT\x00") == 5
    assert commit_offset(b"Q\x00\x00\x00\x0fSELECT 'COMMIT'\x00") == -1
    product = new_products(shop_dsn, 1, stock=10)[0]
    with (
        LatencyProxy(shop_dsn, commit_delay=0.3) as proxy,
        psycopg.connect(proxy.dsn, autocommit=True) as conn,
    ):
        started = time.monotonic()
        conn.execute("SELECT 1").fetchone()
        assert time.monotonic() - started < 0.25  # no COMMIT, not held
        released: list[float] = []

        def rival() -> None:
            with psycopg.connect(shop_dsn, autocommit=True) as direct:
                time.sleep(0.1)  # the proxied transaction holds the row by now
                # Waits for the row lock; then updates, or (REPEATABLE READ) fails with 40001.
                with contextlib.suppress(psycopg.Error):
                    direct.execute(
                        "UPDATE products SET stock_quantity = stock_quantity - 1 WHERE product_id = %s",
                        (product,),
                    )
                released.append(time.monotonic())

        thread = threading.Thread(target=rival)
        proxy.reset()
        started = time.monotonic()
        thread.start()
        with conn.pipeline():
            conn.execute("BEGIN")
            conn.execute(
                "UPDATE products SET stock_quantity = stock_quantity - 1 WHERE product_id = %s", (product,)
            )
            conn.execute("COMMIT")
        committed = time.monotonic()
        thread.join()
        assert committed - started >= 0.3
        assert released[0] - started >= 0.28  # the rival waited for the held COMMIT
        assert proxy.round_trips == 1
        assert proxy.stats()["commits_held"] == 1
        proxy.set_commit_ms(0)
        assert proxy.commit_delay == 0


# ---- exact round trips of both arms -------------------------------------------------------------


def test_round_trips_of_every_operation_are_exact(lab: Lab, shop_dsn: str) -> None:
    proxy = lab.proxy(shop_dsn)
    ops, shop = round_trips.operations(lab, shop_dsn, proxy.dsn, (1, 10, 50))
    for op in ops:
        for _ in range(round_trips.WARMUP if op.arm == "shop" else 1):
            op.act(op.prepare())
    counts: dict[tuple[str, str], set[int]] = {}
    for _ in range(2):
        for op in ops:
            prepared = op.prepare()
            proxy.reset()
            op.act(prepared)
            counts.setdefault((op.name, op.arm), set()).add(proxy.round_trips)
    shop.close()
    new_connection = CONNECT_ROUND_TRIPS + 1  # modelled handshakes + startup
    assert counts == {
        ("catalog", "shop"): {1},
        ("product by id", "shop"): {1},
        ("order, 1 line", "shop"): {1},
        ("order, 10 lines", "shop"): {1},
        ("order, 50 lines", "shop"): {1},
        # The record and its order are read in the order's own pipeline (issue 24; before: 4-5).
        ("idempotent replay", "shop"): {1},
        ("cancel", "shop"): {1},
        ("catalog", "reference"): {new_connection + 1},
        ("product by id", "reference"): {new_connection + 1},
        # BEGIN, customer, order, 3 per line, total, COMMIT.
        ("order, 1 line", "reference"): {new_connection + 5 + 3 * 1},
        ("order, 10 lines", "reference"): {new_connection + 5 + 3 * 10},
        ("order, 50 lines", "reference"): {new_connection + 5 + 3 * 50},
    }


# ---- the reference is the recipe's flow, and correct ------------------------------------------------


def test_reference_order_is_complete_and_consistent(lab: Lab, shop_dsn: str) -> None:
    from bench.common import new_products

    products = new_products(shop_dsn, 2, stock=5, price="2.50")
    reference = Reference(shop_dsn)
    assert reference.token().startswith("reference0000000000000000a.dsql.us-east-1.on.aws")
    placed = reference.place_order(JOHN, [(products[0], 2), (products[1], 1)])
    with psycopg.connect(shop_dsn) as conn:
        order = conn.execute(
            "SELECT status, total_amount FROM orders WHERE order_id = %s", (placed["order_id"],)
        ).fetchone()
        stock = conn.execute(
            "SELECT stock_quantity FROM products WHERE product_id = ANY(%s::uuid[]) ORDER BY stock_quantity",
            (products,),
        ).fetchall()
    assert order == ("confirmed", Decimal("7.50"))
    assert [row[0] for row in stock] == [3, 4]
    with pytest.raises(OutOfStock):
        reference.place_order(JOHN, [(products[1], 1), (products[0], 4)])
    with psycopg.connect(shop_dsn) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM order_items WHERE product_id = ANY(%s::uuid[])", (products,)
        ).fetchone()
    assert rows == (2,)  # the failed order rolled back entirely
    catalog = json.loads(reference.catalog())["products"]
    created = [p["created_at"] for p in catalog]
    assert created == sorted(created, reverse=True)
    assert reference.get_product(products[0])["stock_quantity"] == 3  # type: ignore[index]


# ---- the harness end to end -------------------------------------------------------------------------


def test_smoke_run_writes_every_measured_section(tmp_path: Path) -> None:
    """Seconds, not minutes: the shape of the results, the exact counts, the plots, the summary."""
    assert (
        bench_run.main(
            [
                "--smoke",
                "--sections",
                "round_trips,catalog_scale,contention,hot_product",
                "--out",
                str(tmp_path),
                "--plots",
                str(tmp_path),
                "--no-report",
            ]
        )
        == 0
    )
    data = json.loads((tmp_path / "latest.json").read_text())
    assert data["mode"] == "smoke"
    assert data["sections_measured"] == [
        "round_trips",
        "latency_ms",
        "catalog_scale",
        "contention",
        "hot_product",
    ]
    assert {"cpu", "cores", "python", "postgresql", "load_average_1m_at_end"} <= set(data["machine"])
    trips = {row["operation"]: row for row in data["round_trips"]["operations"]}
    assert trips["order, 10 lines"]["shop"] == 1
    assert trips["order, 10 lines"]["reference"] == CONNECT_ROUND_TRIPS + 1 + 5 + 30
    assert data["latency_ms"]["unit"] == "ms"
    cells = {(row["operation"], row["rtt_ms"]) for row in data["latency_ms"]["operations"]}
    assert ("order, 1 line", 1) in cells
    assert all(row["shop"]["n"] == 1 for row in data["latency_ms"]["operations"])
    scale = data["catalog_scale"]
    assert {(row["operation"], row["products"]) for row in scale["rows"]} >= {
        ("first page", 200),
        ("deep page", 2_000),
        ("reference, unpaginated", 2_000),
    }
    assert all(row["units_exact"] for row in data["contention"]["rows"])
    assert {row["scenario"] for row in data["contention"]["rows"]} == {"hot", "spread"}
    hot = data["hot_product"]
    assert {(row["buckets"], row["buyers"]) for row in hot["rows"]} == {(1, 2), (4, 2), (None, 2)}
    assert [row["layout"] for row in hot["rows"] if row["draw_per_attempt"]] == [
        "4 buckets, a draw per attempt"
    ]
    assert all(row["units_exact"] for row in hot["rows"])
    assert all(row["status_503"] == 0 for row in hot["rows"])
    assert {row["units_sold"] for row in hot["rows"] if row["buckets"]} == {6}  # 3/4 of 8, sold out
    assert hot["goal"]["met"] in (True, False)  # every cell measured (the numbers are the machine's)
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "hot_product.png",
        "latency.png",
        "round_trips.png",
        "catalog_scale.png",
        "contention.png",
    }
    assert len(list(tmp_path.glob("20*.json"))) == 1  # the timestamped copy


def test_smoke_needs_its_own_output_directory() -> None:
    with pytest.raises(SystemExit):
        bench_run.main(["--smoke"])


def test_deep_cursor_opens_the_page_two_before_the_end(lab: Lab) -> None:
    from ecommerce_dev import catalog_seed
    from ecommerce_dev.invoker import Environment, plain_connector

    dsn = lab.database("bench_deep_cursor", sample_data=False)
    catalog_seed.seed_products(lambda: psycopg.connect(dsn), 100)
    env = Environment(plain_connector(dsn))
    try:
        reply = env.request("GET", "/products", query={"limit": "20", "cursor": _deep(100)})
    finally:
        env.close()
    names = [p["name"] for p in reply.body["products"]]
    # Newest first: positions 60..79 of 100 are products 39 down to 20; one more page follows.
    assert names == [catalog_seed.name(n) for n in range(39, 19, -1)]
    assert reply.body["next_cursor"]


def _deep(count: int) -> str:
    from bench.sections import catalog_scale

    return catalog_scale.deep_cursor(count)


def test_synth_wrapper_turns_bundling_off_in_the_cli_context(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setenv("CDK_CONTEXT_JSON", json.dumps({"aws:cdk:bundling-stacks": ["**"], "keep": 1}))
    monkeypatch.delenv("CONTEXT_OVERFLOW_LOCATION_ENV", raising=False)
    monkeypatch.setattr(runpy, "run_path", lambda path, run_name: seen.update(path=path, run_name=run_name))
    from bench import synth_no_bundling

    monkeypatch.chdir(Path.cwd())
    synth_no_bundling.main()
    import os

    assert json.loads(os.environ["CDK_CONTEXT_JSON"]) == {"aws:cdk:bundling-stacks": [], "keep": 1}
    assert seen == {"path": str(synth_no_bundling.APP), "run_name": "__main__"}


def test_bundle_size_counts_files_and_zips_them(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n" * 1000)
    sizes = cold_start.size(tmp_path)
    assert sizes["unzipped_bytes"] == 6000
    assert 0 < sizes["zipped_bytes"] < 6000


def test_progress_goes_to_the_given_stream(tmp_path: Path) -> None:
    log = tmp_path / "progress.txt"
    with log.open("w") as stream:
        progress = Progress(stream)
        progress.begin("section", "detail")
        progress.say("step")
    assert "section" in log.read_text() and "step" in log.read_text()


# ---- the first wave's handlers as the cold-start baseline ---------------------------------------


def _git(repo: Path, *args: str) -> str:
    import subprocess

    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={**env, "PATH": "/usr/bin:/bin"},
    ).stdout.strip()


def test_first_wave_bundle_swaps_in_the_old_handlers_and_leaves_their_tools_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    for name in ("__init__.py", "db/migrate.py", "tools/devserver.py"):
        (repo / "src" / "handlers" / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / "src" / "handlers" / name).write_text("OLD = True\n")
    _git(repo.parent, "init", "-q", str(repo))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "first wave")
    compiled = tmp_path / "compiled"
    (compiled / "handlers").mkdir(parents=True)
    (compiled / "handlers" / "new.py").write_text("NEW = True\n")
    (compiled / "psycopg").mkdir()
    (compiled / "psycopg" / "__init__.py").write_text("")
    monkeypatch.setattr(cold_start, "REPO", repo)
    monkeypatch.setattr(cold_start, "FIRST_WAVE", _git(repo, "rev-parse", "HEAD"))
    (tmp_path / "scratch").mkdir()

    target = cold_start.first_wave_bundle(tmp_path / "scratch", compiled, sys.executable)

    assert isinstance(target, Path)
    files = {p.relative_to(target).as_posix() for p in target.rglob("*.py")}
    assert files == {"handlers/__init__.py", "handlers/db/migrate.py", "psycopg/__init__.py"}
    assert list((target / "handlers").glob("__pycache__/*.pyc"))  # compiled like ours


def test_first_wave_bundle_says_why_it_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cold_start, "FIRST_WAVE", "0" * 40)
    reason = cold_start.first_wave_bundle(tmp_path, tmp_path, sys.executable)
    assert isinstance(reason, str) and "not in this clone" in reason
    monkeypatch.setattr(cold_start, "REPO", tmp_path)
    assert cold_start.first_wave_bundle(tmp_path, tmp_path, sys.executable) == "not a git checkout"


def test_the_projection_uses_the_less_flattering_ratio() -> None:
    samples = {("with_bytecode", m): [100.0, 120.0, 130.0] for m in cold_start.HANDLER_MODULES} | {
        ("first_wave", m): [80.0, 150.0, 160.0] for m in cold_start.HANDLER_MODULES
    }
    baseline = {m: summary(samples[("first_wave", m)], 1) for m in cold_start.HANDLER_MODULES}
    result = cold_start._against_first_wave(samples, baseline)
    catalog = "handlers.api.catalog"
    assert result["ratio_to_first_wave"][catalog] == {"p50": 0.8, "min": 1.25}
    assert result["projected_on_issue_machine_ms"][catalog] == 212.5  # 170 x 1.25, not 170 x 0.8
    assert result["target_on_this_machine_ms"][catalog] == round(200 * 150 / 170, 1)
