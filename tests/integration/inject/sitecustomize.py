"""Fault injection for worker processes of the integration tests (this directory on PYTHONPATH).

``NMS_TEST_RECOVERY_HOLD_S``: at the end of table recovery, between Faust pausing the changelog
partitions and resuming the input partitions, deliver a fetch response (wake the consumer
thread's waiting fetch, as arriving records do) and hold that moment for the given seconds.
Faust's set of active partitions is empty then (about 6 ms unheld). Unguarded, the woken fetch
drained every record fetched for the partitions just taken over, and Faust dropped them
(monitor.stream.transport). Unforced, a takeover meets that moment about one time in fifty.

``NMS_TEST_HANG_ON``: a batch containing a message whose value contains these bytes never
finishes (as a batch waiting forever on the broker would), while the event loop goes on.
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


_HANG_ON = os.environ.get("NMS_TEST_HANG_ON")

if _HANG_ON:
    import asyncio as _asyncio
    from typing import Any as _Any

    from monitor.stream.batches import BatchHandler

    _handle = BatchHandler._handle

    async def _hanging(self: _Any, batch: _Any) -> None:
        if any(_HANG_ON.encode() in (r.message.value or b"") for r in batch):
            print("fault injection: this batch hangs", flush=True)
            await _asyncio.Event().wait()
        await _handle(self, batch)

    BatchHandler._handle = _hanging  # type: ignore[method-assign]
