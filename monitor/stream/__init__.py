"""The streaming shell: Faust on Kafka. Decodes, loads state, calls the engine, saves, publishes.

Nothing clinical lives here; see ``monitor.engine``.
"""
