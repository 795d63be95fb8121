"""Synchronous results are recorded in group commits, never lost at shutdown."""

import uuid

from prometheus_client import REGISTRY

from revue.gateway.adapters.jobs import JobStore
from revue.gateway.recorder import ResultRecorder

from .conftest import finished, new_user


class CountingStore(JobStore):
    """The real job store, counting its COPYs."""

    copies = 0

    async def create_many(self, rows):
        self.copies += 1
        return await super().create_many(rows)


async def stored(engine) -> int:
    async with engine.connect() as connection:
        return (await connection.exec_driver_sql("SELECT count(*) FROM jobs")).scalar_one()


def failed_rows() -> float:
    labels = {"outcome": "failed"}
    return REGISTRY.get_sample_value("gateway_sync_results_recorded_total", labels) or 0


async def test_a_burst_is_written_in_a_few_copies(engine):
    owner = await new_user(engine)
    store = CountingStore(engine)
    announced = []

    async def written(rows):
        announced.extend(rows)

    recorder = ResultRecorder(store, written, max_rows=512, max_wait=0.05)
    await recorder.start()
    for _ in range(1200):
        recorder.record(finished(owner, {"findings": []}))
    await recorder.stop(timeout=10)
    assert await stored(engine) == 1200
    assert len(announced) == 1200
    assert store.copies <= 4, f"{store.copies} COPYs for 1,200 rows"


async def test_stop_writes_what_is_still_waiting(engine):
    owner = await new_user(engine)
    recorder = ResultRecorder(JobStore(engine), max_wait=60)  # the timer would never fire
    await recorder.start()
    for _ in range(3):
        recorder.record(finished(owner, None))
    await recorder.stop(timeout=10)
    assert await stored(engine) == 3


async def test_a_failing_batch_is_counted_and_the_next_still_written(engine):
    owner = await new_user(engine)
    recorder = ResultRecorder(JobStore(engine), max_rows=2, max_wait=0.01)
    await recorder.start()
    before = failed_rows()
    recorder.record(finished(owner, None))
    recorder.record(finished(uuid.uuid4(), None))  # no such user: this COPY fails
    recorder.record(finished(owner, None))
    await recorder.stop(timeout=10)
    assert failed_rows() == before + 2
    assert await stored(engine) == 1
