import asyncio
import itertools

import pytest
from prometheus_client import REGISTRY

from revue.common.concurrency.batching import BatchConfig, BatchProcessor


async def doubling(items):
    await asyncio.sleep(0.01)
    return [{"result": item * 2} for item in items]


async def test_fifty_concurrent_requests_form_five_full_batches():
    processor = BatchProcessor(doubling, BatchConfig(max_batch_size=10, max_wait_time=0.1))
    async with processor:
        results = await asyncio.gather(*(processor.process(i) for i in range(50)))
    assert results[0] == {"result": 0}
    assert results[49] == {"result": 98}
    metrics = processor.get_metrics()
    assert metrics["total_requests"] == 50
    assert metrics["total_batches"] == 5
    assert metrics["avg_batch_size"] == 10.0
    assert metrics["efficiency_gain"] == 10.0
    assert metrics["errors"] == 0


async def test_a_lone_request_waits_at_most_max_wait_when_the_processor_is_busy():
    sizes = []

    async def record(items):
        sizes.append(len(items))
        await asyncio.sleep(0.2)
        return items

    config = BatchConfig(max_batch_size=100, max_wait_time=0.05, dispatch_when_idle=False)
    processor = BatchProcessor(record, config)
    async with processor:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await processor.process("x") == "x"
        waited = loop.time() - started - 0.2
    assert sizes == [1]
    assert 0.04 <= waited < 0.5
    assert processor.get_metrics()["max_wait_time_observed"] <= 0.1


async def test_an_idle_processor_dispatches_at_once_and_a_busy_one_batches():
    sizes = []
    gate = asyncio.Event()

    async def record(items):
        sizes.append(len(items))
        await gate.wait()
        return items

    processor = BatchProcessor(record, BatchConfig(max_batch_size=100, max_wait_time=0.05))
    async with processor:
        first = asyncio.create_task(processor.process("first"))
        await asyncio.sleep(0.01)  # nothing else queued: "first" must not wait 50 ms
        assert sizes == [1]
        later = [asyncio.create_task(processor.process(i)) for i in range(10)]
        await asyncio.sleep(0.1)  # a batch is running, so these are collected together
        gate.set()
        await asyncio.gather(first, *later)
    assert sizes == [1, 10]


async def test_spaced_batches_fill_up_and_a_full_one_does_not_wait_for_the_spacing():
    sent: list[tuple[float, int]] = []

    async def record(items):
        sent.append((asyncio.get_running_loop().time(), len(items)))
        return items

    # A budget of one call per 0.3 s; items arrive every 50 ms, six per spacing (< 8).
    config = BatchConfig(max_batch_size=8, max_wait_time=0.01, min_dispatch_interval=0.3)
    processor = BatchProcessor(record, config)
    async with processor:
        trickle = []
        for i in range(24):
            trickle.append(asyncio.create_task(processor.process(i)))
            await asyncio.sleep(0.05)
        assert await asyncio.gather(*trickle) == list(range(24))
        calls_before_the_burst = len(sent)
        assert await asyncio.gather(*(processor.process(i) for i in range(16))) == list(range(16))
    times = [at for at, _ in sent[:calls_before_the_burst]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # One call alone (the idle first item), then batches no closer than the spacing.
    assert sent[0][1] == 1
    assert all(gap >= 0.29 for gap in gaps), gaps
    assert calls_before_the_burst <= 24 * 0.05 / 0.3 + 2  # ~5 calls for 24 items, not 24
    # The burst's two full batches left without waiting out the spacing twice.
    burst = sent[calls_before_the_burst:]
    assert [size for _, size in burst] == [8, 8]
    assert burst[1][0] - burst[0][0] < 0.1


async def test_an_item_failure_fails_only_that_item():
    async def picky(items):
        return [ValueError(f"bad {item}") if item % 2 else item for item in items]

    processor = BatchProcessor(picky, BatchConfig(max_batch_size=10, max_wait_time=0.01))
    async with processor:
        outcomes = await asyncio.gather(
            *(processor.process(i) for i in range(6)), return_exceptions=True
        )
    assert outcomes[0::2] == [0, 2, 4]
    assert all(isinstance(o, ValueError) for o in outcomes[1::2])
    assert processor.get_metrics()["errors"] == 3


async def test_a_handler_exception_fails_its_batch_and_the_processor_lives_on():
    calls = 0

    async def flaky(items):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("provider down")
        return items

    processor = BatchProcessor(flaky, BatchConfig(max_batch_size=5, max_wait_time=0.01))
    async with processor:
        with pytest.raises(RuntimeError):
            await processor.process(1)
        assert await processor.process(2) == 2


async def test_cancelled_callers_are_dropped_before_their_batch_runs():
    seen = []
    gate = asyncio.Event()

    async def slow(items):
        seen.extend(items)
        await gate.wait()
        return items

    processor = BatchProcessor(
        slow, BatchConfig(max_batch_size=1, max_wait_time=0, max_concurrent_batches=1)
    )
    async with processor:
        first = asyncio.create_task(processor.process("first"))
        await asyncio.sleep(0.01)
        doomed = asyncio.create_task(processor.process("doomed"))
        await asyncio.sleep(0.01)
        doomed.cancel()
        gate.set()
        assert await first == "first"
        assert await processor.process("after") == "after"
    assert "doomed" not in seen


async def test_concurrency_is_bounded_by_max_concurrent_batches():
    running = peak = 0

    async def track(items):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return items

    processor = BatchProcessor(
        track, BatchConfig(max_batch_size=2, max_wait_time=0, max_concurrent_batches=3)
    )
    async with processor:
        await asyncio.gather(*(processor.process(i) for i in range(40)))
    assert peak == 3


async def test_metrics_are_exported_to_prometheus():
    processor = BatchProcessor(
        doubling, BatchConfig(max_batch_size=4, max_wait_time=0.01), name="t-export"
    )
    async with processor:
        await asyncio.gather(*(processor.process(i) for i in range(8)))
    labels = {"processor": "t-export"}
    assert REGISTRY.get_sample_value("batch_requests_total", labels) == 8
    assert REGISTRY.get_sample_value("batch_batches_total", labels) == 2
    assert REGISTRY.get_sample_value("batch_efficiency_gain", labels) == 4


def test_invalid_configuration_is_refused():
    with pytest.raises(ValueError, match="invalid batch"):
        BatchConfig(max_batch_size=0)
