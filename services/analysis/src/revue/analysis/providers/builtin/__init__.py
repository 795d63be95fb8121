"""The built-in analyzer: real, deterministic static analysis with no network.

Python goes through ruff (security -> S, quality -> pyflakes, bugbear and
friends, complexity -> C901), run once per batch over a temporary folder of
all the batch's Python files so the process start is paid once. Every
language also goes through lizard (complexity, length, parameters) and the
pattern rules (secrets, dangerous calls, SQL built from strings), in a
process pool so the event loop never computes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import lizard

from revue.analysis.providers import AnalysisInput
from revue.analysis.providers.builtin.findings import finalize
from revue.analysis.providers.builtin.pool import service_process_pool
from revue.analysis.providers.builtin.ruff_check import RuffChecker
from revue.analysis.providers.builtin.static_checks import check_many
from revue.common import __version__
from revue.common.errors import ProviderError
from revue.common.events import AnalysisResult, Finding


class BuiltinProvider:
    name = "builtin"
    model: str | None = None

    def __init__(self, processes: int = 2, ruff_timeout: float = 60.0) -> None:
        self.ruff = RuffChecker(timeout=ruff_timeout)
        self.version = f"{__version__}+ruff-{self.ruff.version}+lizard-{lizard.version}"
        self._pool = service_process_pool(processes)

    async def analyze_batch(
        self, items: Sequence[AnalysisInput]
    ) -> list[AnalysisResult | ProviderError]:
        loop = asyncio.get_running_loop()
        static = loop.run_in_executor(
            self._pool, check_many, [(i.code, i.language, i.rules) for i in items]
        )
        python = [(index, item) for index, item in enumerate(items) if item.language == "python"]
        ruff_findings = await self.ruff.check([item for _, item in python])
        per_item: list[list[Finding]] = await static
        for (index, _), found in zip(python, ruff_findings, strict=True):
            per_item[index].extend(found)
        results: list[AnalysisResult | ProviderError] = []
        for item, found in zip(items, per_item, strict=True):
            kept, truncated = finalize(found, item.max_issues)
            results.append(
                AnalysisResult(
                    analyzer=f"revue-{self.name}",
                    analyzer_version=self.version,
                    language=item.language,
                    findings=kept,
                    truncated=truncated,
                )
            )
        return results

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
