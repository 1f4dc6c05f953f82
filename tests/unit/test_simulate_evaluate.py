"""``nms-monitor simulate`` and ``evaluate`` as a user runs them, and the plots they draw."""

from __future__ import annotations

import struct
from pathlib import Path

import orjson
import pytest

from monitor.cli.main import main
from monitor.contracts.decode import decode_event
from monitor.evaluation import plots
from monitor.evaluation.truth import Mark, PatientTruth, Sample

MIX = (
    "nms=1,atypical_nms=1,parkinsonism_hyperpyrexia=1,sepsis=1,ck_after_im=1,quiet_antipsychotic=1"
)
REQUIRED = (
    "sensitivity_medium",
    "sensitivity_high",
    "false_medium_per_100_patient_days",
    "false_high_per_100_patient_days",
    "ppv_high",
    "median_lead_time_medium_hours",
    "median_lead_time_high_hours",
    "transitions_per_alerted_patient_day",
    "utility",
)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    args = ["simulate", "--patients", "12", "--days", "4", "--seed", "3", "--mix", MIX]
    assert main([*args, "--out", str(out)]) == 0
    return out


def test_simulate_writes_events_and_truth_reproducibly(cohort: Path, tmp_path: Path) -> None:
    args = ["simulate", "--patients", "12", "--days", "4", "--seed", "3", "--mix", MIX]
    assert main([*args, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "events.ndjson").read_bytes() == (cohort / "events.ndjson").read_bytes()
    truth = orjson.loads((cohort / "truth.json").read_bytes())
    assert len(truth["patients"]) == 12
    assert sum(p["positive"] for p in truth["patients"]) == 6  # 3 of the 6 conditions, 2 each
    assert truth["generator"]["seed"] == 3
    assert truth["generator"]["events"] == len((cohort / "events.ndjson").read_bytes().splitlines())


def test_evaluate_json_has_every_figure_and_matches_replay(
    cohort: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(cohort / "events.ndjson")]) == 0
    replayed = [orjson.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert main(["evaluate", str(cohort), "--json", "--sweep"]) == 0
    result = orjson.loads(capsys.readouterr().out)
    for key in REQUIRED:
        assert key in result
    assert result["transitions"] == len(replayed)  # the same engine run as replay
    assert result["patients"] == 12 and result["positives"] == 6
    assert 0 <= result["sensitivity_medium"] <= 1
    assert result["sensitivity_high"] <= result["sensitivity_medium"]
    assert [r["threshold"] for r in result["sweep"]] == list(range(20, 94))
    sens = [r["sensitivity"] for r in result["sweep"]]
    assert sens == sorted(sens, reverse=True)  # a higher threshold never detects more


def test_evaluate_report_writes_plots(cohort: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "report"
    assert main(["evaluate", str(cohort), "--report", str(out), "--json"]) == 0
    result = orjson.loads(capsys.readouterr().out)
    report = (out / "report.md").read_text()
    assert "## Targets" in report and "operating_curve.png" in report
    for name in ("operating_curve.png", "lead_time.png"):
        w, h = png_size(out / name)
        assert w >= 600 and h >= 300 and (out / name).stat().st_size > 10_000
    assert result["timelines"], "no timeline was drawn"
    for pid in result["timelines"]:
        w, h = png_size(out / f"timeline_{pid}.png")
        assert w >= 900 and h >= 900


def test_evaluate_rejects_unusable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "e.ndjson").write_text("")
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "no ground truth" in capsys.readouterr().err
    (tmp_path / "truth.json").write_text('{"patients": [{"patient_id": 1}]}')
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "truth.json" in capsys.readouterr().err
    assert main(["simulate", "--out", str(tmp_path), "--mix", "flu=1"]) == 2
    assert "unknown condition 'flu'" in capsys.readouterr().err


def test_timeline_draws_every_transition(tmp_path: Path, cohort: Path) -> None:
    truth = PatientTruth("SIM-003-00000", "nms", True, 0.0, 4 * 86400.0, {"fever": 7200.0}, 9000.0)
    events = [decode_event(x) for x in (cohort / "events.ndjson").read_bytes().splitlines()[:50]]
    events = [e for e in events if e.patient_id == events[0].patient_id]
    marks = [
        Mark(3600.0, "a1", 1, "opened", "low", 33),
        Mark(7200.0, "a1", 2, "escalated", "medium", 50),
        Mark(9000.0, "a1", 3, "escalated", "high", 78),
        Mark(99000.0, "a1", 4, "deescalated", "medium", 50),
        Mark(200000.0, "a1", 5, "resolved", "medium", 20),
        Mark(250000.0, "a2", 1, "opened", "low", 30),
    ]
    samples = [Sample(h * 3600.0, s, True) for h, s in [(0, 20), (1, 33), (2, 50), (3, 78)]]
    drawn = plots.timeline(tmp_path / "t.png", truth, events, marks, samples, (30, 45, 74))
    assert sorted(drawn.transitions) == sorted(f"{m.alert_id}#{m.sequence}" for m in marks)
    w, h = png_size(tmp_path / "t.png")
    assert w >= 900 and h >= 900 and (tmp_path / "t.png").stat().st_size > 20_000
    empty = plots.timeline(tmp_path / "e.png", truth, [], [], [], (30, 45, 74))
    assert empty.transitions == []


def test_evaluate_reports_each_charting_profile_of_a_mixed_cohort(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--charting mix` gives each patient one profile; each profile's figures count only its
    own patients' alerts (all of them were once given to every profile, which refused them)."""
    args = ["simulate", "--patients", "16", "--days", "4", "--seed", "3", "--mix", MIX]
    assert main([*args, "--charting", "mix", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path), "--json"]) == 0
    result = orjson.loads(capsys.readouterr().out)
    profiles = result["by_charting"]
    assert set(profiles) == {"routine", "sparse"}
    assert sum(p["patients"] for p in profiles.values()) == result["patients"] == 16
