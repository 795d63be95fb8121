"""Analysis providers: something that turns a batch of inputs into findings.

A provider takes a batch and returns, in order, one `AnalysisResult` or one
`ProviderError` per input: an input's failure is that input's answer, not the
batch's. An exception escaping `analyze_batch` means the whole call failed
(the provider is down) and is what retries and the circuit breaker act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from revue.common.contracts.errors import ProviderError
from revue.common.contracts.events import AnalysisResult


@dataclass(frozen=True, slots=True)
class AnalysisInput:
    code: str
    language: str
    rules: tuple[str, ...] = ()
    max_issues: int = 100


class Provider(Protocol):
    name: str
    version: str
    model: str | None
    # Items one call answers at most (a language model's pack), or None: a micro-batch
    # of any size is one unit of work. A micro-batch is cut to this size so that each
    # call's items are answered as soon as that call returns, not when the slowest does.
    items_per_call: int | None
    # The calls a minute the provider allows (its request limit), or None: unlimited.
    # A lane spaces its micro-batches that are not full to half of it, so packs fill
    # up as the load nears the limit instead of the calls running into it.
    calls_per_minute: int | None

    async def analyze_batch(
        self, items: Sequence[AnalysisInput]
    ) -> list[AnalysisResult | ProviderError]: ...

    async def aclose(self) -> None: ...
