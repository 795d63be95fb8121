"""The built-in analyzer: real, deterministic static analysis with no network.

Python goes through ruff (security -> S, quality -> pyflakes, bugbear and
friends, complexity -> C901), run once per batch over a temporary folder of
all the batch's Python files so the process start is paid once. Every
language also goes through lizard (complexity, length, parameters) and the
pattern rules (secrets, dangerous calls, SQL built from strings), in worker
processes so the event loop never computes.

Each call to a worker has a hard deadline (`ANALYSIS_WORKER_DEADLINE`): a
batch that runs past it is killed with its worker, and its items are tried
again alone, each with the same deadline, so one costly submission delays
its batch-mates by one deadline at most and fails alone with
`analysis_timeout`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from functools import partial

import lizard

from revue.analysis.adapters.providers import AnalysisInput
from revue.analysis.adapters.providers.builtin.findings import finalize
from revue.analysis.adapters.providers.builtin.ruff_check import RuffChecker
from revue.analysis.adapters.providers.builtin.static_checks import check_many
from revue.analysis.adapters.providers.builtin.workers import (
    DeadlineExceededError,
    DeadlineWorkers,
    WorkerCrashedError,
)
from revue.common import __version__
from revue.common.contracts.errors import AnalysisTimeoutError, ProviderError, ProviderRejectedError
from revue.common.contracts.events import AnalysisResult, Finding
from revue.common.contracts.languages import EXTENSIONS

# Below this much code a batch is one call: a second worker's share would cost more to send.
SPLIT_FROM_CHARS = 256 * 1024
SHARES_PER_WORKER = 4
StaticChecks = Callable[[Sequence[tuple[str, str, Sequence[str]]]], list[list[Finding]]]


class BuiltinProvider:
    name = "builtin"
    model: str | None = None
    items_per_call: int | None = None  # one ruff run checks a whole micro-batch
    calls_per_minute: int | None = None

    def __init__(
        self,
        processes: int = 2,
        ruff_timeout: float = 60.0,
        deadline: float = 10.0,
        static_checks: StaticChecks = check_many,
    ) -> None:
        """`static_checks` runs in the workers: a module-level function (tests slow it down)."""
        self.ruff = RuffChecker(timeout=ruff_timeout)
        self.version = f"{__version__}+ruff-{self.ruff.version}+lizard-{lizard.version}"
        # Each new worker imports the checks before its first call is timed.
        self.workers = DeadlineWorkers(processes, deadline, warm_up=partial(static_checks, []))
        self.static_checks = static_checks

    async def analyze_batch(
        self, items: Sequence[AnalysisInput]
    ) -> list[AnalysisResult | ProviderError]:
        """One result or error per item; an item in a language we lack fails alone."""
        known = [index for index, item in enumerate(items) if item.language in EXTENSIONS]
        answers: list[AnalysisResult | ProviderError] = [
            ProviderRejectedError(f"unsupported language {item.language[:40]!r}") for item in items
        ]
        if known:
            analysed = await self._analyze_known([items[index] for index in known])
            for index, answer in zip(known, analysed, strict=True):
                answers[index] = answer
        return answers

    async def _analyze_known(
        self, items: Sequence[AnalysisInput]
    ) -> list[AnalysisResult | ProviderError]:
        static = asyncio.ensure_future(self._static_findings(items))
        python = [(index, item) for index, item in enumerate(items) if item.language == "python"]
        try:
            ruff_findings = await self.ruff.check([item for _, item in python])
        except BaseException:
            static.cancel()
            raise
        per_item = await static
        results: list[AnalysisResult | ProviderError] = []
        ruff_of = {index: found for (index, _), found in zip(python, ruff_findings, strict=True)}
        for index, (item, found) in enumerate(zip(items, per_item, strict=True)):
            if isinstance(found, ProviderError):
                results.append(found)
                continue
            ruffs = ruff_of.get(index, [])
            reported = {(finding.rule_id, finding.line) for finding in ruffs}
            # Where ruff and our own checks see the same thing, ruff's finding is kept.
            own = [finding for finding in found if (finding.rule_id, finding.line) not in reported]
            kept, truncated = finalize([*own, *ruffs], item.max_issues)
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

    async def _static_findings(
        self, items: Sequence[AnalysisInput]
    ) -> list[list[Finding] | ProviderError]:
        """A large batch in shares balanced by bytes, taken by the workers as they free up.

        Bytes are a poor guess of the work (most files are never parsed, see
        security_checks.could_fire), so there are several shares per worker: one that
        finishes early takes the next instead of waiting for the other's long share.
        """
        if sum(len(item.code) for item in items) < SPLIT_FROM_CHARS or len(items) < 2:
            return await self._share(items)
        shares = balanced(items, self.workers.size * SHARES_PER_WORKER)
        answers = await asyncio.gather(
            *(self._share([items[i] for i in share]) for share in shares)
        )
        merged: list[list[Finding] | ProviderError] = [[] for _ in items]
        for share, found in zip(shares, answers, strict=True):
            for index, result in zip(share, found, strict=True):
                merged[index] = result
        return merged

    async def _share(self, items: Sequence[AnalysisInput]) -> list[list[Finding] | ProviderError]:
        """The items in one call; past the deadline, each item once more alone."""
        try:
            return list(await self.workers.run(self.static_checks, _payload(items)))
        except (DeadlineExceededError, WorkerCrashedError):
            if len(items) == 1:
                return [await self._alone(items[0], retried=True)]
        return list(await asyncio.gather(*(self._alone(item) for item in items)))

    async def _alone(
        self, item: AnalysisInput, retried: bool = False
    ) -> list[Finding] | ProviderError:
        try:
            [found] = await self.workers.run(self.static_checks, _payload([item]))
        except DeadlineExceededError:
            seconds = self.workers.deadline
            return AnalysisTimeoutError(
                f"the analysis of this input ran past its {seconds:g} s deadline"
                + (" twice" if retried else "")
            )
        except WorkerCrashedError as error:
            return ProviderError(f"the analysis of this input failed: {error}")
        return found

    async def start(self) -> None:
        """The worker processes, up and warm before the first request."""
        await self.workers.start()

    async def aclose(self) -> None:
        self.workers.close()
        self.ruff.close()


def balanced(items: Sequence[AnalysisInput], parts: int) -> list[list[int]]:
    """Item indexes in `parts` shares of about equal code size (largest first, greedily)."""
    shares: list[list[int]] = [[] for _ in range(parts)]
    sizes = [0] * parts
    for index in sorted(range(len(items)), key=lambda i: -len(items[i].code)):
        smallest = sizes.index(min(sizes))
        shares[smallest].append(index)
        sizes[smallest] += len(items[index].code)
    return [share for share in shares if share]


def _payload(items: Sequence[AnalysisInput]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(item.code, item.language, tuple(item.rules)) for item in items]
