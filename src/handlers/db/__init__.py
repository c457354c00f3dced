"""Data layer: connections to Aurora DSQL (or the local engine), retrying transactions, migrations.

Importing this package is cheap: no boto3, pglast or embedded PostgreSQL at import time.
"""

from .connection import (
    Database,
    DatabaseSettings,
    aws_connect_kwargs,
    deadline_after,
    dsql_client,
    generate_auth_token,
    get_database,
    make_connector,
    reset_database,
    run_autocommit,
    run_transaction,
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
    "deadline_after",
    "dsql_client",
    "generate_auth_token",
    "get_database",
    "is_serialization_failure",
    "load_migrations",
    "make_connector",
    "reset_database",
    "run_autocommit",
    "run_transaction",
    "split_statements",
    "sqlstate_of",
]
