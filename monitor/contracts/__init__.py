"""Contracts: the input events and the alert transitions, as pydantic models.

JSON Schema files in ``schemas/`` are generated from these models (``nms-monitor schemas``).
"""
