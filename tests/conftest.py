"""Test tiers: everything under tests/integration/ runs real programs (the embedded Kafka-protocol
broker, worker processes, kcat) and is marked ``broker``; the rest runs in-process in seconds.
``scripts/test.sh --fast`` (``pytest -m "not broker"``) runs only the fast tier."""

from __future__ import annotations

from pathlib import Path

import pytest

_SLOW_TIERS = ("integration",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        parts = Path(item.fspath).relative_to(root).parts
        if parts and parts[0] in _SLOW_TIERS:
            item.add_marker(pytest.mark.broker)
