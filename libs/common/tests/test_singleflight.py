import asyncio

import pytest

from revue.common.concurrency.singleflight import SingleFlight


async def test_concurrent_callers_share_one_execution():
    group: SingleFlight[int] = SingleFlight()
    calls = 0
    gate = asyncio.Event()

    async def work() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return 42

    callers = [asyncio.create_task(group.do("k", work)) for _ in range(100)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*callers) == [42] * 100
    assert calls == 1
    assert group.executions == 1
    assert group.shared == 99
    assert len(group) == 0


async def test_one_caller_cancelling_does_not_cancel_the_others():
    group: SingleFlight[str] = SingleFlight()
    gate = asyncio.Event()

    async def work() -> str:
        await gate.wait()
        return "done"

    first = asyncio.create_task(group.do("k", work))
    second = asyncio.create_task(group.do("k", work))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_failures_are_shared_and_not_remembered():
    group: SingleFlight[str] = SingleFlight()
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return "ok"

    with pytest.raises(RuntimeError):
        await group.do("k", flaky)
    assert await group.do("k", flaky) == "ok"
