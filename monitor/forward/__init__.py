"""The pager forwarder: alert transitions from ``nms.alerts`` to the people on call.

One pure mapping per receiver (:mod:`.alertmanager`, :mod:`.pagerduty`, :mod:`.webhook`), pure
routing (:mod:`.routing`) and offset bookkeeping (:mod:`.offsets`), and one delivery loop
(:mod:`.delivery`) that retries, dead-letters and lets offsets be committed only after every
receiver a transition routes to has accepted it. :mod:`.service` is the composition root.
"""
