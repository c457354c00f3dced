"""Aurora DSQL's SQL rules as one pure rule engine.

The guarded local connection (`ecommerce_dev.guarded`) and the linter (`ecommerce_ops.lint`) both
call `analyze`, so a statement is judged the same way whether it is linted or executed.
Classification works on pglast's parse tree (PostgreSQL's own parser). The DSQL-only syntaxes
PostgreSQL cannot parse - ``CREATE [UNIQUE] INDEX ASYNC``, ``ALTER TABLE ASYNC`` and ``AWS IAM
GRANT/REVOKE`` - are found with PostgreSQL's scanner (token level, never regular expressions) before
parsing.

Every rule cites the user-guide page it comes from and when that page said so (`Rule.source`,
`Rule.date`); docs/dsql-guard.md lists them. Limits that need database state (the catalog, bytes
written) are judged by the guarded connection with `catalog_violations` and the `*_violation` helpers.
"""

from __future__ import annotations

from ._checks import (
    Found as Found,
)
from ._checks import (
    NodeCheck as NodeCheck,
)
from ._model import (
    Analysis as Analysis,
)
from ._model import (
    AsyncIndex as AsyncIndex,
)
from ._model import (
    CatalogCheck as CatalogCheck,
)
from ._model import (
    Control as Control,
)
from ._model import (
    GuardSyntaxError as GuardSyntaxError,
)
from ._model import (
    IamCommand as IamCommand,
)
from ._model import (
    Kind as Kind,
)
from ._model import (
    Statement as Statement,
)
from ._model import (
    SyntaxProblem as SyntaxProblem,
)
from ._model import (
    TableFacts as TableFacts,
)
from ._rules import (
    ALTER_TABLE_PAGE as ALTER_TABLE_PAGE,
)
from ._rules import (
    CONCURRENCY_PAGE as CONCURRENCY_PAGE,
)
from ._rules import (
    CREATE_INDEX_PAGE as CREATE_INDEX_PAGE,
)
from ._rules import (
    CREATE_SEQUENCE_PAGE as CREATE_SEQUENCE_PAGE,
)
from ._rules import (
    CREATE_TABLE_PAGE as CREATE_TABLE_PAGE,
)
from ._rules import (
    DDL_PAGE as DDL_PAGE,
)
from ._rules import (
    DSQL_LINT as DSQL_LINT,
)
from ._rules import (
    LIMIT as LIMIT,
)
from ._rules import (
    LONG_STANDING as LONG_STANDING,
)
from ._rules import (
    MAX_INDEX_KEY_COLUMNS as MAX_INDEX_KEY_COLUMNS,
)
from ._rules import (
    MAX_INDEXES_PER_TABLE as MAX_INDEXES_PER_TABLE,
)
from ._rules import (
    MAX_MODIFIED_ROWS as MAX_MODIFIED_ROWS,
)
from ._rules import (
    MAX_STATISTICS_PER_TABLE as MAX_STATISTICS_PER_TABLE,
)
from ._rules import (
    MAX_TABLE_COLUMNS as MAX_TABLE_COLUMNS,
)
from ._rules import (
    MAX_TRANSACTION_AGE as MAX_TRANSACTION_AGE,
)
from ._rules import (
    MAX_TRANSACTION_BYTES as MAX_TRANSACTION_BYTES,
)
from ._rules import (
    MIN_LARGE_SEQUENCE_CACHE as MIN_LARGE_SEQUENCE_CACHE,
)
from ._rules import (
    QUOTAS_PAGE as QUOTAS_PAGE,
)
from ._rules import (
    RULES as RULES,
)
from ._rules import (
    SQL_PAGE as SQL_PAGE,
)
from ._rules import (
    TOO_MANY_COLUMNS as TOO_MANY_COLUMNS,
)
from ._rules import (
    TYPES_PAGE as TYPES_PAGE,
)
from ._rules import (
    UNDATED as UNDATED,
)
from ._rules import (
    UNSUPPORTED as UNSUPPORTED,
)
from ._rules import (
    UNSUPPORTED_PAGE as UNSUPPORTED_PAGE,
)
from ._rules import (
    USER_GUIDE as USER_GUIDE,
)
from ._rules import (
    Rule as Rule,
)
from ._rules import (
    Violation as Violation,
)
from ._rules import (
    age_violation as age_violation,
)
from ._rules import (
    isolation_violation as isolation_violation,
)
from ._rules import (
    row_limit_violation as row_limit_violation,
)
from ._rules import (
    transaction_size_violation as transaction_size_violation,
)
from ._rules import (
    violation as violation,
)
from ._scanner import (
    analyze as analyze,
)
from ._transaction import (
    TransactionState as TransactionState,
)
from ._transaction import (
    catalog_violations as catalog_violations,
)
from ._transaction import (
    check as check,
)
from ._transaction import (
    check_script as check_script,
)
from ._transaction import (
    check_transaction as check_transaction,
)
