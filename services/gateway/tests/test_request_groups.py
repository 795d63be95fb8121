"""Grouping requests that arrive together: at once when a slot is free, together when not."""

import asyncio

import pytest

from revue.devkit.testing.waiting import wait_until
from revue.gateway.adapters.request_groups import Grouping, RequestGroups


class Wire:
    """A `send` that records each group and answers it when told to."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.answers: list[asyncio.Future[object]] = []

    async def send(self, group: list[int]) -> asyncio.Future[object]:
        self.groups.append(group)
        answer: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self.answers.append(answer)
        return answer


async def test_a_lone_request_goes_at_once_from_its_callers_task():
    wire = Wire()
    groups = RequestGroups(wire.send, Grouping(max_size=8, in_flight=1, hold=60), "t1")
    await groups.submit(1)
    assert wire.groups == [[1]]  # sent before submit returned: no queue, no wait


async def test_requests_that_arrive_while_the_slot_is_held_leave_together_on_its_answer():
    wire = Wire()
    groups = RequestGroups(wire.send, Grouping(max_size=8, in_flight=1, hold=60), "t2")
    await groups.submit(1)
    for item in range(2, 12):
        await groups.submit(item)
    assert wire.groups == [[1]]
    wire.answers[0].set_result(None)
    await _until(lambda: len(wire.groups) == 2)
    assert wire.groups[1] == [2, 3, 4, 5, 6, 7, 8, 9]  # at most max_size
    wire.answers[1].set_result(None)
    await _until(lambda: len(wire.groups) == 3)
    assert wire.groups[2] == [10, 11]
    assert (groups.groups_sent, groups.items_sent) == (3, 11)


async def test_an_unanswered_group_gives_its_slot_back_after_the_hold():
    wire = Wire()
    groups = RequestGroups(wire.send, Grouping(max_size=8, in_flight=1, hold=0.05), "t3")
    await groups.submit(1)
    await groups.submit(2)
    started = asyncio.get_running_loop().time()
    await _until(lambda: len(wire.groups) == 2)
    assert asyncio.get_running_loop().time() - started >= 0.04
    assert wire.groups[1] == [2]
    # The late answer does not give the slot back a second time.
    wire.answers[0].set_result(None)
    await asyncio.sleep(0)  # one loop turn: the answer's done-callbacks (call_soon) run
    await groups.submit(3)
    await groups.submit(4)
    assert wire.groups[2:] == []  # group 2 still holds the only slot
    wire.answers[1].set_result(None)
    await _until(lambda: len(wire.groups) == 3)
    assert wire.groups[2] == [3, 4]


async def test_a_failed_send_frees_its_slot_at_once():
    sent: list[list[int]] = []

    async def failing(group: list[int]) -> None:
        sent.append(group)
        return None  # told its items why; nothing to wait for

    groups = RequestGroups(failing, Grouping(max_size=8, in_flight=1, hold=60), "t4")
    await groups.submit(1)
    await groups.submit(2)
    assert sent == [[1], [2]]


async def _until(condition) -> None:
    await wait_until(condition, timeout=5, interval=0.001)


async def test_a_send_that_raises_gives_its_slot_back():
    sent: list[list[int]] = []

    async def broken(group: list[int]) -> None:
        sent.append(group)
        if len(sent) == 1:
            raise RuntimeError("send failed")

    groups = RequestGroups(broken, Grouping(max_size=8, in_flight=1, hold=60), "t5")
    with pytest.raises(RuntimeError):
        await groups.submit(1)
    await groups.submit(2)  # the only slot is free again: sent at once
    assert sent == [[1], [2]]
