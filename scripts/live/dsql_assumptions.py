"""Turn what tests/fakes/dsql_control_plane.py *assumes* about Aurora DSQL into facts, on a real account.

docs/dsql-clusters.md, "What the fake believes", marks each simulated behaviour documented or
assumed; each check here observes assumed ones and prints what DSQL really did, so the table (and
the fake) can be corrected by the first person with an AWS account. Run them once per region set.

    python scripts/live/dsql_assumptions.py observe --region us-east-1
        READ-ONLY: lists the clusters with status, tags, encryption and peers (is a PENDING_DELETE
        cluster listed? does GetCluster return tags and encryptionDetails?).

    python scripts/live/dsql_assumptions.py peering --regions us-east-1 us-east-2 --witness us-west-2 \\
        --create-billable-clusters
        CREATES THREE CLUSTERS (billed while they exist; all deleted at the end, deletion protection
        off): the status sequence of a pair while it peers; what UpdateCluster answers for a busy
        cluster; what DeleteCluster answers for a cluster still CREATING and for a protected one;
        what naming a cluster that is ACTIVE in another pair does; what unpeering leaves; whether a
        deleted cluster shows DELETED or disappears.

    python scripts/live/dsql_assumptions.py key-change --region us-east-1 --key KEY_ARN \\
        --create-billable-clusters
        CREATES ONE CLUSTER: the encryptionStatus sequence when its key changes and when the change
        is rolled back (and, with a key whose policy lacks DSQL, whether KMS_KEY_INACCESSIBLE appears,
        on which status, and whether it lingers after the switch back).

    python scripts/live/dsql_assumptions.py sys-jobs --endpoint ID.dsql.us-east-1.on.aws --region us-east-1
        READ-ONLY (connects as admin): the columns of sys.jobs, which the user guide does not list
        (the migration runner looks a failed index build up by object_name).

Needs AWS credentials with the DSQL actions named in docs/dsql-clusters.md ("IAM"). Every function
takes a ``client(region)`` factory, so tests/unit/test_live_checks.py runs them against the fake.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

Client = Callable[[str], Any]
MARK = {"ecommerce:live-check": "dsql-assumptions"}


def observe(client: Client, region: str) -> list[dict[str, Any]]:
    """Read-only: every cluster of the region as GetCluster describes it."""
    dsql = client(region)
    seen = []
    for page in dsql.get_paginator("list_clusters").paginate():
        for item in page.get("clusters", []):
            try:
                reply = dsql.get_cluster(identifier=item["identifier"])
            except dsql.exceptions.ResourceNotFoundException:
                continue  # deleted between the listing and this look
            seen.append(
                {
                    "identifier": reply["identifier"],
                    "status": reply["status"],
                    "has_tags_field": "tags" in reply,
                    "encryption": reply.get("encryptionDetails"),
                    "peers": (reply.get("multiRegionProperties") or {}).get("clusters"),
                }
            )
    return seen


def _wait(
    dsql: Any,
    identifier: str,
    until: Callable[[dict[str, Any]], bool],
    *,
    sleep: Callable[[float], None],
    limit: int = 120,
) -> list[str]:
    """Poll GetCluster until ``until(reply)``; the statuses seen, in order (repeats collapsed)."""
    statuses: list[str] = []
    for _ in range(limit):
        try:
            reply = dsql.get_cluster(identifier=identifier)
        except Exception as exc:  # the answer for a cluster that is gone is one of the findings
            statuses.append(f"error:{type(exc).__name__}")
            return statuses
        if not statuses or statuses[-1] != reply["status"]:
            statuses.append(reply["status"])
        if until(reply):
            return statuses
        sleep(10)
    statuses.append("gave-up-waiting")
    return statuses


def _attempt(call: Callable[[], Any]) -> str:
    try:
        call()
    except Exception as exc:
        error = getattr(exc, "response", {}).get("Error", {})
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"
    return "accepted"


def peering(
    client: Client, regions: tuple[str, str], witness: str, *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    first, second = regions
    a_client, b_client = client(first), client(second)
    findings: dict[str, Any] = {}
    created: list[tuple[Any, str]] = []
    try:
        a = a_client.create_cluster(
            deletionProtectionEnabled=False, multiRegionProperties={"witnessRegion": witness}, tags=MARK
        )
        created.append((a_client, a["identifier"]))
        findings["first_alone"] = _wait(
            a_client, a["identifier"], lambda r: r["status"] == "PENDING_SETUP", sleep=sleep
        )
        b = b_client.create_cluster(
            deletionProtectionEnabled=False,
            multiRegionProperties={"witnessRegion": witness, "clusters": [a["arn"]]},
            tags=MARK,
        )
        created.append((b_client, b["identifier"]))
        findings["update_while_second_creating"] = _attempt(
            lambda: a_client.update_cluster(identifier=a["identifier"], deletionProtectionEnabled=False)
        )
        a_client.update_cluster(
            identifier=a["identifier"],
            multiRegionProperties={"witnessRegion": witness, "clusters": [b["arn"]]},
        )
        findings["first_while_peering"] = _wait(
            a_client, a["identifier"], lambda r: r["status"] == "ACTIVE", sleep=sleep
        )
        findings["second_while_peering"] = _wait(
            b_client, b["identifier"], lambda r: r["status"] == "ACTIVE", sleep=sleep
        )
        c = b_client.create_cluster(
            deletionProtectionEnabled=False, multiRegionProperties={"witnessRegion": witness}, tags=MARK
        )
        created.append((b_client, c["identifier"]))
        # A rollback's Delete can reach a cluster still being created (the handler defers it).
        findings["delete_while_creating"] = _attempt(
            lambda: b_client.delete_cluster(identifier=c["identifier"])
        )
        if findings["delete_while_creating"] == "accepted":  # then a fresh one for what follows
            c = b_client.create_cluster(
                deletionProtectionEnabled=False, multiRegionProperties={"witnessRegion": witness}, tags=MARK
            )
            created.append((b_client, c["identifier"]))
        _wait(b_client, c["identifier"], lambda r: r["status"] == "PENDING_SETUP", sleep=sleep)
        b_client.update_cluster(identifier=c["identifier"], deletionProtectionEnabled=True)
        _wait(b_client, c["identifier"], lambda r: r["status"] != "UPDATING", sleep=sleep)
        findings["delete_while_protected"] = _attempt(
            lambda: b_client.delete_cluster(identifier=c["identifier"])
        )
        b_client.update_cluster(identifier=c["identifier"], deletionProtectionEnabled=False)
        _wait(b_client, c["identifier"], lambda r: r["status"] != "UPDATING", sleep=sleep)
        findings["naming_a_cluster_active_in_another_pair"] = _attempt(
            lambda: b_client.update_cluster(
                identifier=c["identifier"],
                multiRegionProperties={"witnessRegion": witness, "clusters": [a["arn"]]},
            )
        )
        b_client.update_cluster(
            identifier=b["identifier"], multiRegionProperties={"witnessRegion": witness, "clusters": []}
        )
        findings["second_after_unpeer"] = _wait(
            b_client, b["identifier"], lambda r: r["status"] != "UPDATING", sleep=sleep
        )
        findings["first_after_unpeer"] = _wait(
            a_client, a["identifier"], lambda r: r["status"] != "UPDATING", sleep=sleep
        )
        findings["listed_statuses"] = [c["status"] for c in observe(client, second)]
    finally:
        for dsql, identifier in reversed(created):
            _attempt(lambda dsql=dsql, identifier=identifier: dsql.delete_cluster(identifier=identifier))
        for dsql, identifier in reversed(created):
            findings.setdefault("after_delete", {})[identifier] = _wait(
                dsql, identifier, lambda r: False, sleep=sleep, limit=60
            )
    return findings


def key_change(
    client: Client, region: str, key: str, *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    dsql = client(region)
    cluster = dsql.create_cluster(deletionProtectionEnabled=False, tags=MARK)
    identifier = cluster["identifier"]
    findings: dict[str, Any] = {}
    try:
        _wait(dsql, identifier, lambda r: r["status"] == "ACTIVE", sleep=sleep)
        dsql.update_cluster(identifier=identifier, kmsEncryptionKey=key)
        findings["status_and_encryption"] = _encryption_sequence(dsql, identifier, sleep)
        # A rollback of the change: straight back to the AWS owned key, polled the same way (does a
        # KMS_KEY_INACCESSIBLE about the old key linger after the request?).
        dsql.update_cluster(identifier=identifier, kmsEncryptionKey="AWS_OWNED_KMS_KEY")
        findings["rolled_back"] = _encryption_sequence(dsql, identifier, sleep)
    finally:
        _attempt(lambda: dsql.delete_cluster(identifier=identifier))
    return findings


def _encryption_sequence(dsql: Any, identifier: str, sleep: Callable[[float], None]) -> list[tuple[str, str]]:
    sequence: list[tuple[str, str]] = []
    for _ in range(120):
        reply = dsql.get_cluster(identifier=identifier)
        state = (reply["status"], (reply.get("encryptionDetails") or {}).get("encryptionStatus", "?"))
        if not sequence or sequence[-1] != state:
            sequence.append(state)
        if state[0] != "UPDATING" and state[1] not in ("UPDATING", "ENABLING"):
            break
        sleep(10)
    return sequence


#: What the migration runner looks a failed index build up by (handlers.db.migrate, _latest_job).
SYS_JOBS_COLUMNS = (
    "SELECT column_name FROM information_schema.columns"
    " WHERE table_schema = 'sys' AND table_name = 'jobs' ORDER BY ordinal_position"
)


def sys_jobs(connect: Callable[[], Any]) -> dict[str, Any]:
    """Read-only: the columns of ``sys.jobs`` (the user guide names none) and its newest rows."""
    with connect() as conn:
        columns = [row[0] for row in conn.execute(SYS_JOBS_COLUMNS).fetchall()]
        rows = conn.execute("SELECT * FROM sys.jobs LIMIT 5").fetchall()
    return {"columns": columns, "has_object_name": "object_name" in columns, "sample": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="check", required=True)
    one = sub.add_parser("observe")
    one.add_argument("--region", required=True)
    two = sub.add_parser("peering")
    two.add_argument("--regions", nargs=2, required=True)
    two.add_argument("--witness", required=True)
    two.add_argument("--create-billable-clusters", action="store_true")
    three = sub.add_parser("key-change")
    three.add_argument("--region", required=True)
    three.add_argument("--key", required=True)
    three.add_argument("--create-billable-clusters", action="store_true")
    four = sub.add_parser("sys-jobs")
    four.add_argument("--endpoint", required=True)
    four.add_argument("--region", required=True)
    args = parser.parse_args(argv)
    import boto3  # type: ignore[import-untyped]

    def client(region: str) -> Any:
        return boto3.client("dsql", region_name=region)

    if args.check == "observe":
        result: Any = observe(client, args.region)
    elif args.check == "sys-jobs":
        import psycopg

        token = client(args.region).generate_db_connect_admin_auth_token(args.endpoint, args.region)
        result = sys_jobs(
            lambda: psycopg.connect(
                host=args.endpoint,
                user="admin",
                dbname="postgres",
                password=token,
                sslmode="verify-full",
                sslrootcert="system",
            )
        )
    elif not args.create_billable_clusters:
        print(
            f"{args.check} creates clusters (billed while they exist): add --create-billable-clusters",
            file=sys.stderr,
        )
        return 2
    elif args.check == "peering":
        result = peering(client, tuple(args.regions), args.witness)
    else:
        result = key_change(client, args.region, args.key)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
