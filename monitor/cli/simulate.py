"""``nms-monitor simulate``: write a seeded ward cohort (events and ground truth) to a directory,
and optionally publish it to Kafka in simulated real time."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

from monitor.sim.charting import ChartOptions
from monitor.sim.cohort import DEFAULT_MIX
from monitor.sim.generate import SimSpec, cohort_stream, plan_cohort, truth_document


def parse_mix(text: str | None) -> dict[str, float] | str:
    """``nms=0.5,sepsis=0.5``: condition fractions (renormalised); an error message on failure."""
    if not text:
        return dict(DEFAULT_MIX)
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in DEFAULT_MIX:
            return f"unknown condition {name!r}; known: {', '.join(DEFAULT_MIX)}"
        try:
            mix[name] = float(value)
        except ValueError:
            return f"{part!r} is not CONDITION=FRACTION"
        if mix[name] < 0:
            return f"{name}: a fraction cannot be negative"
    if sum(mix.values()) <= 0:
        return "the mix is empty"
    return mix


def run_simulate(
    patients: int,
    days: float,
    seed: int,
    out: str,
    mix_text: str | None = None,
    icu_fraction: float = 0.1,
    numerics_minutes: float = 5.0,
    charting: str = "routine",
) -> int:
    mix = parse_mix(mix_text)
    if isinstance(mix, str):
        print(f"nms-monitor simulate: --mix: {mix}", file=sys.stderr)
        return 2
    if patients < 1 or days <= 0 or not 0 <= icu_fraction <= 1 or numerics_minutes <= 0:
        print(
            "nms-monitor simulate: need --patients >= 1, --days > 0, --icu-fraction in [0, 1] "
            "and --numerics-minutes > 0",
            file=sys.stderr,
        )
        return 2
    spec = SimSpec(
        patients=patients,
        days=days,
        seed=seed,
        icu_fraction=icu_fraction,
        mix=mix,
        chart=ChartOptions(numerics_minutes=numerics_minutes),
        charting=charting,
    )
    directory = Path(out)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"nms-monitor simulate: cannot create {out}: {exc.strerror}", file=sys.stderr)
        return 2
    started = time.monotonic()
    plans = plan_cohort(spec)
    count = 0
    with open(directory / "events.ndjson", "wb") as fh:
        for _, line in cohort_stream(spec, plans):
            fh.write(line)
            fh.write(b"\n")
            count += 1
    truth = truth_document(spec, plans)
    truth["generator"]["events"] = count
    (directory / "truth.json").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
    positives = sum(1 for p in truth["patients"] if p["positive"])
    print(
        f"simulate: {patients} patients ({positives} positive), {days:g} days, seed {seed}, "
        f"{charting} charting: "
        f"{count} events in arrival order to {directory / 'events.ndjson'}, truth in "
        f"{directory / 'truth.json'} ({time.monotonic() - started:.1f} s)",
        file=sys.stderr,
    )
    return 0
