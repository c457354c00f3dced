"""Data layer: connections to Aurora DSQL (or the local engine), retrying transactions, migrations.

Importing this package is cheap: no boto3, pglast or embedded PostgreSQL at import time.
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
from .migrate import Migration, MigrationResult, apply_migrations, load_migrations, split_statements
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
    "Migration",
    "MigrationChecksumError",
    "MigrationError",
    "MigrationResult",
    "RetriesExhaustedError",
    "RetryStats",
    "apply_migrations",
    "aws_connect_kwargs",
    "dsql_client",
    "generate_auth_token",
    "is_serialization_failure",
    "load_migrations",
    "make_connector",
    "split_statements",
    "sqlstate_of",
]
