"""What one SQL statement is, from its parse tree (pglast, PostgreSQL's own parser).

Used on both sides of the bus: the database hooks name the tables a
statement writes (to announce `db.table.changed` after commit) and the
query-optimizer groups statements by fingerprint. The query-result cache
asks whether a statement may be cached at all.

Parsing costs tens of microseconds, so shapes are memoised by statement
text: an application sends the same few hundred texts again and again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import pglast
from pglast import ast, visitors
from pglast.enums import SQLValueFunctionOp

# Functions whose result changes between calls (or between transactions,
# like now()): a result computed with them must never be served again.
VOLATILE_FUNCTIONS = frozenset(
    {
        "now",
        "clock_timestamp",
        "statement_timestamp",
        "transaction_timestamp",
        "timeofday",
        "random",
        "random_normal",
        "setseed",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v4",
        "nextval",
        "currval",
        "lastval",
        "setval",
        "txid_current",
        "pg_current_xact_id",
        "pg_sleep",
        "pg_backend_pid",
        "inet_client_addr",
    }
)
# current_date, current_timestamp, localtime, ... are SQLValueFunction nodes.
TIME_VALUE_FUNCTIONS = frozenset(
    op for op in SQLValueFunctionOp if op.name.startswith(("SVFOP_CURRENT_D", "SVFOP_CURRENT_T"))
) | frozenset(op for op in SQLValueFunctionOp if op.name.startswith("SVFOP_LOCAL"))


class SqlShapeError(ValueError):
    """Text that PostgreSQL's parser refuses."""


@dataclass(frozen=True, slots=True)
class StatementShape:
    fingerprint: str
    normalized: str
    kind: str  # "select", "insert", "update", "delete", "merge", "other"
    statements: int
    reads: frozenset[str]
    writes: frozenset[str]
    functions: frozenset[str]
    volatile: bool
    locking: bool
    temporary: bool  # names a table in pg_temp (CREATE TEMP ... AS is also refused)

    @property
    def cacheable(self) -> bool:
        """A single read with no volatile call, lock clause or temporary table."""
        return (
            self.statements == 1
            and self.kind == "select"
            and not self.writes
            and not (self.volatile or self.locking or self.temporary)
        )


def table_name(schema: str | None, name: str) -> str:
    """`public.users` and `users` are one table to every caller (the default schema)."""
    return name if schema in (None, "", "public") else f"{schema}.{name}"


class _Facts(visitors.Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.writes: set[str] = set()
        self.functions: set[str] = set()
        self.time_functions = False
        self.locking = False
        self.temporary = False

    def _written(self, relation: ast.RangeVar | None) -> None:
        if relation is not None:
            self.writes.add(table_name(relation.schemaname, relation.relname))

    def visit_InsertStmt(self, _: object, node: ast.InsertStmt) -> None:
        self._written(node.relation)

    def visit_UpdateStmt(self, _: object, node: ast.UpdateStmt) -> None:
        self._written(node.relation)

    def visit_DeleteStmt(self, _: object, node: ast.DeleteStmt) -> None:
        self._written(node.relation)

    def visit_MergeStmt(self, _: object, node: ast.MergeStmt) -> None:
        self._written(node.relation)

    def visit_TruncateStmt(self, _: object, node: ast.TruncateStmt) -> None:
        for relation in node.relations or ():
            self._written(relation)

    def visit_CopyStmt(self, _: object, node: ast.CopyStmt) -> None:
        if node.is_from:  # COPY ... FROM loads rows into the table; COPY ... TO only reads it
            self._written(node.relation)

    def visit_FuncCall(self, _: object, node: ast.FuncCall) -> None:
        self.functions.add(node.funcname[-1].sval.lower())

    def visit_SQLValueFunction(self, _: object, node: ast.SQLValueFunction) -> None:
        if node.op in TIME_VALUE_FUNCTIONS:
            self.time_functions = True

    def visit_LockingClause(self, _: object, __: ast.LockingClause) -> None:
        self.locking = True

    def visit_RangeVar(self, _: object, node: ast.RangeVar) -> None:
        if node.schemaname == "pg_temp" or node.relpersistence == "t":
            self.temporary = True

    def visit_IntoClause(self, _: object, __: ast.IntoClause) -> None:
        self.temporary = True  # SELECT ... INTO creates a table: never a plain read


KINDS = {
    ast.SelectStmt: "select",
    ast.InsertStmt: "insert",
    ast.UpdateStmt: "update",
    ast.DeleteStmt: "delete",
    ast.MergeStmt: "merge",
}


# A VALUES list of two or more row groups (no quotes, one level of nested
# parentheses, as SQLAlchemy's insertmanyvalues and VALUES joins render them).
_ROW = r"\((?:[^()']|\([^()']*\))*\)"
_MANY_ROWS = re.compile(rf"(\bVALUES\s*)({_ROW})(?:\s*,\s*{_ROW})+", re.IGNORECASE)


def shape_ignoring_rows(sql: str) -> StatementShape:
    """`shape_of` for statements whose VALUES lists vary in length (group commits).

    The rows after the first change the kind and the tables, never; but each
    row count is a new text, a cache miss and a fresh parse of a long
    statement. The fingerprint and normalized text are those of the one-row
    form: for the tables a statement touches, not for grouping statements.
    """
    return shape_of(_MANY_ROWS.sub(r"\1\2", sql))


@lru_cache(maxsize=4096)
def shape_of(sql: str) -> StatementShape:
    """The shape of `sql` (one or more statements); `SqlShapeError` if it does not parse."""
    try:
        tree = pglast.parse_sql(sql)
        fingerprint = pglast.fingerprint(sql)
        normalized = pglast.parser.normalize(sql)
    except pglast.parser.ParseError as error:
        raise SqlShapeError(str(error)) from error
    if not tree:
        raise SqlShapeError("no statement")
    facts = _Facts()
    reads: set[str] = set()
    for raw in tree:
        facts(raw.stmt)
        for name in visitors.referenced_relations(raw.stmt):
            schema, _, relation = name.rpartition(".")
            reads.add(table_name(schema.strip('"') or None, relation.strip('"')))
    first = tree[0].stmt
    return StatementShape(
        fingerprint=fingerprint,
        normalized=normalized,
        kind=KINDS.get(type(first), "other"),
        statements=len(tree),
        reads=frozenset(reads),
        writes=frozenset(facts.writes),
        functions=frozenset(facts.functions),
        volatile=facts.time_functions or bool(facts.functions & VOLATILE_FUNCTIONS),
        locking=facts.locking,
        temporary=facts.temporary,
    )
