"""The invalidation loop: persisted requests -> coalesced batches -> paced purges.

Requests are stored first (REST, the seed API or `cdn.invalidate.requested`)
and acknowledged once stored. The loop waits a coalescing window after the
first new request, plans every pending request into batches, takes a token
per call from a bucket that mirrors the back end's published rate, and sends
each batch through a circuit breaker with retries that honor Retry-After.
While the back end is down the requests stay pending and are tried again
later; a refusal that retrying cannot fix marks them failed. Each finished
request is announced as `cdn.invalidate.completed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace

import structlog
from prometheus_client import Counter, Gauge

from revue.cdn.adapters.invalidations import InvalidationStore
from revue.cdn.adapters.purge_backends import PurgeBackend, PurgeRejectedError
from revue.cdn.invalidation.plan import plan
from revue.common.contracts.errors import CircuitOpenError, RetryExhaustedError, RevueError
from revue.common.contracts.events import InvalidationCompleted, RequestInvalidation
from revue.common.resilience import CircuitBreaker, RetryPresets, TokenBucket, retry_async

log = structlog.get_logger("revue.cdn.invalidation")
purge_calls_total = Counter(
    "cdn_purge_calls_total", "Calls made to the purge back end", ["backend", "kind"]
)
invalidations_total = Counter(
    "cdn_invalidations_total", "Invalidation requests finished", ["status"]
)
pending_gauge = Gauge("cdn_invalidations_pending", "Invalidation requests not yet purged")

PACING_MARGIN = 0.9
Announce = Callable[[InvalidationCompleted], Awaitable[None]]


def is_pattern(path: str) -> bool:
    return any(char in path for char in "*?[")


class Invalidator:
    def __init__(
        self,
        backend: PurgeBackend,
        store: InvalidationStore,
        announce: Announce,
        known_paths: Callable[[], Iterable[str]],
        *,
        window: float = 1.0,
        retry_interval: float = 5.0,
        max_attempts: int = 4,
    ) -> None:
        self.backend = backend
        self.store = store
        self.announce = announce
        self.known_paths = known_paths
        self.window = window
        self.retry_interval = retry_interval
        # A little under the published rate: our clock and theirs never agree to the millisecond.
        self.bucket = TokenBucket(backend.rate * PACING_MARGIN, backend.burst)
        self.breaker = CircuitBreaker(
            f"purge-{backend.name}", failure_threshold=5, recovery_timeout=10.0
        )
        self.retry = replace(
            RetryPresets.CRITICAL,
            max_attempts=max_attempts,
            initial_delay=0.2,
            max_delay=5.0,
            deadline=60.0,
            retry_on=(RevueError,),
            dont_retry_on=(PurgeRejectedError, CircuitOpenError),
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- the seed's API ----------------------------------------------------------------

    async def queue_invalidation(
        self, paths: list[str], *, soft: bool = False
    ) -> RequestInvalidation:
        """Paths may be glob patterns (`/assets/js/app.*.js`), as in the seed; a pattern
        that matches no path of the current or recent deployments is logged and dropped."""
        request, unmatched = self.matched(
            RequestInvalidation(
                paths=[p for p in paths if not is_pattern(p)],
                patterns=[p for p in paths if is_pattern(p)],
                soft=soft,
            )
        )
        if unmatched:
            log.warning("invalidation patterns match nothing; not sent", patterns=unmatched)
        if request.paths or request.patterns or request.surrogate_keys:
            await self.request(request)
        return request

    def matched(self, request: RequestInvalidation) -> tuple[RequestInvalidation, list[str]]:
        """The request with only the patterns that match a deployed path, and the others."""
        if not request.patterns:
            return request, []
        known = list(self.known_paths())
        unmatched = [
            pattern
            for pattern in request.patterns
            if not any(fnmatch.fnmatchcase(path, pattern) for path in known)
        ]
        kept = [pattern for pattern in request.patterns if pattern not in unmatched]
        return request.model_copy(update={"patterns": kept}), unmatched

    async def invalidate_all(self, *, soft: bool = False) -> RequestInvalidation:
        request = RequestInvalidation(everything=True, soft=soft)
        await self.request(request)
        return request

    async def get_pending_invalidations(self) -> list[str]:
        pending = await self.store.pending()
        return [
            item
            for row in pending
            for item in ("/*",) * row["everything"] or [*row["paths"], *row["patterns"]]
        ]

    # --- requests in -------------------------------------------------------------------

    async def request(self, request: RequestInvalidation) -> bool:
        """Store a request (idempotent on its id) and wake the loop."""
        stored = await self.store.add(request)
        self._wake.set()
        return stored

    # --- the loop ----------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cdn-invalidator")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.backend.aclose()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.retry_interval)
            self._wake.clear()
            await asyncio.sleep(self.window)  # the coalescing window: let more requests join
            try:
                await self.flush()
            except Exception as error:  # database down: the rows wait, so do we
                log.warning("invalidation round failed; will retry", error=repr(error))

    async def flush(self) -> int:
        """Purge everything pending now; returns how many requests finished."""
        rows = await self.store.pending()
        pending_gauge.set(len(rows))
        if not rows:
            return 0
        ids = [row["id"] for row in rows]
        batches = plan(
            rows,
            self.backend.batch_size,
            wildcards=self.backend.wildcards,
            known_paths=self.known_paths(),
        )
        try:
            for batch in batches:
                await self.bucket.acquire()
                purge_calls_total.labels(self.backend.name, batch.kind).inc()
                await retry_async(
                    self.breaker.call, self.backend.purge, batch, config=self.retry, name="purge"
                )
        except PurgeRejectedError as error:
            await self._finish(rows, "failed", str(error))
            return len(rows)
        except (RetryExhaustedError, CircuitOpenError, RevueError) as error:
            await self.store.attempted(ids, str(error))
            log.warning(
                "purge back end unavailable; requests stay pending",
                error=str(error),
                pending=len(rows),
            )
            return 0
        await self._finish(rows, "purged", f"{len(batches)} calls")
        return len(rows)

    async def _finish(self, rows: list[dict], status: str, detail: str) -> None:
        await self.store.finish([row["id"] for row in rows], status, self.backend.name, detail)
        pending_gauge.set(0)
        for row in rows:
            invalidations_total.labels(status).inc()
            items = (
                len(row["paths"])
                + len(row["patterns"])
                + len(row["surrogate_keys"])
                + row["everything"]
            )
            event = InvalidationCompleted(
                request_id=row["id"],
                backend=self.backend.name,
                status=status,
                items=items,
                detail=detail,
            )
            try:
                await self.announce(event)
            except Exception as error:  # the purge happened; a lost announcement is logged
                log.warning("could not announce a finished invalidation", error=repr(error))
