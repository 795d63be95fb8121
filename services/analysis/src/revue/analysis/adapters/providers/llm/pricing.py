"""The price of an answer, from the model's own token counts and `LLM_PRICES`.

`LLM_PRICES` is JSON: `{"<model>": {"input": <USD per 1M prompt tokens>,
"output": <USD per 1M completion tokens>, "cached_input": <USD per 1M cached
prompt tokens, optional>}}`. There are no built-in prices: without an entry
for the model, the cost is unknown (None), never guessed. Cached prompt
tokens are part of `prompt_tokens` (OpenAI's convention) and are priced at
`cached_input` where given, else at `input`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

PER_TOKENS = 1_000_000


class ModelPrice(BaseModel):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)


def cost_usd(
    prices: dict[str, ModelPrice],
    model: str | None,
    prompt_tokens: int,
    completion_tokens: int,
    cached_prompt_tokens: int = 0,
) -> float | None:
    price = prices.get(model or "")
    if price is None:
        return None
    cached = min(cached_prompt_tokens, prompt_tokens)
    cached_rate = price.cached_input if price.cached_input is not None else price.input
    dollars = (
        (prompt_tokens - cached) * price.input
        + cached * cached_rate
        + completion_tokens * price.output
    ) / PER_TOKENS
    return round(dollars, 10)
