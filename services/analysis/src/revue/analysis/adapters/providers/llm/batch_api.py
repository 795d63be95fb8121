"""The Batch API for `batch` priority jobs: one JSONL file, one batch, results when ready.

Providers answer a batch within a window (OpenAI: 24 h) at a lower price.
`BatchCollector.submit` gathers jobs until `max_jobs` are waiting or the
first has waited `max_age_s`, then uploads them as one file (`/v1/files`,
purpose `batch`), creates the batch (`/v1/batches`), polls it, downloads the
output file and hands each job its result, read and priced as any chat
answer. A batch that fails or expires, or a job whose line is missing or
refused, raises `BatchUnavailableError` for those jobs: the job worker then
analyses them with normal calls. An endpoint without the Batch API (404)
means normal calls from then on, logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import httpx
import orjson
import structlog
from prometheus_client import Counter

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.llm import wire
from revue.analysis.adapters.providers.llm.chat import ChatProvider
from revue.analysis.adapters.providers.llm.usage import Tokens, UsageTally, count_call
from revue.common.contracts.errors import ProviderError
from revue.common.contracts.events import AnalysisResult

log = structlog.get_logger("revue.analysis.batch_api")
FINAL = ("completed", "failed", "expired", "cancelled")
batch_jobs_total = Counter(
    "llm_batch_api_jobs_total", "batch-priority jobs and how the Batch API took them", ["outcome"]
)


class BatchUnavailableError(Exception):
    """This job goes through normal calls: no Batch API here, or its batch did not complete."""


@dataclass
class _Waiting:
    item: AnalysisInput
    answer: asyncio.Future[AnalysisResult | ProviderError] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class BatchCollector:
    def __init__(
        self,
        provider: ChatProvider,
        *,
        max_jobs: int = 500,
        max_age_s: float = 30.0,
        poll_s: float = 10.0,
        window: str = "24h",
    ) -> None:
        self.provider = provider
        self.max_jobs, self.max_age_s, self.poll_s, self.window = (
            max_jobs,
            max_age_s,
            poll_s,
            window,
        )
        self.available = True
        self._waiting: dict[str, _Waiting] = {}
        self._timer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._next = 0

    async def submit(self, item: AnalysisInput) -> AnalysisResult | ProviderError:
        """This item's answer from a batch; BatchUnavailableError: use a normal call."""
        if not self.available:
            raise BatchUnavailableError("the provider has no Batch API")
        self._next += 1
        waiting = _Waiting(item)
        self._waiting[f"job-{self._next}"] = waiting
        if len(self._waiting) >= self.max_jobs:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later(), name="batch-api-age")
        return await waiting.answer

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.max_age_s)
        self._timer = None
        self._flush()

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        jobs, self._waiting = self._waiting, {}
        if jobs:
            task = asyncio.create_task(self._run(jobs), name="batch-api")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, jobs: dict[str, _Waiting]) -> None:
        try:
            answers = await self.run_batch({job: waiting.item for job, waiting in jobs.items()})
        except BatchUnavailableError as error:
            for waiting in jobs.values():
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
            return
        except Exception as error:  # a transport failure mid-way: normal calls will do
            log.warning("batch api failed; normal calls", error=repr(error))
            for waiting in jobs.values():
                if not waiting.answer.done():
                    waiting.answer.set_exception(BatchUnavailableError(repr(error)))
            return
        for job, waiting in jobs.items():
            answer = answers.get(job)
            if answer is None:
                batch_jobs_total.labels("sent_back").inc()
                waiting.answer.set_exception(BatchUnavailableError("no answer in the batch"))
            else:
                batch_jobs_total.labels("answered").inc()
                waiting.answer.set_result(answer)

    # --- the Batch API ----------------------------------------------------------------

    async def run_batch(
        self, items: dict[str, AnalysisInput]
    ) -> dict[str, AnalysisResult | ProviderError]:
        client, provider = self.provider.client, self.provider
        lines = [
            orjson.dumps({
                "custom_id": job,
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": provider.request_body([("1", item)]),
            })
            for job, item in items.items()
        ]  # fmt: skip
        upload = await client.post(
            "files",
            data={"purpose": "batch"},
            files={"file": ("revue-batch.jsonl", b"\n".join(lines) + b"\n", "application/jsonl")},
        )
        self._check(upload)
        created = await client.post(
            "batches",
            json={
                "input_file_id": upload.json()["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": self.window,
            },
        )
        self._check(created)
        batch = created.json()
        log.info("batch sent", batch=batch["id"], jobs=len(items))
        while batch.get("status") not in FINAL:
            await asyncio.sleep(self.poll_s)
            polled = await client.get(f"batches/{batch['id']}")
            self._check(polled)
            batch = polled.json()
        if batch["status"] != "completed" or not batch.get("output_file_id"):
            batch_jobs_total.labels(batch["status"]).inc(len(items))
            raise BatchUnavailableError(f"batch {batch['id']} {batch['status']}")
        output = await client.get(f"files/{batch['output_file_id']}/content")
        self._check(output)
        return self._read(output.content, items)

    def _read(
        self, content: bytes, items: dict[str, AnalysisInput]
    ) -> dict[str, AnalysisResult | ProviderError]:
        answers: dict[str, AnalysisResult | ProviderError] = {}
        for line in content.splitlines():
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                entry = orjson.loads(line)
                job, response = entry["custom_id"], entry.get("response") or {}
                if job not in items or response.get("status_code") != 200:
                    continue
                body = response["body"]
                tokens = Tokens.of_answer(body)
                count_call(
                    self.provider.name,
                    self.provider.model,
                    tokens,
                    False,
                    self.provider.options.prices,
                )
                found = wire.read_answer(body["choices"][0]["message"]["content"] or "", ["1"])["1"]
                if isinstance(found, wire.ItemFailure):
                    continue  # sent back: a normal call retries it (alone)
                tally = UsageTally()
                tally.add(1.0, tokens, packed=False)
                answers[job] = self.provider.result_for(items[job], found, tally)
        return answers

    def _check(self, response: httpx.Response) -> None:
        if response.status_code == 404:
            if self.available:
                log.warning("the provider has no Batch API (404): batch jobs use normal calls")
            self.available = False
            raise BatchUnavailableError("the provider has no Batch API")
        response.raise_for_status()

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
