"""One region, adopting a DSQL cluster that already exists (its identifier from
`aws dsql list-clusters`), with the ready-made stacks configured in code."""

from aws_cdk import App

from ecommerce_constructs.app import EcommerceConfig, build

config = EcommerceConfig(
    app_name="shop",
    account="123456789012",
    regions=["eu-west-1"],
    primary_region="eu-west-1",
    edge={"enabled": False},  # the regional API is the entry point
    database={"existing_cluster_identifiers": {"eu-west-1": "abcdefghijklmnopqrstuvwxyz"}},
)

app = App()
build(app, config)
app.synth()
