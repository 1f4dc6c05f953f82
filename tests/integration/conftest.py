from __future__ import annotations

from collections.abc import Iterator

import pytest

from monitor.stream.broker import EmbeddedBroker


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    """A fresh embedded Tansu broker on a free 127.0.0.1 port, stopped after the test."""
    with EmbeddedBroker() as b:
        yield b
