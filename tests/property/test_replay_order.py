"""ORDER for whole files: ``replay`` gives the same output for any split or shuffle of its input,
plain or gzip, with any number of worker processes, whatever is spilled to disk.

Inputs are stories of a few patients (tests/property/stories.py) with the awkward lines a real
feed has: exact duplicates, two different lines with the same time, kind and event id (of one
patient, and of two patients in two partitions), lines that are not events, blank lines. The
reference is one file replayed by one process with everything in memory; the variants shuffle
the lines, deal them into several files (some gzip-compressed, some lines in two files), cut the
files into chunks of a few hundred bytes, spill sorted runs of a few lines, keep only one or two
patient states in memory, and use up to three processes.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.cli.replay import run_replay
from monitor.knowledge.thresholds import ClinicalSettings
from tests.property.stories import Story, build, stories

CFG = ClinicalSettings()
JUNK = [
    b"not json at all",
    b'{"kind":"vital","event_id":"n1","patient_id":"p1","time":"2026-02-02T05:00:00",'
    b'"code":"spo2","value":97,"unit":"%"}',
    b'{"kind":"weather","event_id":"w1","patient_id":"p2","time":"2026-02-02T05:00:00Z"}',
    b'{"kind":"vital","event_id":"z1","patient_id":"p3","time":"2026-02-02T06:00:00Z",'
    b'"code":"heart_rate","value":0,"unit":"/min"}',
    b"[1, 2, 3]",
    b"",
    b"   ",
]


def lines_of(picked: list[Story], rng: random.Random) -> list[bytes]:
    out: list[bytes] = []
    for i, story in enumerate(picked):
        for e in build(story, pid=f"p{i + 1}"):
            out.append(orjson.dumps(e.model_dump(mode="json", exclude_none=True)))
    # Exact duplicates, and two different lines with one time, kind and event id: of one
    # patient, and of two patients (they meet in different partitions).
    out += rng.sample(out, k=min(5, len(out)))
    twin = orjson.loads(out[len(out) // 2])
    if twin["kind"] == "vital":
        out.append(orjson.dumps({**twin, "value": twin["value"] + 1}))
    other = "p2" if twin["patient_id"] == "p1" else "p1"
    out.append(orjson.dumps({**twin, "patient_id": other}))
    return out + JUNK


def write(path: Path, lines: list[bytes], compress: bool) -> str:
    data = b"\n".join(lines) + b"\n"
    path.write_bytes(gzip.compress(data) if compress else data)
    return str(path)


def replay(
    capsys: pytest.CaptureFixture[str], files: list[str], **options: object
) -> tuple[str, str]:
    assert run_replay(files, CFG, summary=True, pretty=False, **options) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


SMALL = {"chunk_bytes": 700, "run_lines": 7, "max_states": 1}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(picked=st.lists(stories, min_size=1, max_size=3), seed=st.integers(0, 2**32 - 1))
def test_any_split_or_shuffle_gives_the_same_output(
    picked: list[Story], seed: int, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    tmp = tmp_path_factory.mktemp("split")
    rng = random.Random(seed)
    lines = lines_of(picked, rng)
    expected, _ = replay(capsys, [write(tmp / "all.ndjson", lines, False)], jobs=1)
    shuffled = lines[:]
    rng.shuffle(shuffled)
    k = rng.randint(1, 4)
    parts: list[list[bytes]] = [[] for _ in range(k)]
    for line in shuffled:
        parts[rng.randrange(k)].append(line)
        if rng.random() < 0.05:  # the same line in two files: a duplicate
            parts[rng.randrange(k)].append(line)
    files = [write(tmp / f"part{i}.ndjson", p, rng.random() < 0.4) for i, p in enumerate(parts)]
    got, _ = replay(capsys, files, jobs=1, **SMALL)
    assert got == expected


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
@given(picked=st.lists(stories, min_size=2, max_size=3), seed=st.integers(0, 2**32 - 1))
def test_jobs_n_gives_byte_identical_output_to_jobs_1(
    picked: list[Story], seed: int, tmp_path_factory: pytest.TempPathFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Standard output and standard error alike (the rejected lines with their FILE:LINE, the
    summary and the per-patient table), with small chunks, runs and state limits."""
    tmp = tmp_path_factory.mktemp("jobs")
    rng = random.Random(seed)
    lines = lines_of(picked, rng)
    rng.shuffle(lines)
    half = len(lines) // 2
    files = [
        write(tmp / "a.ndjson", lines[:half], False),
        write(tmp / "b.ndjson.gz", lines[half:], True),
    ]
    expected = replay(capsys, files, jobs=1)
    assert replay(capsys, files, jobs=1, **SMALL) == expected
    assert replay(capsys, files, jobs=rng.choice([2, 3]), **SMALL) == expected
