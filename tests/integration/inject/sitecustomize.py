"""Fault injection for worker processes of the integration tests (this directory on PYTHONPATH).

``NMS_TEST_RECOVERY_HOLD_S``: at the end of table recovery, between Faust pausing the changelog
partitions and resuming the input partitions, deliver a fetch response (wake the consumer
thread's waiting fetch, as arriving records do) and hold that moment for the given seconds.
Faust's set of active partitions is empty then (about 6 ms unheld). Unguarded, the woken fetch
drained every record fetched for the partitions just taken over, and Faust dropped them
(monitor.stream.transport). Unforced, a takeover meets that moment about one time in fifty.
"""

from __future__ import annotations

import os

_HOLD = os.environ.get("NMS_TEST_RECOVERY_HOLD_S")

if _HOLD:
    import asyncio
    import concurrent.futures
    from typing import Any

    from faust.tables.recovery import Recovery

    _completed = Recovery.on_recovery_completed

    async def _wake_waiting_fetches(consumer: Any) -> int:
        thread = consumer._thread
        fetcher = thread._ensure_consumer()._fetcher
        woken: concurrent.futures.Future[int] = concurrent.futures.Future()

        def wake() -> None:  # runs in the consumer thread, which owns the waiters
            n = 0
            for waiter in list(fetcher._fetch_waiters):
                if not waiter.done():
                    waiter.set_result(None)
                    n += 1
            woken.set_result(n)

        thread.thread_loop.call_soon_threadsafe(wake)
        return await asyncio.wrap_future(woken)

    async def _held(self: Any, generation_id: int = 0) -> None:
        n = await _wake_waiting_fetches(self.app.consumer)
        print(f"fault injection: recovery held {_HOLD} s, {n} waiting fetch(es) woken", flush=True)
        await asyncio.sleep(float(_HOLD))
        await _completed(self, generation_id)

    Recovery.on_recovery_completed = _held  # type: ignore[method-assign]
