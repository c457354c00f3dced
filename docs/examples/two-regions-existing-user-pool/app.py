"""The ready-made two-region app under another app name, trusting a Cognito user pool the
organisation already runs (no pool is created)."""

from aws_cdk import App

from ecommerce_constructs.app import EcommerceConfig, build

config = EcommerceConfig(
    app_name="acme-shop",
    account="123456789012",
    regions=["us-east-1", "us-east-2"],
    primary_region="us-east-1",
    witness_region="us-west-2",
    identity={"user_pool_arn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123"},
    tags={"CostCenter": "4711"},
)

app = App()
shop = build(app, config)  # acme-shop-us-east-1, acme-shop-us-east-2, acme-shop-edge, health checkers
app.synth()
