"""Who counts as an operator when the issuer variable is missing: nobody, unless the run is local."""

from __future__ import annotations

from handlers.contract import LOCAL_OPERATOR_ISSUER, Env
from handlers.settings import Settings

POOL_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Operators9"


def test_a_deployed_function_without_the_variable_knows_no_operator() -> None:
    settings = Settings.from_env({Env.DSQL_ENDPOINT: "abc.dsql.us-east-1.on.aws"})
    assert settings.operator_issuer == ""


def test_the_variable_wins_when_set() -> None:
    settings = Settings.from_env({Env.DSQL_ENDPOINT: "x", Env.OPERATOR_ISSUER: POOL_ISSUER})
    assert settings.operator_issuer == POOL_ISSUER


def test_local_runs_default_to_the_dev_identity_providers_operators_even_in_lambda() -> None:
    settings = Settings.from_env(
        {Env.LOCAL_DSN: "postgresql://localhost/shop", "AWS_LAMBDA_FUNCTION_NAME": "f"}
    )
    assert settings.operator_issuer == LOCAL_OPERATOR_ISSUER


def test_inside_lambda_without_the_variable_there_is_no_operator() -> None:
    settings = Settings.from_env({"AWS_LAMBDA_FUNCTION_NAME": "ecommerce-catalog"})
    assert settings.operator_issuer == ""


def test_tools_and_tests_without_a_cluster_keep_the_local_default() -> None:
    assert Settings.from_env({}).operator_issuer == LOCAL_OPERATOR_ISSUER
