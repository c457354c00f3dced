"""``DatabaseSetup``: schema migrations and the functions' database roles, at deploy time."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from aws_cdk import ArnFormat, CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from ._references import produce_weakly
from .bundling import contract, handler_code, handlers_source_dir
from .dsql_cluster import IClusterAttributes, cluster_region_of
from .provider import HandlerProvider

RESOURCE_TYPE = "Custom::DatabaseSetup"


def setup_fingerprint() -> str:
    """sha256 of what the setup's result depends on in this distribution: the migration files and
    the role/privilege declarations, read as files (synthesis never imports database code)."""
    source = handlers_source_dir() / "db"
    digest = hashlib.sha256()
    for path in [*sorted((source / "migrations").glob("*.sql")), source / "roles.py"]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def schema_version() -> str:
    """The newest migration this distribution ships (``NNNN`` of ``NNNN_name.sql``): the schema the
    template asks for, so that a rollback asks for the previous one."""
    names = sorted(
        p.name for p in (handlers_source_dir() / "db" / "migrations").glob("[0-9][0-9][0-9][0-9]_*.sql")
    )
    if not names:
        raise ValueError(f"no migrations in {handlers_source_dir() / 'db' / 'migrations'}")
    return names[-1][:4]


class DatabaseSetup(Construct):
    """Runs the migration runner as ``admin`` on ``cluster``, then gives each function its own
    database role (only the privileges its routes need) mapped to its IAM roles.

    Keyword-only props (defaults in brackets):

    - ``cluster``: where the setup runs [required]; the only principals granted
      ``dsql:DbConnectAdmin`` on it are this construct's two functions (the setup, and the poll that
      waits for index builds).
    - ``function_roles``: function name (``catalog``, ``orders``) -> the ARNs of the IAM roles that
      run it, in every region [required].
    - ``peers``: the other clusters of a peered pair: the setup checks through each that the role
      mappings are visible there and applies them there if not [()].
    - ``role_prefix``: database roles are ``<prefix>_<function>`` [``ecommerce``].
    - ``architecture``: of the setup function [ARM_64].
    - ``log_retention`` [ONE_MONTH].

    Re-runs whenever the migrations, the privilege declarations or any mapped IAM role ARN change
    (all are properties of the resource); otherwise CloudFormation leaves it alone.

    - ``restrict_admin``: give every ``DsqlCluster`` it sets up a cluster resource policy that
      denies ``dsql:DbConnectAdmin`` to every principal but this setup's two functions, so a later
      IAM mistake cannot hand out ``admin`` (docs/security.md: break-glass access) [True]. Their
      roles then have physical names.

    Creates: one ``Custom::DatabaseSetup`` and its provider (two functions, roles, log groups).
    Costs while kept: nothing but log storage; it runs only during deploys.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cluster: IClusterAttributes,
        function_roles: Mapping[str, Sequence[str]],
        peers: Sequence[IClusterAttributes] = (),
        role_prefix: str | None = None,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        restrict_admin: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        known = sorted(contract().FUNCTIONS)
        if unknown := sorted(set(function_roles) - set(known)):
            raise ValueError(
                f"DatabaseSetup {self.node.path}: no database role is declared for {unknown}; "
                f"function_roles takes the shop's functions ({', '.join(known)}). A function of your own "
                "connects through grant_connect and logs in as a database role you create and map "
                "yourself (docs/library-guide.md, 'Your own functions')"
            )
        self.cluster = cluster
        code, _ = handler_code(architecture.name)
        self.provider = HandlerProvider(
            self,
            "Provider",
            code=code,
            on_event="handlers.infra.database_setup.on_event",
            # Index builds (CREATE INDEX ASYNC) are waited for by polls, not inside one invocation.
            is_complete="handlers.infra.database_setup.is_complete",
            architecture=architecture,
            timeout=Duration.minutes(5),
            # is_complete may run the remaining migrations and every role statement: the same work.
            is_complete_timeout=Duration.minutes(5),
            log_retention=log_retention,
            description="Database schema and roles",
            # Named: the clusters' resource policies (other stacks) name these roles.
            named_roles=restrict_admin,
        )
        function = self.provider.on_event_function
        cluster.grant_connect_admin(function)
        for peer in peers:
            peer.grant_connect_admin(function)
        # It reads the index builds, records the migrations they finish, applies the next ones and,
        # once none is left, the roles (also through the peers, like on_event).
        assert self.provider.is_complete_function is not None
        for each in (cluster, *peers):
            each.grant_connect_admin(self.provider.is_complete_function)
        #: The only roles that may connect as ``admin`` to the clusters (``restrict_admin``).
        self.admin_role_names = sorted(self.provider.role_names.values())
        if restrict_admin:
            for each in (cluster, *peers):
                restrict = getattr(each, "restrict_admin_to", None)
                if restrict is not None:  # a DsqlCluster of this library (imported ones: not ours)
                    stack = each.stack
                    restrict(*(_role_arn(stack, name) for name in self.admin_role_names))
        prop = contract().DatabaseSetupProperty
        properties = {
            prop.ENDPOINT: cluster.cluster_endpoint,
            prop.REGION: cluster_region_of(cluster),
            prop.PEER_ENDPOINTS: [
                {prop.ENDPOINT: p.cluster_endpoint, prop.REGION: cluster_region_of(p)} for p in peers
            ],
            prop.FUNCTION_ROLE_ARNS: {name: list(arns) for name, arns in sorted(function_roles.items())},
            # Not read by the handler: a change of the setup code alone re-runs the setup.
            "Fingerprint": setup_fingerprint(),
            prop.SCHEMA_VERSION: schema_version(),
        }
        if role_prefix:
            properties[prop.ROLE_PREFIX] = role_prefix
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.provider.service_token,
            resource_type=RESOURCE_TYPE,
            properties=properties,
            removal_policy=RemovalPolicy.DESTROY,
        )
        produce_weakly(self)  # references to these resources never become exports


def _role_arn(stack: Stack, role_name: str) -> str:
    """The role's ARN spelled in ``stack`` (no cross-stack reference: the name is a literal)."""
    return stack.format_arn(
        service="iam",
        region="",
        resource="role",
        resource_name=role_name,
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )
