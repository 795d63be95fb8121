"""Bus entry points of the query-optimizer: the report and the advice (request/reply)."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker

from revue.common.contracts import subjects
from revue.common.contracts.events import GetQueryReport
from revue.common.contracts.subjects import BusTopology
from revue.query_optimizer.report import Reports


def register(broker: NatsBroker, topology: BusTopology, reports: Reports) -> None:
    group = subjects.QUERY_OPTIMIZER_QUEUE_GROUP

    @broker.subscriber(topology.subject(subjects.QUERY_REPORT), queue=group)
    async def report(request: GetQueryReport) -> dict[str, Any]:
        return await reports.report(request.limit)

    @broker.subscriber(topology.subject(subjects.QUERY_RECOMMENDATIONS), queue=group)
    async def recommendations(request: GetQueryReport) -> dict[str, Any]:
        return {"recommendations": await reports.recommendations(request.limit)}
