"""Invalidation against the local purge server: batching, coalescing, pacing, Retry-After,
an outage that loses nothing, and each back end's wire format. Requests live in real Postgres."""

import asyncio
import time

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from revue.cdn.adapters.invalidations import InvalidationStore
from revue.cdn.adapters.purge_backends import CloudflarePurge, FastlyPurge, HttpPurge
from revue.cdn.invalidation.dispatcher import Invalidator
from revue.common.contracts.events import RequestInvalidation
from revue.common.db import migrations

from .purge_server import TOKEN, PurgeServer, running

KNOWN = ["/assets/index.html", "/assets/js/app.1.js", "/assets/js/vendor.2.js", "/assets/app.css"]


@pytest.fixture
async def store(database_url):
    await asyncio.to_thread(migrations.upgrade, "revue.cdn", database_url)
    engine = create_async_engine(database_url)
    yield InvalidationStore(engine)
    await engine.dispose()


def invalidator(backend, store, announced):
    async def announce(event):
        announced.append(event)

    return Invalidator(backend, store, announce, lambda: KNOWN, window=0, max_attempts=3)


async def test_cloudflare_batches_of_100_duplicates_coalesced_patterns_expanded(store):
    async with running(PurgeServer()) as server:
        announced = []
        worker = invalidator(
            CloudflarePurge(server.url, "zone1", TOKEN, "https://cdn.example.com"), store, announced
        )
        paths = [f"/assets/p{i}.html" for i in range(250)]
        await worker.request(RequestInvalidation(paths=paths[:150]))
        await worker.request(RequestInvalidation(paths=paths[100:], patterns=["/assets/js/*.js"]))
        assert await worker.flush() == 2
        files = [call["files"] for call in server.calls]
        assert [len(batch) for batch in files] == [100, 100, 52]  # 250 distinct + 2 expanded
        sent = [url for batch in files for url in batch]
        assert len(sent) == len(set(sent))
        assert "https://cdn.example.com/assets/js/vendor.2.js" in sent
        assert {event.status for event in announced} == {"purged"}
        assert await worker.get_pending_invalidations() == []


async def test_fastly_keys_in_256s_soft_purge_and_purge_all(store):
    async with running(PurgeServer()) as server:
        worker = invalidator(FastlyPurge(server.url, "svc", TOKEN), store, [])
        await worker.request(
            RequestInvalidation(surrogate_keys=[f"k{i}" for i in range(300)], soft=True)
        )
        await worker.flush()
        assert [len(call["keys"]) for call in server.calls] == [256, 44]
        assert all(call["soft"] for call in server.calls)
        server.calls.clear()
        await worker.queue_invalidation(["/assets/a.html"])
        await worker.invalidate_all()
        await worker.flush()
        assert [call["path"] for call in server.calls] == [
            "/service/svc/purge_all"
        ]  # all covers a.html


async def test_varnish_purges_urls_keys_and_bans_patterns(store):
    async with running(PurgeServer()) as server:
        worker = invalidator(HttpPurge(server.url), store, [])
        request = RequestInvalidation(
            paths=["/assets/index.html"],
            patterns=["/assets/app.*.js"],
            surrogate_keys=["deploy-1"],
        )
        await worker.request(request)
        assert await worker.flush() == 1, await store.pending()
        calls = {(c["method"], c["path"], c.get("xkey"), c.get("x-ban-url")) for c in server.calls}
        assert calls == {
            ("PURGE", "/assets/index.html", None, None),
            ("BAN", "/", None, r"^/assets/app\..*\.js$"),
            ("PURGE", "/", "deploy-1", None),
        }


async def test_pacing_mirrors_the_published_rate_and_retry_after_is_honored(store):
    # The server allows 5 calls/s (burst 2); the back end is configured at the same rate.
    async with running(PurgeServer(rate=5, burst=2)) as server:
        backend = CloudflarePurge(
            server.url, "z", TOKEN, "https://cdn.example.com", rate=5, burst=2
        )
        worker = invalidator(backend, store, [])
        await worker.request(RequestInvalidation(paths=[f"/assets/{i}.html" for i in range(1000)]))
        started = time.monotonic()
        await worker.flush()
        elapsed = time.monotonic() - started
        assert len(server.calls) == 10
        assert server.refused == []  # paced: never refused
        assert elapsed >= (10 - 2) / 5  # two at once, then paced just under 5/s
    # Configured faster than the server allows: 429s come back and are waited out.
    async with running(PurgeServer(rate=2, burst=1)) as server:
        backend = CloudflarePurge(
            server.url, "z", TOKEN, "https://cdn.example.com", rate=100, burst=100
        )
        worker = invalidator(backend, store, [])
        await worker.request(RequestInvalidation(paths=[f"/assets/{i}.html" for i in range(300)]))
        assert await worker.flush() == 1
        assert len(server.calls) == 3
        assert server.refused, "the server should have refused some calls"
        for refused_at in server.refused:  # the next call waited out Retry-After (1 s)
            following = [t for t in server.call_times if t > refused_at]
            assert not following or following[0] - refused_at >= 0.95


async def test_nothing_is_lost_while_the_back_end_is_down(store):
    async with running(PurgeServer(down=True)) as server:
        announced = []
        worker = invalidator(FastlyPurge(server.url, "svc", TOKEN), store, announced)
        requests = [RequestInvalidation(surrogate_keys=[f"deploy-{i}"]) for i in range(5)]
        for request in requests:
            await worker.request(request)
        assert await worker.flush() == 0
        rows = await store.pending()
        assert len(rows) == 5 and all(row["attempts"] == 1 for row in rows)
        assert announced == []
        server.down = False
        worker.breaker.reset()
        assert await worker.flush() == 5
        assert sorted(k for call in server.calls for k in call["keys"]) == [
            f"deploy-{i}" for i in range(5)
        ]
        assert {event.request_id for event in announced} == {r.request_id for r in requests}
        assert await store.pending() == []


async def test_a_redelivered_request_is_stored_once_and_a_refusal_fails_it(store):
    async with running(PurgeServer()) as server:
        announced = []
        worker = invalidator(FastlyPurge(server.url, "svc", "wrong-token"), store, announced)
        request = RequestInvalidation(surrogate_keys=["k"])
        assert await worker.request(request) is True
        assert await worker.request(request) is False
        await worker.flush()
        row = await store.get(request.request_id)
        assert row["status"] == "failed" and "401" in row["detail"]
        assert [event.status for event in announced] == ["failed"]
