"""The architecture diagram, derived from the synthesized app so it cannot drift from the code.

``python -m ecommerce_constructs.diagram`` prints a Mermaid flowchart: stacks, the L3 constructs
(DsqlCluster, EcommerceApi, GlobalEdge, ShopIdentity, DatabaseSetup) with their key resources, the
routes each function serves, the cross-stack reference from the edge to the primary API, the user
pool the authorizers trust, peering and the witness region.
``--write docs/architecture.md`` replaces the block between the diagram markers there.
Synthesis skips bundling and cdk-nag, so it takes seconds and needs no network.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aws_cdk import App, CfnResource, Stack
from constructs import Construct, IConstruct

from .app import build
from .bundling import contract
from .config import CONFIG_CONTEXT_KEY, CONTEXT_KEYS, load_config
from .database_setup import DatabaseSetup
from .dsql_cluster import DsqlCluster, IClusterAttributes
from .ecommerce_api import STAGE_NAME, EcommerceApi
from .edge_health import EdgeHealthChecker
from .global_edge import GlobalEdge
from .identity import ShopIdentity
from .origin_guard import OriginGuard

BEGIN = "<!-- architecture-diagram:begin (generated: do not edit by hand) -->"
END = "<!-- architecture-diagram:end -->"
REFRESH = "python -m ecommerce_constructs.diagram --write docs/architecture.md"

L3_TYPES: tuple[type[Construct], ...] = (
    DsqlCluster,
    EcommerceApi,
    GlobalEdge,
    DatabaseSetup,
    ShopIdentity,
    OriginGuard,
    EdgeHealthChecker,
)
# Resources worth a box, by CloudFormation type; everything else is summarized by count.
KEY_RESOURCES: dict[str, str] = {
    "AWS::CloudFront::Distribution": "CloudFront distribution",
    "AWS::CloudFront::CachePolicy": "cache policy (catalog GETs)",
    "AWS::S3::Bucket": "S3 access-log bucket",
    "AWS::ApiGateway::RestApi": "API Gateway REST",
    "AWS::ApiGateway::Stage": "stage",
    "AWS::ApiGateway::Authorizer": "Cognito authorizer",
    "AWS::Cognito::UserPool": "Cognito user pool",
    "AWS::CloudFront::Function": "router (CloudFront Function)",
    "AWS::CloudFront::KeyValueStore": "drain state (KeyValueStore)",
    "AWS::WAFv2::WebACL": "web ACL",
    "AWS::Lambda::Function": "Lambda",
    "Custom::DsqlCluster": "Aurora DSQL cluster (Custom::DsqlCluster)",
    "Custom::DatabaseSetup": "migrations + database roles (Custom::DatabaseSetup)",
}
COUNTED: dict[str, str] = {"AWS::CloudWatch::Alarm": "CloudWatch alarms", "AWS::Logs::LogGroup": "log groups"}


def synthesize_app(cdk_json: Path = Path("cdk.json")) -> App:
    """The app exactly as ``cdk synth`` builds it from config/regions.yaml, minus bundling and nag."""
    context: dict[str, Any] = {}
    if cdk_json.is_file():
        context.update(json.loads(cdk_json.read_text(encoding="utf-8")).get("context", {}))
    context["aws:cdk:bundling-stacks"] = []
    app = App(context=context, builtin_cloud_formation_validation=False)
    keys = [CONFIG_CONTEXT_KEY, *CONTEXT_KEYS]
    build(app, load_config(context={key: app.node.try_get_context(key) for key in keys}), nag=False)
    return app


def node_id(construct: IConstruct) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", construct.node.path).strip("_")


def _label(construct: CfnResource) -> str:
    name = KEY_RESOURCES[construct.cfn_resource_type]
    scope = construct.node.scope
    owner = scope.node.id if scope is not None and construct.node.id == "Resource" else construct.node.id
    if construct.cfn_resource_type == "AWS::Lambda::Function":
        return f"λ {owner.removesuffix('Function')}"
    if construct.cfn_resource_type == "AWS::ApiGateway::Stage":
        return f"stage /{construct.stage_name}"  # type: ignore[attr-defined]
    return name


def _resources(construct: Construct) -> Iterator[CfnResource]:
    for child in construct.node.find_all():
        if CfnResource.is_cfn_resource(child):
            yield child  # type: ignore[misc]


def _box(construct: IConstruct) -> str:
    """The node that stands for an L2 (its default child, the CloudFormation resource)."""
    child = construct.node.default_child
    return node_id(child if child is not None else construct)


def _stack_references(app: App) -> list[tuple[Stack, str]]:
    """(consumer stack, producer stack name) for every cross-stack reference in the templates."""
    assembly = app.synth()
    stacks = {stack.stack_name: stack for stack in app.node.children if isinstance(stack, Stack)}
    found: list[tuple[Stack, str]] = []
    for artifact in assembly.stacks:
        text = json.dumps(artifact.template)
        for producer in re.findall(r'"Fn::GetStackOutput": \{[^}]*"StackName": "([^"]+)"', text):
            pair = (stacks[artifact.stack_name], producer)
            if pair not in found:
                found.append(pair)
    return found


def mermaid(app: App) -> str:
    """A deterministic Mermaid flowchart of ``app`` (stack order and construct ids from the tree)."""
    lines = ["flowchart TB", "  clients([clients])"]
    edges: list[str] = []
    apis: dict[str, EcommerceApi] = {}
    edge_nodes: list[str] = []
    clusters: list[DsqlCluster] = []
    setups: list[DatabaseSetup] = []
    guards: dict[str, OriginGuard] = {}
    checkers: list[EdgeHealthChecker] = []
    global_edges: list[GlobalEdge] = []
    for stack in (child for child in app.node.children if isinstance(child, Stack)):
        lines.append(f'  subgraph {node_id(stack)}["{stack.stack_name} ({stack.region})"]')
        for construct in stack.node.children:
            if not isinstance(construct, L3_TYPES):
                continue
            lines += _l3_block(construct)
            if isinstance(construct, EcommerceApi):
                apis[stack.stack_name] = construct
                edges += _api_edges(construct)
            elif isinstance(construct, GlobalEdge):
                global_edges.append(construct)
                edge_nodes.append(_box(construct.distribution))
                edges += _edge_edges(construct)
            elif isinstance(construct, OriginGuard):
                guards[stack.stack_name] = construct
            elif isinstance(construct, EdgeHealthChecker):
                checkers.append(construct)
            elif isinstance(construct, DsqlCluster):
                clusters.append(construct)
            elif isinstance(construct, DatabaseSetup):
                setups.append(construct)
        lines.append("  end")
    if not edge_nodes:
        edges += [f"  clients --> {_box(api.rest_api)}" for api in apis.values()]
    for consumer, producer in _stack_references(app):
        if producer not in apis:
            continue
        for distribution in (n for n in edge_nodes if n.startswith(node_id(consumer))):
            target = _box(apis[producer].rest_api)
            if producer in guards:
                guard = _box(guards[producer].web_acl)
                label = f"nearest serving region: origin /{STAGE_NAME} + X-Origin-Verify (Fn::GetStackOutput)"
                edges.append(f'  {distribution} -->|"{label}"| {guard} --> {target}')
            else:
                edges.append(f'  {distribution} -->|"origin /{STAGE_NAME} (Fn::GetStackOutput)"| {target}')
    for checker in checkers:
        for api in apis.values():
            edges.append(f'  {_box(checker.function)} -.->|"probes /health"| {_box(api.rest_api)}')
        for edge in global_edges:
            edges.append(f'  {_box(checker.function)} -->|"drains / restores"| {_box(edge.key_value_store)}')
    edges += _cluster_edges(clusters, lines)
    for setup in setups:
        for cluster in clusters:
            label = "admin: migrations, roles" if cluster is setup.cluster else "checks the role mappings"
            edges.append(f'  {_box(setup.resource)} -->|"{label}"| {_box_cluster(cluster)}')
    return "\n".join(lines + edges) + "\n"


def _edge_edges(edge: GlobalEdge) -> list[str]:
    distribution, router, store = _box(edge.distribution), _box(edge.router), _box(edge.key_value_store)
    entry = f"clients --> {distribution}"
    if edge.web_acl is not None:
        entry = f"clients --> {_box(edge.web_acl)} --> {distribution}"
    return [
        f"  {entry}",
        f'  {distribution} -->|"viewer request"| {router} -->|"reads drained:REGION"| {store}',
    ]


def _l3_block(construct: Construct) -> list[str]:
    lines = [f'    subgraph {node_id(construct)}["{type(construct).__name__}: {construct.node.id}"]']
    counts: Counter[str] = Counter()
    for resource in _resources(construct):
        kind = resource.cfn_resource_type
        if "Provider" in resource.node.path.split("/"):
            continue  # a custom resource's machinery, not part of the picture
        if kind in KEY_RESOURCES:
            lines.append(f'      {node_id(resource)}["{_label(resource)}"]')
        elif kind in COUNTED:
            counts[kind] += 1
    if counts:
        summary = ", ".join(f"{counts[kind]} {name}" for kind, name in COUNTED.items() if counts[kind])
        lines.append(f'      {node_id(construct)}_more["{summary}"]')
    lines.append("    end")
    return lines


def _api_edges(api: EcommerceApi) -> list[str]:
    rest = _box(api.rest_api)
    edges = [f"  {rest} --- {_box(api.rest_api.deployment_stage)}"]
    if isinstance(api.identity, ShopIdentity):
        pool = _box(api.identity.user_pool)
        edges.append(f'  {rest} --- {_box(api.authorizer)} -->|"trusts its ID tokens"| {pool}')
    for name, function in api.functions.items():
        tops = dict.fromkeys(
            "/" + route.path.split("/")[1] for route in contract().ROUTES if route.function == name.lower()
        )
        paths = " ".join(tops)
        edges.append(f'  {rest} -->|"{paths}"| {_box(function)}')
        edges.append(f'  {_box(function)} -->|"IAM token (dsql:DbConnect)"| {_box_cluster(api.cluster)}')
    return edges


def _box_cluster(cluster: IClusterAttributes) -> str:
    return _box(cluster.resource) if isinstance(cluster, DsqlCluster) else node_id(cluster)  # type: ignore[arg-type]


def _cluster_edges(clusters: list[DsqlCluster], lines: list[str]) -> list[str]:
    edges: list[str] = []
    for cluster in clusters:
        if cluster.peer is not None:
            label = "peered (this side's resource names each on the other)"
            edges.append(f'  {_box_cluster(cluster.peer)} <-.->|"{label}"| {_box_cluster(cluster)}')
    witnesses = sorted({c.witness_region for c in clusters if c.witness_region})
    for witness in witnesses:
        witness_id = f"witness_{witness.replace('-', '_')}"
        lines.append(f'  {witness_id}(["witness region {witness} (no endpoint)"])')
        edges += [f"  {_box_cluster(c)} -.- {witness_id}" for c in clusters if c.witness_region == witness]
    return edges


def embed(document: str, diagram: str) -> str:
    """``document`` with the block between the markers replaced by ``diagram`` in a mermaid fence."""
    start, end = document.index(BEGIN) + len(BEGIN), document.index(END)
    return document[:start] + "\n```mermaid\n" + diagram + "```\n" + document[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ecommerce_constructs.diagram", description=__doc__)
    parser.add_argument(
        "--write", type=Path, help="update the diagram between the markers in this Markdown file"
    )
    args = parser.parse_args(argv)
    diagram = mermaid(synthesize_app())
    if args.write is None:
        sys.stdout.write(diagram)
        return 0
    args.write.write_text(embed(args.write.read_text(encoding="utf-8"), diagram), encoding="utf-8")
    print(f"updated {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
