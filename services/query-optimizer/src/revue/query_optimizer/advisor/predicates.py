"""Which columns of which tables a statement filters, joins, sorts and groups on.

Read from the parse tree, one SELECT / UPDATE / DELETE scope at a time, with
aliases resolved through that scope's FROM clause. Unqualified columns are
resolved through the catalog's column lists (`columns_of`). A column hidden
behind a function or a cast (`lower(email)`, `id::text`) is left out: a plain
b-tree index on it would not serve that predicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pglast
from pglast import ast, visitors
from pglast.enums import A_Expr_Kind, BoolExprType, NullTestType, SortByDir, SubLinkType
from pglast.stream import RawStream

from revue.common.db.sql_shape import table_name

RANGE_OPERATORS = frozenset({"<", "<=", ">", ">="})


@dataclass
class TableUsage:
    """One table's column roles in one statement, each list in order of appearance."""

    table: str
    equality: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    group: list[str] = field(default_factory=list)
    parameters: dict[int, str] = field(default_factory=dict)  # $n -> the column it is compared to
    # $n -> "lower" or "upper" where it bounds a range (`col >= $1`, `col < $2`, BETWEEN).
    bounds: dict[int, str] = field(default_factory=dict)
    # Equality columns that are tested `IS NULL` (their selectivity is the null share).
    nulls: list[str] = field(default_factory=list)
    # Predicates with a constant (`col IS NULL`, `col = 'pending'`): what a partial index
    # can be built on, as (column, SQL text of the predicate, the constant as text or None).
    constants: list[tuple[str, str, str | None]] = field(default_factory=list)
    # Every column of the table the statement reads (select list, filters, order, having):
    # what an index must carry for an index-only scan.
    reads: set[str] = field(default_factory=set)
    # The statement stops after a LIMIT: it reads few rows, so carrying columns for an
    # index-only scan saves little.
    limited: bool = False

    def add(self, role: list, column: object) -> None:
        if column not in role:
            role.append(column)

    @property
    def columns(self) -> set[str]:
        return {*self.equality, *self.ranges, *self.joins, *(c for c, _ in self.sort), *self.group}


ColumnsOf = Callable[[str], set[str]]


class _Scope:
    """The tables of one FROM clause, by alias."""

    def __init__(self, relations: dict[str, str], columns_of: ColumnsOf) -> None:
        self.relations = relations  # alias or name -> table
        self.columns_of = columns_of

    def resolve(self, node: object) -> tuple[str, str] | None:
        if not isinstance(node, ast.ColumnRef):
            return None
        names = [part.sval for part in node.fields if isinstance(part, ast.String)]
        if len(names) != len(node.fields):  # `t.*`
            return None
        if len(names) >= 2:
            table = self.relations.get(names[-2])
            return (table, names[-1]) if table else None
        owners = {t for t in set(self.relations.values()) if names[0] in self.columns_of(t)}
        return (owners.pop(), names[0]) if len(owners) == 1 else None


def _from_relations(items: tuple | None) -> Iterator[tuple[str, str, ast.Node | None]]:
    """(alias, table, join condition) for every base table of a FROM list."""
    for item in items or ():
        if isinstance(item, ast.RangeVar):
            table = table_name(item.schemaname, item.relname)
            yield (item.alias.aliasname if item.alias else item.relname), table, None
        elif isinstance(item, ast.JoinExpr):
            yield from _from_relations((item.larg, item.rarg))
            if item.quals is not None:
                yield "", "", item.quals


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _constant_text(node: object) -> tuple[str, str | None] | None:
    """A literal (or a cast of one) as SQL text, and its value as text; None otherwise."""
    inner = node.arg if isinstance(node, ast.TypeCast) else node
    if not isinstance(inner, ast.A_Const) or inner.isnull:
        return None
    value = inner.val
    if isinstance(value, ast.String):
        text = value.sval
    elif isinstance(value, ast.Boolean):
        text = "true" if value.boolval else "false"
    elif isinstance(value, ast.Integer):
        text = str(value.ival)
    elif isinstance(value, ast.Float):
        text = value.fval
    else:
        return None
    return RawStream()(node), text


def _value_side(node: object) -> bool:
    """A constant, a parameter or an expression of them: what a b-tree lookup is given."""
    if isinstance(node, ast.TypeCast):
        return _value_side(node.arg)
    if isinstance(node, ast.A_Expr) and node.kind == A_Expr_Kind.AEXPR_OP:
        return all(_value_side(side) for side in (node.lexpr, node.rexpr) if side is not None)
    return isinstance(node, ast.A_Const | ast.ParamRef | ast.FuncCall | ast.SQLValueFunction)


class _Collector:
    def __init__(self, columns_of: ColumnsOf) -> None:
        self.columns_of = columns_of
        self.usage: dict[str, TableUsage] = {}

    def usage_of(self, table: str) -> TableUsage:
        return self.usage.setdefault(table, TableUsage(table))

    def scope(self, from_clause: tuple | None, extra: ast.RangeVar | None = None) -> _Scope:
        relations: dict[str, str] = {}
        conditions = []
        items = (*(from_clause or ()), *((extra,) if extra is not None else ()))
        for alias, table, condition in _from_relations(items):
            if condition is not None:
                conditions.append(condition)
            else:
                relations[alias] = table
                self.usage_of(table)
        scope = _Scope(relations, self.columns_of)
        for condition in conditions:
            self.predicate(scope, condition)
        return scope

    def predicate(self, scope: _Scope, node: object) -> None:
        if isinstance(node, ast.BoolExpr):
            if node.boolop == BoolExprType.AND_EXPR:
                for argument in node.args:
                    self.predicate(scope, argument)
            return  # OR / NOT: no single b-tree range serves them
        if isinstance(node, ast.NullTest):
            column = scope.resolve(node.arg)
            if column and node.nulltesttype == NullTestType.IS_NULL:
                usage = self.usage_of(column[0])
                usage.add(usage.equality, column[1])
                usage.add(usage.nulls, column[1])
                usage.add(usage.constants, (column[1], f"{quote(column[1])} IS NULL", None))
            return
        if isinstance(node, ast.ColumnRef):  # a boolean column alone: `WHERE is_active`
            column = scope.resolve(node)
            if column:
                usage = self.usage_of(column[0])
                usage.add(usage.equality, column[1])
                usage.add(usage.constants, (column[1], quote(column[1]), "true"))
            return
        if isinstance(node, ast.SubLink) and node.subLinkType == SubLinkType.ANY_SUBLINK:
            column = scope.resolve(node.testexpr)
            if column:
                self.usage_of(column[0]).add(self.usage_of(column[0]).joins, column[1])
            return
        if isinstance(node, ast.A_Expr):
            self.comparison(scope, node)

    def comparison(self, scope: _Scope, node: ast.A_Expr) -> None:
        operator = node.name[-1].sval if node.name else ""
        left, right = scope.resolve(node.lexpr), scope.resolve(node.rexpr)
        if node.kind == A_Expr_Kind.AEXPR_OP and operator == "=" and left and right:
            if left[0] != right[0]:
                for table, column in (left, right):
                    self.usage_of(table).add(self.usage_of(table).joins, column)
            return
        flipped = bool(right and not left and _value_side(node.lexpr))
        if flipped:  # `$1 = col`, `$1 < col`: the column on the left
            left, node_value = right, node.lexpr
        else:
            node_value = node.rexpr
        if not left:
            return
        usage = self.usage_of(left[0])
        values = node_value if isinstance(node_value, tuple) else (node_value,)
        if not all(_value_side(value) for value in values):
            return
        if node.kind != A_Expr_Kind.AEXPR_OP_ANY:  # ANY($n) takes an array, not a value
            for value in values:
                parameter = value.arg if isinstance(value, ast.TypeCast) else value
                if isinstance(parameter, ast.ParamRef):
                    usage.parameters[parameter.number] = left[1]
        if node.kind in (A_Expr_Kind.AEXPR_IN, A_Expr_Kind.AEXPR_OP_ANY) or (
            node.kind == A_Expr_Kind.AEXPR_OP and operator == "="
        ):
            usage.add(usage.equality, left[1])
            constant = _constant_text(node_value)
            if node.kind == A_Expr_Kind.AEXPR_OP and constant is not None:
                text, value = constant
                usage.add(usage.constants, (left[1], f"{quote(left[1])} = {text}", value))
        elif node.kind == A_Expr_Kind.AEXPR_BETWEEN or (
            node.kind == A_Expr_Kind.AEXPR_OP and operator in RANGE_OPERATORS
        ):
            usage.add(usage.ranges, left[1])
            if node.kind == A_Expr_Kind.AEXPR_BETWEEN:
                sides = ["lower", "upper"]
            else:
                lower = operator.startswith(">") != flipped  # `col > $1` or `$1 < col`
                sides = ["lower" if lower else "upper"]
            for value, side in zip(values, sides, strict=False):
                parameter = value.arg if isinstance(value, ast.TypeCast) else value
                if isinstance(parameter, ast.ParamRef):
                    usage.bounds[parameter.number] = side

    def reads(self, scope: _Scope, *nodes: object) -> None:
        """Every column these nodes name, of this scope's tables (not of subqueries)."""
        for node in nodes:
            for column in _column_refs(node):
                resolved = scope.resolve(column)
                if resolved:
                    self.usage_of(resolved[0]).reads.add(resolved[1])

    def ordering(self, scope: _Scope, sort: tuple | None, group: tuple | None) -> None:
        keys = [
            (scope.resolve(item.node), item.sortby_dir == SortByDir.SORTBY_DESC)
            for item in sort or ()
        ]
        # Only a sort entirely on one table can be read in index order.
        if keys and all(column for column, _ in keys) and len({c[0] for c, _ in keys}) == 1:
            usage = self.usage_of(keys[0][0][0])
            for column, descending in keys:
                usage.add(usage.sort, (column[1], descending))
        for item in group or ():
            column = scope.resolve(item)
            if column:
                self.usage_of(column[0]).add(self.usage_of(column[0]).group, column[1])


def _column_refs(node: object) -> list[ast.ColumnRef]:
    """The column references in a node, without descending into subqueries."""
    found: list[ast.ColumnRef] = []

    def walk(value: object) -> None:
        if isinstance(value, ast.ColumnRef):
            found.append(value)
        elif isinstance(value, ast.SubLink | ast.RangeSubselect | ast.SelectStmt):
            return  # a subquery has its own scope
        elif isinstance(value, tuple | list):
            for item in value:
                walk(item)
        elif isinstance(value, ast.Node):
            for name in value:
                walk(getattr(value, name))

    walk(node)
    return found


class _Statements(visitors.Visitor):
    def __init__(self, collector: _Collector) -> None:
        super().__init__()
        self.collector = collector

    def visit_SelectStmt(self, _: object, node: ast.SelectStmt) -> None:
        if node.op.name != "SETOP_NONE":
            return  # UNION & co: their arms are visited as SelectStmt of their own
        scope = self.collector.scope(node.fromClause)
        if node.whereClause is not None:
            self.collector.predicate(scope, node.whereClause)
        self.collector.ordering(scope, node.sortClause, node.groupClause)
        if node.limitCount is not None:
            for table in set(scope.relations.values()):
                self.collector.usage_of(table).limited = True
        self.collector.reads(
            scope,
            node.targetList,
            node.whereClause,
            node.sortClause,
            node.groupClause,
            node.havingClause,
            node.fromClause,
        )

    def visit_UpdateStmt(self, _: object, node: ast.UpdateStmt) -> None:
        scope = self.collector.scope(node.fromClause, node.relation)
        if node.whereClause is not None:
            self.collector.predicate(scope, node.whereClause)

    def visit_DeleteStmt(self, _: object, node: ast.DeleteStmt) -> None:
        scope = self.collector.scope(node.usingClause, node.relation)
        if node.whereClause is not None:
            self.collector.predicate(scope, node.whereClause)


def table_usage(sql: str, columns_of: ColumnsOf) -> dict[str, TableUsage]:
    """Column roles per table for every statement in `sql` (raises pglast's ParseError)."""
    collector = _Collector(columns_of)
    visitor = _Statements(collector)
    for raw in pglast.parse_sql(sql):
        visitor(raw.stmt)
    return collector.usage


def parameter_count(sql: str) -> int:
    """The highest `$n` in the text: how many values a generic plan leaves open."""
    highest = 0

    class Params(visitors.Visitor):
        def visit_ParamRef(self, _: object, node: ast.ParamRef) -> None:
            nonlocal highest
            highest = max(highest, node.number)

    for raw in pglast.parse_sql(sql):
        Params()(raw.stmt)
    return highest
