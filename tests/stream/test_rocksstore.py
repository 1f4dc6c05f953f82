"""The rocksdb:// store without a broker: every key lives in the RocksDB of its own changelog
partition, whether or not a stream event is current, where faust's own store asserts."""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.stores import rocksdb as faust_rocksdb
from faust.streams import _current_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.stream import rocksstore
from monitor.stream.rocksstore import PartitionedRocksDBStore, store_url
from monitor.stream.statestore import partition_of

PARTS = 4


def table_store(datadir: Path, url: str = "nmsrocksdb://") -> Any:
    rocksstore.register()
    app = faust.App(
        "nms-test", broker="kafka://127.0.0.1:1", store=url, datadir=str(datadir),
        autodiscover=False, key_serializer="raw", value_serializer="raw",
    )  # fmt: skip
    table = app.Table(
        "patient-state", default=None, key_type=bytes, value_type=bytes, partitions=PARTS,
        use_partitioner=True,
    )  # fmt: skip
    return table.data


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Any]:
    s = table_store(tmp_path)
    assert isinstance(s, PartitionedRocksDBStore)
    yield s
    s._dbs.clear()  # rocksdict closes a database when the last reference goes


def holders(s: Any, key: bytes) -> list[int]:
    return sorted(p for p, db in s._dbs.items() if db.get(key) is not None)


def test_faust_own_store_cannot_write_outside_a_stream_event(tmp_path: Path) -> None:
    # The defect this store exists for: a state flush runs from a timer or the commit hook.
    s = table_store(tmp_path, "rocksdb://")
    assert type(s) is faust_rocksdb.Store
    with pytest.raises(AssertionError):
        s[b"p1"] = b"state"


def test_writes_outside_an_event_go_to_the_key_partition(store: Any) -> None:
    keys = [f"patient-{i}".encode() for i in range(40)]
    for k in keys:
        store[k] = b"state of " + k
    for k in keys:
        assert holders(store, k) == [partition_of(k, PARTS)]
        assert store[k] == b"state of " + k and k in store
    assert set(store._dbs) == {partition_of(k, PARTS) for k in keys}


class _Event:  # weakly referenceable, as Faust keeps the current event
    def __init__(self, message: object) -> None:
        self.message = message


def test_a_current_event_of_another_partition_changes_nothing(store: Any) -> None:
    key = b"p1"
    other = (partition_of(key, PARTS) + 1) % PARTS
    event = _Event(SimpleNamespace(partition=other, topic="nms.vitals"))

    def write() -> None:
        _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
        store[key] = b"state"

    contextvars.copy_context().run(write)
    assert holders(store, key) == [partition_of(key, PARTS)]


def test_reads_of_partitions_not_held_open_nothing(store: Any) -> None:
    assert store.get(b"p1") is None and b"p1" not in store
    assert store._dbs == {}
    store[b"p1"] = b"x"
    del store[b"p1"]
    assert b"p1" not in store and holders(store, b"p1") == []


def test_the_setting_keeps_its_name_and_other_stores_pass_through() -> None:
    assert store_url("rocksdb://") == "nmsrocksdb://"
    assert store_url("rocksdb:///var/lib/x") == "nmsrocksdb:///var/lib/x"
    assert store_url("memory://") == "memory://"


writes = st.lists(
    st.tuples(st.binary(min_size=1, max_size=12), st.one_of(st.none(), st.binary(max_size=8))),
    max_size=30,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes)
def test_every_key_lives_only_in_its_partition_with_its_last_value(
    tmp_path: Path, steps: list[tuple[bytes, bytes | None]]
) -> None:
    """Any sequence of writes and deletes: a read returns the last value written (None after a
    delete), and a key is held by its own partition's database and no other."""
    s = table_store(tmp_path / str(len(list(tmp_path.iterdir()))))
    last: dict[bytes, bytes | None] = {}
    try:
        for key, value in steps:
            if value is None:
                if key in s:
                    del s[key]
            else:
                s[key] = value
            last[key] = value if value is not None else None
        for key, value in last.items():
            assert s.get(key) == value
            assert holders(s, key) == ([] if value is None else [partition_of(key, PARTS)])
    finally:
        s._dbs.clear()
