"""`revue-query-optimizer verify ID`: build a recommended index for real and time it.

Reads recommendation ID and the example texts of the statements it helps
from the optimizer's database (DATABASE_URL), then builds the index on
`--database-url` (default: the same database), times those statements
before and after, prints the figures and drops the index unless `--keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg
import orjson

from revue.common.db.engine import asyncpg_dsn, create_engine
from revue.query_optimizer.adapters.statistics import QueryStatistics
from revue.query_optimizer.advisor.whatif import IndexSpec
from revue.query_optimizer.settings import QueryOptimizerSettings
from revue.query_optimizer.verify import verify


async def run(recommendation: int, target_url: str | None, samples: int, keep: bool) -> int:
    settings = QueryOptimizerSettings()
    engine = create_engine(settings)
    try:
        row = await QueryStatistics(engine).recommendation(recommendation)
    finally:
        await engine.dispose()
    if row is None:
        print(f"no recommendation {recommendation}", file=sys.stderr)
        return 2
    examples = row["examples"]
    target = await asyncpg.connect(asyncpg_dsn(target_url or settings.database_url))
    try:
        index = IndexSpec(row["table_name"], tuple(row["columns"]))
        result = await verify(target, index, examples, samples=samples, keep=keep)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="revue-query-optimizer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="build a recommended index and time it")
    check.add_argument("recommendation", type=int)
    check.add_argument("--database-url", help="where to build it (default: DATABASE_URL)")
    check.add_argument("--samples", type=int, default=20)
    check.add_argument("--keep", action="store_true", help="keep the index afterwards")
    arguments = parser.parse_args(argv)
    return asyncio.run(
        run(arguments.recommendation, arguments.database_url, arguments.samples, arguments.keep)
    )


if __name__ == "__main__":
    sys.exit(main())
