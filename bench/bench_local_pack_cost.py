"""What a packed call costs the real local model, token for token, against one call each.

The same 24 snippets as `bench_llm.py`'s local part (CPython's own code), sent
straight to llama-cpp-python's server (SmolLM2-135M, this machine's two
cores) with the request body Revue sends (its wire format, its grammar), one
call at a time: as packs of 8 and one call each, each way twice (the packs
cut two ways, as a micro-batcher may cut them). Each call is streamed, so
its time splits into reading the prompt (to the first token) and writing the
answer. Printed per way: seconds, prompt and completion tokens, milliseconds
per prompt token read and per completion token written, and the ratios.

Why: on a server that answers one call at a time, a run's p95 is about the
time to answer every call, so the p95 ratio of bench_llm's local part is the
ratio of these totals, and how much each token costs in a long prompt sets
how low it can go.

    .venv/bin/python bench/bench_local_pack_cost.py
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
from bench_llm import snippets

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.llm.chat import ChatOptions, LocalModel
from revue.analysis.adapters.providers.llm.formats import OutputMode
from revue.analysis.adapters.providers.llm.local_server import LocalModelServer

ITEMS = 24
# The mode llama-cpp-python's server is negotiated down to (test_local_model.py).
OPTIONS = ChatOptions(output_mode=OutputMode.JSON_OBJECT_SCHEMA)


@dataclass
class Call:
    items: int
    read_s: float  # to the first token: the prompt read
    total_s: float
    prompt_tokens: int
    completion_tokens: int
    answer: str


def body(model: LocalModel, items: list[tuple[str, AnalysisInput]]) -> dict:
    """The body Revue's provider sends this server (json_object with the schema), streamed."""
    return {**model.request_body(items), "stream": True}


def call(client: httpx.Client, model: LocalModel, items: list[tuple[str, AnalysisInput]]) -> Call:
    """One streamed call (the server streams a token a chunk and gives no usage), then
    the same prompt with `max_tokens=1`, unstreamed, for its prompt tokens (cached by then,
    so it costs little)."""
    started = time.perf_counter()
    first, written, answer = None, 0, []
    with client.stream("POST", "/chat/completions", json=body(model, items)) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choices = json.loads(line.removeprefix("data: ")).get("choices") or [{}]
            if text := choices[0].get("delta", {}).get("content"):
                written += 1
                answer.append(text)
                first = first if first is not None else time.perf_counter() - started
    total = time.perf_counter() - started
    counted = {**body(model, items), "stream": False, "max_tokens": 1}
    usage = client.post("/chat/completions", json=counted).raise_for_status().json()["usage"]
    return Call(len(items), first or total, total, usage["prompt_tokens"], written, "".join(answer))


def summary(label: str, calls: list[Call]) -> dict[str, float]:
    read = sum(c.read_s for c in calls)
    total = sum(c.total_s for c in calls)
    prompt = sum(c.prompt_tokens for c in calls)
    completion = sum(c.completion_tokens for c in calls)
    figures = {
        "total": total,
        "ms_per_prompt": 1000 * read / max(prompt, 1),
        "ms_per_completion": 1000 * (total - read) / max(completion, 1),
    }
    print(
        f"  {label:<24} {len(calls):3d} calls {total:6.1f} s  prompt {prompt:6d} tok"
        f" ({figures['ms_per_prompt']:5.2f} ms each, read in {read:5.1f} s)"
        f"  completion {completion:5d} tok ({figures['ms_per_completion']:5.1f} ms each)"
    )
    if len(calls) < ITEMS:  # packs: what each wrote, and the longest answer's start
        print(f"    completion tokens per pack: {[c.completion_tokens for c in calls]}")
        longest = max(calls, key=lambda c: c.completion_tokens)
        print(f"    the longest: {' '.join(longest.answer.split())[:400]}")
    return figures


def main() -> None:
    codes = snippets(2_000)[:ITEMS]  # bench_llm's local requests, in its order
    items = [(str(n), AnalysisInput(code, "python")) for n, code in enumerate(codes)]
    ways = {
        "packs 8+8+8": [items[0:8], items[8:16], items[16:24]],
        "packs 1+8+8+7": [items[0:1], items[1:9], items[9:17], items[17:24]],
        "one call each": [[item] for item in items],
    }
    print(f"SmolLM2-135M under llama-cpp-python, {ITEMS} snippets, one call at a time:")
    with (
        LocalModelServer() as server,
        httpx.Client(base_url=server.base_url, timeout=900) as client,
    ):
        model = LocalModel(None, server.base_url, options=OPTIONS)
        call(client, model, items[:1])  # the model loaded and warm
        figures: dict[str, list[dict[str, float]]] = {name: [] for name in ways}
        for round_number in (1, 2):
            print(f" round {round_number}:")
            for name, groups in ways.items():
                calls = [call(client, model, group) for group in groups]
                figures[name].append(summary(name, calls))
    single = figures["one call each"]
    for name in ("packs 8+8+8", "packs 1+8+8+7"):
        for round_number, (packed, alone) in enumerate(zip(figures[name], single, strict=True), 1):
            print(
                f"  {name}, round {round_number}: time {packed['total'] / alone['total']:.2f}"
                f" of one call each; per prompt token"
                f" {packed['ms_per_prompt'] / alone['ms_per_prompt']:.2f},"
                f" per completion token"
                f" {packed['ms_per_completion'] / alone['ms_per_completion']:.2f}"
            )


if __name__ == "__main__":
    main()
