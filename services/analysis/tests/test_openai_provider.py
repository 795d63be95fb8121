"""The OpenAI-compatible provider, against a local chat-completions stand-in."""

import pytest

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.openai import OpenAIProvider
from revue.analysis.engine import AnalysisEngine
from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.errors import ProviderRejectedError, RetryableProviderError
from revue.common.contracts.events import RunAnalysis
from revue.devkit.standins.chat_completions import ChatCompletionsServer

CODE = "x = 1\nvalue = eval(user_input)\n"


@pytest.fixture
def server():
    with ChatCompletionsServer() as running:
        yield running


@pytest.fixture
async def provider(server):
    provider = OpenAIProvider(server.base_url, "test-model", api_key="sk-test", timeout=5)
    yield provider
    await provider.aclose()


async def test_findings_come_back_in_the_schema(provider, server):
    [result] = await provider.analyze_batch([AnalysisInput(CODE, "python", ("security",))])
    assert result.analyzer == "revue-openai"
    assert result.analyzer_version == "chat-completions/test-model"
    [finding] = result.findings
    assert (finding.rule_id, finding.line, finding.column) == ("LLM-EVAL", 2, 9)
    sent = server.script.requests[0]
    assert sent["model"] == "test-model"
    assert sent["response_format"]["type"] == "json_schema"
    assert sent["response_format"]["json_schema"]["strict"] is True
    assert "Focus: security" in sent["messages"][-1]["content"]


async def test_rate_limit_and_server_errors_are_retryable_with_retry_after(provider, server):
    server.script.queued.append((429, {"Retry-After": "2"}, b'{"error": "slow down"}'))
    with pytest.raises(RetryableProviderError) as caught:
        await provider.analyze_batch([AnalysisInput(CODE, "python")])
    assert caught.value.retry_after_s == 2.0
    server.script.queued.append((503, {}, b"unavailable"))
    with pytest.raises(RetryableProviderError):
        await provider.analyze_batch([AnalysisInput(CODE, "python")])


async def test_output_that_misfits_the_schema_is_retryable_not_a_crash(provider, server):
    bad = b'{"choices": [{"message": {"content": "{\\"findings\\": [{\\"line\\": \\"x\\"}]}"}}]}'
    server.script.queued.append((200, {"content-type": "application/json"}, bad))
    with pytest.raises(RetryableProviderError, match="schema"):
        await provider.analyze_batch([AnalysisInput(CODE, "python")])


async def test_a_refused_request_is_not_retryable_and_its_body_is_not_echoed(provider, server):
    server.script.queued.append((400, {}, b'{"error": "context length exceeded: <the prompt>"}'))
    [answer] = await provider.analyze_batch([AnalysisInput(CODE, "python")])
    assert isinstance(answer, ProviderRejectedError)
    assert not answer.retryable
    assert "HTTP 400" in answer.message
    assert "prompt" not in answer.message  # logged with the trace id, never sent back


async def test_one_bad_item_fails_alone_in_a_batch(provider, server):
    server.script.queued.append((400, {}, b'{"error": "bad"}'))
    results = await provider.analyze_batch(
        [AnalysisInput(CODE, "python"), AnalysisInput(CODE, "python")]
    )
    assert sum(isinstance(r, ProviderRejectedError) for r in results) == 1
    assert sum(not isinstance(r, Exception) for r in results) == 1


async def test_the_engine_honours_retry_after_between_attempts(server):
    provider = OpenAIProvider(server.base_url, "test-model", timeout=5)
    settings = AnalysisSettings(
        _env_file=None, retry_max_attempts=3, retry_initial_delay=0.001, retry_max_delay=0.01
    )
    engine = AnalysisEngine(provider, settings)
    server.script.queued.append((429, {"Retry-After": "0.4"}, b"{}"))
    await engine.start()
    try:
        result = await engine.analyze(RunAnalysis(code=CODE, language="python"))
    finally:
        await engine.stop()
    assert result.findings[0].rule_id == "LLM-EVAL"
    first, second = server.script.request_times[:2]
    assert second - first >= 0.4
