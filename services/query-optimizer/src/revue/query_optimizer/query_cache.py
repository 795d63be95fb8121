"""Query-result cache (seed 001's `execute_query(sql, params, use_cache, cache_ttl)`).

A result is kept in L1 (this process) and L2 (Redis), tagged with every base
table the statement reads: tables named in CTEs and subqueries from the parse
tree, and the tables behind any view, from the catalog. A commit that wrote
one of them drops the entries: at once in the writing process (the
`QueryMonitor` calls `apply_table_change` after COMMIT returns), and in every
other process when `db.table.changed` arrives. The TTL is only a backstop.

Never cached: anything but a single plain SELECT; volatile functions
(now(), random(), nextval(), user functions marked VOLATILE, ...); FOR
UPDATE / SHARE; temporary tables; results over `max_result_bytes`; and a
result whose tables changed while it was being read (it may predate the
change).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
import pglast
import structlog
from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from revue.common.cache.l1 import L1MemoryCache
from revue.common.cache.l2 import L2RedisCache
from revue.common.db.sql_shape import SqlShapeError, StatementShape, shape_of, table_name

log = structlog.get_logger("revue.db.query_cache")
KEY_PREFIX = "db:query:v1:"

query_cache_hits_total = Counter("query_cache_hits_total", "Query-result cache hits", ["tier"])
query_cache_misses_total = Counter("query_cache_misses_total", "Query-result cache misses")
query_cache_refused_total = Counter(
    "query_cache_refused_total", "Results not cached, by reason", ["reason"]
)

# Base tables behind the named relations (views expanded recursively), whether
# any is temporary, and whether any named function has a VOLATILE variant.
VERDICT = """
WITH RECURSIVE named AS (
    SELECT to_regclass(name)::oid AS oid FROM unnest($1::text[]) AS name
), rels(oid) AS (
    SELECT oid FROM named WHERE oid IS NOT NULL
    UNION
    SELECT d.refobjid FROM rels
    JOIN pg_rewrite w ON w.ev_class = rels.oid
    JOIN pg_depend d ON d.objid = w.oid AND d.classid = 'pg_rewrite'::regclass
        AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> rels.oid
)
SELECT
    coalesce(array_agg(n.nspname || '.' || c.relname) FILTER (WHERE c.relkind IN ('r', 'p', 'm', 'f')), '{}') AS tables,
    coalesce(bool_or(c.relpersistence = 't'), false) AS temporary,
    (SELECT count(*) FROM named WHERE oid IS NULL) AS unknown,
    EXISTS (SELECT 1 FROM pg_proc WHERE proname = ANY($2::text[]) AND provolatile = 'v')
        AS volatile
FROM rels JOIN pg_class c ON c.oid = rels.oid JOIN pg_namespace n ON n.oid = c.relnamespace
"""  # noqa: E501


def _bindable(
    sql: str, params: Mapping[str, Any] | Sequence[Any] | None
) -> dict[str, Any] | tuple[Any, ...]:
    """`:name` binds take a dict; `$n` placeholders take values in order (the seed
    passes a dict for `$1`, in order), so one query has one form and one key."""
    if isinstance(params, Mapping) and "$1" not in sql:
        return dict(params)
    return tuple(params.values() if isinstance(params, Mapping) else params or ())


@lru_cache(maxsize=4096)
def canonical(sql: str) -> str:
    """One text per statement however it is spaced, cased or commented."""
    try:
        return pglast.prettify(sql)
    except Exception:  # prettify knows fewer statements than the parser
        return sql


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


@dataclass(frozen=True, slots=True)
class Verdict:
    cacheable: bool
    reason: str
    tables: frozenset[str]


class QueryResultCache:
    def __init__(
        self,
        engine: AsyncEngine,
        l2: L2RedisCache | None = None,
        *,
        enabled: bool = True,
        default_ttl: int = 300,
        l1_max_entries: int = 10_000,
        l1_max_bytes: int = 32 * 1024 * 1024,
        max_result_bytes: int = 1024 * 1024,
    ) -> None:
        self.engine = engine
        self.l1 = L1MemoryCache(l1_max_entries, l1_max_bytes)
        self.l2 = l2
        self.enabled = enabled
        self.default_ttl = default_ttl
        self.max_result_bytes = max_result_bytes
        self.generations: dict[str, int] = {}
        self.counts: defaultdict[str, int] = defaultdict(int)
        self._background: set[asyncio.Task[Any]] = set()

    # --- reads ----------------------------------------------------------------------

    async def execute_query(
        self,
        sql: str,
        params: Mapping[str, Any] | Sequence[Any] | None = None,
        *,
        use_cache: bool = True,
        cache_ttl: int | None = None,
    ) -> tuple[list[dict[str, Any]], float]:
        """Rows as JSON-ready dicts and the milliseconds it took (the seed's pair)."""
        started = time.perf_counter()
        params = _bindable(sql, params)
        try:
            shape: StatementShape | None = shape_of(sql)
        except SqlShapeError:
            shape = None  # let PostgreSQL say what is wrong with it
        if not (use_cache and self.enabled and shape is not None and shape.cacheable):
            async with self.engine.connect() as connection:
                rows = await self._run(connection, sql, params)
            self._refused("not cacheable" if use_cache else "use_cache=False")
            return orjson.loads(self._dump(rows)), self._since(started)

        key = (
            KEY_PREFIX
            + hashlib.sha256(
                canonical(sql).encode() + b"\0" + orjson.dumps(params, default=_json_default)
            ).hexdigest()
        )
        raw = self.l1.get(key)
        if raw is None and self.l2 is not None:
            shared, seconds_left = await self.l2.get_with_ttl(key)
            if shared is not None:
                self._count_hit("l2")
                tags, _, raw = shared.partition(b"\0")
                tag_list = [tag for tag in tags.decode().split(",") if tag]
                if seconds_left > 0:  # the L1 copy expires with the shared entry
                    self.l1.set(key, raw, seconds_left, tag_list)
        elif raw is not None:
            self._count_hit("l1")
        if raw is not None:
            return orjson.loads(raw), self._since(started)

        self.counts["misses"] += 1
        query_cache_misses_total.inc()
        before = dict(self.generations)
        async with self.engine.connect() as connection:
            verdict = await self._verdict(connection, shape)
            rows = await self._run(connection, sql, params)
        raw = self._dump(rows)
        await self._store(key, raw, verdict, before, cache_ttl or self.default_ttl)
        return orjson.loads(raw), self._since(started)

    async def _run(
        self,
        connection: AsyncConnection,
        sql: str,
        params: dict[str, Any] | tuple[Any, ...],
    ) -> list[dict[str, Any]]:
        if isinstance(params, dict):
            result = await connection.execute(text(sql), params)
        else:
            result = await connection.exec_driver_sql(sql, params)
        return [dict(row._mapping) for row in result]

    async def _verdict(self, connection: AsyncConnection, shape: StatementShape) -> Verdict:
        row = (
            await connection.exec_driver_sql(
                VERDICT, (sorted(shape.reads), sorted(shape.functions))
            )
        ).one()
        tables = frozenset(table_name(*name.split(".", 1)) for name in row.tables)
        if row.volatile:
            return Verdict(False, "volatile function", tables)
        if row.temporary:
            return Verdict(False, "temporary table", tables)
        if row.unknown:
            return Verdict(False, "unknown relation", tables)
        return Verdict(True, "", tables | shape.reads)

    async def _store(
        self, key: str, raw: bytes, verdict: Verdict, before: dict[str, int], ttl: int
    ) -> None:
        if not verdict.cacheable:
            self._refused(verdict.reason)
            return
        if len(raw) > self.max_result_bytes:
            self._refused("too large")
            return
        if any(self.generations.get(t, 0) != before.get(t, 0) for t in verdict.tables):
            self._refused("changed while read")
            return
        tags = [f"table:{table}" for table in sorted(verdict.tables)]
        self.l1.set(key, raw, ttl, tags)
        if self.l2 is not None:
            # The tags travel with the value: a process filling its L1 from
            # Redis must be able to drop the copy when one of them changes.
            await self.l2.set(key, ",".join(tags).encode() + b"\0" + raw, ttl, tags)
        self.counts["stored"] += 1

    # --- invalidation ---------------------------------------------------------------

    def apply_table_change(self, tables: frozenset[str] | Sequence[str]) -> int:
        """Drop this process's entries on `tables` now; Redis's copies in the background."""
        removed = 0
        for table in tables:
            self.generations[table] = self.generations.get(table, 0) + 1
            removed += self.l1.delete_tag(f"table:{table}")
        if self.l2 is not None and tables:
            task = asyncio.get_running_loop().create_task(self._drop_shared(list(tables)))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        self.counts["invalidations"] += 1
        return removed

    async def _drop_shared(self, tables: list[str]) -> int:
        removed = 0
        for table in tables:
            count, _ = await self.l2.delete_tag(f"table:{table}")  # type: ignore[union-attr]
            removed += count
        return removed

    async def invalidate_cache_for_table(self, table: str) -> int:
        removed = self.apply_table_change([table])
        if self.l2 is not None:
            removed += await self._drop_shared([table])
        return removed

    # --- figures --------------------------------------------------------------------

    def _count_hit(self, tier: str) -> None:
        self.counts[f"hits_{tier}"] += 1
        query_cache_hits_total.labels(tier).inc()

    def _refused(self, reason: str) -> None:
        self.counts["refused"] += 1
        query_cache_refused_total.labels(reason).inc()

    @staticmethod
    def _dump(rows: list[dict[str, Any]]) -> bytes:
        return orjson.dumps(rows, default=_json_default, option=orjson.OPT_NON_STR_KEYS)

    @staticmethod
    def _since(started: float) -> float:
        return (time.perf_counter() - started) * 1000

    def stats(self) -> dict[str, Any]:
        hits = self.counts["hits_l1"] + self.counts["hits_l2"]
        reads = hits + self.counts["misses"]
        return {
            "enabled": self.enabled,
            "hits": hits,
            "hits_l1": self.counts["hits_l1"],
            "hits_l2": self.counts["hits_l2"],
            "misses": self.counts["misses"],
            "hit_rate": round(hits / reads, 4) if reads else 0.0,
            "stored": self.counts["stored"],
            "refused": self.counts["refused"],
            "invalidations": self.counts["invalidations"],
            "size": len(self.l1),
            "l1": self.l1.stats(),
        }
