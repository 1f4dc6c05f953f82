"""The exact Faust, mode and aiokafka releases whose private internals this shell relies on.

The transport (:mod:`monitor.stream.transport`), the flow control (:mod:`monitor.stream.flow`)
and the table store (:mod:`monitor.stream.rocksstore`) override or call private methods and write
private attributes of these libraries. Those guarantee that states are in the changelog before
offsets are committed, that the fetch wait is short, that no input is dropped at the end of table
recovery, and that a state is filed under its own partition. A silent change upstream would
silently lose them, so:

- ``pyproject.toml`` pins the exact versions below;
- ``tests/stream/test_upstream_canary.py`` fails when the source of any method involved changes;
- the worker refuses to start on other versions (:func:`check_versions`), and a private attribute
  is written only after checking it exists (:func:`set_private`).
"""

from __future__ import annotations

from importlib import metadata

# distribution name -> the exact version the overrides were written against
PINNED = {"faust-streaming": "0.15.3", "mode-streaming": "0.7.1", "aiokafka": "0.14.0"}


class UpstreamChanged(RuntimeError):
    """An installed library is not the release this worker's overrides were written for."""


def _pins() -> str:
    return ", ".join(f"{name}=={version}" for name, version in PINNED.items())


def check_versions(installed: dict[str, str] | None = None) -> None:
    """Raise :class:`UpstreamChanged` unless every pinned library is at its pinned version."""
    found = installed if installed is not None else {n: metadata.version(n) for n in PINNED}
    wrong = {n: found.get(n) for n, v in PINNED.items() if found.get(n) != v}
    if wrong:
        got = ", ".join(f"{n} {v}" for n, v in wrong.items())
        raise UpstreamChanged(
            f"installed {got}; the worker overrides private internals of exactly {_pins()} "
            "(see monitor/stream/upstream.py): install those, or re-check the overrides and "
            "their canary test before changing the pins"
        )


def require(obj: object, *names: str) -> None:
    """Raise :class:`UpstreamChanged` unless ``obj`` has every attribute in ``names``."""
    missing = [n for n in names if not hasattr(obj, n)]
    if missing:
        cls = type(obj)
        raise UpstreamChanged(
            f"{cls.__module__}.{cls.__qualname__} has no {', '.join(missing)}: the worker was "
            f"written for {_pins()}, whose internals it relies on"
        )


def set_private(obj: object, name: str, value: object) -> None:
    """Write a private attribute of a library object, only if it exists (else fail loudly)."""
    require(obj, name)
    setattr(obj, name, value)
