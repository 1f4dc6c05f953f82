"""Canaries for the Faust, mode and aiokafka internals the shell overrides or relies on.

Each recorded method is fingerprinted by the class that defines it (through the MRO) and the
SHA-256 of its source (``inspect.getsource``) in the pinned release. When an upgrade changes one,
its test fails: read the new source, check that the override still holds its guarantee (state
flushed before the commit, short fetch wait, no input dropped at the end of recovery, states
filed under their own partition), then record the new fingerprint here and the new pin in
``pyproject.toml`` and ``monitor/stream/upstream.py``.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from mode.utils.objects import cached_property

from monitor.stream import flow, rocksstore, transport
from monitor.stream.upstream import PINNED, UpstreamChanged, check_versions, require, set_private

ROOT = Path(__file__).resolve().parents[2]

# "module:Class.method" (looked up through Class's MRO) -> (defining class, source SHA-256[:16])
RECORDED: dict[str, tuple[str, str]] = {
    # overridden by monitor/stream/transport.py
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread._create_worker_consumer": (
        "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread", "c2701bfc3e6f6cad"),
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.seek_to_committed": (
        "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread", "775ab0adc4b052ab"),
    "faust.transport.drivers.aiokafka:Consumer._new_consumer_thread": (
        "faust.transport.drivers.aiokafka.Consumer", "0870ec53dea75083"),
    "faust.transport.drivers.aiokafka:Consumer._getmany": (
        "faust.transport.consumer.ThreadDelegateConsumer", "f9d47aa9010b5ff2"),
    "faust.transport.drivers.aiokafka:Consumer._commit_tps": (
        "faust.transport.consumer.Consumer", "a20e230b05ae8b15"),
    "faust.transport.drivers.aiokafka:Consumer.__init__": (
        "faust.transport.consumer.ThreadDelegateConsumer", "7072ae80eac1ff62"),
    # called or relied on by the transport
    "faust.transport.consumer:Consumer.__init__": (  # sets _commit_every
        "faust.transport.consumer.Consumer", "302410d59e6972d1"),
    "faust.transport.consumer:Consumer._filter_committable_offsets": (
        "faust.transport.consumer.Consumer", "dc5e9baf5d994485"),
    "faust.transport.consumer:Consumer._handle_attached": (
        "faust.transport.consumer.Consumer", "48efe89d6c633cf6"),
    "faust.transport.consumer:Consumer._commit_offsets": (
        "faust.transport.consumer.Consumer", "1a69799041188441"),
    "faust.transport.consumer:Consumer._drain_messages": (  # the count-based commit
        "faust.transport.consumer.Consumer", "44a2500309e83c63"),
    "faust.transport.drivers.aiokafka:AIOKafkaConsumerThread.getmany": (
        "faust.transport.drivers.aiokafka.AIOKafkaConsumerThread", "26fc5fc9f3b667e1"),
    "aiokafka.consumer.consumer:AIOKafkaConsumer.start": (  # reads _fetch_max_wait_ms
        "aiokafka.consumer.consumer.AIOKafkaConsumer", "2f1ba70443327538"),
    "aiokafka.consumer.consumer:AIOKafkaConsumer.seek_to_committed": (
        "aiokafka.consumer.consumer.AIOKafkaConsumer", "f6cd85c8b70a4ccf"),
    "aiokafka.consumer.fetcher:Fetcher.fetched_records": (  # empty set = every partition
        "aiokafka.consumer.fetcher.Fetcher", "be4348896b9b66af"),
    # overridden by monitor/stream/flow.py, and the recovery steps it works around
    "mode.utils.queues:FlowControlEvent.resume": (
        "mode.utils.queues.FlowControlEvent", "4dcdc1253fd0dcb4"),
    "faust.app.base:App.flow_control": ("faust.app.base.App", "f664abbe76e25985"),
    "faust.tables.recovery:Recovery.on_recovery_completed": (
        "faust.tables.recovery.Recovery", "6ef567acf072e46d"),
    "faust.tables.recovery:Recovery._resume_streams": (
        "faust.tables.recovery.Recovery", "d986a6710c1aca98"),
    # wrapped by monitor/stream/flush.py (ChangelogAcks), and how a table write reaches it
    "faust.tables.base:Collection.send_changelog": (
        "faust.tables.base.Collection", "3dd3884e1b5fc0e1"),
    "faust.tables.table:Table.on_key_set": ("faust.tables.table.Table", "a370e35ca55c2c7e"),
    "faust.tables.table:Table.on_key_del": ("faust.tables.table.Table", "4f2900b2f9d24a08"),
    # overridden by monitor/stream/rocksstore.py, and where the databases are opened and filled
    "faust.stores.rocksdb:Store.__init__": ("faust.stores.rocksdb.Store", "c7c0fa2989e8ab4a"),
    "faust.stores.rocksdb:Store._set": ("faust.stores.rocksdb.Store", "4227e561e288d941"),
    "faust.stores.rocksdb:Store._get": ("faust.stores.rocksdb.Store", "7ae8dfd6d7754a59"),
    "faust.stores.rocksdb:Store._contains": ("faust.stores.rocksdb.Store", "bd7d4e5252a71b9a"),
    "faust.stores.rocksdb:Store._del": ("faust.stores.rocksdb.Store", "07f42ff3caefffdd"),
    "faust.stores.rocksdb:Store._db_for_partition": (
        "faust.stores.rocksdb.Store", "cb7e67d5f9efc4bc"),
    "faust.stores.rocksdb:Store.assign_partitions": (
        "faust.stores.rocksdb.Store", "34dc27ace6dd9160"),
    "faust.stores.rocksdb:Store.apply_changelog_batch": (
        "faust.stores.rocksdb.Store", "ea3344d369fc4ab5"),
}  # fmt: skip

# Our subclasses of upstream classes: every method they override must be recorded above.
OVERRIDERS: list[type] = [
    transport.ConsumerThread,
    transport.Consumer,
    flow.RecoveryFlowControl,
    flow.App,
    rocksstore.PartitionedRocksDBStore,
]


def fingerprint(target: str) -> tuple[str, str]:
    module, qualname = target.split(":")
    cls_name, name = qualname.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), cls_name)
    owner = next(k for k in cls.__mro__ if name in vars(k))
    obj = vars(owner)[name]
    if isinstance(obj, cached_property):  # mode's cached_property keeps the getter privately
        obj = vars(obj)["_cached_property__get"]
    digest = hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]
    return f"{owner.__module__}.{owner.__qualname__}", digest


@pytest.mark.parametrize("target", sorted(RECORDED))
def test_upstream_source_is_the_one_the_overrides_were_written_for(target: str) -> None:
    assert fingerprint(target) == RECORDED[target], (
        f"{target} changed upstream: re-check the override that depends on it (see this "
        "module's docstring) before recording the new fingerprint"
    )


def test_every_override_in_the_shell_is_recorded() -> None:
    recorded = {f"{owner}.{t.rsplit('.', 1)[1]}" for t, (owner, _) in RECORDED.items()}
    unrecorded = []
    for cls in OVERRIDERS:
        for name, obj in vars(cls).items():
            if not (inspect.isfunction(obj) or isinstance(obj, cached_property)):
                continue
            base = next((k for k in cls.__mro__[1:] if name in vars(k)), None)
            if base is not None and f"{base.__module__}.{base.__qualname__}.{name}" not in recorded:
                unrecorded.append(f"{cls.__qualname__}.{name} overrides {base.__qualname__}")
    assert unrecorded == []


def test_the_pinned_versions_are_installed_and_declared_exactly() -> None:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for name, version in PINNED.items():
        assert metadata.version(name) == version
        assert f"{name}=={version}" in deps
    check_versions()  # what the worker checks at start


def test_another_version_is_refused_with_the_pins_named() -> None:
    installed = {**PINNED, "aiokafka": "0.15.0"}
    with pytest.raises(UpstreamChanged, match=r"aiokafka 0\.15\.0.*aiokafka==0\.14\.0"):
        check_versions(installed)
    with pytest.raises(UpstreamChanged, match="faust-streaming None"):
        check_versions({k: v for k, v in PINNED.items() if k != "faust-streaming"})


def test_private_attributes_are_written_only_where_they_exist() -> None:
    class Thing:
        _fetch_max_wait_ms = 1500

    thing = Thing()
    set_private(thing, "_fetch_max_wait_ms", 50)
    assert thing._fetch_max_wait_ms == 50
    with pytest.raises(UpstreamChanged, match="_commit_every"):
        set_private(thing, "_commit_every", None)
    assert not hasattr(thing, "_commit_every")
    with pytest.raises(UpstreamChanged, match="_a, _b"):
        require(thing, "_a", "_fetch_max_wait_ms", "_b")
