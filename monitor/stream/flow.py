"""Faust's flow control without its input-dropping race at the end of table recovery.

Faust clears every agent's input queue whenever flow control is resumed, so that messages
fetched before a rebalance are never processed after it. faust-streaming 0.15.3 also resumes
flow control once more at the end of table recovery (``Recovery.on_recovery_completed``),
after it has resumed the input partitions and while the fetcher is already delivering them:
flow was resumed when recovery began, and seeking to the committed offsets in between takes
a broker round trip. That second resume empties the agent's queue of current, never-processed
messages. The fetcher has moved past them, so they are lost to this worker until a restart,
and the commit stops just before them (faust-streaming issue #596).

Seen on the embedded broker in the SIGKILL takeover test (about one run in four): the survivor
skipped offsets 804-806 of one partition and 804-805 of another while it recovered the killed
worker's partitions, and published transitions whose evidence lacked those readings.

Here a resume clears the queues only when it ends a suspension. Then everything queued was
fetched before the rebalance, which is what the clearing is for. A resume while flow is
already active changes nothing, and what the queues hold was fetched after it.
"""

from __future__ import annotations

import faust
from mode.utils.objects import cached_property
from mode.utils.queues import FlowControlEvent


class RecoveryFlowControl(FlowControlEvent):
    def resume(self) -> None:
        if self.is_active():
            return  # already flowing: the queues hold current input, not stale input
        super().resume()


class App(faust.App):
    """``faust.App`` with :class:`RecoveryFlowControl`."""

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return RecoveryFlowControl(loop=self.loop)
