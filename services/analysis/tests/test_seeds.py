"""The seeds' process-wide helpers inside the analysis service, on its real keys and data."""

import json

from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.events import RunAnalysis
from revue.common.contracts.subjects import BusTopology
from revue.common.seeds import get_ai_cache, get_all_metrics, get_batch_processor

from .service import migrated, nats_client, running_service

CODE = "import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"


async def test_get_ai_cache_finds_what_the_service_computed_and_the_batcher_is_registered(
    make_settings, database_url, builtin_provider, nats_url
):
    settings = make_settings(AnalysisSettings, await migrated(database_url), jobs_enabled=False)
    topology = BusTopology(settings.bus_namespace)
    request = RunAnalysis(code=CODE, language="python", rules=["security"])
    async with running_service(settings, builtin_provider), nats_client(nats_url) as nc:
        reply = await nc.request(
            topology.subject("analysis.run"), request.model_dump_json().encode(), timeout=10
        )
        answer = json.loads(reply.data)
        assert answer["status"] == "succeeded"
        # Seed 001: cache = get_ai_cache(); cache.get_analysis(code, language, rules)
        cache = get_ai_cache()
        cached = await cache.get_analysis(CODE, "python", ["security"])
        assert cached is not None
        assert cached["findings"] == answer["result"]["findings"]
        assert await cache.get_analysis(CODE, "python", ["quality"]) is None  # other rules
        # Seed 000: get_batch_processor("ai_analysis") and get_all_metrics()
        batcher = get_batch_processor("ai_analysis")
        assert batcher.get_metrics()["total_requests"] >= 1
        assert get_all_metrics()["ai_analysis"] == batcher.get_metrics()
