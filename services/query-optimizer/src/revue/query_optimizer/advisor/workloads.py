"""A workload from outside the suite: a file of statements, a server log, pg_stat_statements.

Each statement is parsed (pglast, PostgreSQL's own parser) and kept only when
it is one SELECT, INSERT, UPDATE or DELETE; anything else is reported with
the reason and skipped, never fatal. Statements are counted by fingerprint
(the same shape with other constants is one entry, its calls added up).

- `--queries FILE`: one statement per line, or `;`-separated (split by the
  parser, so a `;` inside a string is no separator); `$n` parameters allowed.
- `--log FILE`: PostgreSQL's csvlog or its stderr log with
  `log_min_duration_statement` (`duration: 1.2 ms  statement: ...` and
  `execute <name>: ...` lines, a statement's continuation lines included).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pglast
from pglast import ast

from revue.query_optimizer.advisor.selection import WorkloadQuery

KINDS = (ast.SelectStmt, ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)
MAX_STATEMENT_CHARS = 100_000
LOGGED = re.compile(
    r"duration: (?P<ms>[\d.]+) ms\s+(?:statement|execute [^:]*|bind [^:]*): (?P<sql>.*)", re.DOTALL
)
PLAIN_STATEMENT = re.compile(r"\bstatement: (?P<sql>.*)", re.DOTALL)
LOG_LINE_START = re.compile(r"^\S.*?\b(?:LOG|ERROR|WARNING|DETAIL|HINT|STATEMENT|CONTEXT):\s")


@dataclass(frozen=True, slots=True)
class Skipped:
    statement: str
    reason: str

    def __str__(self) -> str:
        text = " ".join(self.statement.split())
        return f"skipped ({self.reason}): {text[:120]}"


def _without_leading_comments(statement: str) -> str:
    """A file's `-- what this is` lines above a statement are not part of its text."""
    lines = statement.strip().splitlines()
    while lines and lines[0].lstrip().startswith("--"):
        lines.pop(0)
    return "\n".join(lines).strip()


def classify(statement: str) -> WorkloadQuery | Skipped:
    """One statement as a workload entry, or why it is not one."""
    text = _without_leading_comments(statement).rstrip(";").strip()
    if not text:
        return Skipped(statement, "empty")
    if len(text) > MAX_STATEMENT_CHARS:
        return Skipped(text, f"longer than {MAX_STATEMENT_CHARS:,} characters")
    try:
        parsed = pglast.parse_sql(text)
    except pglast.parser.ParseError as error:
        return Skipped(text, f"does not parse: {error}")
    if len(parsed) != 1:
        return Skipped(text, "more than one statement")
    if not isinstance(parsed[0].stmt, KINDS):
        kind = type(parsed[0].stmt).__name__.removesuffix("Stmt").upper()
        return Skipped(text, f"{kind} is not a SELECT, INSERT, UPDATE or DELETE")
    return WorkloadQuery(pglast.fingerprint(text), text, 1.0)


def counted(statements: Iterable[str]) -> tuple[list[WorkloadQuery], list[Skipped]]:
    """Statements grouped by fingerprint (calls added up), and the ones refused."""
    found: dict[str, WorkloadQuery] = {}
    skipped: list[Skipped] = []
    for statement in statements:
        entry = classify(statement)
        if isinstance(entry, Skipped):
            skipped.append(entry)
            continue
        known = found.get(entry.fingerprint)
        calls = (known.calls if known else 0.0) + 1.0
        found[entry.fingerprint] = WorkloadQuery(
            entry.fingerprint, known.statement if known else entry.statement, calls
        )
    return list(found.values()), skipped


def split_queries(text: str) -> list[str]:
    """`;`-separated statements (split by the parser; naively where one does not parse,
    so that it is reported on its own), else one statement per line."""
    if ";" not in text:
        return [line for line in text.splitlines() if line.strip() and not line.startswith("--")]
    try:
        return list(pglast.split(text))
    except pglast.parser.ParseError:
        return [piece for piece in text.split(";") if piece.strip()]


def from_queries(text: str) -> tuple[list[WorkloadQuery], list[Skipped]]:
    return counted(split_queries(text))


def _stderr_messages(text: str) -> Iterable[str]:
    """Each log entry's message, with its continuation lines (a multi-line statement)."""
    current: list[str] = []
    for line in text.splitlines():
        if LOG_LINE_START.match(line):
            if current:
                yield "\n".join(current)
            current = [line.split(": ", 1)[1] if ": " in line else line]
        elif current and (line.startswith(("\t", " ")) or not line.strip()):
            current.append(line.strip())
        elif current:
            current.append(line)
    if current:
        yield "\n".join(current)


def _csv_messages(text: str) -> Iterable[str]:
    for row in csv.reader(io.StringIO(text)):
        if len(row) > 13:
            yield row[13]  # csvlog's `message` column


def from_log(text: str) -> tuple[list[WorkloadQuery], list[Skipped]]:
    """Statements from a csvlog or a stderr log, with their logged durations."""
    first = text.lstrip()[:40]
    looks_csv = bool(re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \w+,", first))
    messages = _csv_messages(text) if looks_csv else _stderr_messages(text)
    statements = []
    for message in messages:
        match = LOGGED.search(message) or PLAIN_STATEMENT.search(message)
        if match:
            statements.append(match.group("sql"))
    return counted(statements)
