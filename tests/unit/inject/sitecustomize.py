"""Fault injection for tests/unit/test_offline.py (this directory on PYTHONPATH).

``NMS_TEST_INVARIANT_EVENT``: the engine raises ``InvariantError`` when it is given the event
with that ``event_id``, in every process (a spawned worker process imports this as well).
"""

from __future__ import annotations

import os

_EVENT = os.environ.get("NMS_TEST_INVARIANT_EVENT")

if _EVENT:
    from typing import Any

    from monitor.errors import InvariantError
    from monitor.offline import states

    _step = states.step

    def _broken(state: Any, event: Any, cfg: Any) -> Any:
        if event.event_id == _EVENT:
            raise InvariantError(f"injected for {_EVENT}")
        return _step(state, event, cfg)

    states.step = _broken
