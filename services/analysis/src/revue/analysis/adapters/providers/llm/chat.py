"""Any OpenAI-compatible chat-completions endpoint as an analysis provider.

A micro-batch's items are packed into as few calls as their token budget
allows (`packing`), each call in the one wire format (`wire`) with the
structured output the server was found to take (`formats`), within the
provider's request and token limits (`limits`). Each answer's `usage` is
read, shared among the call's items and priced (`usage`, `pricing`).

Failures, item by item: an item the answer leaves out, gives twice or whose
findings do not validate is sent again alone, once; if that answer fails
too, the item fails with `invalid_model_answer`. Transport failures,
timeouts, 429 and 5xx fail the call's items with a `RetryableProviderError`
carrying `Retry-After` (the engine retries them); any other refusal is a
`ProviderRejectedError`. When every item of a micro-batch failed retryably,
the whole call raises, so that retries and the breaker see a sick provider
as one.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import structlog

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.builtin.findings import finalize
from revue.analysis.adapters.providers.llm import wire
from revue.analysis.adapters.providers.llm.formats import (
    FormatNegotiation,
    OutputMode,
    refuses_format,
    response_format,
)
from revue.analysis.adapters.providers.llm.limits import ProviderLimits
from revue.analysis.adapters.providers.llm.local_server import (
    MODEL_ALIAS,
    LocalModelServer,
    packaged_model,
)
from revue.analysis.adapters.providers.llm.packing import plan_packs
from revue.analysis.adapters.providers.llm.pricing import ModelPrice
from revue.analysis.adapters.providers.llm.tokens import TokenCounter, counter_for
from revue.analysis.adapters.providers.llm.usage import Tokens, UsageTally, count_call, share
from revue.common.contracts.errors import (
    InvalidModelAnswerError,
    ProviderError,
    ProviderRejectedError,
    RetryableProviderError,
)
from revue.common.contracts.events import AnalysisResult, Finding

log = structlog.get_logger("revue.analysis.chat")
# Part of every cache key: a new prompt may answer differently.
PROMPT_VERSION = hashlib.sha256(wire.SYSTEM_PROMPT.encode()).hexdigest()[:8]


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header, in either of its two forms."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class ChatOptions:
    """How a chat provider packs, counts and prices (LLM_* settings)."""

    pack_max_items: int = 8
    pack_max_prompt_tokens: int = 6_000
    max_completion_tokens: int = 4_096
    completion_tokens_per_item: int = 384
    prices: dict[str, ModelPrice] = field(default_factory=dict)
    output_mode: OutputMode | None = None  # None: negotiate from json_schema down
    timeout: float = 60.0
    max_concurrency: int = 8


@dataclass
class CallResult:
    """What one call gave each of its items, and what it cost."""

    answers: dict[str, list[Finding] | wire.ItemFailure]
    tokens: Tokens


class ChatProvider:
    def __init__(
        self,
        name: str,
        base_url: str,
        model: str,
        api_key: str | None = None,
        *,
        options: ChatOptions | None = None,
        limits: ProviderLimits | None = None,
        counter: TokenCounter | None = None,
        api_model: str | None = None,
    ) -> None:
        self.name = name
        self.model = model
        # What the server calls the model, when it differs (a local server's alias).
        self.api_model = api_model or model
        self.version = f"chat-completions/{model}/prompt-{PROMPT_VERSION}"
        self.options = options or ChatOptions()
        self.items_per_call: int | None = self.options.pack_max_items
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/", timeout=self.options.timeout, headers=headers
        )
        self.limits = limits or ProviderLimits()
        self.calls_per_minute = self.limits.requests.per_minute
        self.counter = counter or counter_for(model)
        self.negotiation = FormatNegotiation(
            name, model, self.options.output_mode or OutputMode.JSON_SCHEMA
        )
        self.frame_tokens = self.counter.count(wire.SYSTEM_PROMPT)
        self._concurrency = asyncio.Semaphore(self.options.max_concurrency)

    def describe(self) -> dict[str, Any]:
        """For /readyz: what this provider is and what it learned."""
        return {
            "provider": self.name,
            "model": self.model,
            "structured_output": self.negotiation.describe(),
            "tokenizer": self.counter.tokenizer,
        }

    # --- a micro-batch -----------------------------------------------------------------

    async def analyze_batch(
        self, items: Sequence[AnalysisInput]
    ) -> list[AnalysisResult | ProviderError]:
        blocks = [
            self.counter.count(wire.item_block(str(i + 1), item)) for i, item in enumerate(items)
        ]
        packs = plan_packs(
            blocks,
            self.options.pack_max_items,
            self.options.pack_max_prompt_tokens,
            self.frame_tokens,
        )
        tallies = [UsageTally() for _ in items]
        outcomes: list[list[Finding] | ProviderError | None] = [None] * len(items)

        async def pack_then_stragglers(pack: list[int]) -> None:
            await self._call_into(pack, items, blocks, tallies, outcomes)
            stragglers = [i for i in pack if isinstance(outcomes[i], wire.ItemFailure)]
            # Retried alone, once: a model that lost one item of a pack often answers it alone.
            await asyncio.gather(
                *(self._call_into([i], items, blocks, tallies, outcomes) for i in stragglers)
            )

        await asyncio.gather(*(pack_then_stragglers(pack) for pack in packs))
        results = [self._result(items[i], outcomes[i], tallies[i]) for i in range(len(items))]
        if results and all(isinstance(r, RetryableProviderError) for r in results):
            raise results[0]  # type: ignore[misc]
        return results

    async def _call_into(
        self,
        pack: list[int],
        items: Sequence[AnalysisInput],
        blocks: list[int],
        tallies: list[UsageTally],
        outcomes: list[Any],
    ) -> None:
        ids = [str(i + 1) for i in pack]
        try:
            called = await self.call(
                [(item_id, items[i]) for item_id, i in zip(ids, pack, strict=True)],
                blocks_of=[blocks[i] for i in pack],
            )
        except ProviderError as error:
            for i in pack:
                outcomes[i] = error
            return
        packed = len(pack) > 1
        for i, (calls, tokens) in zip(
            pack, share(called.tokens, [blocks[i] for i in pack]), strict=True
        ):
            tallies[i].add(calls, tokens, packed)
        for item_id, i in zip(ids, pack, strict=True):
            answer = called.answers[item_id]
            if isinstance(answer, wire.ItemFailure) and isinstance(outcomes[i], wire.ItemFailure):
                # The second failure: retried alone already.
                outcomes[i] = InvalidModelAnswerError(
                    f"the model's answer did not validate twice: {answer.reason}"
                )
            else:
                outcomes[i] = answer

    def _result(
        self, item: AnalysisInput, outcome: Any, tally: UsageTally
    ) -> AnalysisResult | ProviderError:
        if isinstance(outcome, ProviderError):
            outcome.usage = tally.usage(self.model, self.options.prices) if tally.calls else None
            return outcome
        if not isinstance(outcome, list):  # pragma: no cover - every item has an outcome
            return InvalidModelAnswerError("no answer for this item")
        return self.result_for(item, outcome, tally)

    def result_for(
        self, item: AnalysisInput, findings: list[Finding], tally: UsageTally
    ) -> AnalysisResult:
        """An item's result from the findings the model gave it, with what they cost."""
        usage = tally.usage(self.model, self.options.prices) if tally.calls else None
        kept, truncated = finalize(findings, item.max_issues)
        return AnalysisResult(
            analyzer=f"revue-{self.name}",
            analyzer_version=self.version,
            language=item.language,
            findings=kept,
            truncated=truncated,
            usage=usage,
        )

    # --- one call ------------------------------------------------------------------------

    def completion_budget(self, items: int) -> int:
        return min(
            self.options.max_completion_tokens,
            256 + self.options.completion_tokens_per_item * items,
        )

    async def call(
        self, items: Sequence[tuple[str, AnalysisInput]], blocks_of: Sequence[int] | None = None
    ) -> CallResult:
        """One chat call for these items: each id's findings (or failure), and the usage."""
        ids = [item_id for item_id, _ in items]
        max_tokens = self.completion_budget(len(items))
        prompt = self.frame_tokens + sum(
            blocks_of or (self.counter.count(wire.item_block(i, it)) for i, it in items)
        )
        while True:
            mode = self.negotiation.mode
            body = self.request_body(items)
            response = await self._post("chat/completions", body, prompt + max_tokens)
            refused = refuses_format(response.status_code, response.text)
            if refused and self.negotiation.step_down(mode, response.text):
                log.info(
                    "structured output refused; stepping down",
                    provider=self.name,
                    refused=mode.value,
                    now=self.negotiation.mode.value,
                )
                continue
            break
        self._raise_for_status(response)
        try:
            answer = response.json()
            content = answer["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise RetryableProviderError(
                f"provider answer is not a chat completion: {error!r}"
            ) from error
        tokens = Tokens.of_answer(answer)
        self.limits.settle(prompt + max_tokens, tokens.total)
        count_call(self.name, self.model, tokens, len(items) > 1, self.options.prices)
        return CallResult(wire.read_answer(content, ids), tokens)

    def request_body(self, items: Sequence[tuple[str, AnalysisInput]]) -> dict[str, Any]:
        """A chat call's body for these items, in the output mode the server takes."""
        body: dict[str, Any] = {
            "model": self.api_model,
            "temperature": 0,
            "max_tokens": self.completion_budget(len(items)),
            "messages": wire.messages(items),
        }
        ids = [item_id for item_id, _ in items]
        mode = self.negotiation.mode
        schema = wire.answer_schema(
            ids,
            one_per_id=mode is OutputMode.JSON_OBJECT_SCHEMA,
            max_findings=wire.findings_that_fit(body["max_tokens"] // len(items)),
        )
        if (wanted := response_format(mode, schema)) is not None:
            body["response_format"] = wanted
        return body

    async def _post(self, path: str, body: dict[str, Any], reserve_tokens: int) -> httpx.Response:
        async with self._concurrency:
            # Reserved once a slot is ours: the limits then know every answer before it.
            await self.limits.reserve(reserve_tokens)
            try:
                response = await self.client.post(path, json=body)
            except httpx.TimeoutException as error:
                raise RetryableProviderError(f"provider timed out: {error!r}") from error
            except httpx.TransportError as error:
                raise RetryableProviderError(f"provider unreachable: {error!r}") from error
        wait = retry_after(response) if response.status_code in (429, 503) else None
        self.limits.observe(response.headers, wait)
        return response

    def _raise_for_status(self, response: httpx.Response) -> None:
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableProviderError(
                f"provider answered {response.status_code}", retry_after_s=retry_after(response)
            )
        if response.status_code >= 400:
            # The body may echo the prompt (the user's code) or the key's details:
            # it is logged here, with the trace id, and never sent to the client.
            log.warning(
                "provider refused the request",
                status=response.status_code,
                body=response.text[:2000],
            )
            raise ProviderRejectedError(
                f"the provider refused the request (HTTP {response.status_code})"
            )

    async def start(self) -> None:
        """Nothing to start for a remote endpoint (a local model starts its server)."""

    async def aclose(self) -> None:
        await self.client.aclose()


class LocalModel(ChatProvider):
    """A language model on this machine: llama.cpp's server, started here or found running.

    Counted with the model's own vocabulary (read from its GGUF file); the
    server takes `json_object` with a schema (its grammar keeps the answer in
    shape), not a strict `json_schema`, which negotiation learns at the first call.
    """

    def __init__(
        self,
        server: LocalModelServer | None,
        base_url: str | None = None,
        *,
        model_path: Path | None = None,
        options: ChatOptions | None = None,
        limits: ProviderLimits | None = None,
    ) -> None:
        path = server.model_path if server is not None else (model_path or packaged_model())
        url = server.base_url if server is not None else base_url
        if url is None:
            raise ValueError("a local model needs a server to start or a URL to use")
        super().__init__(
            "local",
            url,
            path.stem,
            options=options,
            limits=limits,
            counter=counter_for(path.stem, path),
            api_model=MODEL_ALIAS,
        )
        self.server = server

    async def start(self) -> None:
        if self.server is not None:
            await self.server.start_async()

    async def aclose(self) -> None:
        await super().aclose()
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
