"""Any OpenAI-compatible chat-completions endpoint as an analysis provider.

The model is asked for findings in a strict JSON schema. Transport failures,
timeouts, 429 and 5xx are `RetryableProviderError`s carrying the server's
`Retry-After`; an answer that does not fit the schema is retryable too (a
model can do better on a second try); any other 4xx is a rejection. When
every input of a batch failed retryably, the whole call raises, so that the
retry policy and the circuit breaker see a sick provider as one.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Sequence
from typing import Any, Literal

import httpx
import orjson
import structlog
from pydantic import BaseModel, Field, ValidationError

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.builtin.findings import finalize
from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.errors import (
    ProviderError,
    ProviderRejectedError,
    RetryableProviderError,
)
from revue.common.contracts.events import AnalysisResult, Finding

log = structlog.get_logger("revue.analysis.openai")
SYSTEM_PROMPT = (
    "You are a meticulous code reviewer. Report concrete problems in the user's code: "
    "security flaws, bugs, and excessive complexity. Answer only with JSON matching the "
    "schema. Lines and columns are 1-based. Use an empty list when nothing is wrong."
)


class ModelFinding(BaseModel):
    rule_id: str = Field(max_length=200)
    severity: Literal["info", "low", "medium", "high", "critical"]
    line: int = Field(ge=1)
    column: int = Field(default=1, ge=1)
    message: str = Field(max_length=2000)
    fix_hint: str | None = Field(default=None, max_length=2000)


class ModelAnswer(BaseModel):
    findings: list[ModelFinding] = Field(max_length=1000)


RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "code_findings",
        "strict": True,
        "schema": ModelAnswer.model_json_schema(),
    },
}


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


class OpenAIProvider:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_concurrency: int = 8,
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/", timeout=timeout, headers=headers
        )
        self.model = model
        self.version = f"chat-completions/{model}"
        self._concurrency = asyncio.Semaphore(max_concurrency)

    @classmethod
    def from_settings(cls, settings: AnalysisSettings) -> OpenAIProvider:
        if not settings.openai_base_url:
            raise ValueError("OPENAI_BASE_URL must be set when PROVIDER=openai")
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return cls(
            settings.openai_base_url,
            settings.openai_model,
            key,
            settings.openai_timeout,
            settings.openai_max_concurrency,
        )

    async def analyze_batch(
        self, items: Sequence[AnalysisInput]
    ) -> list[AnalysisResult | ProviderError]:
        outcomes = await asyncio.gather(
            *(self._analyze(item) for item in items), return_exceptions=True
        )
        results: list[AnalysisResult | ProviderError] = []
        for outcome in outcomes:
            if isinstance(outcome, AnalysisResult | ProviderError):
                results.append(outcome)
            elif isinstance(outcome, Exception):
                results.append(RetryableProviderError(f"{type(outcome).__name__}: {outcome}"))
            else:
                raise outcome  # CancelledError and friends
        if results and all(isinstance(r, RetryableProviderError) for r in results):
            raise results[0]  # type: ignore[misc]
        return results

    async def _analyze(self, item: AnalysisInput) -> AnalysisResult:
        body: dict[str, Any] = {
            "model": self.model,
            "temperature": 0,
            "response_format": RESPONSE_FORMAT,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {
                    "role": "user",
                    "content": f"Language: {item.language}\n"
                    f"Focus: {', '.join(item.rules) or 'security, quality, complexity'}\n"
                    f"Code:\n{item.code}",
                },
            ],
        }
        async with self._concurrency:
            try:
                response = await self.client.post("chat/completions", json=body)
            except httpx.TimeoutException as error:
                raise RetryableProviderError(f"provider timed out: {error!r}") from error
            except httpx.TransportError as error:
                raise RetryableProviderError(f"provider unreachable: {error!r}") from error
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
        return self._result(item, response)

    def _result(self, item: AnalysisInput, response: httpx.Response) -> AnalysisResult:
        try:
            content = response.json()["choices"][0]["message"]["content"]
            answer = ModelAnswer.model_validate(orjson.loads(content))
        except (KeyError, IndexError, TypeError, ValueError, ValidationError) as error:
            raise RetryableProviderError(
                f"provider answer does not fit the schema: {error}"
            ) from error
        found = [Finding(**finding.model_dump()) for finding in answer.findings]
        kept, truncated = finalize(found, item.max_issues)
        return AnalysisResult(
            analyzer=f"revue-{self.name}",
            analyzer_version=self.version,
            language=item.language,
            findings=kept,
            truncated=truncated,
        )

    async def aclose(self) -> None:
        await self.client.aclose()
