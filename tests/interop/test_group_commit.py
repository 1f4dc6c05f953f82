"""Group commit (monitor/interop/groupcommit.py) and the record batches of KafkaSink
(monitor/interop/publish.py), with a scripted transport instead of the broker. The listener with a
group-committing sink: tests/interop/test_hl7_listener.py; the real broker:
tests/integration/test_publish_groups.py."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Awaitable, Callable

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given
from hypothesis import strategies as st

from monitor.interop.groupcommit import GroupCommit, Parts, PublishError
from monitor.interop.publish import partition_for, plan_batches


class Transport:
    """Records each flushed group; each flush waits for the test to release it."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []
        self.gate = asyncio.Event()
        self.fail_at: set[int] = set()  # indices of the flushes that fail
        self.hang = False

    async def flush(self, items: list[str]) -> None:
        self.groups.append(list(items))
        await self.gate.wait()
        if self.hang:
            await asyncio.sleep(3600)
        if len(self.groups) - 1 in self.fail_at:
            raise ConnectionError("broker connection lost")


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def run(scenario: Callable[[GroupCommit[str], Transport], Awaitable[None]]) -> Transport:
    transport = Transport()

    async def main() -> None:
        commit = GroupCommit[str](transport.flush)
        commit.start()
        try:
            await scenario(commit, transport)
        finally:
            await commit.stop()

    asyncio.run(main())
    return transport


async def _outcomes(tasks: list[asyncio.Task[None]]) -> list[str]:
    done = await asyncio.gather(*tasks, return_exceptions=True)
    return ["ok" if r is None else type(r).__name__ for r in done]


def test_callers_arriving_during_a_flush_share_the_next_one_in_order() -> None:
    seen: list[list[str]] = []

    async def scenario(commit: GroupCommit[str], t: Transport) -> None:
        first = asyncio.create_task(commit.submit(["a1", "a2"], 5))
        await _settle()  # the first flush is in flight, waiting for the gate
        later = [asyncio.create_task(commit.submit([f"{c}1", f"{c}2"], 5)) for c in "bcd"]
        await _settle()
        t.gate.set()
        seen.append(await _outcomes([first, *later]))
        assert commit.flushes == 2

    t = run(scenario)
    assert t.groups == [["a1", "a2"], ["b1", "b2", "c1", "c2", "d1", "d2"]]
    assert seen == [["ok", "ok", "ok", "ok"]]


def test_a_failed_flush_fails_every_caller_of_its_group_and_no_other() -> None:
    results: list[list[str]] = []

    async def scenario(commit: GroupCommit[str], t: Transport) -> None:
        t.fail_at = {1}
        first = asyncio.create_task(commit.submit(["a"], 5))
        await _settle()
        middle = [asyncio.create_task(commit.submit([c], 5)) for c in "bcd"]
        await _settle()
        t.gate.set()
        results.append(await _outcomes([first, *middle]))
        results.append(await _outcomes([asyncio.create_task(commit.submit(["e"], 5))]))

    t = run(scenario)
    assert t.groups == [["a"], ["b", "c", "d"], ["e"]]
    assert results == [["ok", "PublishError", "PublishError", "PublishError"], ["ok"]]


def test_the_error_names_the_cause() -> None:
    async def scenario(commit: GroupCommit[str], t: Transport) -> None:
        t.fail_at = {0}
        t.gate.set()
        with pytest.raises(PublishError, match="ConnectionError: broker connection lost"):
            await commit.submit(["a"], 5)

    run(scenario)


def test_a_flush_that_does_not_return_in_time_fails_its_whole_group() -> None:
    async def scenario(commit: GroupCommit[str], t: Transport) -> None:
        t.hang = True
        t.gate.set()
        tasks = [asyncio.create_task(commit.submit([c], 0.2)) for c in "abc"]
        assert await _outcomes(tasks) == ["PublishError"] * 3
        with pytest.raises(PublishError, match=r"did not acknowledge 1 events within 0\.2 s"):
            await commit.submit(["d"], 0.2)

    run(scenario)


def test_a_group_ends_at_its_earliest_callers_deadline_and_is_then_not_flushed() -> None:
    async def scenario(commit: GroupCommit[str], t: Transport) -> None:
        first = asyncio.create_task(commit.submit(["a"], 5))
        await _settle()
        loop = asyncio.get_running_loop()
        started = loop.time()
        queued = [asyncio.create_task(commit.submit([c], s)) for c, s in (("b", 5), ("c", 0.1))]
        assert await _outcomes(queued) == ["PublishError", "PublishError"]
        assert loop.time() - started < 2  # both refused at c's deadline, not b's
        later = asyncio.create_task(commit.submit(["e"], 5))  # a new group, not the ended one
        await _settle()
        t.gate.set()
        assert await _outcomes([later]) == ["ok"]
        assert await _outcomes([first]) == ["ok"]
        await commit.submit(["d"], 5)

    t = run(scenario)
    assert t.groups == [["a"], ["e"], ["d"]]


def test_a_group_whose_callers_all_gave_up_is_not_flushed() -> None:
    async def scenario(commit: GroupCommit[str], t: Transport) -> None:
        first = asyncio.create_task(commit.submit(["a"], 5))
        await _settle()
        with pytest.raises(PublishError):  # queued behind the first flush, then gave up
            await commit.submit(["b"], 0.05)
        cancelled = asyncio.create_task(commit.submit(["c"], 5))
        await _settle()
        cancelled.cancel()
        await _settle()
        t.gate.set()
        assert await _outcomes([first]) == ["ok"]
        await commit.submit(["e"], 5)

    t = run(scenario)
    assert t.groups == [["a"], ["e"]]


def test_stop_answers_every_waiting_caller() -> None:
    transport = Transport()

    async def main() -> list[str]:
        commit = GroupCommit[str](transport.flush)
        commit.start()
        tasks = [asyncio.create_task(commit.submit([c], 5)) for c in "ab"]
        await _settle()
        tasks.append(asyncio.create_task(commit.submit(["c"], 5)))
        await _settle()
        await commit.stop()
        outcomes = await _outcomes(tasks)
        with pytest.raises(PublishError, match="not running"):
            await commit.submit(["d"], 5)
        return outcomes

    assert asyncio.run(main()) == ["PublishError"] * 3


def test_a_large_submission_starts_a_group_of_its_own() -> None:
    transport = Transport()
    transport.gate.set()

    async def main() -> None:
        commit = GroupCommit[str](transport.flush, max_items=4)
        commit.start()
        try:
            await asyncio.gather(
                commit.submit(["a1", "a2", "a3"], 5),
                commit.submit(["b1", "b2"], 5),
                commit.submit(["c1", "c2", "c3", "c4", "c5"], 5),
            )
        finally:
            await commit.stop()

    asyncio.run(main())
    assert transport.groups == [["a1", "a2", "a3"], ["b1", "b2"], ["c1", "c2", "c3", "c4", "c5"]]


@given(st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=50), st.integers(1, 12))
def test_partitions_are_the_default_partitioners(keys: list[bytes], n: int) -> None:
    """The worker's clients (aiokafka, Faust) and `send` place a key with murmur2: so must we."""
    partitions = list(range(n))
    for key in keys:
        assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


@given(
    st.lists(st.tuples(st.sampled_from(["t.vitals", "t.labs"]), st.integers(0, 30)), max_size=80)
)
def test_a_plan_keeps_every_record_once_and_each_keys_order(records: list[tuple[str, int]]) -> None:
    partitions = {"t.vitals": [0, 1, 2, 3], "t.labs": [0, 1]}
    full = [(topic, f"p{k}".encode(), f"{i}".encode()) for i, (topic, k) in enumerate(records)]
    plan = plan_batches(full, partitions)
    flat = sorted((t, key, v) for (t, _), entries in plan.items() for _, key, v in entries)
    assert flat == sorted(full)
    assert all(full[i][1:] == (key, v) for entries in plan.values() for i, key, v in entries)
    for (topic, partition), entries in plan.items():
        assert all(partition_for(key, partitions[topic]) == partition for _, key, _ in entries)
        for key in {key for _, key, _ in entries}:
            mine = [v for _, k, v in entries if k == key]
            assert mine == [v for t, k, v in full if t == topic and k == key]


class _Record:
    """A record that can be watched (weakly) for being freed."""


@pytest.mark.parametrize("settled_in_parts", [False, True])
def test_a_group_is_freed_once_its_callers_are_answered(settled_in_parts: bool) -> None:
    """Its deadline timer held every answered group, records and callers, until the deadline
    (10 s of a busy listener's messages, rescanned by every full garbage collection)."""
    refs: list[weakref.ref[_Record]] = []

    async def main() -> None:
        async def flush(items: list[_Record]) -> Parts | None:
            if not settled_in_parts:
                return None
            ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(0.01, ack.set_result, None)
            return [(list(range(len(items))), ack)]

        commit = GroupCommit[_Record](flush)
        commit.start()
        try:
            records = [_Record(), _Record()]
            refs.extend(weakref.ref(r) for r in records)
            await commit.submit(records, 60.0)
            del records
            await asyncio.sleep(0.05)  # the flush loop has moved on
            gc.collect()
            assert [r() for r in refs] == [None, None]
        finally:
            await commit.stop()

    asyncio.run(main())


def test_a_groups_timer_is_cancelled_once_its_callers_are_answered() -> None:
    """Not left to fire at the deadline (the loop would hold the group until then)."""

    async def main() -> list[asyncio.TimerHandle]:
        loop = asyncio.get_running_loop()

        async def flush(items: list[int]) -> Parts | None:
            ack: asyncio.Future[None] = loop.create_future()
            loop.call_later(0.01, ack.set_result, None)
            return [(list(range(len(items))), ack)]

        commit = GroupCommit[int](flush)
        commit.start()
        try:
            await commit.submit([1, 2], 60.0)
            await asyncio.sleep(0.05)
            return [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
        finally:
            await commit.stop()

    assert asyncio.run(main()) == []
