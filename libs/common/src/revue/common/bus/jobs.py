"""Submitting analysis jobs to JetStream (the producer side of `ANALYSIS_JOBS`).

A job is a `RunAnalysis` on `analysis.jobs.<priority>`. Its `Nats-Msg-Id` is
the client's Idempotency-Key when there is one (else the job id), so the same
key submitted twice within the stream's duplicate window is stored once.
`submit_batch` publishes many jobs without waiting for each acknowledgement
in turn (seed 001's `submit_batch`), then checks every one and re-sends
those the bus did not confirm (see `confirmed_publish`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext

from revue.common.bus.confirmed_publish import Outgoing, publish_confirmed
from revue.common.contracts.events import RunAnalysis
from revue.common.contracts.streams import ANALYSIS_JOBS
from revue.common.contracts.subjects import BusTopology
from revue.common.observability.tracing import inject_trace


@dataclass(frozen=True, slots=True)
class Submitted:
    job_id: str
    sequence: int
    duplicate: bool


class JobSubmitter:
    def __init__(self, js: JetStreamContext, topology: BusTopology) -> None:
        self.js = js
        self.topology = topology
        self.stream = topology.stream(ANALYSIS_JOBS.name)

    def _message(
        self, request: RunAnalysis, idempotency_key: str | None
    ) -> tuple[str, bytes, dict[str, str]]:
        headers = inject_trace({"Nats-Msg-Id": idempotency_key or str(request.job_id)})
        subject = self.topology.job_subject(request.priority)
        return subject, request.model_dump_json().encode(), headers

    async def submit(self, request: RunAnalysis, idempotency_key: str | None = None) -> Submitted:
        subject, payload, headers = self._message(request, idempotency_key)
        ack = await self.js.publish(subject, payload, stream=self.stream, headers=headers)
        return Submitted(str(request.job_id), ack.seq, bool(ack.duplicate))

    async def submit_batch(
        self,
        requests: Sequence[RunAnalysis],
        idempotency_keys: Sequence[str | None] | None = None,
    ) -> list[Submitted]:
        keys = idempotency_keys or [None] * len(requests)
        if len(keys) != len(requests):
            raise ValueError("one idempotency key (or None) per request")
        messages = [
            Outgoing(*self._message(request, key))
            for request, key in zip(requests, keys, strict=True)
        ]
        acks = await publish_confirmed(self.js, messages, stream=self.stream)
        return [
            Submitted(str(request.job_id), ack.seq, bool(ack.duplicate))
            for request, ack in zip(requests, acks, strict=True)
        ]
