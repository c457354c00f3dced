"""Configuration parsing and every validation error: each names the file, the key and a fix."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdk_support import CONFIG
from ecommerce_constructs.config import (
    CONFIG_ENV_VAR,
    ConfigError,
    ConfigWarning,
    EcommerceConfig,
    load_config,
    resolve_config_path,
    validate_config,
)


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "regions.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def error_for(tmp_path: Path, data: Any, **kwargs: Any) -> ConfigError:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path, **kwargs)
    assert str(path) in str(caught.value) or "cdk context" in str(caught.value)
    return caught.value


def test_shipped_file_matches_model_defaults() -> None:
    config = load_config(CONFIG)
    # The file spells out every default (primary_region explicitly), so docs and code agree; it
    # chooses Cognito's Plus plan, backups and order events, which the model (what library users get)
    # leaves off (the events' stream bills while idle).
    assert config == EcommerceConfig(
        primary_region="us-east-1",
        identity={"threat_protection": True},
        backup={"enabled": True},
        events={"enabled": True},
    )
    assert EcommerceConfig().identity.threat_protection is False
    assert EcommerceConfig().backup.enabled is False
    assert EcommerceConfig().events.enabled is False
    assert config.regions == ("us-east-1", "us-east-2")
    assert config.witness_region == "us-west-2"
    assert config.primary == "us-east-1"
    assert config.stack_name("us-east-2") == "ecommerce-us-east-2"
    assert config.edge_stack_name == "ecommerce-edge"
    assert config.database.deletion_protection is None  # follows removal_policy: retain, so on
    assert config.database.removal_policy == "retain"


def test_model_is_frozen() -> None:
    config = EcommerceConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.app_name = "other"  # type: ignore[misc]


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "")) == EcommerceConfig()


def test_single_region_needs_no_witness(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, {"regions": ["eu-west-1"]}))
    assert config.witness_region is None
    assert not config.multi_region


@pytest.mark.parametrize(
    ("data", "key", "fragment"),
    [
        # The recipe's intended trio spans three continents.
        (
            {"regions": ["us-east-1", "eu-west-1", "ap-northeast-1"]},
            "regions",
            "region set",
        ),
        (
            {"regions": ["us-east-1", "eu-west-1"], "witness_region": "us-west-2"},
            "regions",
            "cannot be peered",
        ),
        ({"regions": ["us-east-1", "us-east-1"]}, "regions", "two distinct"),
        ({"regions": ["us-west-1"]}, "regions", "does not offer AWS::DSQL::Cluster"),
        ({"regions": ["us-east-1", "us-east-2"], "witness_region": None}, "witness_region", "need a witness"),
        ({"regions": ["us-east-1", "us-east-2"], "witness_region": "us-east-2"}, "witness_region", "differ"),
        (
            {"regions": ["us-east-1", "us-east-2"], "witness_region": "eu-west-1"},
            "witness_region",
            "same region set",
        ),
        ({"regions": ["us-east-1"], "witness_region": "us-west-2"}, "witness_region", "remove it"),
        ({"primary_region": "us-west-2"}, "primary_region", "must be one of regions"),
        ({"app_name": "Shop_1"}, "app_name", "pattern"),
        ({"account": "12345"}, "account", "pattern"),
        ({"tags": {"aws:owner": "x"}}, "tags", "'aws:' prefix is reserved"),
        ({"tags": {"k" * 129: "x"}}, "tags", "1-128 characters"),
        # DSQL's TagValue pattern has no comma: CreateCluster would fail mid-deploy.
        ({"tags": {"Team": "shop, payments"}}, "tags", "may hold only letters"),
        ({"tags": {"Cost Center": "x" * 257}}, "tags", "at most 256"),
        ({"unknown": 1}, "unknown", "unknown key"),
        ({"api": {"throttle_rate": 5}}, "api.throttle_rate", "unknown key"),
        ({"lambda": {"memory": {"products": 64}}}, "lambda.memory.products", "greater than or equal to 128"),
        ({"lambda": {"memory": {"orders": 10241}}}, "lambda.memory.orders", "less than or equal to 10240"),
        ({"lambda": {"timeout_seconds": 0}}, "lambda.timeout_seconds", "greater than or equal to 1"),
        ({"lambda": {"architecture": "arm"}}, "lambda.architecture", "'arm64' or 'x86_64'"),
        ({"edge": {"price_class": "PriceClass_300"}}, "edge.price_class", "PriceClass_100"),
        ({"edge": {"domain_name": "shop.example.com"}}, "edge", "go together"),
        (
            {"edge": {"certificate_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/abc"}},
            "edge.certificate_arn",
            "pattern",
        ),
        ({"monitoring": {"log_retention_days": 31}}, "monitoring.log_retention_days", "retention period"),
        ({"database": {"removal_policy": "snapshot"}}, "database.removal_policy", "'retain' or 'destroy'"),
        (
            {"database": {"removal_policy": "destroy", "deletion_protection": True}},
            "database",
            "can never delete the cluster",
        ),
        (
            {"database": {"existing_cluster_identifiers": {"us-east-1": "abc"}}},
            "database.existing_cluster_identifiers",
            "26 lowercase",
        ),
        (
            {"database": {"existing_cluster_identifiers": {"eu-west-1": "a" * 26}}},
            "database",
            "not one of the configured regions",
        ),
        (
            {"database": {"kms_key_arns": {"us-east-1": "arn:aws:kms:us-east-2:123456789012:key/1234"}}},
            "database.kms_key_arns",
            "own region",
        ),
        ({"api": {"cors_origins": ["https://shop.example.com/path"]}}, "api.cors_origins", "not an origin"),
        ({"api": {"throttle_rate_limit": 0}}, "api.throttle_rate_limit", "greater than 0"),
    ],
)
def test_validation_errors_name_file_key_and_fix(
    tmp_path: Path, data: dict[str, Any], key: str, fragment: str
) -> None:
    error = error_for(tmp_path, data)
    assert error.key == key
    assert fragment in error.reason
    assert error.source.endswith("regions.yaml")


@pytest.mark.parametrize(
    "data",
    [
        {"regions": ["us-east-1", "eu-west-1"]},
        {"unknown": 1},
        {"lambda": {"memory": {"products": 64}}},
        {"database": {"existing_cluster_identifiers": {"us-east-1": "My Cluster!"}}},
        {"database": {"removal_policy": "destroy", "deletion_protection": True}},
    ],
)
def test_a_config_built_in_code_fails_as_the_file_does(tmp_path: Path, data: dict[str, Any]) -> None:
    """One line naming key and reason, never pydantic's multi-line report."""
    from_file = error_for(tmp_path, data)
    with pytest.raises(ConfigError) as caught:
        EcommerceConfig(**data)
    assert "\n" not in str(caught.value)
    assert (caught.value.source, caught.value.key, caught.value.reason) == (
        "EcommerceConfig(...)",
        from_file.key,
        from_file.reason,
    )


def test_region_set_message_lists_the_sets(tmp_path: Path) -> None:
    error = error_for(tmp_path, {"regions": ["us-east-1", "eu-west-1"]})
    assert "US: us-east-1, us-east-2, us-west-2" in error.reason
    assert "Europe:" in error.reason


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, "app_name: shop\nregions: [us-east-1\n")
    assert error.key.startswith("line ")
    assert "not valid YAML" in error.reason


def test_non_mapping_file(tmp_path: Path) -> None:
    assert "mapping" in error_for(tmp_path, "- a\n- b\n").reason


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ECOMMERCE_CONFIG") as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.source.endswith("nope.yaml")


def test_timeout_above_api_gateway_limit_is_clamped_with_warning(tmp_path: Path) -> None:
    with pytest.warns(ConfigWarning, match="29 s integration timeout"):
        config = load_config(write(tmp_path, {"lambda": {"timeout_seconds": 60}}))
    assert config.lambda_.timeout_seconds == 29


def test_timeout_within_limit_does_not_warn(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_config(write(tmp_path, {"lambda": {"timeout_seconds": 29}})).lambda_.timeout_seconds == 29


def test_price_class_short_forms(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, {"edge": {"price_class": "All"}})).edge.price_class == "PriceClass_All"
    assert load_config(write(tmp_path, {"edge": {"price_class": "200"}})).edge.price_class == "PriceClass_200"


# ---- context overrides: strings from `cdk synth -c key=value` are coerced and validated ---------


@pytest.mark.parametrize(
    ("key", "value", "attribute", "expected"),
    [
        ("dsql_cluster_name", "shop-db", ("database", "cluster_name"), "shop-db"),
        ("enable_monitoring", "false", ("monitoring", "enabled"), False),
        ("enable_xray_tracing", "true", ("monitoring", "tracing"), True),
        ("lambda_memory_size_products", "1024", ("lambda_", "memory", "products"), 1024),
        ("lambda_memory_size_orders", "2048", ("lambda_", "memory", "orders"), 2048),
        ("lambda_timeout_seconds", "20", ("lambda_", "timeout_seconds"), 20),
        ("api_throttle_rate_limit", "50.5", ("api", "throttle_rate_limit"), 50.5),
        ("api_throttle_burst_limit", "75", ("api", "throttle_burst_limit"), 75),
        ("cloudfront_price_class", "PriceClass_All", ("edge", "price_class"), "PriceClass_All"),
        ("log_retention_days", "90", ("monitoring", "log_retention_days"), 90),
    ],
)
def test_context_strings_override_file(
    key: str, value: str, attribute: tuple[str, ...], expected: Any
) -> None:
    config: Any = load_config(CONFIG, context={key: value})
    for part in attribute:
        config = getattr(config, part)
    assert config == expected


def test_null_context_values_mean_not_overridden() -> None:
    assert load_config(CONFIG, context={"lambda_memory_size_products": None}) == load_config(CONFIG)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("lambda_memory_size_products", "lots", "valid integer"),
        ("enable_monitoring", "maybe", "valid boolean"),
        ("log_retention_days", "31", "retention period"),
        ("cloudfront_price_class", "PriceClass_5", "PriceClass_100"),
        ("api_throttle_burst_limit", "-1", "greater than or equal to 1"),
    ],
)
def test_bad_context_values_name_the_context_key(key: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIG, context={key: value})
    assert caught.value.source == f"cdk context -c {key}={value}"
    assert fragment in caught.value.reason


def test_config_file_selection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = write(tmp_path, {"app_name": "shop"})
    monkeypatch.delenv(CONFIG_ENV_VAR, raising=False)
    assert resolve_config_path({}) == Path("config/regions.yaml")
    monkeypatch.setenv(CONFIG_ENV_VAR, str(other))
    assert resolve_config_path({}) == other
    assert load_config(context={}).app_name == "shop"
    # -c config=<file> wins over the environment variable.
    assert resolve_config_path({"config": "x.yaml"}) == Path("x.yaml")


def test_validate_config_accepts_mappings() -> None:
    config = validate_config(
        {"regions": ["ap-northeast-1", "ap-northeast-3"], "witness_region": "ap-northeast-2"}
    )
    assert config.multi_region


# ---- how errors reach a person: the message alone, no traceback ------------------------------------

BAD = "regions: [us-east-1, eu-west-1]\n"
EXPECTED = "regions: us-east-1 and eu-west-1 cannot be peered"


def test_log_retention_table_covers_every_allowed_value() -> None:
    from ecommerce_constructs.config import LOG_RETENTION_DAYS
    from ecommerce_constructs.regional_stack import RETENTION

    assert sorted(RETENTION) == sorted(LOG_RETENTION_DAYS)
    assert len(set(RETENTION.values())) == len(RETENTION)


def test_a_topology_change_fails_at_synth_with_the_reason(tmp_path: Path) -> None:
    from ecommerce_constructs import topology

    lock = tmp_path / "topology.lock.json"
    two = validate_config({})
    topology.guard(two, lock)  # first synth of this app name records it
    topology.guard(two, lock)  # unchanged: fine
    one = validate_config({"regions": ["us-east-1"]})
    with pytest.raises(ConfigError, match="needs new clusters") as caught:
        topology.guard(one, lock)
    assert caught.value.source == str(lock)
    topology.guard(validate_config({"app_name": "shop2", "regions": ["us-east-1"]}), lock)  # a new app
    assert set(json.loads(lock.read_text())) == {"ecommerce", "shop2"}


def test_the_committed_lock_matches_the_shipped_configuration() -> None:
    from ecommerce_constructs import topology

    lock = json.loads((CONFIG.parent / "topology.lock.json").read_text())
    assert lock["ecommerce"] == topology.topology(load_config(CONFIG))


def test_origin_response_timeout_is_capped_at_cloudfronts_maximum(tmp_path: Path) -> None:
    # CustomOriginConfig.OriginReadTimeout: at most 120 s without a quota increase.
    assert (
        validate_config(
            {"edge": {"origin_response_timeout_seconds": 120}}
        ).edge.origin_response_timeout_seconds
        == 120
    )
    error = error_for(tmp_path, {"edge": {"origin_response_timeout_seconds": 121}})
    assert "origin_response_timeout_seconds" in str(error)


@pytest.mark.parametrize(
    ("data", "key", "reason"),
    [
        ({"backup": {"schedule": "rate(1 day)"}}, "backup.schedule", "String should match pattern"),
        ({"backup": {"vault_lock": {"min_retention_days": 7, "changeable_for_days": 2}}},
         "backup.vault_lock.changeable_for_days", "greater than or equal to 3"),
        ({"backup": {"enabled": True, "retention_days": 5, "vault_lock": {"min_retention_days": 7}}},
         "backup", "within the vault lock's retention bounds"),
        ({"backup": {"enabled": True, "copy_region": "us-west-2"}}, "backup.copy_region",
         "two peered regions copy their backups to each other"),
        ({"prune": {"batch_size": 3000}}, "prune.batch_size", "less than or equal to 2000"),
        ({"prune": {"outbox_retention_days": 7}}, "prune.outbox_retention_days",
         "greater than or equal to 8"),
    ],
)  # fmt: skip
def test_backup_and_prune_settings_are_checked_with_file_and_key(
    tmp_path: Path, data: dict[str, Any], key: str, reason: str
) -> None:
    error = error_for(tmp_path, data)
    assert error.key == key and reason in error.reason


def test_a_long_app_name_still_fits_aws_backups_vault_name_limit() -> None:
    config = EcommerceConfig(app_name="a" * 31)
    name = config.backup_vault_name("ap-northeast-1")
    assert len(name) == 50 and name.endswith("-ap-northeast-1-dsql")
