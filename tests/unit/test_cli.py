"""The command line: replay output, errors and exit codes; schema files in sync with the models."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import jsonschema
import orjson
import pytest

from monitor.cli.main import main
from monitor.cli.schemas import generate, render
from monitor.cli.stream_cmds import transition_line
from monitor.contracts.alerts import Alert

ROOT = Path(__file__).resolve().parents[2]
WARD = ROOT / "examples" / "ward.ndjson"
DIRTY = ROOT / "examples" / "dirty.ndjson"


def replay(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[dict[str, object]], str]:
    code = main(["replay", *args])
    out, err = capsys.readouterr()
    return code, [orjson.loads(line) for line in out.splitlines()], err


def test_replay_example_shows_the_nms_case(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, err = replay(capsys, str(WARD))
    assert code == 0
    assert {a["patient_id"] for a in alerts} == {"demo-nms-1"}  # the quiet patient stays quiet
    assert [(a["transition"], a["priority"]) for a in alerts][:4] == [
        ("opened", "low"),
        ("escalated", "medium"),
        ("updated", "medium"),  # fever and hypermetabolism; the pressure raised once so far
        ("escalated", "high"),  # raised on a second occasion: sympathetic lability
    ]
    assert max(a["score"] for a in alerts) == 93
    assert "0 rejected" in err and "2 patients" in err
    schema = orjson.loads((ROOT / "schemas" / "alert.schema.json").read_bytes())
    validator = jsonschema.Draft202012Validator(schema)
    for a in alerts:
        validator.validate(a)  # an independent validator agrees with the contract
        Alert.model_validate(a)


def test_replay_is_independent_of_line_order_and_overlap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _, expected, _ = replay(capsys, str(WARD))
    lines = WARD.read_text().splitlines()
    random.Random(3).shuffle(lines)
    half = tmp_path / "half.ndjson"
    half.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    shuffled = tmp_path / "shuffled.ndjson"
    shuffled.write_text("\n".join(lines) + "\n\n")
    code, got, err = replay(capsys, str(shuffled), str(half))
    assert code == 0 and got == expected
    assert f"{len(lines) // 2} duplicates" in err


def test_replay_reports_bad_lines_and_keeps_going(capsys: pytest.CaptureFixture[str]) -> None:
    code, alerts, err = replay(capsys, str(DIRTY), str(WARD))
    assert code == 0 and alerts
    for fragment in (
        "dirty.ndjson:3: invalid_json",
        "dirty.ndjson:4: naive_timestamp",
        "dirty.ndjson:5: unknown_kind",
        "dirty.ndjson:6: implausible_value",
        "dirty.ndjson:7: invalid_field",
        "5 rejected (implausible_value 1, invalid_field 1, invalid_json 1, naive_timestamp 1, "
        "unknown_kind 1)",
    ):
        assert fragment in err


def test_replay_summary_table(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = replay(capsys, "--summary", str(WARD))
    rows = {line.split()[0]: line.split() for line in err.splitlines() if line.startswith("demo-")}
    assert rows["demo-nms-1"][1:3] == ["high", "93"]
    assert rows["demo-quiet-1"][1] == "-"


def test_replay_pretty_explains(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["replay", "--pretty", str(WARD)])
    out = capsys.readouterr().out
    assert code == 0 and "[HIGH] escalated" in out and "[x] hyperthermia" in out


def test_replay_command_exit_codes(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "monitor.cli.main"]
    missing = subprocess.run(
        [*exe, "replay", str(tmp_path / "nope.ndjson")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr and missing.stdout == ""
    bad_args = subprocess.run([*exe, "replay"], capture_output=True, text=True, check=False)
    assert bad_args.returncode == 2
    stdin = subprocess.run(
        [*exe, "replay", "-"], input=WARD.read_bytes(), capture_output=True, check=False
    )
    assert stdin.returncode == 0 and stdin.stdout.count(b"\n") >= 3


def test_checked_in_schemas_match_the_models(capsys: pytest.CaptureFixture[str]) -> None:
    for name, schema in generate().items():
        assert (ROOT / "schemas" / name).read_text(encoding="utf-8") == render(schema), (
            f"schemas/{name} is stale: run 'nms-monitor schemas'"
        )
    assert main(["schemas", "--check", "--out", str(ROOT / "schemas")]) == 0


def test_schema_check_fails_when_stale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "event.schema.json").write_text("{}\n")
    assert main(["schemas", "--check", "--out", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().err


def test_example_events_validate_against_event_schema() -> None:
    schema = orjson.loads((ROOT / "schemas" / "event.schema.json").read_bytes())
    validator = jsonschema.Draft202012Validator(schema)
    for line in WARD.read_text().splitlines():
        validator.validate(orjson.loads(line))


def test_run_prints_one_line_per_transition_without_the_patient_id(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, alerts, _ = replay(capsys, str(WARD))
    lines = [transition_line(orjson.dumps(a)) for a in alerts]
    assert lines[0].startswith("2026-03-03 14:00  LOW    opened       ICU-2 bed 14  score 33/74")
    assert all(a["alert_id"] in line for a, line in zip(alerts, lines, strict=True))
    assert not any("demo-nms-1" in line for line in lines)


@pytest.mark.parametrize(
    ("env", "value", "argv", "named"),
    [
        ("NMS_CLINICAL__PRIORITY_LOW", "abc", ["replay", str(WARD)], "NMS_CLINICAL__PRIORITY_LOW"),
        (
            "NMS_CLINICAL__DRUG_CATALOGUE_FILE",
            "/nonexistent",
            ["replay", str(WARD)],
            "NMS_CLINICAL__*",
        ),
        ("NMS_WEB_PORT", "abc", ["dashboard", "--bootstrap", "127.0.0.1:1"], "NMS_WEB_PORT"),
        ("NMS_HL7_PORT", "x", ["hl7-listen", "--bootstrap", "127.0.0.1:1"], "NMS_HL7_PORT"),
    ],
)
def test_an_unusable_setting_stops_at_start_with_one_line_naming_it(
    env: str,
    value: str,
    argv: list[str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(env, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"nms-monitor {argv[0]}: unusable setting {named}")
