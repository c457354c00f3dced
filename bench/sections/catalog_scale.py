"""Section ``catalog_scale``: the first and a deep-cursor catalog page at 1k, 100k and 1M products, as
ratios to 1k, beside the REFERENCE's unpaginated catalog until that becomes absurd.

One database per size (loaded with ``ecommerce_dev.catalog_seed``: COPY locally), so that the sizes
are measured interleaved, round after round, rather than one after the other. The deep page is the
one whose cursor points 2 pages before the oldest product: the keyset index must skip almost the
whole catalog to reach it (OFFSET would read it all).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import psycopg

from bench.common import Lab, Progress, interleaved, ratio, summary, timed
from bench.reference import Reference
from ecommerce_dev import catalog_seed
from ecommerce_dev.invoker import Environment, plain_connector
from handlers.shop.domain import encode_cursor

PAGE = 20
#: Lambda's synchronous response payload limit: beyond it the recipe's catalog cannot even answer.
LAMBDA_RESPONSE_LIMIT = 6 * 2**20
#: A single request slower than this is no catalog page any more.
ABSURD_SECONDS = 1.0


def deep_cursor(count: int) -> str:
    """The cursor after position ``count - 2*PAGE - 1``: the page it opens is 2 pages before the end."""
    n = catalog_seed.position_of(count - 2 * PAGE - 1, count)  # the mapping is its own inverse
    return encode_cursor(catalog_seed.created_at(n), catalog_seed.product_id(n), None)


def run(
    lab: Lab,
    progress: Progress,
    *,
    sizes: Sequence[int] = (1_000, 100_000, 1_000_000),
    rounds: int = 30,
    reference_rounds: int = 5,
    rtt_ms: float = 0.0,
) -> dict[str, Any]:
    shops: dict[int, Environment] = {}
    references: dict[int, Reference] = {}
    load_seconds: dict[int, float] = {}
    for size in sizes:
        dsn = lab.database(f"bench_catalog_{size}", sample_data=False)
        progress.say(f"loading {size:,} products (COPY)")
        result = catalog_seed.seed_products(functools.partial(psycopg.connect, dsn), size)
        load_seconds[size] = round(result.seconds, 2)
        proxy = lab.proxy(dsn)
        proxy.set_rtt_ms(rtt_ms)
        shops[size] = Environment(plain_connector(proxy.dsn, application_name="bench-catalog"))
        references[size] = Reference(proxy.dsn)

    def page(size: int, cursor: str | None) -> float:
        query = {"limit": str(PAGE), **({"cursor": cursor} if cursor else {})}
        reply = shops[size].request("GET", "/products", query=query)
        if reply.status != 200 or len(reply.body["products"]) != PAGE:
            raise AssertionError(f"catalog of {size}: {reply.status} {reply.body}")
        return reply.seconds * 1000

    cursors = {size: deep_cursor(size) for size in sizes}
    for size in sizes:  # warm, and past psycopg's prepare threshold
        for _ in range(3):
            page(size, None)
            page(size, cursors[size])
    # The reference, size after size, until it is absurd: one pilot request decides whether to go on.
    measured_reference: list[int] = []
    stopped: dict[str, Any] | None = None
    body_bytes: dict[int, int] = {}
    pilot_ms: dict[int, float] = {}
    for size in sizes:
        elapsed, body = timed(references[size].catalog)
        body_bytes[size], pilot_ms[size] = len(body.encode()), elapsed
        measured_reference.append(size)
        progress.say(f"reference pilot at {size:,}: {elapsed:.0f} ms, {len(body) / 2**20:.1f} MiB")
        if body_bytes[size] > LAMBDA_RESPONSE_LIMIT or elapsed > ABSURD_SECONDS * 1000:
            later = [s for s in sizes if s > size]
            stopped = {
                "after_size": size,
                "skipped_sizes": later,
                "reason": (
                    f"at {size:,} products one response is {body_bytes[size] / 2**20:.1f} MiB "
                    f"(Lambda's synchronous response limit is 6 MiB) and took {elapsed / 1000:.1f} s"
                ),
            }
            break
    samples: dict[tuple[str, int], list[float]] = defaultdict(list)
    arms = [("first page", size) for size in sizes] + [("deep page", size) for size in sizes]
    total = rounds * len(arms)
    for done, (_, (kind, size)) in enumerate(interleaved(rounds, arms, seed=11), start=1):
        samples[(kind, size)].append(page(size, None if kind == "first page" else cursors[size]))
        if done % max(1, total // 5) == 0:
            progress.say(f"{done}/{total} page samples")
    reference_arms = [("reference, unpaginated", size) for size in measured_reference]
    for _, (kind, size) in interleaved(reference_rounds, reference_arms, seed=13):
        samples[(kind, size)].append(timed(references[size].catalog)[0])
    progress.say("reference samples done")
    for shop in shops.values():
        shop.close()
    base = sizes[0]
    rows = []
    for kind in ("first page", "deep page", "reference, unpaginated"):
        for size in sizes:
            if (kind, size) not in samples:
                continue
            stats = summary(samples[(kind, size)])
            row: dict[str, Any] = {"operation": kind, "products": size, **stats}
            row["ratio_to_smallest"] = ratio(stats["p50"], summary(samples[(kind, base)])["p50"])
            if kind.startswith("reference"):
                row["response_bytes"] = body_bytes[size]
            rows.append(row)
    return {
        "description": f"p50 of a catalog page ({PAGE} products, newest first) through the shop's handler, "
        "at "
        "each catalog size, and the reference's whole-catalog answer; ratios to the smallest size",
        "unit": "ms",
        "rtt_ms": rtt_ms,
        "page_size": PAGE,
        "samples_per_cell": rounds,
        "reference_samples_per_cell": reference_rounds,
        "deep_page": "the cursor points 2 pages before the oldest product",
        "load_seconds": {str(size): seconds for size, seconds in load_seconds.items()},
        "load_method": "ecommerce_dev.catalog_seed, COPY in chunks of 100,000 rows, then ANALYZE",
        "reference_stopped": stopped,
        "rows": rows,
    }
