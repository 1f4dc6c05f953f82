"""Files through the engine, offline: what ``replay``, ``evaluate`` and the benchmark run.

One path, in bounded memory, on every core:

- ``sources``: plain or gzip NDJSON and standard input, cut into chunks;
- ``order``: event-time order with ties by content, and the partition of a patient;
- ``runs``: external sorting (sorted runs in a temporary directory, merged k ways);
- ``outcomes``: decode, step the patient's state, or a reason (the one iterator consumers read);
- ``states``: a ward whose idle patients wait on disk;
- ``pipeline``: the two steps, sort chunks into partitions and replay a partition into a sink;
- ``parallel``: runs them in one process or in ``--jobs`` worker processes;
- ``progress``: a progress line on a terminal.

Design and measured figures: docs/performance.md. No clinical logic lives here: the engine
(``monitor.engine``) is called exactly as a single in-memory ``Ward`` would call it.
"""
