"""A call's token usage: read from the provider's answer, shared among packed items.

Sharing uses the largest-remainder method, so the items' integer shares add
up to exactly what the call used: nothing is lost or counted twice when an
item's share and its retry's usage are added up later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from revue.analysis.adapters.providers.llm.pricing import ModelPrice, cost_usd
from revue.common.contracts.events import Usage

llm_calls_total = Counter(
    "llm_calls_total", "Chat calls made to a language model", ["provider", "model", "packed"]
)
llm_tokens_total = Counter(
    "llm_tokens_total", "Tokens a language model counted", ["provider", "model", "kind"]
)
llm_cost_usd_total = Counter(
    "llm_cost_usd_total",
    "What the calls cost, where LLM_PRICES knows the model",
    ["provider", "model"],
)


@dataclass(frozen=True, slots=True)
class Tokens:
    prompt: int = 0
    completion: int = 0
    cached: int = 0

    @classmethod
    def of_answer(cls, body: dict[str, Any]) -> Tokens:
        usage = body.get("usage") or {}
        details = usage.get("prompt_tokens_details") or {}

        def whole(value: Any) -> int:
            return value if isinstance(value, int) and value >= 0 else 0

        return cls(
            whole(usage.get("prompt_tokens")),
            whole(usage.get("completion_tokens")),
            whole(details.get("cached_tokens")),
        )

    @property
    def total(self) -> int:
        return self.prompt + self.completion


def largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights`, in whole numbers that add up to `total`."""
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights, weight_sum = [1.0] * len(weights), float(len(weights))
    exact = [total * weight / weight_sum for weight in weights]
    shares = [int(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - shares[i], reverse=True)
    for index in by_remainder[: total - sum(shares)]:
        shares[index] += 1
    return shares


def share(tokens: Tokens, weights: Sequence[float]) -> list[tuple[float, Tokens]]:
    """Each item's (share of the call, share of its tokens), by its share of the prompt."""
    weight_sum = sum(weights) or 1.0
    prompts = largest_remainder(tokens.prompt, weights)
    completions = largest_remainder(tokens.completion, weights)
    cached = largest_remainder(tokens.cached, weights)
    return [
        (weight / weight_sum, Tokens(prompts[i], completions[i], cached[i]))
        for i, weight in enumerate(weights)
    ]


@dataclass
class UsageTally:
    """An item's usage over every call that worked on it (its pack's share, its retry)."""

    calls: float = 0.0
    prompt: int = 0
    completion: int = 0
    cached: int = 0
    packed: bool = False

    def add(self, calls: float, tokens: Tokens, packed: bool) -> None:
        self.calls += calls
        self.prompt += tokens.prompt
        self.completion += tokens.completion
        self.cached += tokens.cached
        self.packed = self.packed or packed

    def usage(self, model: str, prices: dict[str, ModelPrice]) -> Usage:
        return Usage(
            model=model,
            calls=round(self.calls, 6),
            prompt_tokens=self.prompt,
            completion_tokens=self.completion,
            cached_prompt_tokens=self.cached,
            cost_usd=cost_usd(prices, model, self.prompt, self.completion, self.cached),
            packed=self.packed,
        )


def count_call(
    provider: str, model: str, tokens: Tokens, packed: bool, prices: dict[str, ModelPrice]
) -> None:
    """One call's figures into Prometheus."""
    llm_calls_total.labels(provider, model, str(packed).lower()).inc()
    for kind, value in (
        ("prompt", tokens.prompt - tokens.cached),
        ("cached_prompt", tokens.cached),
        ("completion", tokens.completion),
    ):
        llm_tokens_total.labels(provider, model, kind).inc(value)
    cost = cost_usd(prices, model, tokens.prompt, tokens.completion, tokens.cached)
    if cost is not None:
        llm_cost_usd_total.labels(provider, model).inc(cost)
