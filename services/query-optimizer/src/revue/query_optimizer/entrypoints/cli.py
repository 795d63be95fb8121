"""`revue-query-optimizer`: index advice for any PostgreSQL, and a recommendation verified.

    revue-query-optimizer advise --database-url URL (--pg-stat-statements | --queries FILE
                                  | --log FILE) [--max-indexes N] [--max-mib M]
                                  [--min-improvement F] [--verify [--verify-on-target]] [--json]
    revue-query-optimizer verify ID [--database-url URL] [--samples N] [--keep]

`advise` reads a workload (the server's pg_stat_statements, a file of
statements, or a server log), asks the database's own planner what each
candidate index would save (hypopg, else real indexes in rolled-back
transactions), chooses within the budget, and prints each index as `CREATE
INDEX CONCURRENTLY ...;` with the statements it helps, its estimated (and,
with `--verify`, measured) gain and its size. Progress goes to stderr, so the
statements can be piped into psql. It changes nothing on the database:
nothing is created outside transactions that are rolled back, unless
`--verify-on-target` builds the choice concurrently (and drops it again).

`verify` builds a recommendation the service made (by its id in the
optimizer's database, `DATABASE_URL`) for real and times its statements.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.engine import make_url

from revue.common.db.engine import asyncpg_dsn, create_engine
from revue.query_optimizer.adapters.statistics import QueryStatistics
from revue.query_optimizer.advice import AdviceRun, advise_workload
from revue.query_optimizer.advisor.selection import Budget, WorkloadQuery
from revue.query_optimizer.advisor.verification import VerifyOptions
from revue.query_optimizer.advisor.whatif import IndexSpec
from revue.query_optimizer.advisor.workloads import Skipped, from_log, from_queries
from revue.query_optimizer.pg_stat_statements import read_statements
from revue.query_optimizer.settings import QueryOptimizerSettings
from revue.query_optimizer.verify import verify

MAX_STATEMENTS = 2_000
MAX_FILE_BYTES = 256 * 1024 * 1024


def progress(message: str) -> None:
    print(f"-- {message}", file=sys.stderr, flush=True)


# --- advise ---------------------------------------------------------------------------


def read_limited(path: Path) -> str:
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SystemExit(f"{path}: larger than {MAX_FILE_BYTES:,} bytes")
    return path.read_text(errors="replace")


def read_file_workload(
    arguments: argparse.Namespace,
) -> tuple[list[WorkloadQuery], list[Skipped], str]:
    path: Path = arguments.queries or arguments.log
    try:
        text = read_limited(path)
    except OSError as error:
        raise SystemExit(f"cannot read {path}: {error.strerror}") from None
    found, skipped = from_queries(text) if arguments.queries else from_log(text)
    found.sort(key=lambda query: -query.calls)
    return found[: arguments.max_statements], skipped, f"{len(found)} statement shapes from {path}"


async def connect(database_url: str) -> asyncpg.Connection:
    """A connection, or a one-line reason (never the URL: it may hold a password)."""
    url = make_url(database_url)
    try:
        return await asyncpg.connect(asyncpg_dsn(database_url), timeout=30)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        where = f"{url.host or 'localhost'}:{url.port or 5432}/{url.database or ''}"
        raise SystemExit(f"cannot connect to {where}: {error}") from None


async def advise(arguments: argparse.Namespace) -> int:
    refused: list[Skipped] = []
    if not arguments.pg_stat_statements:
        workload, refused, source = await asyncio.to_thread(read_file_workload, arguments)
    connection = await connect(arguments.database_url)
    try:
        if arguments.pg_stat_statements:
            workload, source = await read_statements(connection, arguments.max_statements)
        progress(source)
        for skipped in refused:
            progress(str(skipped))
        if not workload:
            print("no statement to advise on", file=sys.stderr)
            return 1
        budget = Budget(
            max_indexes=arguments.max_indexes,
            max_bytes=int(arguments.max_mib * 1024 * 1024) if arguments.max_mib else 1 << 40,
            min_improvement=arguments.min_improvement,
        )
        options = None
        if arguments.verify:
            options = VerifyOptions(
                samples=arguments.samples,
                max_table_bytes=int(arguments.verify_max_table_mib * 1024 * 1024),
                on_target=arguments.verify_on_target,
                min_improvement=arguments.min_improvement,
            )
        run = await advise_workload(
            connection,
            workload,
            budget,
            int(arguments.rollback_max_table_mib * 1024 * 1024),
            verify=options,
            progress=progress,
        )
    finally:
        await connection.close()
    texts = {query.fingerprint: query.statement for query in workload}
    if arguments.json:
        print(orjson.dumps(as_json(run, texts, refused), option=orjson.OPT_INDENT_2).decode())
    else:
        print(as_text(run, texts, refused))
    return 0


def short(statement: str, width: int = 100) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def as_text(run: AdviceRun, texts: dict[str, str], refused: list[Skipped]) -> str:
    advice, lines = run.advice, []
    lines.append(
        f"-- {len(advice.recommendations)} indexes for {run.statements} statements "
        f"({advice.method}); estimated workload cost {advice.cost_before:,.0f} -> "
        f"{advice.cost_after:,.0f}"
    )
    if run.note:
        lines.append(f"-- {run.note}")
    for number, recommendation in enumerate(advice.recommendations, start=1):
        measured = (
            f", measured {recommendation.measured_improvement_pct:.1f} %"
            if recommendation.measured_improvement_pct is not None
            else ""
        )
        lines.append("")
        lines.append(
            f"-- {number}. saves {recommendation.improvement_pct:.1f} % of its statements' "
            f"estimated cost{measured}; {recommendation.size_bytes / 1024 / 1024:.1f} MiB"
        )
        for fingerprint in recommendation.fingerprints[:5]:
            lines.append(f"--    {short(texts.get(fingerprint, fingerprint))}")
        lines.append(f"{recommendation.statement};")
    if run.verified:
        for recommendation, reason in run.verified.dropped:
            lines.append(f"\n-- dropped after verification: {recommendation.index}: {reason}")
        for recommendation, reason in run.verified.unverified:
            lines.append(f"-- not verified: {recommendation.index}: {reason}")
        lines.append("\n-- measured per statement (median ms, without -> with the indexes):")
        for shape in run.verified.shapes:
            if shape.skipped:
                lines.append(f"--   skipped ({shape.skipped}): {short(shape.statement, 60)}")
            elif shape.before_ms is not None and shape.after_ms is not None:
                lines.append(
                    f"--   {shape.before_ms:9.3f} -> {shape.after_ms:9.3f}  "
                    f"{short(shape.statement, 70)}"
                )
    for item in refused:
        lines.append(f"-- {item}")
    for fingerprint, reason in run.skipped.items():
        lines.append(f"-- skipped ({reason}): {short(texts.get(fingerprint, fingerprint), 80)}")
    return "\n".join(lines)


def as_json(run: AdviceRun, texts: dict[str, str], refused: list[Skipped]) -> dict[str, Any]:
    def index(spec: IndexSpec) -> dict[str, Any]:
        return {
            "table": spec.table,
            "columns": list(spec.columns),
            "include": list(spec.include),
            "where": spec.where or None,
        }

    document: dict[str, Any] = {
        "method": run.advice.method,
        "note": run.note,
        "statements": run.statements,
        "cost_before": run.advice.cost_before,
        "cost_after": run.advice.cost_after,
        "recommendations": [
            {
                **index(r.index),
                "statement": r.statement,
                "estimated_improvement_pct": r.improvement_pct,
                "measured_improvement_pct": r.measured_improvement_pct,
                "size_bytes": r.size_bytes,
                "write_overhead": r.write_overhead,
                "helps": [texts.get(f, f) for f in r.fingerprints],
            }
            for r in run.advice.recommendations
        ],
        "skipped": [{"statement": s.statement, "reason": s.reason} for s in refused]
        + [{"statement": texts.get(f, f), "reason": why} for f, why in run.skipped.items()],
    }
    if run.verified:
        document["dropped"] = [{**index(r.index), "reason": why} for r, why in run.verified.dropped]
        document["unverified"] = [
            {**index(r.index), "reason": why} for r, why in run.verified.unverified
        ]
        document["measured"] = [
            {
                "statement": s.statement,
                "calls": s.calls,
                "before_ms": s.before_ms,
                "after_ms": s.after_ms,
                "skipped": s.skipped,
            }
            for s in run.verified.shapes
        ]
    return document


# --- verify ID ------------------------------------------------------------------------


async def verify_recommendation(
    recommendation: int, target_url: str | None, samples: int, keep: bool
) -> int:
    settings = QueryOptimizerSettings()
    engine = create_engine(settings)
    try:
        row = await QueryStatistics(engine).recommendation(recommendation)
    finally:
        await engine.dispose()
    if row is None:
        print(f"no recommendation {recommendation}", file=sys.stderr)
        return 2
    target = await asyncpg.connect(asyncpg_dsn(target_url or settings.database_url))
    try:
        index = IndexSpec(
            row["table_name"], tuple(row["columns"]), tuple(row["include"]), row["predicate"]
        )
        result = await verify(target, index, row["examples"], samples=samples, keep=keep)
    finally:
        await target.close()
    print(
        orjson.dumps(
            {
                "index": str(result.index),
                "name": result.name,
                "size_bytes": result.size_bytes,
                "kept": result.kept,
                "statements": [
                    {**timing.__dict__, "speedup": timing.speedup} for timing in result.statements
                ],
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
    )
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="revue-query-optimizer", description=__doc__.split("\n\n")[0]
    )
    commands = top.add_subparsers(dest="command", required=True)

    advise_parser = commands.add_parser("advise", help="index advice for any PostgreSQL")
    advise_parser.add_argument("--database-url", required=True, help="the database to advise")
    source = advise_parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--pg-stat-statements",
        action="store_true",
        help="the workload: the server's statement statistics",
    )
    source.add_argument(
        "--queries", type=Path, help="a file: one statement per line, or ;-separated"
    )
    source.add_argument("--log", type=Path, help="a csvlog or log_min_duration_statement log")
    advise_parser.add_argument("--max-indexes", type=int, default=10)
    advise_parser.add_argument("--max-mib", type=float, help="bytes all indexes may take together")
    advise_parser.add_argument(
        "--min-improvement",
        type=float,
        default=0.05,
        help="the share an index must save of its statements' cost",
    )
    advise_parser.add_argument("--max-statements", type=int, default=500)
    advise_parser.add_argument(
        "--verify",
        action="store_true",
        help="build the choice for real, time it, drop what does not pay",
    )
    advise_parser.add_argument(
        "--verify-on-target",
        action="store_true",
        help="with --verify: build on tables over the limit too "
        "(CREATE INDEX CONCURRENTLY, dropped again)",
    )
    advise_parser.add_argument(
        "--verify-max-table-mib",
        type=float,
        default=1024.0,
        help="larger tables are verified only --verify-on-target",
    )
    advise_parser.add_argument(
        "--rollback-max-table-mib",
        type=float,
        default=100.0,
        help="without hypopg: build what-if indexes on tables up to this",
    )
    advise_parser.add_argument(
        "--samples", type=int, default=10, help="argument sets per statement"
    )
    advise_parser.add_argument("--json", action="store_true", help="one JSON document")

    check = commands.add_parser("verify", help="build a recommended index and time it")
    check.add_argument("recommendation", type=int)
    check.add_argument("--database-url", help="where to build it (default: DATABASE_URL)")
    check.add_argument("--samples", type=int, default=20)
    check.add_argument("--keep", action="store_true", help="keep the index afterwards")
    return top


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    if arguments.command == "advise":
        if not 1 <= arguments.max_statements <= MAX_STATEMENTS:
            raise SystemExit(f"--max-statements: 1 to {MAX_STATEMENTS}")
        if arguments.verify_on_target and not arguments.verify:
            raise SystemExit("--verify-on-target goes with --verify")
        return asyncio.run(advise(arguments))
    return asyncio.run(
        verify_recommendation(
            arguments.recommendation, arguments.database_url, arguments.samples, arguments.keep
        )
    )


if __name__ == "__main__":
    sys.exit(main())
