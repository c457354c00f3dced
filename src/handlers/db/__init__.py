"""Data layer: connections to Aurora DSQL (or a local PostgreSQL) and retrying transactions.

What a request needs, nothing more: the migration runner (``handlers.db.migrate``) and the role
setup (``handlers.db.roles``) are imported by name where they run, never on the request path.
"""

from .connection import (
    Database,
    DatabaseSettings,
    aws_connect_kwargs,
    dsql_client,
    generate_auth_token,
    make_connector,
)
from .errors import (
    CommitOutcomeUnknownError,
    ConfigurationError,
    DataLayerError,
    IndexBuildError,
    MigrationChecksumError,
    MigrationError,
    RetriesExhaustedError,
    is_serialization_failure,
    sqlstate_of,
)
from .transactions import Backoff, CallStats, RetryStats

__all__ = [
    "Backoff",
    "CallStats",
    "CommitOutcomeUnknownError",
    "ConfigurationError",
    "DataLayerError",
    "Database",
    "DatabaseSettings",
    "IndexBuildError",
    "MigrationChecksumError",
    "MigrationError",
    "RetriesExhaustedError",
    "RetryStats",
    "aws_connect_kwargs",
    "dsql_client",
    "generate_auth_token",
    "is_serialization_failure",
    "make_connector",
    "sqlstate_of",
]
