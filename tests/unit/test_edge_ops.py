"""Edge operations: the drain-state protocol (handlers.infra.edge_state), the scheduled health checker
(handlers.infra.edge_health) and the `ecommerce edge` commands (ecommerce_ops.edge).

KVS traffic goes through real boto3 clients answered by tests/fakes/keyvaluestore.py. No test sleeps:
retries, probe spacing and the clock are injected.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.regions
import pytest
import yaml
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from click.testing import CliRunner, Result

from ecommerce_ops import edge as cli
from fakes.keyvaluestore import FakeKeyValueStore
from handlers.contract import Output
from handlers.infra import edge_health, edge_state
from handlers.infra.edge_health import Checker, HttpAnswer, OriginSecret, Settings, Target

ROOT = Path(__file__).resolve().parents[2]
E1, E2, W2 = "us-east-1", "us-east-2", "us-west-2"
REGIONS = [E1, E2]
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ecommerce-origin-AbCdEf"
HEADER = "X-Origin-Verify"


@dataclass
class Sleeps:
    """An injected sleeper that records the delays (and can drive a fake clock)."""

    delays: list[float] = field(default_factory=list)
    clock: list[float] = field(default_factory=lambda: [0.0])

    def __call__(self, seconds: float) -> None:
        assert seconds >= 0
        self.delays.append(seconds)
        self.clock[0] += seconds

    def now(self) -> float:
        return self.clock[0]


def no_jitter_retry(sleeps: Sleeps, attempts: int = 8) -> edge_state.Retry:
    return edge_state.Retry(attempts=attempts, sleep=sleeps, jitter=lambda: 1.0)


@pytest.fixture
def fake() -> FakeKeyValueStore:
    return FakeKeyValueStore()


@pytest.fixture
def arn(fake: FakeKeyValueStore) -> str:
    return fake.create_store()


def put(fake: FakeKeyValueStore, arn: str, key: str, value: str) -> None:
    fake.client().put_key(KvsARN=arn, Key=key, Value=value, IfMatch=fake.etag(arn))


def drain_other(fake: FakeKeyValueStore, arn: str, region: str) -> Callable[[], object]:
    """Another writer's complete drain, to run in between our describe and our write."""
    return lambda: edge_state.drain(fake.client(), arn, region, [E1, E2, W2], allow_last=True)


# =========================================================================================== state
def test_read_state_follows_the_routers_rule(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store(
        {"drained:us-east-1": " TRUE ", "drained:us-east-2": "false", "drained:us-west-2": "yes", "x": "true"}
    )
    state = edge_state.read_state(fake.client(), arn, [E1, E2, W2, "eu-west-1"])
    assert state == {E1: True, E2: False, W2: False, "eu-west-1": False}


def test_read_state_reads_every_page(fake: FakeKeyValueStore) -> None:
    items = {f"aaa-{i:03d}": "x" for i in range(120)} | {"drained:us-east-2": "true"}
    arn = fake.create_store(items)
    assert edge_state.read_state(fake.client(), arn, REGIONS) == {E1: False, E2: True}
    assert fake.operations().count("ListKeys") == 3  # 50 keys per page


def test_drain_writes_the_key_with_the_etag_it_read_first(fake: FakeKeyValueStore, arn: str) -> None:
    etag = fake.etag(arn)
    change = edge_state.drain(fake.client(), arn, E2, REGIONS)
    assert change == edge_state.Change(E2, drained=True, changed=True, attempts=1)
    assert fake.items(arn) == {"drained:us-east-2": "true"}
    assert fake.operations() == ["DescribeKeyValueStore", "ListKeys", "PutKey"]
    assert fake.calls[-1].params["IfMatch"] == etag


def test_draining_a_drained_region_writes_nothing(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store({"drained:us-east-2": "True"})
    change = edge_state.drain(fake.client(), arn, E2, REGIONS)
    assert (change.changed, change.drained) == (False, True)
    assert "PutKey" not in fake.operations()


def test_the_last_serving_region_is_never_drained(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store({"drained:us-east-2": "true"})
    with pytest.raises(edge_state.LastServingRegionError) as info:
        edge_state.drain(fake.client(), arn, E1, REGIONS)
    message = str(info.value)
    assert "us-east-1" in message
    assert "last serving region" in message
    assert "restore another region first" in message
    assert "--force" in message
    assert fake.items(arn) == {"drained:us-east-2": "true"}
    assert "PutKey" not in fake.operations()


def test_allow_last_drains_the_last_serving_region(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store({"drained:us-east-2": "true"})
    assert edge_state.drain(fake.client(), arn, E1, REGIONS, allow_last=True).changed
    assert edge_state.read_state(fake.client(), arn, REGIONS) == {E1: True, E2: True}


def test_a_single_region_edge_cannot_drain_its_region(fake: FakeKeyValueStore, arn: str) -> None:
    with pytest.raises(edge_state.LastServingRegionError):
        edge_state.drain(fake.client(), arn, E1, [E1])


def test_unknown_regions_and_malformed_arns_fail_before_any_call(fake: FakeKeyValueStore, arn: str) -> None:
    with pytest.raises(edge_state.UnknownRegionError, match="eu-west-1 is not one of the edge's regions"):
        edge_state.drain(fake.client(), arn, "eu-west-1", REGIONS)
    with pytest.raises(edge_state.InvalidStoreArnError, match="EdgeDrainStoreArn"):
        edge_state.read_state(fake.client(), "arn:aws:cloudfront::123456789012:distribution/E1", REGIONS)
    with pytest.raises(edge_state.InvalidStoreArnError):
        edge_state.restore(fake.client(), "", E1)
    with pytest.raises(edge_state.UnknownRegionError):
        edge_state.restore(fake.client(), arn, "")
    assert fake.calls == []


def test_restore_deletes_the_drain_key_with_the_etag(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store({"drained:us-east-2": "true", "other": "kept"})
    etag = fake.etag(arn)
    change = edge_state.restore(fake.client(), arn, E2)
    assert change == edge_state.Change(E2, drained=False, changed=True, attempts=1)
    assert fake.items(arn) == {"other": "kept"}
    assert fake.calls[-1].operation == "DeleteKey"
    assert fake.calls[-1].params["IfMatch"] == etag


@pytest.mark.parametrize("items", [{}, {"drained:us-east-2": "false"}, {"drained:us-east-1": "true"}])
def test_restoring_a_serving_region_is_a_no_op(fake: FakeKeyValueStore, items: dict[str, str]) -> None:
    arn = fake.create_store(items)
    change = edge_state.restore(fake.client(), arn, E2)
    assert (change.changed, change.drained) == (False, False)
    assert fake.items(arn) == items
    assert "DeleteKey" not in fake.operations()


def test_restore_treats_a_key_deleted_under_it_as_done(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store({"drained:us-east-2": "true"})
    fake.inject("DeleteKey", "ResourceNotFoundException", message="Key drained:us-east-2 not found")
    assert edge_state.restore(fake.client(), arn, E2).changed is False


# ----------------------------------------------------------------------------- ETag conflicts
def test_conflicts_are_retried_with_capped_jittered_backoff(fake: FakeKeyValueStore, arn: str) -> None:
    sleeps = Sleeps()
    fake.conflict_next_writes(2)
    change = edge_state.drain(fake.client(), arn, E2, REGIONS, retry=no_jitter_retry(sleeps))
    assert (change.changed, change.attempts) == (True, 3)
    assert sleeps.delays == [0.05, 0.1]
    assert fake.operations().count("DescribeKeyValueStore") == 3  # a fresh ETag for every attempt
    assert fake.items(arn) == {"drained:us-east-2": "true"}


def test_backoff_is_capped_and_jittered() -> None:
    retry = edge_state.Retry(base_seconds=1, cap_seconds=2.5, jitter=lambda: 1.0)
    assert [retry.delay(n) for n in range(1, 6)] == [1, 2, 2.5, 2.5, 2.5]
    assert edge_state.Retry(base_seconds=1, jitter=lambda: 0.25).delay(2) == 0.5


def test_retries_are_bounded(fake: FakeKeyValueStore, arn: str) -> None:
    sleeps = Sleeps()
    fake.conflict_next_writes(50)
    with pytest.raises(edge_state.StoreConflictError, match="3 attempts") as info:
        edge_state.restore(
            fake.client(),
            fake.create_store({"drained:us-east-1": "true"}),
            E1,
            retry=no_jitter_retry(sleeps, 3),
        )
    assert "retry in a moment" in str(info.value)
    assert len(sleeps.delays) == 2  # no sleep after the last attempt
    with pytest.raises(edge_state.StoreConflictError):
        edge_state.drain(fake.client(), arn, E1, REGIONS, retry=no_jitter_retry(Sleeps(), 1))


def test_a_concurrent_writer_of_another_key_is_not_lost(fake: FakeKeyValueStore, arn: str) -> None:
    sleeps = Sleeps()
    fake.before("PutKey", drain_other(fake, arn, W2))
    change = edge_state.drain(fake.client(), arn, E1, [E1, E2, W2], retry=no_jitter_retry(sleeps))
    assert change.attempts == 2
    assert len(sleeps.delays) == 1
    assert fake.items(arn) == {"drained:us-west-2": "true", "drained:us-east-1": "true"}


def test_two_concurrent_drains_cannot_empty_the_edge(fake: FakeKeyValueStore, arn: str) -> None:
    """Both writers see two serving regions; the ETag makes the later one re-read and stop."""
    fake.before("PutKey", lambda: edge_state.drain(fake.client(), arn, E2, REGIONS))
    with pytest.raises(edge_state.LastServingRegionError):
        edge_state.drain(fake.client(), arn, E1, REGIONS, retry=no_jitter_retry(Sleeps()))
    assert fake.items(arn) == {"drained:us-east-2": "true"}


def test_a_restore_racing_a_restore_is_a_no_op(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store({"drained:us-east-2": "true"})
    fake.before("DeleteKey", lambda: edge_state.restore(fake.client(), arn, E2))
    change = edge_state.restore(fake.client(), arn, E2, retry=no_jitter_retry(Sleeps()))
    assert (change.changed, change.attempts) == (False, 2)


def test_threads_draining_every_region_leave_exactly_one_serving(fake: FakeKeyValueStore, arn: str) -> None:
    regions = [f"r{i}" for i in range(8)]
    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(len(regions))

    def worker(region: str) -> None:
        client = fake.client()
        barrier.wait()
        try:
            edge_state.drain(
                client, arn, region, regions, retry=edge_state.Retry(attempts=50, sleep=lambda s: None)
            )
            outcomes[region] = "drained"
        except edge_state.LastServingRegionError:
            outcomes[region] = "kept"

    threads = [threading.Thread(target=worker, args=(r,)) for r in regions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes.values()) == ["drained"] * 7 + ["kept"]
    state = edge_state.read_state(fake.client(), arn, regions)
    assert [r for r in regions if not state[r]] == [r for r, o in outcomes.items() if o == "kept"]


# ------------------------------------------------------------------------------------ errors
def test_access_denied_names_the_action_and_the_arn(fake: FakeKeyValueStore, arn: str) -> None:
    fake.inject("PutKey", "AccessDeniedException", message="not authorized to perform PutKey")
    with pytest.raises(edge_state.StoreAccessDeniedError) as info:
        edge_state.drain(fake.client(), arn, E2, REGIONS)
    assert f"allow cloudfront-keyvaluestore:PutKey on {arn}" in str(info.value)
    fake.inject("ListKeys", "AccessDeniedException")
    with pytest.raises(edge_state.StoreAccessDeniedError, match="cloudfront-keyvaluestore:ListKeys"):
        edge_state.read_state(fake.client(), arn, REGIONS)


def test_a_missing_store_says_where_the_arn_comes_from(fake: FakeKeyValueStore, arn: str) -> None:
    with pytest.raises(edge_state.StoreNotFoundError, match="EdgeDrainStoreArn"):
        edge_state.drain(fake.client(), arn[:-4] + "0000", E2, REGIONS)


def test_a_full_store_is_reported(fake: FakeKeyValueStore, arn: str) -> None:
    fake.inject("PutKey", "ServiceQuotaExceededException")
    with pytest.raises(edge_state.EdgeStateError, match="is full"):
        edge_state.drain(fake.client(), arn, E2, REGIONS)


def without_crt(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore as it behaves when awscrt is not installed (it decides in endpoint resolution)."""
    monkeypatch.setattr(botocore.regions, "HAS_CRT", False)
    maps = {k: v for k, v in botocore.regions.AUTH_TYPE_MAPS.items() if "v4a" not in k}
    monkeypatch.setattr(botocore.regions, "AUTH_TYPE_MAPS", maps)


def test_without_the_crt_the_error_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, fake: FakeKeyValueStore, arn: str
) -> None:
    without_crt(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = edge_state.make_client()  # the production client: SigV4A by the endpoint rules
    client.meta.events.register_first("before-send", no_network)
    with pytest.raises(edge_state.MissingCrtError, match=r"pip install 'botocore\[crt\]'"):
        edge_state.read_state(client, arn, REGIONS)


def no_network(**_: Any) -> None:
    raise AssertionError("this test must not reach the network")


def test_missing_credentials_are_explained(monkeypatch: pytest.MonkeyPatch, arn: str, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = edge_state.make_client()
    client.meta.events.register_first("before-send", no_network)
    with pytest.raises(edge_state.CredentialsError, match="configure credentials"):
        edge_state.read_state(client, arn, REGIONS)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("UnrecognizedClientException", "The security token included in the request is invalid."),
        ("InvalidSignatureException", "Signature expired or invalid"),
        ("ExpiredTokenException", "The security token included in the request is expired"),
    ],
)
def test_rejected_tokens_point_at_sts_v2_tokens(arn: str, code: str, message: str) -> None:
    client = boto3.client(
        "cloudfront-keyvaluestore", region_name=E1, aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_client_error("describe_key_value_store", code, message, 403, expected_params={"KvsARN": arn})
        with pytest.raises(edge_state.CredentialsError) as info:
            edge_state.drain(client, arn, E1, REGIONS)
    text = str(info.value)
    assert "--global-endpoint-token-version v2Token" in text
    assert "regional STS endpoint" in text


def test_transport_failures_become_edge_state_errors(arn: str) -> None:
    class Unreachable:
        def describe_key_value_store(self, **_: Any) -> Any:
            raise EndpointConnectionError(endpoint_url="https://123456789012.cloudfront-kvs.global.api.aws")

    with pytest.raises(
        edge_state.EdgeStateError, match=r"DescribeKeyValueStore .* failed: Could not connect"
    ):
        edge_state.restore(Unreachable(), arn, E1)


def test_the_production_client_targets_the_global_kvs_endpoint(
    monkeypatch: pytest.MonkeyPatch, fake: FakeKeyValueStore, arn: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    client = edge_state.make_client()
    urls: list[str] = []

    def capture(request: Any, **_: Any) -> None:
        urls.append(request.url)
        raise EndpointConnectionError(endpoint_url=request.url)

    client.meta.events.register_first("before-send", capture)
    with pytest.raises(edge_state.EdgeStateError):
        edge_state.read_state(client, arn, REGIONS)
    assert urls[0].startswith("https://123456789012.cloudfront-kvs.global.api.aws/key-value-stores/")


# ========================================================================== health checker
class Prober:
    """Scripted health endpoints: region -> list of answers (the last one repeats)."""

    def __init__(self, script: Mapping[str, list[HttpAnswer]], sleeps: Sleeps | None = None, cost: float = 0):
        self.script = {r: list(answers) for r, answers in script.items()}
        self.calls: list[tuple[str, dict[str, str], float]] = []
        self.sleeps, self.cost = sleeps, cost

    def __call__(self, url: str, headers: Mapping[str, str], timeout: float) -> HttpAnswer:
        region = url.split(".")[2]
        self.calls.append((region, dict(headers), timeout))
        if self.sleeps is not None:
            self.sleeps.clock[0] += self.cost
        answers = self.script[region]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def count(self, region: str) -> int:
        return sum(1 for r, _, _ in self.calls if r == region)


OK = HttpAnswer(200, b'{"status": "ok", "region": "x", "version": "1", "database": "reachable"}')
DEGRADED = HttpAnswer(503, b'{"status": "degraded"}')
DOWN = HttpAnswer(None, error="timed out")
FORBIDDEN = HttpAnswer(403, b'{"message": "Forbidden"}')
CHECKERS = (E1, E2, W2)  # one per serving region plus the witness region
T0 = 1_800_000_000.0  # epoch seconds of the first run
AUTO_E2 = {"drained:us-east-2": "true", "auto-drained:us-east-2": "true"}


def url(region: str) -> str:
    return f"https://abc123.execute-api.{region}.amazonaws.com/prod/health"


def settings(arn: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "kvs_arn": arn,
        "targets": tuple(Target(r, url(r)) for r in REGIONS),
        "checker": E1,
        "checkers": (E1,),
    }
    return Settings(**(base | overrides))


def checker(
    fake: FakeKeyValueStore, arn: str, prober: Prober, sleeps: Sleeps, *, at: float = T0, **kw: Any
) -> Checker:
    return Checker(
        kw.pop("settings", None) or settings(arn),
        fake.client(),
        prober=prober,
        sleep=sleeps,
        clock=sleeps.now,
        retry=no_jitter_retry(sleeps),
        now=lambda: at,
        **kw,
    )


def runs(
    fake: FakeKeyValueStore, arn: str, script: Mapping[str, list[HttpAnswer]], times: int, **kw: Any
) -> list[dict[str, Any]]:
    """``times`` one-minute runs of one checker (quorum 1), the same answers each time."""
    start = kw.pop("start", T0)
    return [checker(fake, arn, Prober(script), Sleeps(), at=start + 60 * n, **kw).run() for n in range(times)]


def actions(summary: Mapping[str, Any]) -> dict[str, str]:
    return {r["region"]: r["action"] for r in summary["regions"]}


def drained(fake: FakeKeyValueStore, arn: str) -> dict[str, bool]:
    return edge_state.state_from_items(fake.items(arn), [E1, E2])


def test_one_failing_run_records_it_and_the_second_drains(fake: FakeKeyValueStore, arn: str) -> None:
    sleeps = Sleeps()
    prober = Prober({E1: [OK], E2: [DEGRADED, DOWN, DEGRADED]})
    first = checker(fake, arn, prober, sleeps).run()
    assert actions(first) == {E1: "none", E2: "none"}
    e2 = first["regions"][1]
    assert (e2["outcome"], e2["failing_runs"], e2["votes"]) == ("fail", 1, {"drain": 0, "restore": 0})
    assert [p["detail"] for p in e2["probes"]] == ["HTTP 503", "no answer: timed out", "HTTP 503"]
    assert (prober.count(E1), prober.count(E2)) == (3, 3)
    assert sleeps.delays == [10, 10]  # PROBES=3, PROBE_INTERVAL_SECONDS=10
    assert json.loads(fake.items(arn)["health:us-east-2:us-east-1"]) == {"fail": 1, "ok": 0, "at": T0}
    second = checker(fake, arn, Prober({E1: [OK], E2: [DOWN]}), Sleeps(), at=T0 + 60).run()
    assert actions(second) == {E1: "none", E2: "drained"}
    # The marker is the checkers': they restore only the drains they made.
    assert drained(fake, arn) == {E1: False, E2: True}
    assert "auto-drained:us-east-2" in fake.items(arn)
    assert second["errors"] == []


def test_one_failed_probe_in_three_is_a_failing_run(fake: FakeKeyValueStore, arn: str) -> None:
    """The old rule ("all probes fail") never drained a region refusing one request in three."""
    summaries = runs(fake, arn, {E1: [OK], E2: [OK, DEGRADED, OK]}, 2)
    assert [s["regions"][1]["outcome"] for s in summaries] == ["fail", "fail"]
    assert actions(summaries[1])[E2] == "drained"


def test_restore_needs_three_healthy_runs_in_a_row(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store(dict(AUTO_E2))
    summaries = runs(fake, arn, {E1: [OK], E2: [OK]}, 3)
    assert [actions(s)[E2] for s in summaries] == ["none", "none", "restored"]
    assert summaries[2]["regions"][1]["drained_before"] is True
    assert drained(fake, arn) == {E1: False, E2: False}


@pytest.mark.parametrize("start_drained", [False, True])
def test_a_region_failing_every_other_minute_does_not_flap(
    fake: FakeKeyValueStore, start_drained: bool
) -> None:
    arn = fake.create_store(dict(AUTO_E2) if start_drained else {})
    for n in range(8):
        answer = DOWN if n % 2 == 0 else OK
        checker(fake, arn, Prober({E1: [OK], E2: [answer]}), Sleeps(), at=T0 + 60 * n).run()
        assert drained(fake, arn)[E2] is start_drained, n


def test_the_thresholds_are_configurable(fake: FakeKeyValueStore, arn: str) -> None:
    quick = settings(arn, fail_threshold=1, restore_threshold=1)
    assert actions(runs(fake, arn, {E1: [OK], E2: [DOWN]}, 1, settings=quick)[0])[E2] == "drained"
    assert (
        actions(runs(fake, arn, {E1: [OK], E2: [OK]}, 1, settings=quick, start=T0 + 60)[0])[E2] == "restored"
    )


def test_a_gap_longer_than_the_ttl_starts_the_count_over(fake: FakeKeyValueStore, arn: str) -> None:
    checker(fake, arn, Prober({E1: [OK], E2: [DOWN]}), Sleeps(), at=T0).run()
    late = checker(fake, arn, Prober({E1: [OK], E2: [DOWN]}), Sleeps(), at=T0 + 151).run()
    assert (late["regions"][1]["failing_runs"], actions(late)[E2]) == (1, "none")


def test_the_same_run_recorded_twice_counts_once(fake: FakeKeyValueStore, arn: str) -> None:
    """A write retried after it landed (a timeout, then a retry) must not add a run."""
    policy = edge_state.Policy(checkers=(E1,))
    client = fake.client()
    for _ in range(2):
        edge_state.observe(client, arn, E1, {E1: True, E2: False}, policy, at=T0)
    assert json.loads(fake.items(arn)["health:us-east-2:us-east-1"])["fail"] == 1
    assert not drained(fake, arn)[E2]


def test_a_late_run_does_not_reset_the_counts_of_the_runs_after_it(fake: FakeKeyValueStore, arn: str) -> None:
    """A run delivered late (older than the one recorded) is ignored: it would reset the counts."""
    policy = edge_state.Policy(checkers=(E1,))
    client = fake.client()
    edge_state.observe(client, arn, E1, {E1: True, E2: False}, policy, at=T0 + 60)
    edge_state.observe(client, arn, E1, {E1: True, E2: True}, policy, at=T0)  # late, and healthy
    assert json.loads(fake.items(arn)["health:us-east-2:us-east-1"]) == {"fail": 1, "ok": 0, "at": T0 + 60}
    decisions = edge_state.observe(client, arn, E1, {E1: True, E2: False}, policy, at=T0 + 120)
    assert {d.region: d.action for d in decisions}[E2] == "drained"


def test_an_operators_drain_holds_while_the_region_is_healthy(fake: FakeKeyValueStore) -> None:
    """Planned maintenance: the checkers never undo a drain they did not make."""
    arn = fake.create_store({"drained:us-east-2": "true"})
    summaries = runs(fake, arn, {E1: [OK], E2: [OK]}, 4)
    assert [actions(s)[E2] for s in summaries] == ["none", "none", "held-by-operator", "held-by-operator"]
    assert drained(fake, arn)[E2]


def test_an_operator_takes_over_an_automatic_drain(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store(dict(AUTO_E2))
    change = edge_state.drain(fake.client(), arn, E2, [E1, E2])
    assert change.changed  # now held: the marker is gone
    assert fake.items(arn) == {"drained:us-east-2": "true"}
    assert not edge_state.restore(fake.client(), arn, E2, automatic=True).changed
    assert edge_state.restore(fake.client(), arn, E2).changed
    assert fake.items(arn) == {}


def test_an_operators_restore_clears_an_automatic_drain_too(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store(dict(AUTO_E2))
    assert edge_state.restore(fake.client(), arn, E2).changed
    assert fake.items(arn) == {}


def test_the_last_serving_region_is_kept_and_reported(
    fake: FakeKeyValueStore, arn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=edge_health.__name__)
    put(fake, arn, "drained:us-east-1", "true")  # an operator's drain: held while us-east-1 is healthy
    summary = runs(fake, arn, {E1: [OK], E2: [DOWN]}, 3)[2]
    assert actions(summary) == {E1: "held-by-operator", E2: "kept-last-serving"}
    assert "last serving region" in summary["regions"][1]["detail"]
    assert summary["errors"] == []
    assert drained(fake, arn) == {E1: True, E2: False}
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert json.loads(warning.getMessage())["region"] == E2


def test_a_checker_seeing_every_region_fail_has_no_vote(fake: FakeKeyValueStore, arn: str) -> None:
    """A cause shared by every region (the checker's CA bundle, a bad /health everywhere) must not
    drain a healthy region, nor drain it again after an operator restored it."""
    fleet = settings(arn, checkers=CHECKERS)
    for n in range(3):
        for name in CHECKERS:
            run = checker(fake, arn, Prober({E1: [DOWN], E2: [DOWN]}), Sleeps(), at=T0 + 60 * n)
            run.settings = dataclasses.replace(fleet, checker=name)
            summary = run.run()
            assert set(actions(summary).values()) == {"none"}, (n, name)
            assert "no vote" in summary["regions"][0]["detail"]
    assert drained(fake, arn) == {E1: False, E2: False}
    assert json.loads(fake.items(arn)["health:us-east-1:us-west-2"])["fail"] == 0


def test_a_region_failing_alone_still_drains_after_a_no_vote_run(fake: FakeKeyValueStore, arn: str) -> None:
    runs(fake, arn, {E1: [DOWN], E2: [DOWN]}, 1)
    summaries = runs(fake, arn, {E1: [OK], E2: [DOWN]}, 2, start=T0 + 60)
    assert [actions(s)[E2] for s in summaries] == ["none", "drained"]


def test_auto_drain_off_stops_drains_not_restores(fake: FakeKeyValueStore) -> None:
    arn = fake.create_store({**AUTO_E2, "auto-drain": "off"})
    summaries = runs(fake, arn, {E1: [DOWN], E2: [OK]}, 3)
    assert [actions(s)[E1] for s in summaries] == ["none", "auto-drain-off", "auto-drain-off"]
    assert "ecommerce edge auto-drain on" in summaries[1]["regions"][0]["detail"]
    assert actions(summaries[2])[E2] == "restored"
    assert drained(fake, arn) == {E1: False, E2: False}
    edge_state.set_auto_drain(fake.client(), arn, True)
    assert "auto-drain" not in fake.items(arn)
    assert actions(runs(fake, arn, {E1: [DOWN], E2: [OK]}, 1, start=T0 + 180)[0])[E1] == "drained"


@pytest.mark.parametrize("value", ["off", " OFF "])
def test_only_off_turns_automatic_drains_off(value: str) -> None:
    assert not edge_state.auto_drain_on({"auto-drain": value})
    assert edge_state.auto_drain_on({}) and edge_state.auto_drain_on({"auto-drain": "no"})


def test_restores_come_before_drains(fake: FakeKeyValueStore) -> None:
    """us-east-1 recovered and us-east-2 failed: swap, instead of refusing the drain."""
    arn = fake.create_store({"drained:us-east-1": "true", "auto-drained:us-east-1": "true"})
    for n in range(2):  # us-east-1 healthy twice, us-east-2 failing twice
        checker(fake, arn, Prober({E1: [OK], E2: [DOWN]}), Sleeps(), at=T0 + 60 * n).run()
    assert drained(fake, arn) == {E1: True, E2: False}  # kept: us-east-1 still needs a third run
    summary = checker(fake, arn, Prober({E1: [OK], E2: [DOWN]}), Sleeps(), at=T0 + 120).run()
    assert actions(summary) == {E1: "restored", E2: "drained"}
    assert drained(fake, arn) == {E1: False, E2: True}


def test_the_summary_is_logged_as_one_json_line(
    fake: FakeKeyValueStore, arn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=edge_health.__name__)
    summary = checker(fake, arn, Prober({E1: [OK], E2: [DOWN]}), Sleeps()).run()
    logged = json.loads(caplog.records[-1].getMessage())
    assert logged == json.loads(json.dumps(summary))
    assert logged["checker"] == E1
    assert logged["regions"][1]["probes"][0] == {
        "ok": False,
        "status": None,
        "detail": "no answer: timed out",
        "seconds": 0,
    }


def test_kvs_failures_are_summarised_as_errors(fake: FakeKeyValueStore, arn: str) -> None:
    fake.inject("UpdateKeys", "AccessDeniedException")
    summary = checker(fake, arn, Prober({E1: [OK], E2: [DOWN]}), Sleeps()).run()
    assert actions(summary) == {E1: "error", E2: "error"}
    assert "cloudfront-keyvaluestore:UpdateKeys" in summary["errors"][0]
    fake.inject("ListKeys", "AccessDeniedException")
    summary = checker(fake, arn, Prober({E1: [OK], E2: [DOWN]}), Sleeps()).run()
    assert actions(summary) == {E1: "error", E2: "error"}
    assert len(summary["errors"]) == 1


def test_a_concurrent_checkers_write_is_not_lost(fake: FakeKeyValueStore, arn: str) -> None:
    """Two checkers write in the same second: the ETag makes the later one re-read and merge."""
    policy = edge_state.Policy(checkers=CHECKERS)
    other = lambda: edge_state.observe(fake.client(), arn, W2, {E1: True, E2: False}, policy, at=T0)  # noqa: E731
    fake.before("UpdateKeys", other)
    edge_state.observe(
        fake.client(), arn, E1, {E1: True, E2: False}, policy, at=T0, retry=no_jitter_retry(Sleeps())
    )
    items = fake.items(arn)
    assert {k for k in items if k.startswith("health:")} == {
        f"health:{r}:{c}" for r in (E1, E2) for c in (E1, W2)
    }


# ------------------------------------------------------------------ several checkers, any one lost
def fleet_run(
    fake: FakeKeyValueStore, arn: str, checkers: list[str], failing: str, at: float
) -> dict[str, dict[str, Any]]:
    """One run of each of ``checkers``: ``failing``'s /health fails from everywhere."""
    script = {r: [DOWN if r == failing else OK] for r in REGIONS}
    return {
        name: checker(
            fake,
            arn,
            Prober(script),
            Sleeps(),
            at=at,
            settings=settings(arn, checker=name, checkers=CHECKERS),
        ).run()
        for name in checkers
    }


@pytest.mark.parametrize("failing", REGIONS)
@pytest.mark.parametrize("lost", CHECKERS)
def test_losing_any_one_checker_still_drains_a_failing_region(
    fake: FakeKeyValueStore, arn: str, lost: str, failing: str
) -> None:
    left = [c for c in CHECKERS if c != lost]
    fleet_run(fake, arn, left, failing, T0)
    assert not any(drained(fake, arn).values())  # one failing run each: not yet
    fleet_run(fake, arn, left, failing, T0 + 60)
    assert drained(fake, arn) == {r: r == failing for r in REGIONS}
    for n in range(2, 5):  # it recovers: three healthy runs of the two left restore it
        fleet_run(fake, arn, left, "nowhere", T0 + 60 * n)
    assert not any(drained(fake, arn).values())


def test_one_checker_alone_cannot_drain(fake: FakeKeyValueStore, arn: str) -> None:
    """A checker whose own network is broken sees every region fail; a majority must agree."""
    for n in range(5):
        fleet_run(fake, arn, [W2], E1, T0 + 60 * n)
    assert not any(drained(fake, arn).values())


def test_a_stopped_checkers_old_votes_do_not_count(fake: FakeKeyValueStore, arn: str) -> None:
    fleet_run(fake, arn, [E2], E1, T0)
    fleet_run(fake, arn, [E2], E1, T0 + 60)  # E2 votes to drain us-east-1, then stops
    fleet_run(fake, arn, [W2], E1, T0 + 400)
    fleet_run(fake, arn, [W2], E1, T0 + 460)  # W2 agrees, but E2's vote is 400 s old
    assert not any(drained(fake, arn).values())


def test_quorum_is_configurable(fake: FakeKeyValueStore, arn: str) -> None:
    one = settings(arn, checker=W2, checkers=CHECKERS, quorum=1)
    script = {E1: [DOWN], E2: [OK]}
    for n in range(2):
        checker(fake, arn, Prober(script), Sleeps(), at=T0 + 60 * n, settings=one).run()
    assert drained(fake, arn) == {E1: True, E2: False}


@pytest.mark.parametrize(
    ("answer", "ok", "detail"),
    [
        (OK, True, "ok"),
        (HttpAnswer(200, b'{"status": "degraded"}'), False, "HTTP 200 with status 'degraded'"),
        (HttpAnswer(200, b"<html>"), False, "HTTP 200 without a JSON object body"),
        (HttpAnswer(200, b"[1]"), False, "HTTP 200 without a JSON object body"),
        (HttpAnswer(204), False, "HTTP 204"),
        (DEGRADED, False, "HTTP 503"),
        (DOWN, False, "no answer: timed out"),
    ],
)
def test_judge(answer: HttpAnswer, ok: bool, detail: str) -> None:
    assert edge_health.judge(answer) == (ok, detail)


# ------------------------------------------------------------------------------ origin secret
class FakeSecrets:
    """Secrets Manager's GetSecretValue by stage. ``stages`` per read: a list of {stage: value}
    (the last repeats); a stage missing from the dict is ResourceNotFoundException."""

    def __init__(self, *reads: dict[str, str]) -> None:
        self.reads = list(reads)
        self.calls: list[tuple[str, str, str]] = []

    def factory(self, region: str) -> Any:
        outer = self

        class NotFound(Exception):
            response = {"Error": {"Code": "ResourceNotFoundException"}}

        class Client:
            def get_secret_value(self, SecretId: str, VersionStage: str) -> dict[str, Any]:
                outer.calls.append((region, SecretId, VersionStage))
                stages = outer.reads[0]
                if VersionStage == "AWSPREVIOUS" and len(outer.reads) > 1:
                    outer.reads.pop(0)  # the next read sees the next state
                if VersionStage not in stages:
                    raise NotFound("Secrets Manager can't find the specified secret value for staging label")
                return {"SecretString": json.dumps({"HEADERVALUE": stages[VersionStage]})}

        return Client()


def secret_settings(arn: str) -> Settings:
    return settings(arn, secret_arn=SECRET_ARN, secret_header=HEADER)


def test_probes_carry_the_origin_secret_read_once(fake: FakeKeyValueStore, arn: str) -> None:
    secrets = FakeSecrets({"AWSCURRENT": "s3cret"})
    secret = OriginSecret(SECRET_ARN, secrets.factory)
    prober = Prober({E1: [OK], E2: [OK]})
    for _ in range(2):
        checker(fake, arn, prober, Sleeps(), settings=secret_settings(arn), secret=secret).run()
    assert {h[HEADER] for _, h, _ in prober.calls} == {"s3cret"}
    # The secret's own region, once per cold start: AWSCURRENT, then AWSPREVIOUS (none yet).
    assert secrets.calls == [
        ("us-east-1", SECRET_ARN, "AWSCURRENT"),
        ("us-east-1", SECRET_ARN, "AWSPREVIOUS"),
    ]
    assert {timeout for _, _, timeout in prober.calls} == {3.0}


def test_a_403_to_awscurrent_tries_awsprevious(fake: FakeKeyValueStore, arn: str) -> None:
    """A value made AWSCURRENT by hand before the web ACLs accept it: the previous one still works."""
    secrets = FakeSecrets({"AWSCURRENT": "new", "AWSPREVIOUS": "old"})
    prober = Prober({E1: [FORBIDDEN, OK], E2: [OK]})
    secret = OriginSecret(SECRET_ARN, secrets.factory)
    summary = checker(fake, arn, prober, Sleeps(), settings=secret_settings(arn), secret=secret).run()
    assert [h[HEADER] for r, h, _ in prober.calls if r == E1] == ["new", "old", "old", "old"]
    assert summary["regions"][0]["outcome"] == "pass"
    assert len(secrets.calls) == 2  # no re-read: AWSPREVIOUS answered


def test_a_403_to_both_values_rereads_the_secret_once(fake: FakeKeyValueStore, arn: str) -> None:
    secrets = FakeSecrets({"AWSCURRENT": "old"}, {"AWSCURRENT": "new", "AWSPREVIOUS": "old"})
    prober = Prober({E1: [FORBIDDEN, OK], E2: [OK]})
    secret = OriginSecret(SECRET_ARN, secrets.factory)
    summary = checker(fake, arn, prober, Sleeps(), settings=secret_settings(arn), secret=secret).run()
    assert [h[HEADER] for r, h, _ in prober.calls if r == E1] == ["old", "new", "new", "new"]
    assert summary["regions"][0]["outcome"] == "pass"
    assert len(secrets.calls) == 4


def test_a_403_with_an_unchanged_secret_is_a_failure_and_refreshes_once(
    fake: FakeKeyValueStore, arn: str
) -> None:
    secrets = FakeSecrets({"AWSCURRENT": "same"})
    prober = Prober({E1: [OK], E2: [FORBIDDEN]})
    secret = OriginSecret(SECRET_ARN, secrets.factory)
    summary = checker(fake, arn, prober, Sleeps(), settings=secret_settings(arn), secret=secret).run()
    assert prober.count(E2) == 3  # no second request: the secret did not change
    assert len(secrets.calls) == 4  # one read, one refresh per invocation (two stages each)
    assert f"is {HEADER} the header CloudFront sends" in summary["regions"][1]["probes"][0]["detail"]
    assert summary["regions"][1]["outcome"] == "fail"


def test_an_unreadable_secret_stops_the_check_before_any_probe(fake: FakeKeyValueStore, arn: str) -> None:
    class Denied:
        def get_secret_value(self, SecretId: str, VersionStage: str) -> Any:
            raise RuntimeError("AccessDeniedException: not authorized")

    prober = Prober({E1: [DOWN], E2: [DOWN]})
    secret = OriginSecret(SECRET_ARN, lambda region: Denied())
    with pytest.raises(edge_health.SecretError, match="allow secretsmanager:GetSecretValue"):
        checker(fake, arn, prober, Sleeps(), settings=secret_settings(arn), secret=secret).run()
    assert prober.calls == []
    assert fake.calls == []


def test_a_secret_named_without_arn_is_read_in_the_functions_region() -> None:
    secrets = FakeSecrets({"AWSCURRENT": "v"})
    assert OriginSecret("ecommerce-origin-verify", secrets.factory).value() == "v"
    assert secrets.calls[0] == ("", "ecommerce-origin-verify", "AWSCURRENT")  # "": the default region


@pytest.mark.parametrize("raw", ["not json", '{"OTHER": "x"}', '{"HEADERVALUE": ""}', '{"HEADERVALUE": 7}'])
def test_a_secret_without_a_headervalue_is_refused(raw: str) -> None:
    class Client:
        def get_secret_value(self, SecretId: str, VersionStage: str) -> Any:
            return {"SecretString": raw}

    with pytest.raises(edge_health.SecretError, match="HEADERVALUE"):
        OriginSecret(SECRET_ARN, lambda region: Client()).value()


def test_the_secret_is_read_with_the_real_api_shape() -> None:
    client = boto3.client(
        "secretsmanager", region_name=E1, aws_access_key_id="AKIAEXAMPLE", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "get_secret_value",
            {"SecretString": '{"HEADERVALUE": "v"}'},
            expected_params={"SecretId": SECRET_ARN, "VersionStage": "AWSCURRENT"},
        )
        stub.add_client_error(
            "get_secret_value",
            "ResourceNotFoundException",
            expected_params={"SecretId": SECRET_ARN, "VersionStage": "AWSPREVIOUS"},
        )
        assert OriginSecret(SECRET_ARN, lambda region: client).values() == ["v"]


# ---------------------------------------------------------------------------- Lambda handler
@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, fake: FakeKeyValueStore, arn: str) -> Iterator[Sleeps]:
    sleeps = Sleeps()
    edge_health.reset_caches()
    monkeypatch.setenv("KVS_ARN", arn)
    monkeypatch.setenv("REGIONS", json.dumps([{"region": r, "health_url": url(r)} for r in REGIONS]))
    monkeypatch.setenv("ORIGIN_SECRET_ARN", SECRET_ARN)
    monkeypatch.setenv("ORIGIN_SECRET_HEADER", HEADER)
    monkeypatch.setenv("AWS_REGION", W2)
    for name in (
        "PROBES", "PROBE_INTERVAL_SECONDS", "PROBE_TIMEOUT_SECONDS", "CHECKER", "CHECKERS", "QUORUM",
        "FAIL_THRESHOLD", "RESTORE_THRESHOLD", "OBSERVATION_TTL_SECONDS",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(edge_health, "kvs_client_factory", fake.client)
    monkeypatch.setattr(edge_health, "sleep", sleeps)
    monkeypatch.setattr(edge_health, "clock", sleeps.now)
    wall = [T0]
    monkeypatch.setattr(edge_health, "wall_clock", lambda: wall[0])

    def tick() -> None:
        wall[0] += 60

    sleeps.tick = tick  # type: ignore[attr-defined]
    yield sleeps
    edge_health.reset_caches()


def test_handler_drains_then_restores_across_invocations(
    lambda_env: Sleeps, monkeypatch: pytest.MonkeyPatch, fake: FakeKeyValueStore, arn: str
) -> None:
    secrets = FakeSecrets({"AWSCURRENT": "s"})
    monkeypatch.setattr(edge_health, "secrets_client_factory", secrets.factory)

    def invoke(script: Mapping[str, list[HttpAnswer]]) -> dict[str, str]:
        monkeypatch.setattr(edge_health, "prober", Prober(script))
        summary = edge_health.handler({}, None)
        lambda_env.tick()  # type: ignore[attr-defined]
        assert summary["checker"] == W2  # AWS_REGION names the checker by default
        return actions(summary)

    assert invoke({E1: [OK], E2: [DOWN]}) == {E1: "none", E2: "none"}
    assert invoke({E1: [OK], E2: [DOWN]}) == {E1: "none", E2: "drained"}
    assert invoke({E1: [OK], E2: [OK, DOWN, OK]}) == {E1: "none", E2: "none"}  # flaky: stays drained
    assert [invoke({E1: [OK], E2: [OK]})[E2] for _ in range(3)] == ["none", "none", "restored"]
    assert not any(drained(fake, arn).values())
    assert len(secrets.calls) == 2  # once per cold start (AWSCURRENT, AWSPREVIOUS)


def scheduled(minute: int, second: int = 0) -> dict[str, Any]:
    """An EventBridge scheduled event (its documented shape) for minute ``minute`` after T0."""
    when = dt.datetime.fromtimestamp(T0 + 60 * minute + second, dt.UTC)
    return {
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": W2,
        "resources": ["arn:aws:events:us-west-2:123456789012:rule/checker"],
        "detail": {},
    }


def test_a_duplicate_delivery_of_a_scheduled_event_is_one_run(
    lambda_env: Sleeps, monkeypatch: pytest.MonkeyPatch, fake: FakeKeyValueStore, arn: str
) -> None:
    """Lambda may deliver one event twice: the second delivery (half a minute later by the wall
    clock) is the same run, not a second failing one that would drain the region."""
    monkeypatch.setenv("CHECKERS", json.dumps([W2]))
    monkeypatch.setattr(edge_health, "secrets_client_factory", FakeSecrets({"AWSCURRENT": "s"}).factory)
    monkeypatch.setattr(edge_health, "prober", Prober({E1: [OK], E2: [DOWN]}))
    first = edge_health.handler(scheduled(0, 2), None)
    lambda_env.tick()  # type: ignore[attr-defined]
    again = edge_health.handler(scheduled(0, 2), None)
    assert (actions(first)[E2], actions(again)[E2]) == ("none", "none")
    assert json.loads(fake.items(arn)["health:us-east-2:us-west-2"])["fail"] == 1
    assert actions(edge_health.handler(scheduled(1, 1), None))[E2] == "drained"


def test_scheduled_at_is_the_events_minute() -> None:
    assert edge_health.scheduled_at(scheduled(3, 59)) == T0 + 180
    assert (
        edge_health.scheduled_at({"time": "2015-10-08T16:53:06Z"})
        == dt.datetime(2015, 10, 8, 16, 53, tzinfo=dt.UTC).timestamp()
    )
    assert edge_health.scheduled_at({}) is None  # a manual invocation: the wall clock
    assert edge_health.scheduled_at({"time": "yesterday"}) is None


def test_handler_reads_its_settings_from_the_environment(
    lambda_env: Sleeps, monkeypatch: pytest.MonkeyPatch, fake: FakeKeyValueStore, arn: str
) -> None:
    monkeypatch.setenv("PROBES", "2")
    monkeypatch.setenv("PROBE_INTERVAL_SECONDS", "4.5")
    monkeypatch.setenv("PROBE_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("CHECKER", "witness")
    monkeypatch.setenv("CHECKERS", json.dumps([E1, E2, "witness"]))
    monkeypatch.setenv("QUORUM", "1")
    monkeypatch.setenv("FAIL_THRESHOLD", "1")
    monkeypatch.setattr(edge_health, "secrets_client_factory", FakeSecrets({"AWSCURRENT": "s"}).factory)
    prober = Prober({E1: [OK], E2: [DOWN]})
    monkeypatch.setattr(edge_health, "prober", prober)
    summary = edge_health.handler({}, None)
    assert [len(r["probes"]) for r in summary["regions"]] == [2, 2]
    assert lambda_env.delays == [4.5]
    assert {t for _, _, t in prober.calls} == {1.0}
    assert actions(summary)[E2] == "drained"
    assert "health:us-east-2:witness" in fake.items(arn)


def test_handler_fails_the_invocation_when_the_state_cannot_change(
    lambda_env: Sleeps, monkeypatch: pytest.MonkeyPatch, fake: FakeKeyValueStore
) -> None:
    monkeypatch.setattr(edge_health, "secrets_client_factory", FakeSecrets({"AWSCURRENT": "s"}).factory)
    monkeypatch.setattr(edge_health, "prober", Prober({E1: [OK], E2: [DOWN]}))
    fake.inject("UpdateKeys", "AccessDeniedException")
    with pytest.raises(edge_health.EdgeHealthError, match="cloudfront-keyvaluestore:UpdateKeys"):
        edge_health.handler({}, None)


def test_handler_without_origin_secret_sends_no_header(
    lambda_env: Sleeps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORIGIN_SECRET_ARN")
    monkeypatch.delenv("ORIGIN_SECRET_HEADER")
    prober = Prober({E1: [OK], E2: [OK]})
    monkeypatch.setattr(edge_health, "prober", prober)
    edge_health.handler({}, None)
    assert all(headers == {} for _, headers, _ in prober.calls)


GOOD_ENV = {
    "KVS_ARN": "arn:aws:cloudfront::123456789012:key-value-store/0b4f4a0e-8a8e-4f9b-9c1e-0123456789ab",
    "REGIONS": json.dumps([{"region": E1, "health_url": url(E1)}]),
    "AWS_REGION": E2,
}


def test_settings_defaults() -> None:
    s = Settings.from_env(GOOD_ENV)
    assert (s.probes, s.interval_seconds, s.timeout_seconds, s.secret_arn) == (3, 10.0, 3.0, None)
    assert s.regions == [E1]
    assert (s.checker, s.checkers, s.fail_threshold, s.restore_threshold, s.quorum) == (E2, (E2,), 2, 3, None)
    assert s.policy.votes_needed == 1
    three = Settings.from_env(GOOD_ENV | {"CHECKERS": json.dumps([E1, E2, W2])})
    assert three.policy.votes_needed == 2  # a majority


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"KVS_ARN": ""}, "KVS_ARN must be"),
        ({"REGIONS": "us-east-1"}, "REGIONS must be JSON"),
        ({"REGIONS": "[]"}, "each region once"),
        ({"REGIONS": json.dumps([{"region": E1, "health_url": url(E1)}] * 2)}, "each region once"),
        ({"REGIONS": json.dumps([{"region": E1}])}, "REGIONS must be JSON"),
        ({"REGIONS": json.dumps([{"region": E1, "health_url": "http://x/health"}])}, "https://"),
        ({"PROBES": "0"}, "PROBES must be an integer >= 1"),
        ({"PROBES": "1.5"}, "PROBES must be an integer"),
        ({"PROBES": "three"}, "PROBES must be a number"),
        ({"PROBE_INTERVAL_SECONDS": "-1"}, "PROBE_INTERVAL_SECONDS must be >= 0"),
        ({"PROBE_TIMEOUT_SECONDS": "0"}, "PROBE_TIMEOUT_SECONDS must be >= 0.1"),
        ({"ORIGIN_SECRET_ARN": SECRET_ARN}, "together"),
        ({"AWS_REGION": ""}, "CHECKER must name"),
        ({"CHECKERS": "us-east-1"}, "CHECKERS must be a JSON list"),
        ({"CHECKERS": json.dumps([E1, E1])}, "distinct"),
        ({"CHECKERS": json.dumps([E1])}, "must include this checker"),
        ({"QUORUM": "2"}, "QUORUM must be at most"),
        ({"QUORUM": "0"}, "QUORUM must be an integer >= 1"),
        ({"FAIL_THRESHOLD": "1.5"}, "FAIL_THRESHOLD must be an integer"),
        ({"RESTORE_THRESHOLD": "0"}, "RESTORE_THRESHOLD must be an integer >= 1"),
        ({"ORIGIN_SECRET_HEADER": HEADER}, "together"),
    ],
)
def test_settings_errors_name_the_variable(changes: dict[str, str], message: str) -> None:
    with pytest.raises(edge_health.ConfigurationError, match=message):
        Settings.from_env(GOOD_ENV | changes)


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.headers.get(HEADER) == "v" else 403
        body = json.dumps({"status": "ok", "ua": self.headers.get("User-Agent")}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


def test_http_get_returns_status_and_body_or_the_reason() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/health"
        ok = edge_health.http_get(base, {HEADER: "v"}, 2)
        assert ok.status == 200
        assert json.loads(ok.body)["ua"] == edge_health.USER_AGENT
        denied = edge_health.http_get(base, {}, 2)
        assert denied.status == 403
        assert json.loads(denied.body)["status"] == "ok"
    finally:
        server.shutdown()
        server.server_close()
    gone = edge_health.http_get(base, {}, 2)
    assert gone.status is None
    assert gone.error


# ===================================================================================== CLI
def invoke(*args: str, env: Mapping[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.edge, list(args), env=dict(env or {}), catch_exceptions=True)


def assert_clean_failure(result: Result, *fragments: str) -> None:
    """Exit 1, one readable line, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def kvs_file(data_dir: Path) -> Any:
    return json.loads((data_dir / "edge" / "kvs.json").read_text())


def test_local_drain_writes_cloudfronts_import_format(tmp_path: Path) -> None:
    result = invoke("drain", E2, "--local", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "drained us-east-2",
        "viewers are routed to the nearest of: us-east-1",
    ]
    assert kvs_file(tmp_path) == {"data": [{"key": "drained:us-east-2", "value": "true"}]}
    assert [p.name for p in (tmp_path / "edge").iterdir()] == ["kvs.json"]  # no temp file left


def test_local_file_is_what_the_router_reads(tmp_path: Path) -> None:
    """The KVS import format: a "data" array of {"key", "value"} strings, one entry per key."""
    invoke("drain", E1, "--local", "--data-dir", str(tmp_path))
    data = kvs_file(tmp_path)
    assert set(data) == {"data"}
    assert all(set(item) == {"key", "value"} for item in data["data"])
    entries = {item["key"]: item["value"] for item in data["data"]}
    assert edge_state.state_from_items(entries, cli.LOCAL_REGIONS) == {E1: True, E2: False}


def test_local_mode_takes_the_data_dir_from_the_environment(tmp_path: Path) -> None:
    result = invoke("drain", E2, "--local", env={"ECOMMERCE_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert kvs_file(tmp_path)["data"] == [{"key": "drained:us-east-2", "value": "true"}]


def test_local_writes_keep_other_keys_and_restore_removes_only_the_region(tmp_path: Path) -> None:
    path = tmp_path / "edge" / "kvs.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"data": [{"key": "feature", "value": "on"}]}))
    assert invoke("drain", E2, "--local", "--data-dir", str(tmp_path)).exit_code == 0
    assert kvs_file(tmp_path)["data"] == [
        {"key": "feature", "value": "on"},
        {"key": "drained:us-east-2", "value": "true"},
    ]
    result = invoke("restore", E2, "--local", "--data-dir", str(tmp_path))
    assert result.output.splitlines() == [
        "restored us-east-2",
        "viewers are routed to the nearest of: us-east-1, us-east-2",
    ]
    assert kvs_file(tmp_path)["data"] == [{"key": "feature", "value": "on"}]


def test_local_restore_of_a_serving_region_is_a_no_op(tmp_path: Path) -> None:
    result = invoke("restore", E2, "--local", "--data-dir", str(tmp_path))
    assert result.exit_code == 0
    assert result.output.splitlines()[0] == "us-east-2 was not drained; nothing changed"
    assert not (tmp_path / "edge" / "kvs.json").exists()
    invoke("drain", E2, "--local", "--data-dir", str(tmp_path))
    again = invoke("drain", E2, "--local", "--data-dir", str(tmp_path))
    assert again.output.splitlines()[0] == "us-east-2 was already drained; nothing changed"


def test_local_last_region_needs_force(tmp_path: Path) -> None:
    invoke("drain", E2, "--local", "--data-dir", str(tmp_path))
    assert_clean_failure(
        invoke("drain", E1, "--local", "--data-dir", str(tmp_path)), "last serving region", "--force"
    )
    assert kvs_file(tmp_path)["data"] == [{"key": "drained:us-east-2", "value": "true"}]
    forced = invoke("drain", E1, "--force", "--local", "--data-dir", str(tmp_path))
    assert forced.exit_code == 0
    assert forced.output.splitlines()[1].startswith("every region is drained: the edge still routes")


def test_local_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("drain", E2, "--local", "--data-dir", str(tmp_path))
    before = (tmp_path / "edge" / "kvs.json").read_text()

    def fail(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    result = invoke("restore", E2, "--local", "--data-dir", str(tmp_path))
    assert_clean_failure(result, "cannot write", "No space left on device")
    assert (tmp_path / "edge" / "kvs.json").read_text() == before
    assert [p.name for p in (tmp_path / "edge").iterdir()] == ["kvs.json"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{not json", "is not a KVS import file"),
        ('{"items": []}', "is not a KVS import file"),
        ('{"data": [{"key": "a"}]}', "is not a KVS import file"),
        ('{"data": [{"key": "a", "value": 1}]}', "every key must be a non-empty string"),
        ('{"data": [{"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}', "a key appears twice"),
    ],
)
def test_a_broken_local_file_is_one_clear_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "edge" / "kvs.json"
    path.parent.mkdir()
    path.write_text(text)
    assert_clean_failure(invoke("status", "--local", "--data-dir", str(tmp_path)), fragment)


def test_unknown_region_is_one_clear_line(tmp_path: Path) -> None:
    assert_clean_failure(
        invoke("drain", "eu-west-1", "--local", "--data-dir", str(tmp_path)),
        "eu-west-1 is not one of the edge's regions (us-east-1, us-east-2)",
    )
    assert_clean_failure(invoke("restore", "mars-1", "--local", "--data-dir", str(tmp_path)), "mars-1")


def test_local_status_shows_state_and_sample_viewers(tmp_path: Path) -> None:
    result = invoke("status", "--local", "--data-dir", str(tmp_path))
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == f"local edge state {tmp_path / 'edge' / 'kvs.json'}:"
    assert lines[1:4] == [
        "  us-east-1  serving",
        "  us-east-2  serving",
        "viewers are routed to the nearest of: us-east-1, us-east-2",
    ]
    assert lines[-2] == "per-request failover groups for reads: on"
    assert lines[-1] == "automatic drains by the health checkers: on"
    routes = {line.split("->")[0].strip(): line.split("->")[1].strip() for line in lines[4:-2]}
    assert routes == {
        "New York": E1,
        "Chicago": E2,
        "London": E1,
        "Tokyo": E2,
        "São Paulo": E1,
        "(no location)": E1,
    }
    invoke("drain", E2, "--local", "--data-dir", str(tmp_path))
    drained = invoke("status", "--local", "--data-dir", str(tmp_path)).output
    assert "  us-east-2  drained" in drained
    assert "Chicago        -> us-east-1  (nearest, us-east-2, is drained)" in drained


# ---------------------------------------------------------------------------- deployed mode
class FakeCloudFormation:
    def __init__(self, outputs: Mapping[str, Mapping[str, str]]) -> None:
        self.outputs = outputs
        self.asked: list[tuple[str, str]] = []
        self.region = ""

    def __call__(self, region: str) -> FakeCloudFormation:
        self.region = region
        return self

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        self.asked.append((self.region, StackName))
        if not StackName.endswith("-edge"):
            raise AssertionError(f"{StackName}: drains must not need a regional stack")
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.get(StackName, {}).items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch, fake: FakeKeyValueStore, arn: str, tmp_path: Path) -> Path:
    """The repository's configuration (us-east-1 + us-east-2, edge on), deployed, against the fake KVS."""
    config = tmp_path / "regions.yaml"
    shutil.copy(ROOT / "config" / "regions.yaml", config)
    monkeypatch.setenv("ECOMMERCE_CONFIG", str(config))
    monkeypatch.setenv(cli.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv("ECOMMERCE_EDGE_KVS_ARN", raising=False)
    monkeypatch.setattr(cli, "client_factory", fake.client)
    monkeypatch.setattr(
        cli,
        "cloudformation_client_factory",
        FakeCloudFormation({"ecommerce-edge": {Output.EDGE_DRAIN_STORE_ARN: arn}}),
    )
    monkeypatch.setattr(cli, "caller_account_factory", lambda: fake.account)
    return config


def test_drain_asks_only_the_edge_stack_once_then_remembers_the_arn(
    deployed: Path, fake: FakeKeyValueStore, arn: str, tmp_path: Path
) -> None:
    """An impaired region must not stop its own drain: no regional DescribeStacks, and after the
    first lookup no CloudFormation call at all."""
    cloudformation = cli.cloudformation_client_factory
    assert isinstance(cloudformation, FakeCloudFormation)
    assert invoke("drain", E1).exit_code == 0
    assert cloudformation.asked == [("us-east-1", "ecommerce-edge")]
    cached = tmp_path / "cache" / f"{fake.account}-ecommerce-edge.json"
    assert json.loads(cached.read_text()) == {"kvs_arn": arn}
    assert invoke("restore", E1).exit_code == 0
    assert invoke("status").exit_code == 0
    assert cloudformation.asked == [("us-east-1", "ecommerce-edge")]  # remembered


def test_the_remembered_arn_is_per_account(
    deployed: Path, fake: FakeKeyValueStore, arn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same app in another account has another store: its ARN is looked up, not reused."""
    cloudformation = cli.cloudformation_client_factory
    assert isinstance(cloudformation, FakeCloudFormation)
    assert invoke("status").exit_code == 0
    other = FakeKeyValueStore(account="210987654321")
    other_arn = other.create_store()
    monkeypatch.setattr(cli, "client_factory", other.client)
    monkeypatch.setattr(cli, "caller_account_factory", lambda: other.account)
    cloudformation.outputs = {"ecommerce-edge": {Output.EDGE_DRAIN_STORE_ARN: other_arn}}
    assert invoke("drain", E2).exit_code == 0
    assert cloudformation.asked == [("us-east-1", "ecommerce-edge")] * 2
    assert drained(other, other_arn)[E2] and not drained(fake, arn)[E2]
    assert json.loads((tmp_path / "cache" / f"{other.account}-ecommerce-edge.json").read_text()) == {
        "kvs_arn": other_arn
    }


def test_a_remembered_store_that_is_gone_is_looked_up_again_once(
    deployed: Path, fake: FakeKeyValueStore, arn: str, tmp_path: Path
) -> None:
    """The edge stack was replaced: its new store is found through DescribeStacks, once."""
    cloudformation = cli.cloudformation_client_factory
    assert isinstance(cloudformation, FakeCloudFormation)
    gone = f"arn:aws:cloudfront::{fake.account}:key-value-store/00000000-0000-4000-8000-000000000000"
    cached = tmp_path / "cache" / f"{fake.account}-ecommerce-edge.json"
    cached.parent.mkdir(parents=True)
    cached.write_text(json.dumps({"kvs_arn": gone}))
    result = invoke("drain", E2)
    assert result.exit_code == 0, result.output
    assert drained(fake, arn)[E2]
    assert cloudformation.asked == [("us-east-1", "ecommerce-edge")]
    assert json.loads(cached.read_text()) == {"kvs_arn": arn}
    # The stack's output names a store that is gone too: one lookup, then the error.
    cached.write_text(json.dumps({"kvs_arn": gone}))
    cloudformation.outputs = {"ecommerce-edge": {Output.EDGE_DRAIN_STORE_ARN: gone}}
    assert_clean_failure(invoke("restore", E2), "no CloudFront KeyValueStore")
    assert len(cloudformation.asked) == 2


def test_kvs_arn_skips_cloudformation(
    deployed: Path, fake: FakeKeyValueStore, arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(region: str) -> Any:
        raise EndpointConnectionError(endpoint_url=f"https://cloudformation.{region}.amazonaws.com")

    monkeypatch.setattr(cli, "cloudformation_client_factory", unreachable)
    result = invoke("drain", E2, "--kvs-arn", arn)
    assert result.exit_code == 0, result.output
    assert drained(fake, arn)[E2]
    monkeypatch.setenv("ECOMMERCE_EDGE_KVS_ARN", arn)
    assert invoke("restore", E2).exit_code == 0
    assert not drained(fake, arn)[E2]
    monkeypatch.delenv("ECOMMERCE_EDGE_KVS_ARN")
    assert_clean_failure(invoke("status"), "ecommerce-edge", "--kvs-arn")


def test_failover_groups_switch_deployed(deployed: Path, fake: FakeKeyValueStore, arn: str) -> None:
    assert invoke("failover-groups", "off").output.strip() == "failover groups off"
    assert fake.items(arn) == {"failover-groups": "off"}
    assert "per-request failover groups for reads: OFF" in invoke("status").output
    assert invoke("failover-groups", "off").output.strip() == "failover groups off (already; nothing changed)"
    assert invoke("failover-groups", "on").exit_code == 0
    assert fake.items(arn) == {}
    assert "per-request failover groups for reads: on" in invoke("status").output


def test_failover_groups_switch_local_is_what_the_router_reads(tmp_path: Path) -> None:
    assert invoke("failover-groups", "off", "--local", "--data-dir", str(tmp_path)).exit_code == 0
    assert kvs_file(tmp_path) == {"data": [{"key": "failover-groups", "value": "off"}]}
    assert invoke("failover-groups", "on", "--local", "--data-dir", str(tmp_path)).exit_code == 0
    assert kvs_file(tmp_path) == {"data": []}


def test_auto_drain_switch_deployed(deployed: Path, fake: FakeKeyValueStore, arn: str) -> None:
    assert invoke("auto-drain", "off").output.strip() == "automatic drains off"
    assert fake.items(arn) == {"auto-drain": "off"}
    assert "automatic drains by the health checkers: OFF" in invoke("status").output
    assert invoke("auto-drain", "off").output.strip() == "automatic drains off (already; nothing changed)"
    assert invoke("auto-drain", "on").exit_code == 0
    assert fake.items(arn) == {}


def test_auto_drain_switch_local_is_what_the_local_checker_reads(tmp_path: Path) -> None:
    assert invoke("auto-drain", "off", "--local", "--data-dir", str(tmp_path)).exit_code == 0
    assert kvs_file(tmp_path) == {"data": [{"key": "auto-drain", "value": "off"}]}
    assert not edge_state.auto_drain_on(cli.read_local(tmp_path / "edge" / "kvs.json"))
    assert invoke("auto-drain", "on", "--local", "--data-dir", str(tmp_path)).exit_code == 0
    assert kvs_file(tmp_path) == {"data": []}


def test_deployed_drain_status_and_restore_use_the_kvs(
    deployed: Path, fake: FakeKeyValueStore, arn: str
) -> None:
    drained = invoke("drain", E2)
    assert drained.exit_code == 0, drained.output
    assert drained.output.splitlines() == [
        "drained us-east-2",
        "viewers are routed to the nearest of: us-east-1",
    ]
    assert fake.items(arn) == {"drained:us-east-2": "true"}
    put_call = next(c for c in fake.calls if c.operation == "PutKey")
    assert put_call.params["IfMatch"]
    status = invoke("status")
    assert status.output.splitlines()[:3] == [
        f"KeyValueStore {arn}:",
        "  us-east-1  serving",
        "  us-east-2  drained",
    ]
    assert_clean_failure(invoke("drain", E1), "last serving region", "--force")
    assert invoke("restore", E2).output.splitlines()[0] == "restored us-east-2"
    assert invoke("restore", E2).output.splitlines()[0] == "us-east-2 was not drained; nothing changed"
    assert fake.items(arn) == {}


def test_deployed_force_drains_the_last_region(deployed: Path, fake: FakeKeyValueStore, arn: str) -> None:
    put(fake, arn, "drained:us-east-2", "true")
    assert invoke("drain", E1, "--force").exit_code == 0
    assert fake.items(arn) == {"drained:us-east-2": "true", "drained:us-east-1": "true"}


def test_deployed_drain_retries_conflicts(
    deployed: Path, fake: FakeKeyValueStore, arn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edge_state, "DEFAULT_RETRY", edge_state.Retry(sleep=lambda s: None))
    fake.conflict_next_writes(2)
    assert invoke("drain", E2).exit_code == 0
    assert fake.operations().count("PutKey") == 3


def test_deployed_access_denied_is_one_line_with_the_iam_fix(
    deployed: Path, fake: FakeKeyValueStore, arn: str
) -> None:
    fake.inject("ListKeys", "AccessDeniedException")
    assert_clean_failure(invoke("status"), f"allow cloudfront-keyvaluestore:ListKeys on {arn}")


def test_deployed_without_the_output_says_to_deploy(deployed: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "cloudformation_client_factory", FakeCloudFormation({}))
    assert_clean_failure(invoke("status"), "has no output EdgeDrainStoreArn")


def test_deployed_with_the_edge_disabled_says_so(deployed: Path) -> None:
    raw = yaml.safe_load(deployed.read_text())
    raw["edge"]["enabled"] = False
    deployed.write_text(yaml.safe_dump(raw))
    assert_clean_failure(invoke("status"), "edge is disabled", "--local")


def test_a_bad_configuration_is_one_line(deployed: Path) -> None:
    deployed.write_text("regions: [us-east-1, eu-west-1]\n")
    result = invoke("status")
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_deployed_without_the_crt_says_how_to_install_it(
    deployed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    without_crt(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")

    def production_client() -> Any:
        client = edge_state.make_client()
        client.meta.events.register_first("before-send", no_network)
        return client

    monkeypatch.setattr(cli, "client_factory", production_client)
    assert_clean_failure(invoke("status"), "pip install 'botocore[crt]'")


# ------------------------------------------------------------------------------------ routing
def test_routing_rule() -> None:
    nyc, tokyo = (40.71, -74.01), (35.68, 139.69)
    assert cli.ranking(nyc, [E2, E1], E2) == [E1, E2]
    assert cli.ranking(None, [E1, E2], E2) == [E2, E1]  # no location: primary first
    assert cli.ranking(nyc, ["nowhere-1", E2], E2) == [E2, "nowhere-1"]  # unknown places rank last
    assert cli.route(nyc, [E1, E2], E1, {E1: True}) == E2
    assert cli.route(nyc, [E1, E2], E1, {E1: True, E2: True}) == E1  # all drained: nearest anyway
    assert cli.route(tokyo, ["eu-west-1", "ap-northeast-1", E1], E1, {}) == "ap-northeast-1"
    assert cli.arc((0, 0), (0, 180)) == pytest.approx(3.14159, abs=1e-5)


def test_the_local_checker_uses_the_loaded_configurations_thresholds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ecommerce_dev.devserver.checker import local_checker

    config = tmp_path / "regions.yaml"
    config.write_text(
        yaml.safe_dump({"edge": {"health": {"fail_threshold": 4, "restore_threshold": 6}}}), encoding="utf-8"
    )
    monkeypatch.setenv("ECOMMERCE_CONFIG", str(config))
    origins = {E1: "http://127.0.0.1:1", E2: "http://127.0.0.1:2"}
    made = local_checker(origins=origins, kvs_file=tmp_path / "kvs.json").checker.settings
    assert (made.fail_threshold, made.restore_threshold) == (4, 6)
    monkeypatch.setenv("ECOMMERCE_CONFIG", str(tmp_path / "missing.yaml"))  # unreadable: the defaults
    made = local_checker(origins=origins, kvs_file=tmp_path / "kvs.json").checker.settings
    assert (made.fail_threshold, made.restore_threshold) == (2, 3)


def test_local_writers_in_other_processes_never_lose_an_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`make dev`'s checker and an `ecommerce edge --local` command each have their own client (their
    own process): the compare-and-write is under a file lock, so a drain is never overwritten."""
    real_write = cli.write_local

    def slow_write(path: Path, items: Mapping[str, str]) -> None:
        time.sleep(0.01)  # widen the window between the ETag check and the write
        real_write(path, items)

    monkeypatch.setattr(cli, "write_local", slow_write)
    path = tmp_path / "edge" / "kvs.json"
    retry = edge_state.Retry(attempts=200, base_seconds=0.001, cap_seconds=0.005)

    def writer(n: int) -> None:
        client = cli.LocalKvsClient(path)  # one per "process": no shared thread lock
        arn = cli.LOCAL_KVS_ARN

        def step() -> bool:
            etag = edge_state._etag(client, arn)
            edge_state._call(client, "PutKey", arn, Key=f"k{n}", Value="v", IfMatch=etag)
            return True

        edge_state._with_retries(step, retry, arn, f"write k{n}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(cli.read_local(path)) == [f"k{n}" for n in range(6)]
