"""nms-monitor: early detection of Neuroleptic Malignant Syndrome from patient event streams."""

__version__ = "0.2.0"
