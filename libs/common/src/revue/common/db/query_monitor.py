"""Every statement a service runs, timed; sampled to the bus; table changes after commit.

SQLAlchemy's cursor hooks time each statement. A sample of them (all slow
ones, `sample_rate` of the rest) goes out as `db.query.executed`; the tables
a transaction wrote go out as `db.table.changed` once its COMMIT has
returned, never before (a reader told earlier could cache what it is about
to overwrite). In-process listeners hear of the commit at once, before the
bus does.

Nothing here may slow the caller down: the hooks only append to a bounded
buffer, a background task publishes, and what does not fit is dropped and
counted (`db_query_events_dropped_total`).

A statement with the execution option `UNREPORTED` is timed and its writes
announced, but never sent as `db.query.executed`: the query-optimizer's own
recording of those events is one, or every event recorded would send another
(an endless loop at a sample rate of 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import structlog
from nats.aio.client import Client
from prometheus_client import Counter, Histogram
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from revue.common.contracts import subjects
from revue.common.contracts.events import QueryExecuted, TableChanged
from revue.common.contracts.subjects import BusTopology
from revue.common.db.sql_shape import SqlShapeError, shape_ignoring_rows

log = structlog.get_logger("revue.db.monitor")
MAX_STATEMENT_CHARS = 100_000
UNREPORTED = {"revue_unreported": True}  # statement.execution_options(**UNREPORTED)
MAX_TABLES = 64

db_query_latency = Histogram(
    "db_query_latency",
    "Seconds per SQL statement, as the service saw it",
    ["service"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
query_duration_seconds = Histogram(
    "query_duration_seconds",
    "Seconds per SQL statement by kind (select, insert, update, delete, other)",
    ["service", "kind"],
)
events_dropped_total = Counter(
    "db_query_events_dropped_total", "Query events dropped because the buffer was full", ["service"]
)
events_published_total = Counter(
    "db_query_events_published_total", "db.query.executed and db.table.changed sent", ["subject"]
)

TablesListener = Callable[[frozenset[str]], None]


class QueryMonitor:
    def __init__(
        self,
        service: str,
        *,
        sample_rate: float = 0.1,
        slow_ms: float = 100.0,
        buffer_size: int = 10_000,
        sample: Callable[[], float] = random.random,
    ) -> None:
        self.service = service
        self.sample_rate = sample_rate
        self.slow_ms = slow_ms
        self.buffer_size = buffer_size
        self.sample = sample
        self.listeners: list[TablesListener] = []
        self.dropped = 0
        self._queries: deque[QueryExecuted] = deque()
        self._changes: deque[TableChanged] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Labelled children looked up once, not on every statement.
        self._latency = db_query_latency.labels(service)
        self._by_kind = {
            kind: query_duration_seconds.labels(service, kind)
            for kind in ("select", "insert", "update", "delete", "merge", "other")
        }
        # Per monitor: two monitors on one engine must not take each other's notes.
        self._written = f"revue.written.{id(self)}"
        self._started = f"revue.started.{id(self)}"

    # --- hooks (run inside the caller's statement: keep them cheap) ---------------

    def attach(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "before_cursor_execute", self._before)
        event.listen(sync, "after_cursor_execute", self._after)
        event.listen(sync, "rollback", self._rolled_back)
        # SQLAlchemy's `commit` event fires before COMMIT is sent; wrapping the
        # dialect's do_commit is the one place that runs after it succeeded.
        dialect = sync.dialect
        commit = dialect.do_commit

        def do_commit(dbapi_connection: Any) -> None:
            commit(dbapi_connection)
            written = dbapi_connection.info.pop(self._written, None)
            if written:
                self._committed(frozenset(written))

        dialect.do_commit = do_commit  # type: ignore[method-assign]

    def on_tables_changed(self, listener: TablesListener) -> None:
        """`listener(tables)` runs in this process right after a commit that wrote them."""
        self.listeners.append(listener)

    def _before(self, conn: Any, *_: Any) -> None:
        conn.info[self._started] = time.perf_counter()

    def _after(
        self, conn: Any, cursor: Any, statement: str, _: Any, context: Any, executemany: bool
    ) -> None:
        seconds = time.perf_counter() - conn.info.pop(self._started, time.perf_counter())
        options = getattr(context, "execution_options", None) or {}
        reported = not options.get("revue_unreported", False)
        self.observe(conn.info, statement, seconds, getattr(cursor, "rowcount", -1), reported)

    def observe(
        self,
        connection_info: dict[Any, Any],
        statement: str,
        seconds: float,
        rows: Any = -1,
        reported: bool = True,
    ) -> None:
        """Account for a statement run outside SQLAlchemy's cursor (COPY through the driver).

        `connection_info` is the pooled connection's `info`: the tables it
        writes are announced when that connection's transaction commits.
        """
        self._latency.observe(seconds)
        try:
            shape = shape_ignoring_rows(statement)
        except SqlShapeError:
            shape = None
        if shape is not None and shape.writes:
            connection_info.setdefault(self._written, set()).update(shape.writes)
        self._by_kind[shape.kind if shape else "other"].observe(seconds)
        milliseconds = seconds * 1000
        slow = milliseconds >= self.slow_ms
        if not reported or (not slow and self.sample() >= self.sample_rate):
            return
        self._push(
            self._queries,
            QueryExecuted(
                service=self.service,
                statement=statement[:MAX_STATEMENT_CHARS],
                duration_ms=milliseconds,
                rows=rows if isinstance(rows, int) and rows >= 0 else -1,
                tables=sorted(shape.reads)[:MAX_TABLES] if shape else [],
                weight=1.0 if slow else 1.0 / self.sample_rate,
            ),
        )

    def _rolled_back(self, conn: Any) -> None:
        conn.info.pop(self._written, None)

    def _committed(self, tables: frozenset[str]) -> None:
        for listener in self.listeners:
            try:
                listener(tables)
            except Exception:  # one listener's bug must not fail the commit that happened
                log.exception("table-change listener failed")
        for start in range(0, len(tables), MAX_TABLES):
            chunk = sorted(tables)[start : start + MAX_TABLES]
            self._push(self._changes, TableChanged(service=self.service, tables=chunk))

    def _push(self, buffer: deque, item: object) -> None:
        if len(self._queries) + len(self._changes) >= self.buffer_size:
            self.dropped += 1
            events_dropped_total.labels(self.service).inc()
            return
        buffer.append(item)
        self._wake.set()

    # --- publishing ---------------------------------------------------------------

    def start(self, nats: Callable[[], Client], topology: BusTopology) -> None:
        self._nats, self._topology = nats, topology
        self._task = asyncio.create_task(self._publish(), name="query-events")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the publisher, then send what is still buffered (within `timeout`)."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(Exception):  # disconnected or too slow: dropped at exit
            await asyncio.wait_for(self._flush(), timeout)

    async def _publish(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except Exception as error:  # disconnected: keep the buffer, try again shortly
                log.warning("query events not published", error=str(error))
                await asyncio.sleep(0.5)
                self._wake.set()

    async def _flush(self) -> None:
        connection = self._nats()
        # Table changes first: readers are waiting on them.
        subject = self._topology.subject(subjects.DB_TABLE_CHANGED)
        while self._changes:
            await connection.publish(subject, self._changes[0].model_dump_json().encode())
            self._changes.popleft()
            events_published_total.labels(subjects.DB_TABLE_CHANGED).inc()
        subject = self._topology.subject(subjects.DB_QUERY_EXECUTED)
        while self._queries:
            await connection.publish(subject, self._queries[0].model_dump_json().encode())
            self._queries.popleft()
            events_published_total.labels(subjects.DB_QUERY_EXECUTED).inc()
