"""Which items of a micro-batch travel together in one chat call.

"Batch Prompting" (Cheng et al., 2023): several small items in one prompt
share its fixed part (the system prompt, the answer's frame) and one
request, so a model answers them for fewer tokens and far fewer calls. Packs
are filled in arrival order up to `max_items` and `max_prompt_tokens`
(counted with the model's tokenizer, `tokens`); an item that alone is over
the budget goes alone. `max_items=1` turns packing off.
"""

from __future__ import annotations

from collections.abc import Sequence


def plan_packs(
    item_tokens: Sequence[int], max_items: int, max_prompt_tokens: int, frame_tokens: int = 0
) -> list[list[int]]:
    """Indexes of the items, grouped into packs; `frame_tokens` is what every call costs
    besides its items (the system prompt)."""
    packs: list[list[int]] = []
    current: list[int] = []
    used = frame_tokens
    for index, tokens in enumerate(item_tokens):
        fits = len(current) < max_items and used + tokens <= max_prompt_tokens
        if current and not fits:
            packs.append(current)
            current, used = [], frame_tokens
        current.append(index)
        used += tokens
    if current:
        packs.append(current)
    return packs
