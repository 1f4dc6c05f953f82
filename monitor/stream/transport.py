"""Faust's aiokafka transport: a set fetch wait, a hook before commits, two position guards.

- faust-streaming 0.15.3 hard-codes ``fetch_max_wait_ms=1500`` for the worker consumer. With the
  embedded broker a waiting fetch is only answered at that deadline (its defect 1 in
  docs/operations.md), so
  end-to-end latency would sit near 1.5 s. This transport sets the wait from the app's settings
  before the consumer starts (aiokafka reads ``_fetch_max_wait_ms`` when it builds its fetcher).
- Before committing offsets it awaits ``app.nms_before_commit()`` (the worker's state flush) and
  commits nothing when that returns False. The offsets are chosen first: everything acknowledged
  by then has its state pending, and the flush writes all of it (see monitor.stream.statestore).
  This reproduces faust's ``Consumer._commit_tps`` (0.15.3) with that one step added.
- Offsets are committed on the commit interval only. Faust also commits after every
  ``broker_commit_every`` (10,000) acknowledged messages, but it does that inside its fetch loop,
  which stops fetching for as long as the commit takes; with the state flush inside the commit
  that stalled every message in flight (1,000 events/s on the embedded broker: fetching stopped
  for 300-570 ms every 10 s, p99 latency 447 ms; interval-only: 250 ms). The interval commit runs
  in its own task and fetching goes on.

- The consumer thread's fetch sees the live set of active partitions through a view that is
  never empty. aiokafka's ``Fetcher.fetched_records(partitions)`` reads an empty ``partitions`` as
  "every assigned partition", and faust 0.15.3 hands it Faust's own mutable set, which is empty
  for a moment at the end of table recovery (changelog partitions paused, inputs not yet
  resumed). A fetch answered in that moment drained every fetched record of the partitions just
  taken over; Faust's loop then dropped them as inactive, and aiokafka's position had moved past
  them: the survivor of a SIGKILL never processed the orphaned partitions until a restart.
- Seeking to the committed offsets also rewinds partitions with no committed offset (or 0) to
  the reset point. aiokafka seeks only to offsets above 0, so for a partition nobody had
  committed yet, the seek that ends table recovery kept whatever had been fetched and dropped
  before it instead of starting over.

Registered as the URL scheme ``nmskafka://``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.exceptions import ProducerSendError
from faust.transport import drivers
from faust.transport.drivers import aiokafka as faust_aiokafka

from monitor.stream.upstream import require, set_private

SCHEME = "nmskafka"


class ActivePartitions:
    """The consumer's live set of active partitions as the consumer thread's fetch reads it.

    Membership follows the live set (a partition resumed during a fetch is drained by it), but
    the view is never falsy: to aiokafka an empty set would mean every partition.
    """

    __slots__ = ("_live",)

    def __init__(self, live: set[Any]) -> None:
        self._live = live

    def __contains__(self, tp: object) -> bool:
        return tp in self._live

    def __bool__(self) -> bool:
        return True


async def seek_committed_or_reset(
    consumer: AIOKafkaConsumer, reset: str
) -> Mapping[TopicPartition, int | None]:
    """Seek every assigned partition to its committed offset; one with none, to ``reset``.

    Returns the committed offsets (None where there is none), as aiokafka's seek does.
    """
    committed: Mapping[TopicPartition, int | None] = await consumer.seek_to_committed()
    assigned = consumer.assignment()  # a rebalance may have begun while the offsets were read
    for tp, offset in committed.items():
        if offset == 0 and tp in assigned:
            consumer.seek(tp, 0)
    unset = [tp for tp, offset in committed.items() if offset is None and tp in assigned]
    if unset and reset == "earliest":
        await consumer.seek_to_beginning(*unset)
    elif unset and reset == "latest":
        await consumer.seek_to_end(*unset)
    return committed


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        wait = getattr(self.app, "nms_fetch_max_wait_ms", None)
        if wait is not None:
            # aiokafka 0.14.0 reads it when the consumer starts and builds its fetcher.
            set_private(consumer, "_fetch_max_wait_ms", int(wait))
        return consumer

    async def seek_to_committed(self) -> Any:
        reset = self.app.conf.consumer_auto_offset_reset
        return await self.call_thread(seek_committed_or_reset, self._ensure_consumer(), reset)


class Consumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        set_private(self, "_commit_every", None)  # interval commits only (see the docstring)
        # _commit_tps below reproduces faust's with these private steps: fail now, not at the
        # first commit, if they are gone.
        require(self, "_filter_committable_offsets", "_handle_attached", "_commit_offsets")

    def _new_consumer_thread(self) -> faust_aiokafka.AIOKafkaConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        view: Any = None if active_partitions is None else ActivePartitions(active_partitions)
        return await super()._getmany(view, timeout)

    async def _commit_tps(self, tps: Any, start_new_transaction: bool) -> bool:
        before = getattr(self.app, "nms_before_commit", None)
        if before is None:
            return bool(await super()._commit_tps(tps, start_new_transaction))
        offsets = self._filter_committable_offsets(tps)
        if not offsets or not await before():
            return False
        try:
            await self._handle_attached(offsets)
        except ProducerSendError as exc:
            await self.crash(exc)
            return False
        return bool(
            await self._commit_offsets(offsets, start_new_transaction=start_new_transaction)
        )


class Transport(faust_aiokafka.Transport):
    Consumer: ClassVar[Any] = Consumer


def register() -> None:
    """Make ``nmskafka://`` resolve to this transport (idempotent)."""
    drivers.TRANSPORTS.aliases[SCHEME] = f"{__name__}:Transport"
