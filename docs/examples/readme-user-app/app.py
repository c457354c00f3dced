from aws_cdk import App, Environment, Stack

from ecommerce_constructs import DatabaseSetup, DsqlCluster, EcommerceApi, FunctionSettings

app = App()
stack = Stack(app, "shop", env=Environment(account="123456789012", region="eu-west-1"))
cluster = DsqlCluster(stack, "Database", cluster_name="shop-db")
api = EcommerceApi(
    stack,
    "Api",
    cluster=cluster,
    orders=FunctionSettings(memory_size=1024),
    cors_origins=["https://shop.example.com"],
)
# The cluster starts empty: the schema and one database role per function, at deploy time.
DatabaseSetup(stack, "Schema", cluster=cluster, function_roles=api.function_roles)
cluster.metric_occ_conflicts()          # CloudWatch metric of the cluster
api.catalog_function                    # every resource is a public attribute
app.synth()
