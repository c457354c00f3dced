"""What the Lambda code reads from its environment: one model, spelled with ``contract.Env``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .contract import (
    DEFAULT_APP_ROLE,
    DEFAULT_ORDER_STRATEGY,
    LOCAL_OPERATOR_ISSUER,
    METRICS_NAMESPACE,
    SERVICE_NAME,
    Env,
    region_of_endpoint,
)

if TYPE_CHECKING:
    from .db.connection import DatabaseSettings


class Settings(BaseModel):
    """A function's configuration. Unset variables take the defaults shown (local runs, tests).

    The constructs set the first group (``EcommerceApi``); the second group is for local runs and
    tools (``ECOMMERCE_LOCAL_DSN`` switches to a local PostgreSQL instead of DSQL).
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    dsql_endpoint: str | None = Field(None, alias=Env.DSQL_ENDPOINT)
    dsql_region: str | None = Field(None, alias=Env.DSQL_REGION)
    db_user: str = Field(DEFAULT_APP_ROLE, alias=Env.DB_USER)
    cors_origins: tuple[str, ...] = Field((), alias=Env.CORS_ORIGINS)
    service_name: str = Field(SERVICE_NAME, alias=Env.SERVICE_NAME)
    metrics_namespace: str = Field(METRICS_NAMESPACE, alias=Env.METRICS_NAMESPACE)
    trace_disabled: bool = Field(True, alias=Env.TRACE_DISABLED)
    order_strategy: Literal["cte", "pipelined"] = Field(DEFAULT_ORDER_STRATEGY, alias=Env.ORDER_STRATEGY)
    operator_issuer: str = Field(LOCAL_OPERATOR_ISSUER, alias=Env.OPERATOR_ISSUER)

    local_dsn: str | None = Field(None, alias=Env.LOCAL_DSN)
    db_admin: bool = Field(False, alias=Env.DB_ADMIN)
    db_connect_timeout: int = Field(5, ge=1, le=60, alias=Env.DB_CONNECT_TIMEOUT)
    db_application_name: str = Field("ecommerce", alias=Env.DB_APPLICATION_NAME)
    db_max_connection_age: float = Field(55 * 60.0, gt=0, alias=Env.DB_MAX_CONNECTION_AGE)
    trust_file: str | None = Field(None, alias=Env.TRUST_FILE)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin for origin in value.split(",") if origin)
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        aliases = {field.alias for field in cls.model_fields.values()}
        # Empty means unset: CloudFormation cannot leave a variable out conditionally.
        given = {key: value for key, value in env.items() if key in aliases and value}
        deployed = Env.DSQL_ENDPOINT in given or "AWS_LAMBDA_FUNCTION_NAME" in env
        if deployed and Env.OPERATOR_ISSUER not in given and Env.LOCAL_DSN not in given:
            # The local operators' issuer is a default for local runs only: a deployed function
            # whose issuer variable went missing knows no operator at all (fail closed).
            given[Env.OPERATOR_ISSUER] = ""
        return cls.model_validate(given)

    @property
    def region(self) -> str | None:
        """The cluster's region, which is where the function runs."""
        return self.dsql_region or region_of_endpoint(self.dsql_endpoint) or os.environ.get("AWS_REGION")

    def database(self, **overrides: Any) -> DatabaseSettings:
        """The data layer's connection settings (keyword ``overrides`` win)."""
        from dataclasses import replace

        from .db.connection import DatabaseSettings

        settings = DatabaseSettings(
            endpoint=self.dsql_endpoint,
            region=self.region,
            user=self.db_user,
            admin=self.db_admin,
            local_dsn=self.local_dsn,
            connect_timeout=self.db_connect_timeout,
            application_name=self.db_application_name,
            max_connection_age=self.db_max_connection_age,
        )
        if self.trust_file:
            settings = replace(settings, ca_file=self.trust_file)
        settings = replace(settings, **overrides)
        settings.validate()
        return settings
