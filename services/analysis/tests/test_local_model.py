"""The provider path on a REAL language model: llama-cpp-python's server with SmolLM2-135M.

What a hosted model would do is shown by the simulator (test_chat_provider.py); here
the real server shows what it really takes and answers. A 135M model's findings are
not worth much, so these tests hold it to what any model must give: an answer read
per item (findings, or a clear per-item error), real token usage, and the output
mode the server takes.
"""

from dataclasses import replace

import httpx
import pytest

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.llm import wire
from revue.analysis.adapters.providers.llm.chat import ChatOptions, LocalModel
from revue.analysis.adapters.providers.llm.formats import OutputMode
from revue.analysis.app import create_app
from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.errors import InvalidModelAnswerError
from revue.common.contracts.events import AnalysisResult, RunAnalysis

from .service import migrated

ITEMS = [
    AnalysisInput("import os\n\ndef run(cmd):\n    os.system(cmd)\n", "python", ("security",)),
    AnalysisInput("value = eval(input())\n", "python", ("security",)),
]


@pytest.fixture
async def model(local_model):
    provider = LocalModel(None, local_model.base_url, options=ChatOptions(timeout=120))
    yield provider
    await provider.aclose()


async def test_the_real_server_refuses_a_strict_schema_and_the_provider_learns_json_object(
    model, local_model
):
    sent = model.request_body([("1", ITEMS[0])])
    async with httpx.AsyncClient(timeout=60) as client:
        refused = await client.post(f"{local_model.base_url}/chat/completions", json=sent)
    assert refused.status_code == 500 and "response_format" in refused.text  # as DESIGN.md says
    results = await model.analyze_batch(ITEMS)
    assert model.negotiation.mode is OutputMode.JSON_OBJECT_SCHEMA
    assert [r.split(":")[0] for r in model.negotiation.refusals] == ["json_schema"]
    for result in results:
        assert isinstance(result, AnalysisResult | InvalidModelAnswerError), result
        assert result.usage is not None and result.usage.prompt_tokens > 0
        assert result.usage.model == "SmolLM2-135M-Instruct.Q4_1"
        assert result.usage.cost_usd is None  # no price: unknown, never guessed


async def test_prompts_are_counted_with_the_models_own_vocabulary(model):
    assert model.counter.exact and model.counter.tokenizer.startswith("gguf:")
    called = await model.call([("1", ITEMS[1])])
    counted = model.frame_tokens + model.counter.count(wire.item_block("1", ITEMS[1]))
    # The server adds its chat template's few tokens around the two messages.
    assert counted <= called.tokens.prompt <= counted + 32
    assert called.tokens.completion > 0


async def test_provider_local_needs_no_other_setting(make_settings, database_url):
    settings = make_settings(
        AnalysisSettings, await migrated(database_url), provider="local", jobs_enabled=False
    )
    app = create_app(settings, configure_process=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://analysis") as client,
    ):
        answer = await app.state.service.engine.answer(
            RunAnalysis(code="x = eval(input())\n", language="python", timeout_s=120)
        )
        ready = (await client.get("/readyz")).json()
    assert answer.analyzer.provider == "local" and answer.result.usage.prompt_tokens > 0
    [provider] = ready["details"]["providers"]
    assert provider["provider"] == "local"
    assert provider["structured_output"]["mode"] == "json_object_schema"


MANY_FLAWS = AnalysisInput(
    "import hashlib, os, pickle\n\n"
    "PASSWORD = 'hunter2'\n\n"
    "def handle(request):\n"
    "    data = pickle.loads(request.body)\n"
    "    os.system('echo ' + request.args['name'])\n"
    "    digest = hashlib.md5(request.body).hexdigest()\n"
    "    return eval(request.args['expr']), digest, data\n",
    "python",
    ("security",),
)


async def test_the_grammar_bounds_each_items_findings_so_the_answer_always_closes(
    model, monkeypatch
):
    """A small model can loop (the same finding until max_tokens cuts the JSON and every
    item of the call fails): the schema's bounds, which the server turns into its grammar,
    make it close its answer in time. Bounds far below what it writes show they hold."""
    monkeypatch.setattr(wire, "GRAMMAR_MAX_CHARS", {"rule_id": 6, "message": 8, "fix_hint": 8})
    model.negotiation.mode = OutputMode.JSON_OBJECT_SCHEMA
    model.options = replace(model.options, completion_tokens_per_item=64)
    body = model.request_body([("1", MANY_FLAWS), ("2", ITEMS[1])])
    entries = body["response_format"]["schema"]["properties"]["items"]["prefixItems"]
    allowed = entries[0]["properties"]["findings"]["maxItems"]
    assert allowed == wire.findings_that_fit(body["max_tokens"] // 2)
    # Greedy, this build of the model calls the code clean (an earlier one did not): one
    # finding is made a must, so the bounds are held against findings, not an empty list.
    entries[0]["properties"]["findings"]["minItems"] = 1
    async with httpx.AsyncClient(base_url=model.client.base_url, timeout=120) as client:
        answer = (await client.post("chat/completions", json=body)).json()
    assert answer["choices"][0]["finish_reason"] == "stop"
    findings = bounded_findings(answer, allowed)
    assert findings, "no answer with a finding: the bounds were never tested"
    for finding in findings:
        assert 1 <= len(finding["rule_id"]) <= 6 and 1 <= len(finding["message"]) <= 8
        assert len(finding["fix_hint"] or "") <= 8


def bounded_findings(answer: dict, allowed: int) -> list[dict]:
    """The answer's findings, once its items and their number of findings are checked."""
    items = wire.extract_json(answer["choices"][0]["message"]["content"])["items"]
    assert [entry["id"] for entry in items] == ["1", "2"]
    assert all(len(entry["findings"]) <= allowed for entry in items)
    return [finding for entry in items for finding in entry["findings"]]
