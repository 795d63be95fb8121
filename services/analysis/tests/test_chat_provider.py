"""The chat provider against the hosted-model simulator (a STAND-IN: it shows what a hosted
provider does that the real local model cannot: chosen format refusals, broken answers,
rate limits). The real local model's own tests are in test_local_model.py."""

import asyncio
import re

import pytest

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.llm.chat import ChatOptions, ChatProvider
from revue.analysis.adapters.providers.llm.formats import OutputMode
from revue.analysis.adapters.providers.llm.limits import ProviderLimits
from revue.analysis.adapters.providers.llm.pricing import ModelPrice
from revue.analysis.lanes import ProviderLane
from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.errors import (
    InvalidModelAnswerError,
    ProviderRejectedError,
    RetryableProviderError,
)
from revue.common.contracts.events import AnalysisResult
from revue.devkit.standins.hosted_model import FORMATS, HostedModelSimulator


def snippet(index: int) -> AnalysisInput:
    """A distinct small item whose risky line is line `index % 5 + 2`."""
    lines = [f"# snippet {index}"] + [f"x{n} = {n}" for n in range(index % 5)]
    lines.append(f"value_{index} = eval(user_input_{index})")
    return AnalysisInput("\n".join(lines) + "\n", "python", ("security",))


def risky_line(item: AnalysisInput) -> int:
    return next(n for n, line in enumerate(item.code.splitlines(), 1) if "eval(" in line)


@pytest.fixture
def simulator():
    with HostedModelSimulator() as running:
        yield running


def provider_for(simulator, **options) -> ChatProvider:
    return ChatProvider(
        "openai", simulator.base_url, "gpt-4", "sk-test", options=ChatOptions(timeout=10, **options)
    )


@pytest.fixture
async def provider(simulator):
    provider = provider_for(simulator)
    yield provider
    await provider.aclose()


def calls(simulator) -> int:
    return len(simulator.script.usages)


def users(simulator) -> list[str]:
    return [body["messages"][-1]["content"] for body in simulator.script.requests]


def assert_answered(items, results):
    for item, result in zip(items, results, strict=True):
        assert isinstance(result, AnalysisResult), result
        assert [f.line for f in result.findings] == [risky_line(item)]


# --- structured output, negotiated --------------------------------------------------------


@pytest.mark.parametrize("accepted", FORMATS)
@pytest.mark.parametrize("style", ["openai", "llama"])
async def test_the_provider_learns_the_one_output_mode_a_server_takes(simulator, accepted, style):
    simulator.script.accepted_formats = (accepted,)
    simulator.script.refusal_style = style  # 400 naming response_format, or llama.cpp's 500
    provider = provider_for(simulator)
    items = [snippet(i) for i in range(3)]
    try:
        assert_answered(items, await provider.analyze_batch(items))
        assert provider.negotiation.mode.value == accepted
        refused = simulator.script.refusals
        assert refused == FORMATS.index(accepted)  # one refusal per mode above it
        assert_answered(items, await provider.analyze_batch(items))
        assert simulator.script.refusals == refused  # learned: never asked again
        assert provider.describe()["structured_output"]["mode"] == accepted
    finally:
        await provider.aclose()


async def test_a_fixed_output_mode_is_used_as_set(simulator):
    provider = provider_for(simulator, output_mode=OutputMode.JSON_OBJECT)
    try:
        await provider.analyze_batch([snippet(1)])
        assert simulator.script.requests[0]["response_format"] == {"type": "json_object"}
    finally:
        await provider.aclose()


# --- packing ------------------------------------------------------------------------------


async def test_a_micro_batch_of_small_items_goes_in_one_call_in_the_wire_format(
    provider, simulator
):
    items = [snippet(i) for i in range(8)]
    results = await provider.analyze_batch(items)
    assert_answered(items, results)
    assert calls(simulator) == 1
    sent = simulator.script.requests[0]
    headings = re.findall(
        r"^### item (\S+) \((\w+); focus: ([^)]*)\)$", sent["messages"][-1]["content"], re.M
    )
    assert headings == [(str(i + 1), "python", "security") for i in range(8)]
    assert sent["messages"][0]["role"] == "system"
    assert all(r.usage.packed and r.usage.calls == pytest.approx(1 / 8, abs=0.05) for r in results)


async def test_pack_limits_split_the_batch_and_an_item_over_budget_goes_alone(simulator):
    provider = provider_for(simulator, pack_max_items=3)
    items = [snippet(i) for i in range(8)]
    try:
        assert_answered(items, await provider.analyze_batch(items))
        assert calls(simulator) == 3  # 3 + 3 + 2
        large = AnalysisInput("big = 1\n" * 400 + "eval(x)\n", "python")
        budget = provider_for(simulator, pack_max_prompt_tokens=1_500)
        before = calls(simulator)
        results = await budget.analyze_batch([snippet(1), large, snippet(2)])
        assert calls(simulator) - before == 3  # the large item alone, so the others too
        assert [r.findings[0].line for r in results] == [
            risky_line(snippet(1)),
            401,
            risky_line(snippet(2)),
        ]
        await budget.aclose()
    finally:
        await provider.aclose()


async def test_packing_off_sends_one_call_per_item(simulator):
    provider = provider_for(simulator, pack_max_items=1)
    try:
        items = [snippet(i) for i in range(4)]
        results = await provider.analyze_batch(items)
        assert_answered(items, results)
        assert calls(simulator) == 4
        assert not any(r.usage.packed for r in results)
    finally:
        await provider.aclose()


# --- broken answers: per item, never a crash or a wrong item's findings ------------------


@pytest.mark.parametrize(
    ("fault", "retried"),
    [
        ("drop_first", 1),  # an item left out
        ("bad_findings", 1),  # an item's findings do not validate
        ("duplicate_first", 1),  # an item answered twice
        ("unknown_id", 1),  # an id nobody asked for (and the item it replaced is missing)
        ("extra_items", 0),  # more items than asked: the extra one is ignored
        ("not_json", 4),  # nothing usable: every item of the pack, alone
    ],
)
async def test_a_broken_answer_is_retried_item_by_item(provider, simulator, fault, retried):
    simulator.script.answer_faults.append(fault)
    items = [snippet(i) for i in range(4)]
    results = await provider.analyze_batch(items)
    assert_answered(items, results)
    assert calls(simulator) == 1 + retried
    alone = users(simulator)[1:]
    assert all(message.count("### item") == 1 for message in alone)
    # Every token the simulator counted is someone's, once.
    total = simulator.script.usages
    assert sum(r.usage.prompt_tokens for r in results) == sum(u["prompt_tokens"] for u in total)
    assert sum(r.usage.completion_tokens for r in results) == sum(
        u["completion_tokens"] for u in total
    )
    assert sum(r.usage.calls for r in results) == pytest.approx(len(total))


async def test_an_item_whose_answer_fails_twice_fails_alone_with_a_clear_error(provider, simulator):
    simulator.script.answer_faults.extend(["bad_findings", "bad_findings"])
    items = [snippet(i) for i in range(3)]
    first, *others = await provider.analyze_batch(items)
    assert isinstance(first, InvalidModelAnswerError)
    assert first.code == "invalid_model_answer" and not first.retryable
    assert first.usage is not None and first.usage.calls > 1  # its share, and its retry
    assert_answered(items[1:], others)


# --- usage and cost -----------------------------------------------------------------------


async def test_usage_is_apportioned_and_priced_only_with_a_price(simulator):
    priced = provider_for(
        simulator, prices={"gpt-4": ModelPrice(input=30.0, output=60.0, cached_input=15.0)}
    )
    unpriced = provider_for(simulator)
    try:
        items = [snippet(i) for i in range(5)]
        results = await priced.analyze_batch(items)
        [usage] = simulator.script.usages
        assert sum(r.usage.prompt_tokens for r in results) == usage["prompt_tokens"]
        expected = (usage["prompt_tokens"] * 30 + usage["completion_tokens"] * 60) / 1e6
        assert sum(r.usage.cost_usd for r in results) == pytest.approx(expected, rel=1e-6)
        # A larger item takes a larger share of the prompt.
        big = AnalysisInput("a = 1\n" * 60 + "eval(x)\n", "python")
        small, large = await priced.analyze_batch([snippet(1), big])
        assert large.usage.prompt_tokens > 3 * small.usage.prompt_tokens
        [result] = await unpriced.analyze_batch([snippet(9)])
        assert result.usage.cost_usd is None and result.usage.prompt_tokens > 0  # unknown
    finally:
        await priced.aclose()
        await unpriced.aclose()


# --- failures of the call itself ----------------------------------------------------------


async def test_rate_limits_and_server_errors_are_retryable_with_retry_after(provider, simulator):
    simulator.script.queued.append((429, {"Retry-After": "2"}, b'{"error": "slow down"}'))
    with pytest.raises(RetryableProviderError) as caught:
        await provider.analyze_batch([snippet(1)])
    assert caught.value.retry_after_s == 2.0
    simulator.script.queued.append((503, {}, b"unavailable"))
    with pytest.raises(RetryableProviderError):
        await provider.analyze_batch([snippet(1)])


async def test_a_refused_request_is_not_retryable_and_its_body_is_not_echoed(provider, simulator):
    simulator.script.queued.append((400, {}, b'{"error": "context length exceeded: <the prompt>"}'))
    [result] = await provider.analyze_batch([snippet(1)])
    assert isinstance(result, ProviderRejectedError)
    assert "<the prompt>" not in result.message


async def test_the_provider_waits_out_the_limit_the_server_states(simulator):
    simulator.script.rpm = 2
    simulator.script.window_s = 1.0
    provider = provider_for(simulator, pack_max_items=1, max_concurrency=1)
    try:
        items = [snippet(i) for i in range(5)]
        results = await provider.analyze_batch(items)
        assert_answered(items, results)  # no 429 reached the caller
        # After the second call the headers said "none left until reset": the provider waited.
        assert simulator.script.rate_limited == 0
        assert provider.limits.waited_s > 0
    finally:
        await provider.aclose()


async def test_a_request_budget_spaces_packs_so_a_trickle_of_items_fills_them(simulator):
    """LLM_RPM=300: packs that are not full leave at most every 0.4 s (half the budget)."""
    provider = ChatProvider(
        "openai",
        simulator.base_url,
        "gpt-4",
        options=ChatOptions(timeout=10),
        limits=ProviderLimits(requests_per_minute=300),
    )
    lane = ProviderLane(provider, AnalysisSettings(_env_file=None, batch_max_wait=0.01), True)
    items = [snippet(i) for i in range(24)]
    await lane.start()
    try:
        pending = []
        for item in items:  # one every 50 ms: 1.2 s, eight at most per spacing
            pending.append(asyncio.create_task(lane.batcher.process(item)))
            await asyncio.sleep(0.05)
        assert_answered(items, await asyncio.gather(*pending))
    finally:
        await lane.stop(1)
    # The idle first item alone, then a pack per 0.4 s: about 4 calls, never one per item.
    assert calls(simulator) <= 6
    sizes = [user.count("### item ") for user in users(simulator)]
    assert sum(sizes) == 24 and max(sizes) > 4
