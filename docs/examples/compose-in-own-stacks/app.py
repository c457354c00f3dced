"""The lower-level constructs composed into this app's own stacks: the cluster in a data stack, the
shop API and its database setup in an API stack, and the app's own reporting function allowed to
connect (grant_connect). cdk-nag checks every stack of the app (the `nag` extra)."""

from aws_cdk import (
    Acknowledgment,
    App,
    CrossStackReferences,
    Duration,
    Environment,
    ReferenceStrength,
    Stack,
    Validations,
)
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import AwsSolutionsChecks

from ecommerce_constructs import DatabaseSetup, DsqlCluster, EcommerceApi, OrderStrategy

env = Environment(account="123456789012", region="eu-west-2")
app = App()

data = Stack(app, "Data", env=env)
cluster = DsqlCluster(data, "Cluster", cluster_name="orders-db")

api_stack = Stack(app, "Api", env=env)
# This app's stacks read the cluster's values: weak references, so no export locks the data stack.
CrossStackReferences.of(api_stack).consume(ReferenceStrength.WEAK)
api = EcommerceApi(api_stack, "Shop", cluster=cluster, order_strategy=OrderStrategy.CTE)
# No web ACL in front of this API (GlobalEdge adds one): a choice this app makes, and says so.
Validations.of(api.rest_api.deployment_stage).acknowledge(
    Acknowledgment(id="AwsSolutions-APIG3", reason="internal API behind the company VPN; throttled per method")
)
DatabaseSetup(
    api_stack,
    "Schema",
    cluster=cluster,
    function_roles=api.function_roles,  # each API function logs in as its own database role
)

reporting = Stack(app, "Reporting", env=env)
CrossStackReferences.of(reporting).consume(ReferenceStrength.WEAK)
logs_group = logs.LogGroup(reporting, "ReportLogs", retention=logs.RetentionDays.ONE_MONTH)
role = iam.Role(reporting, "ReportRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
logs_group.grant_write(role)
report = lambda_.Function(
    reporting,
    "Report",
    runtime=lambda_.Runtime.PYTHON_3_14,
    handler="index.handler",
    code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
    role=role,
    log_group=logs_group,
    timeout=Duration.seconds(30),
    environment={"CLUSTER_ENDPOINT": cluster.cluster_endpoint},
)
cluster.grant_connect(report)  # dsql:DbConnect on this cluster only
Validations.of(role).acknowledge(
    Acknowledgment(
        id="AwsSolutions-IAM5[Resource::<ReportLogs9FAB7B1B.Arn>:*]",
        reason="the function writes its own log group's streams",
    )
)

Validations.of(app).add_plugins(AwsSolutionsChecks(app))
app.synth()
