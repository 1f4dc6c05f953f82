"""Consumer lag per partition: how many records of a partition are not yet processed.

``lag = high watermark - next offset to process``, never below 0. The high watermark comes from
the consumer's own fetch responses (aiokafka's ``highwater``), not from a ListOffsets request:
the embedded broker under-reports a partition's end in ListOffsets (the first offset of the last
batch + 1, its defect 3 in docs/operations.md), but its fetch responses carry the true high
watermark (measured: 15 in a fetch response, 11 from ListOffsets, for a partition holding a
batch of 10 then a batch of 5). A partition not fetched since it was assigned has no high
watermark yet and no figure. On a real cluster both agree; on any broker the figure is as old as
the last fetch response (at most the fetch wait when records flow).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Gauge

TP = tuple[str, int]


def lags(highwaters: Mapping[TP, int | None], positions: Mapping[TP, int | None]) -> dict[TP, int]:
    """Lag of each partition with both figures known."""
    out: dict[TP, int] = {}
    for tp, high in highwaters.items():
        position = positions.get(tp)
        if high is None or position is None:
            continue
        out[tp] = max(0, high - position)
    return out


class ConsumerLag:
    """``nms_consumer_lag_messages{topic, partition}`` for the partitions this process owns;
    a partition no longer owned loses its series (another process reports it)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.gauge = Gauge(
            "nms_consumer_lag_messages",
            "Records of an owned partition not yet processed: the high watermark of the last "
            "fetch response minus the next offset to process.",
            ["topic", "partition"], registry=registry,
        )  # fmt: skip
        self._shown: set[TP] = set()

    def update(self, current: Mapping[TP, int]) -> None:
        for topic, partition in self._shown - set(current):
            self.gauge.remove(topic, str(partition))
        for (topic, partition), lag in current.items():
            self.gauge.labels(topic, str(partition)).set(lag)
        self._shown = set(current)
