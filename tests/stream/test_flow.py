"""Flow control: a resume clears the agents' queues only when it ends a suspension
(faust-streaming issue #596: a resume while input is already flowing dropped that input)."""

from __future__ import annotations

import asyncio

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from monitor.stream import flow


def queued_after(control: FlowControlEvent, *steps: str) -> list[int]:
    """Queue three messages, apply the flow-control steps, return what is still queued."""

    async def run() -> list[int]:
        queue: FlowControlQueue[int] = FlowControlQueue(flow_control=control, clear_on_resume=True)
        control.resume()  # a worker starts suspended and resumes once it is ready
        for i in range(3):
            queue.put_nowait(i)
        for step in steps:
            getattr(control, step)()
        return [queue.get_nowait() for _ in range(queue.qsize())]

    return asyncio.run(run())


def test_resume_while_flowing_keeps_current_input() -> None:
    assert queued_after(flow.RecoveryFlowControl(), "resume") == [0, 1, 2]


def test_faust_resume_while_flowing_drops_current_input() -> None:
    # The defect this module works around, shown on the class it replaces.
    assert queued_after(FlowControlEvent(), "resume") == []


def test_resume_after_a_suspension_still_drops_stale_input() -> None:
    assert queued_after(flow.RecoveryFlowControl(), "suspend", "resume") == []


def test_suspended_flow_is_inactive_until_resumed() -> None:
    control = flow.RecoveryFlowControl()
    assert not control.is_active()
    control.resume()
    assert control.is_active()
    control.suspend()
    assert not control.is_active()


def test_the_app_uses_the_recovery_flow_control() -> None:
    app = flow.App("flow-test", autodiscover=False)
    assert isinstance(app.flow_control, flow.RecoveryFlowControl)
    assert app.flow_control is app.flow_control  # one per app: every queue registers with it
