"""Every bus entry point of the query-optimizer.

- `query.report` / `query.recommendations`: request/reply in queue group
  `query-optimizer` (the gateway's admin routes ask these);
- `db.query.executed`: a durable pull consumer on QUERY_EVENTS. A batch is
  acknowledged once its figures are in Postgres; if the database is down the
  batch is nak'ed and comes back. Malformed events and statements
  PostgreSQL's parser refuses are dropped for good;
- `db.table.changed`: every process with a query cache hears every commit
  (no queue group) and drops the entries built on those tables.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from faststream.nats import NatsBroker
from nats.aio.msg import Msg

from revue.common.bus.pull_consumer import valid_events
from revue.common.contracts import subjects
from revue.common.contracts.events import GetQueryReport, QueryExecuted, TableChanged
from revue.common.contracts.streams import QUERY_EVENTS
from revue.common.contracts.subjects import BusTopology
from revue.common.db.sql_shape import StatementShape
from revue.common.service import ServiceRuntime
from revue.query_optimizer.query_cache import QueryResultCache
from revue.query_optimizer.services import (
    QueryOptimizerService,
    UnparsableStatementError,
    events_total,
)

log = structlog.get_logger("revue.query_optimizer.bus")


def register(runtime: ServiceRuntime, service: QueryOptimizerService, events_consumer: str) -> None:
    broker, topology, group = runtime.broker, runtime.topology, subjects.QUERY_OPTIMIZER_QUEUE_GROUP

    @broker.subscriber(topology.subject(subjects.QUERY_REPORT), queue=group)
    async def report(request: GetQueryReport) -> dict[str, Any]:
        return await service.report(request.limit)

    @broker.subscriber(topology.subject(subjects.QUERY_RECOMMENDATIONS), queue=group)
    async def recommendations(request: GetQueryReport) -> dict[str, Any]:
        return {"recommendations": await service.recommendations(request.limit)}

    async def record(messages: list[Msg]) -> None:
        valid = await valid_events(messages, QueryExecuted)
        events_total.labels("malformed").inc(len(messages) - len(valid))
        accepted: list[tuple[QueryExecuted, StatementShape]] = []
        usable: list[Msg] = []
        for message, event in valid:
            try:
                accepted.append((event, service.shape(event)))
            except UnparsableStatementError:
                await message.term()
                continue
            usable.append(message)
        if not accepted:
            return
        try:
            await service.record(accepted)
        except Exception as error:
            log.warning("query figures not stored; redelivery follows", error=str(error))
            await asyncio.gather(*(message.nak(delay=2) for message in usable))
            return
        await asyncio.gather(*(message.ack() for message in usable))

    runtime.durable_consumer(
        subjects.DB_QUERY_EXECUTED, QUERY_EVENTS, events_consumer, record, ack_wait=60
    )
    follow_table_changes(broker, topology, service.cache)


def follow_table_changes(
    broker: NatsBroker, topology: BusTopology, cache: QueryResultCache
) -> None:
    """Every process with a query cache hears every commit (no queue group)."""

    @broker.subscriber(topology.subject(subjects.DB_TABLE_CHANGED))
    async def drop_changed(change: TableChanged) -> None:
        cache.apply_table_change(change.tables)
