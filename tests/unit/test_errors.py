"""The exception tree (monitor.errors) and the policy for internal errors.

An InputError about one event is that event's outcome; an InternalError is a bug: the offline
commands stop at once, with exit status 3 and a message saying so (docs/architecture.md).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from monitor import errors
from monitor.cli.main import EXIT_INTERNAL, main
from monitor.contracts.decode import DecodeError, Rejection
from monitor.engine import EventRejected, InvariantError
from monitor.engine.serde import StateFormatError
from monitor.evaluation.cases import CaseError
from monitor.evaluation.truth import TruthError
from monitor.knowledge.catalogue import CatalogueError
from monitor.knowledge.units import ImplausibleValue
from monitor.offline import states

ROOT = Path(__file__).resolve().parents[2]
WARD = ROOT / "examples" / "ward.ndjson"

INPUT_ERRORS = [
    DecodeError(Rejection("invalid_json", "unexpected end")),
    EventRejected("too_late", "48 h behind"),
    ImplausibleValue("heart_rate", 0.0, 1.0, 299.0, "/min"),
    StateFormatError("unsupported state version 9"),
    CatalogueError("site.toml: not valid TOML"),
    TruthError("truth patients[0]: missing 'condition'"),
    CaseError("case.json: missing 'start'"),
]


@pytest.mark.parametrize("exc", INPUT_ERRORS, ids=lambda e: type(e).__name__)
def test_input_errors_share_one_root_and_stay_value_errors(exc: Exception) -> None:
    assert isinstance(exc, errors.InputError)
    assert isinstance(exc, errors.NmsError)
    assert isinstance(exc, ValueError)  # callers that caught ValueError still do
    assert not isinstance(exc, errors.InternalError)


def test_invariant_errors_are_internal_not_input() -> None:
    exc = InvariantError("event for another patient")
    assert isinstance(exc, errors.InternalError) and isinstance(exc, errors.NmsError)
    assert not isinstance(exc, errors.InputError) and not isinstance(exc, ValueError)


@pytest.mark.parametrize(
    "exc", [*INPUT_ERRORS, InvariantError("broken")], ids=lambda e: type(e).__name__
)
def test_errors_pickle_as_themselves(exc: Exception) -> None:
    """A worker process of --jobs N hands its exception to the parent by pickling it."""
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc)
    if hasattr(exc, "rejection"):
        assert back.rejection == exc.rejection


def test_every_exception_class_of_monitor_is_under_the_root() -> None:
    classes = [
        v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, BaseException)
    ]
    assert {c.__name__ for c in classes} >= {"InputError", "InternalError", "InvariantError"}
    assert all(issubclass(c, errors.NmsError) for c in classes)
    for exc in INPUT_ERRORS:
        assert type(exc) in classes or type(exc) is ImplausibleValue


def test_replay_stops_on_an_invariant_error_with_status_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Never handled as a rejected event: the command stops at the first one, says it is a
    bug, and exits 3 (a refusal of the same event would have been reported and skipped)."""
    real = states.step
    calls = 0

    def broken(state: object, event: object, cfg: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise InvariantError("the fifth event broke a rule")
        return real(state, event, cfg)  # type: ignore[arg-type]

    monkeypatch.setattr(states, "step", broken)
    code = main(["replay", str(WARD)])
    err = capsys.readouterr().err
    assert code == EXIT_INTERNAL == 3
    assert calls == 5, "processing went on after the internal error"
    assert "internal error: InvariantError: the fifth event broke a rule" in err
    assert "bug in nms-monitor" in err
    assert "rejected" not in err.splitlines()[-1]
