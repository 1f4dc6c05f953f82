"""The ICU alert dashboard: a web page over ``nms.alerts`` that clinicians keep open all shift.

Layout (imports point downward; the view model and sparklines are pure):

- ``settings``: ``WebSettings`` (``NMS_WEB_*``): address, authentication files, clock, limits.
- ``viewmodel`` and ``sparkline``: alert transitions in, what the page shows out (no I/O).
- ``store``: the latest transition per alert and every patient's history, deduplicated.
- ``auth`` and ``passwords``: who is asking (loopback user, bearer tokens, basic-auth users).
- ``guards``: ASGI middleware for authentication, cross-site requests, hosts and a redacted log.
- ``acks``: the acknowledge/snooze/resolve request body and its ``AckEvent`` on ``nms.acks``.
- ``feed``: the Kafka consumer thread that reads ``nms.alerts`` from the beginning.
- ``live``: server-sent events: a snapshot on connect, then one message per changed alert.
- ``app``: the Starlette app factory and routes; ``server``: ``run`` and ``start_in_background``.
"""
