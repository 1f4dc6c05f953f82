"""The composition root without a broker: the settings reach Faust's configuration, the parts are
wired to the app (the flush is the commit hook; the table's changelog sends are tracked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.knowledge.thresholds import ClinicalSettings
from monitor.stream.app import create_app
from monitor.stream.rocksstore import PartitionedRocksDBStore
from monitor.stream.settings import KafkaSettings, WorkerSettings


@pytest.mark.parametrize(("store", "check"), [("rocksdb://", False), ("memory://", True)])
def test_settings_reach_faust_and_the_parts_are_wired(
    tmp_path: Path, store: str, check: bool
) -> None:
    kafka = KafkaSettings(
        bootstrap="127.0.0.1:1", store=store, fetch_max_wait_ms=40,
        recovery_consistency_check=check, partitions=6,
    )  # fmt: skip
    nms = create_app(kafka, WorkerSettings(data_dir=str(tmp_path)), ClinicalSettings())
    conf = nms.app.conf
    assert conf.store.scheme == ("nmsrocksdb" if store == "rocksdb://" else "memory")
    assert conf.recovery_consistency_check is check
    assert nms.app.nms_fetch_max_wait_ms == 40  # type: ignore[attr-defined]
    assert nms.app.nms_before_commit == nms.flusher.flush  # type: ignore[attr-defined]
    assert nms.processor.changelog_topic == "nms-monitor-patient-state-changelog"
    assert nms.processor.partitions == 6
    if store == "rocksdb://":
        assert isinstance(nms.table.data, PartitionedRocksDBStore)
        nms.table.data._dbs.clear()
    # Every changelog send of the table goes through the flush's ack tracking.
    assert nms.table.send_changelog.__qualname__.endswith("ChangelogAcks.__init__.<locals>.tracked")


def test_no_brokers_no_app(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bootstrap"):
        create_app(KafkaSettings(), WorkerSettings(data_dir=str(tmp_path)), ClinicalSettings())
