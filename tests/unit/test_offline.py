"""monitor.offline: chunked and gzip input, external sorting, idle states on disk, worker
processes (identical output, errors raised as themselves), the progress line, and evaluate."""

from __future__ import annotations

import gzip
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli.main import main
from monitor.cli.replay import run_replay
from monitor.engine.ward import Ward
from monitor.errors import EventRejected
from monitor.evaluation.runner import run_engine
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.offline import pipeline
from monitor.offline.progress import Progress
from monitor.offline.runs import merge_runs, write_run
from monitor.offline.sources import Reading, chunk_lines, open_sources, plan_chunks
from monitor.offline.states import SpillingWard
from tests.property.stories import Story, build

ROOT = Path(__file__).resolve().parents[2]
WARD = ROOT / "examples" / "ward.ndjson"
DIRTY = ROOT / "examples" / "dirty.ndjson"
INJECT = Path(__file__).resolve().parent / "inject"
CLI = [sys.executable, "-m", "monitor.cli.main"]


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.sampled_from([b"", b" ", b"a", b"bb", b"ccc\r", b'{"x": 1}']), max_size=40),
    final_newline=st.booleans(),
    chunk=st.integers(1, 64),
    compress=st.booleans(),
)
def test_chunks_read_every_line_once_with_its_number(
    lines: list[bytes],
    final_newline: bool,
    chunk: int,
    compress: bool,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    tmp = tmp_path_factory.mktemp("chunks")
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path = tmp / "in.ndjson"
    path.write_bytes(gzip.compress(data) if compress else data)
    sources = open_sources([str(path)], str(tmp))
    assert sources[0].gzip is compress
    got: list[tuple[int, bytes]] = []
    before = 0
    for c in plan_chunks(sources, chunk):
        reading = Reading()
        got += [(before + n, line) for n, line in chunk_lines(c, reading)]
        before += reading.lines
    expected = [(n, raw.strip()) for n, raw in enumerate(data.split(b"\n"), 1) if raw.strip()]
    assert got == expected


def test_merge_of_many_runs_in_several_passes(tmp_path: Path) -> None:
    rng = random.Random(5)
    records = [(rng.random(), rng.randrange(6), str(i)) for i in range(3000)]
    runs = [
        write_run(sorted(records[i : i + 97]), str(tmp_path / f"r{i}"))
        for i in range(0, len(records), 97)
    ]
    assert list(merge_runs(runs, str(tmp_path), fan_in=3)) == sorted(records)


def test_a_ward_with_states_on_disk_publishes_the_same(tmp_path: Path) -> None:
    cfg = ClinicalSettings()
    events = []
    for i in range(4):
        signs = frozenset({"mental_status", "fever", "ck", "rigidity"})
        story = Story("haloperidol", 16 + i, signs, 1.0, 60.0, i)
        events += build(story, pid=f"p{i}")
    events.sort(key=lambda e: e.time)
    plain, spilling = Ward(cfg), SpillingWard(cfg, str(tmp_path), limit=1)
    out: list[list[str]] = [[], []]
    for i, ward in enumerate((plain, spilling)):
        for n, e in enumerate(events):
            if isinstance(ward, SpillingWard) and n % 7 == 0:
                ward._spill(keep="")  # more often than the real check, to meet every path
            try:
                out[i] += [a.model_dump_json() for a in ward.process(e).transitions]
            except EventRejected:
                continue
        out[i] += [a.model_dump_json() for a in ward.tick_all(events[-1].time.timestamp() + 9e4)]
    assert out[0] == out[1] and out[0]
    assert spilling.patients() == sorted(plain.states)
    spilling.close()


def _replay(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, **(env or {})}
    cmd = [*CLI, "replay", *args]
    return subprocess.run(
        cmd, input=stdin, capture_output=True, cwd=ROOT, env=env, check=False, timeout=300
    )


def test_jobs_2_gives_the_bytes_of_jobs_1_on_the_examples(tmp_path: Path) -> None:
    gz = tmp_path / "ward.ndjson.gz"
    gz.write_bytes(gzip.compress(WARD.read_bytes()))
    one = _replay("--jobs", "1", "--summary", str(DIRTY), str(gz))
    two = _replay("--jobs", "2", "--summary", str(DIRTY), str(gz))
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout and one.stdout.count(b"\n") >= 4
    assert one.stderr == two.stderr and b"dirty.ndjson:3: invalid_json" in one.stderr
    plain = _replay(str(WARD))
    assert plain.stdout == one.stdout  # gzip or not, the same events
    stdin = _replay("--jobs", "2", "-", stdin=gz.read_bytes())
    assert stdin.returncode == 0 and stdin.stdout == plain.stdout


def test_unreadable_gzip_is_an_input_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ndjson.gz"
    broken.write_bytes(gzip.compress(WARD.read_bytes())[:200])
    result = _replay(str(broken))
    assert result.returncode == 2 and b"not a readable gzip file" in result.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_an_internal_error_in_any_process_stops_replay_with_status_3(jobs: str) -> None:
    """tests/unit/inject/sitecustomize.py makes the engine raise InvariantError on one event, in
    the main process and in every worker process alike."""
    env = {
        "PYTHONPATH": f"{INJECT}{os.pathsep}{ROOT}",
        "NMS_TEST_INVARIANT_EVENT": "demo-nms-1-0010",
    }
    result = _replay("--jobs", jobs, str(WARD), env=env)
    err = result.stderr.decode()
    assert result.returncode == 3, err
    assert "internal error: InvariantError: injected for demo-nms-1-0010" in err
    assert "bug in nms-monitor" in err
    assert "rejected" not in err  # not handled as a refused event; no summary either
    if jobs == "2":
        assert "raised in worker process" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 100, 1))
    monkeypatch.setattr("monitor.offline.progress.time.monotonic", lambda: float(next(clock)))
    term = _Terminal()
    p = Progress("replay", 1000, "events", term)
    p.update(250)
    p.update(500)
    p.close()
    text = term.getvalue()
    assert "replay: 500 events of 1.0k events (50 %)" in text and "left" in text
    assert text.endswith("\r")
    quiet = io.StringIO()
    q = Progress("replay", 1000, "events", quiet)
    q.update(500)
    q.close()
    assert quiet.getvalue() == ""


def test_evaluate_with_workers_and_small_runs_equals_one_process(tmp_path: Path) -> None:
    cohort = tmp_path / "cohort"
    args = ["simulate", "--patients", "8", "--days", "3", "--seed", "4", "--out", str(cohort)]
    assert main([*args, "--mix", "nms=1,sepsis=1,quiet_antipsychotic=2"]) == 0
    (cohort / "events.ndjson.gz").write_bytes(
        gzip.compress((cohort / "events.ndjson").read_bytes())
    )
    (cohort / "events.ndjson").unlink()
    cfg = ClinicalSettings()
    for order in ("event", "file"):
        one = run_engine([str(cohort / "events.ndjson.gz")], cfg, order, jobs=1)
        two = run_engine([str(cohort / "events.ndjson.gz")], cfg, order, jobs=2,
                         chunk_bytes=20_000, run_lines=500, max_states=2)  # fmt: skip
        assert two.processes == 2
        assert (one.lines, one.events, one.duplicates, one.rejected) == (
            two.lines, two.events, two.duplicates, two.rejected,
        )  # fmt: skip
        assert dict(one.marks) == dict(two.marks) and any(one.marks.values())
        assert {p: one.samples[p] for p in one.samples} == {p: two.samples[p] for p in two.samples}
    cmd = [*CLI, "evaluate", str(cohort), "--json", "--jobs", "2"]
    summary = orjson.loads(subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT).stdout)
    assert summary["run"]["processes"] == 2 and summary["patients"] == 8


def test_many_refused_lines_wait_on_disk_and_keep_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(b"".join(b"not json %d\n" % i for i in range(50)) + WARD.read_bytes())
    cfg = ClinicalSettings()
    assert run_replay([str(bad)], cfg, summary=False, pretty=False, jobs=1) == 0
    expected = capsys.readouterr()
    monkeypatch.setattr(pipeline, "MAX_REFUSED_HELD", 3)
    assert run_replay([str(bad)], cfg, summary=False, pretty=False, jobs=1, chunk_bytes=200) == 0
    got = capsys.readouterr()
    assert got == expected and "bad.ndjson:50: invalid_json" in got.err
