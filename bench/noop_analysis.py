"""The real analysis service with a provider that does nothing (for bench_bus_overhead).

Every part of the service runs as in production (bus handler, coalescing,
batcher, breaker, retry, outcome recording); only the analyzer is replaced by
one that returns an empty result at once, so what remains is the overhead.
"""

from revue.analysis.app import create_app
from revue.analysis.settings import AnalysisSettings
from revue.common.contracts.events import AnalysisResult
from revue.common.service import serve


class NoopProvider:
    name = "noop"
    version = "0"
    model = None

    async def analyze_batch(self, items):
        return [
            AnalysisResult(analyzer="noop", analyzer_version="0", language=item.language)
            for item in items
        ]

    async def aclose(self) -> None:
        """Nothing to release."""


if __name__ == "__main__":
    settings = AnalysisSettings()
    serve(create_app(settings, provider=NoopProvider()), settings)
