"""The ``rocksdb://`` table store, for a table written outside stream events.

faust-streaming 0.15.3's RocksDB store files each write under the partition of the *current
stream event*, and asserts there is one (``Store._set``). This worker writes its table from the
state flush, which runs from a timer and from the commit hook, outside any event: with
``NMS_KAFKA_STORE=rocksdb://`` the first flush failed that assertion and the worker stopped
("a state could not be delivered; stopping: AssertionError"). Inside an event it would have been
worse: a patient's state filed under the partition of whatever message was being processed.

Here every read and write goes to the RocksDB of the partition the key's changelog record lands
on. The table uses the producer's partitioner (murmur2 on the key bytes, ``use_partitioner=True``),
the same that places the patient's input messages, so a partition's database holds exactly the
keys of its changelog partition, and a revoked partition's database leaves with its keys.

Registered as the URL scheme ``nmsrocksdb://``; :func:`store_url` maps the ``rocksdb://`` setting
to it, so users keep configuring ``rocksdb://``.
"""

from __future__ import annotations

from typing import Any

from faust import stores
from faust.stores import rocksdb as faust_rocksdb

from monitor.stream.statestore import partition_of
from monitor.stream.upstream import require

SCHEME = "nmsrocksdb"


class PartitionedRocksDBStore(faust_rocksdb.Store):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        require(self, "_dbs", "_db_for_partition")  # private internals used below

    def _partition(self, key: bytes) -> int:
        partitions = self.table.partitions or self.app.conf.topic_partitions
        return partition_of(key, int(partitions))

    def _set(self, key: bytes, value: bytes | None) -> None:
        # Opens the partition's database if needed, as faust's own _set does.
        self._db_for_partition(self._partition(key)).put(key, value)

    def _get(self, key: bytes) -> bytes | None:
        # A partition whose database is not open is not held here: nothing to read. Opening
        # one on a read would create empty databases for other workers' partitions.
        db = self._dbs.get(self._partition(key))
        if db is None:
            return None
        value: bytes | None = db.get(key)
        return value

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def _del(self, key: bytes) -> None:
        db = self._dbs.get(self._partition(key))
        if db is not None:
            db.delete(key)


def register() -> None:
    """Make ``nmsrocksdb://`` resolve to :class:`PartitionedRocksDBStore` (idempotent)."""
    stores.STORES.aliases[SCHEME] = f"{__name__}:PartitionedRocksDBStore"


def store_url(setting: str) -> str:
    """The store URL Faust is given for the ``NMS_KAFKA_STORE`` setting."""
    scheme, sep, rest = setting.partition("://")
    if sep and scheme == "rocksdb":
        return f"{SCHEME}://{rest}"
    return setting
