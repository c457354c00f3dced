"""The library's regional stack under a stack name of this app's choosing, beside a stack of the
app's own (which the library leaves untouched: no tags, no checks)."""

from aws_cdk import App, Environment, Stack
from aws_cdk import aws_sns as sns

from ecommerce_constructs.app import EcommerceConfig, RegionalStack

config = EcommerceConfig(
    app_name="storefront",
    regions=["eu-central-1"],
    primary_region="eu-central-1",
    edge={"enabled": False},
    database={"removal_policy": "destroy"},  # a test environment: the cluster goes with the stack
)
env = Environment(account="123456789012", region="eu-central-1")

app = App()
shop = RegionalStack(app, "Storefront-Test-Shop", config=config, env=env)
shop.add_database_setup([shop.api], peers=[])  # schema and database roles for the API's functions
alerts = Stack(app, "Storefront-Test-Alerts", env=env)
sns.Topic(alerts, "Alerts", enforce_ssl=True)
app.synth()
