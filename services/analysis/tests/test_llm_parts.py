"""The language-model provider's parts, each alone: wire format, packing, limits, prices,
token counts."""

import pytest

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.llm import wire
from revue.analysis.adapters.providers.llm.limits import ProviderLimits, reset_seconds
from revue.analysis.adapters.providers.llm.packing import plan_packs
from revue.analysis.adapters.providers.llm.pricing import ModelPrice, cost_usd
from revue.analysis.adapters.providers.llm.tokens import counter_for, estimate
from revue.analysis.adapters.providers.llm.usage import Tokens, largest_remainder, share


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_an_item_is_a_heading_and_a_fence_longer_than_any_in_its_code():
    item = AnalysisInput("print('```')\n", "python", ("security", "quality"))
    block = wire.item_block("3", item)
    assert block.splitlines()[0] == "### item 3 (python; focus: security, quality)"
    assert block.splitlines()[1] == "````python" and block.endswith("````\n")
    assert wire.item_block("1", AnalysisInput("x", "c")).startswith(
        "### item 1 (c; focus: security, quality, complexity)"
    )


def test_the_answer_schema_enumerates_the_ids_in_the_strict_subset():
    schema = wire.answer_schema(["1", "2"])
    item = schema["properties"]["items"]["items"]
    assert item["properties"]["id"]["enum"] == ["1", "2"]
    assert item["additionalProperties"] is False and set(item["required"]) == {"id", "findings"}


def test_only_a_grammar_schema_carries_bounds():
    strict = wire.answer_schema(["1"])
    assert "maxItems" not in strict["properties"]["items"]["items"]["properties"]["findings"]
    grammar = wire.answer_schema(["1", "2"], one_per_id=True, max_findings=3)
    entries = grammar["properties"]["items"]["prefixItems"]
    assert [entry["properties"]["id"] for entry in entries] == [{"const": "1"}, {"const": "2"}]
    findings = entries[0]["properties"]["findings"]
    assert findings["maxItems"] == 3
    bounds = findings["items"]["properties"]
    assert bounds["message"] == {"type": "string", "minLength": 1, "maxLength": 200}
    assert bounds["rule_id"]["minLength"] == 1 and bounds["line"]["minimum"] == 0


def test_an_item_is_allowed_only_the_findings_its_share_of_the_answer_holds():
    longest = (sum(wire.GRAMMAR_MAX_CHARS.values()) + wire.FINDING_FRAME_CHARS) / 3
    assert wire.findings_that_fit(100) == 1  # never none
    assert wire.findings_that_fit(int(wire.ENTRY_TOKENS + 3 * longest)) == 3
    assert wire.findings_that_fit(int(wire.ENTRY_TOKENS + 3 * longest) - 1) == 2


def test_json_is_found_in_prose_and_a_reading_never_trusts_the_model():
    answer = (
        'Sure!\n```json\n{"items": [{"id": "1", "findings": []}, {"id": "7", "findings": []}]}\n```'
    )
    read = wire.read_answer(answer, ["1", "2"])
    assert read["1"] == []
    assert isinstance(read["2"], wire.ItemFailure) and "leaves" in read["2"].reason
    assert set(read) == {"1", "2"}  # the unknown "7" is ignored
    broken = wire.read_answer("no json at all", ["1"])
    assert isinstance(broken["1"], wire.ItemFailure)
    huge = "{" * 3_000_000
    assert isinstance(wire.read_answer(huge, ["1"])["1"], wire.ItemFailure)


def test_a_line_break_written_raw_inside_a_string_is_read():
    # What SmolLM2 writes under a schema's grammar: the message's line break as it is.
    finding = (
        '{"rule_id": "S307", "severity": "high", "line": 2, "column": 1,'
        ' "message": "eval\nof input"}'
    )
    for answer in (
        f'{{"items": [{{"id": "1", "findings": [{finding}]}}]}}',
        f'Here: {{"items": [{{"id": "1", "findings": [{finding}]}}]}}',
    ):
        read = wire.read_answer(answer, ["1"])
        assert [(f.rule_id, f.message) for f in read["1"]] == [("S307", "eval\nof input")]


def test_an_answer_cut_at_max_tokens_keeps_the_items_it_finished():
    finding = '{"rule_id": "S307", "severity": "high", "line": 2, "column": 1, "message": "eval"}'
    cut = (
        f'{{"items": [{{"id": "1", "findings": [{finding}]}} , {{"id": "2", "findings": []}},'
        f' {{"id": "3", "findings": [{finding[:40]}'
    )
    read = wire.read_answer(cut, ["1", "2", "3", "4"])
    assert [(f.rule_id, f.line) for f in read["1"]] == [("S307", 2)] and read["2"] == []
    for lost in ("3", "4"):  # the item the cut fell in, and the one never reached
        assert isinstance(read[lost], wire.ItemFailure) and "leaves" in read[lost].reason


def test_packs_fill_in_order_and_an_item_over_the_budget_goes_alone():
    assert plan_packs([10, 10, 10, 10, 10], max_items=2, max_prompt_tokens=1000) == [
        [0, 1],
        [2, 3],
        [4],
    ]
    assert plan_packs([100, 900, 50, 50], 8, 500, frame_tokens=100) == [[0], [1], [2, 3]]
    assert plan_packs([10] * 3, 1, 1000) == [[0], [1], [2]]


def test_shares_add_up_to_exactly_what_the_call_used():
    assert sum(largest_remainder(1001, [1, 1, 1])) == 1001
    shares = share(Tokens(prompt=1000, completion=301, cached=128), [3, 1, 1])
    assert sum(tokens.prompt for _, tokens in shares) == 1000
    assert sum(tokens.completion for _, tokens in shares) == 301
    assert sum(tokens.cached for _, tokens in shares) == 128
    assert shares[0][1].prompt == 600 and shares[0][0] == pytest.approx(0.6)


def test_cost_needs_a_price_and_cached_tokens_have_their_own():
    prices = {"m": ModelPrice(input=2.0, output=8.0, cached_input=0.5)}
    assert cost_usd(prices, "m", 1_000_000, 100_000, 400_000) == pytest.approx(1.2 + 0.2 + 0.8)
    assert cost_usd(prices, "other", 1000, 1000) is None
    assert cost_usd({"m": ModelPrice(input=2.0, output=8.0)}, "m", 1_000_000, 0, 500_000) == 2.0


def test_reset_durations_in_every_form_the_headers_use():
    assert reset_seconds("1s") == 1.0
    assert reset_seconds("6m0s") == 360.0
    assert reset_seconds("20ms") == pytest.approx(0.02)
    assert reset_seconds("1h2m3.5s") == pytest.approx(3723.5)
    assert reset_seconds("2.5") == 2.5
    assert reset_seconds("soon") is None


def test_requests_and_tokens_per_minute_refill_and_the_provider_has_the_last_word():
    clock = Clock()
    limits = ProviderLimits(requests_per_minute=60, tokens_per_minute=6_000, clock=clock)
    assert limits.wait_for(1_000) == 0
    for _ in range(6):
        limits.requests.take(1)
        limits.tokens.take(1_000)
    assert limits.wait_for(1_000) == pytest.approx(10.0)  # 1,000 tokens at 100 a second
    clock.now += 10
    assert limits.wait_for(1_000) == 0
    limits.settle(reserved=1_000, used=3_000)  # a call used more than it reserved: a debt
    assert limits.wait_for(1_000) == pytest.approx(20.0)  # 2,000 short
    # Less than it reserved: nothing back (the provider charged max_tokens on arrival).
    limits.settle(reserved=1_000, used=10)
    assert limits.wait_for(1_000) == pytest.approx(20.0)
    # The provider says: no requests left for 5 s; a Retry-After of 7 s beats that.
    limits.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "5s"})
    assert limits.wait_for(0) >= 5
    limits.observe({}, retry_after_s=40)
    assert limits.wait_for(0) == pytest.approx(40)


def test_headers_alone_pace_a_provider_without_limits_of_its_own():
    clock = Clock()
    limits = ProviderLimits(clock=clock)
    assert limits.wait_for(10**9) == 0
    limits.observe({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.5s"})
    assert limits.wait_for(1) == pytest.approx(1.5)
    clock.now += 2
    assert limits.wait_for(1) == 0


def test_tokens_are_counted_with_the_models_own_tokenizer_or_an_estimate_said_so():
    gpt4 = counter_for("gpt-4")
    assert gpt4.tokenizer == "cl100k_base" and gpt4.exact
    assert gpt4.count("def add(a, b):\n    return a + b\n") == 12
    other = counter_for("some-model-nobody-knows")
    assert not other.exact and other.tokenizer.startswith("estimate")
    assert estimate().count("hello world") > 0
