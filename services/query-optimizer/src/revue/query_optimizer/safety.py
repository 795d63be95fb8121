"""Which statements from the bus may be executed for real, and how.

`verify` (and `advise --verify`) run recorded statements to time them, and
recorded text is whatever a service (or anyone on the bus) sent. Only a plain
SELECT is run: one statement, no `INTO`, no row locks, no data-modifying
CTE, no function but the allow-listed pure ones (so no `pg_*` admin
function, no `dblink`, no `lo_*`, no `set_config`), and it runs read-only,
under a statement timeout, as a role that is not a superuser.
"""

from __future__ import annotations

import pglast
from pglast import ast, visitors

# Pure functions a workload's reads commonly call; anything else is refused.
ALLOWED_FUNCTIONS = frozenset(
    {
        "abs", "avg", "bool_and", "bool_or", "btrim", "ceil", "ceiling", "char_length",
        "coalesce", "concat", "count", "current_date", "date_part", "date_trunc", "extract",
        "floor", "greatest", "jsonb_array_length", "jsonb_extract_path_text", "least", "left",
        "length", "lower", "ltrim", "max", "min", "mod", "now", "nullif", "round", "rtrim",
        "right", "sign", "split_part", "string_agg", "array_agg", "json_agg", "jsonb_agg",
        "strpos", "substr", "substring", "sum", "to_char", "trim", "trunc", "upper",
        "row_number", "rank", "dense_rank", "timezone", "age", "make_interval", "position",
    }
)  # fmt: skip
READ_ONLY_ROLE = "pg_read_all_data"  # PostgreSQL 14+: reads every table, writes nothing


class UnsafeStatementError(ValueError):
    """A statement that will not be executed; the message says why."""


class _Calls(visitors.Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.functions: set[str] = set()
        self.problems: list[str] = []

    def visit_FuncCall(self, _: object, node: ast.FuncCall) -> None:
        names = [part.sval for part in node.funcname if isinstance(part, ast.String)]
        schema = names[0] if len(names) > 1 else "pg_catalog"
        if schema != "pg_catalog":
            self.problems.append(f"function {'.'.join(names)} is not allowed")
        self.functions.add(names[-1].lower())

    def visit_SelectStmt(self, _: object, node: ast.SelectStmt) -> None:
        if node.intoClause is not None:
            self.problems.append("SELECT INTO writes a table")
        if node.lockingClause:
            self.problems.append("row locks (FOR UPDATE / SHARE) are not allowed")

    def visit_CommonTableExpr(self, _: object, node: ast.CommonTableExpr) -> None:
        if not isinstance(node.ctequery, ast.SelectStmt):
            self.problems.append("a data-modifying WITH is not allowed")


def ensure_plain_select(sql: str) -> None:
    """Raise `UnsafeStatementError` unless `sql` is one plain, side-effect-free SELECT."""
    try:
        statements = pglast.parse_sql(sql)
    except pglast.parser.ParseError as error:
        raise UnsafeStatementError(f"does not parse: {error}") from error
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.SelectStmt):
        raise UnsafeStatementError("only a single SELECT is executed")
    calls = _Calls()
    calls(statements[0])
    refused = sorted(name for name in calls.functions if name not in ALLOWED_FUNCTIONS)
    if refused:
        calls.problems.append(f"functions outside the allow-list: {', '.join(refused)}")
    if calls.problems:
        raise UnsafeStatementError("; ".join(calls.problems))
