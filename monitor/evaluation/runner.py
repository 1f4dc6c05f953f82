"""Run the engine over a cohort's files for an evaluation: ``replay``'s path through the engine
(``monitor.offline``: the same sorting, partitions, decoding and engine calls), keeping the alert
transitions (:class:`Mark`) and the score at event times (:class:`Sample`) instead of printing.

A patient's score is sampled at its clock after an accepted event at most every
``sample_every_s`` of event time, and after every event that published a transition. Samples
are kept compactly (about 11 bytes each) and read back one patient at a time.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.contracts.alerts import Alert
from monitor.engine.hotpath import evaluate
from monitor.errors import Rejection
from monitor.evaluation.truth import Mark, Sample
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.offline.outcomes import Outcome
from monitor.offline.parallel import Job, run_job, scratch
from monitor.offline.pipeline import Context, SinkSpec
from monitor.offline.states import SpillingWard


@dataclass(slots=True)
class PatientSamples:
    times: array[float] = field(default_factory=lambda: array("d"))
    scores: array[int] = field(default_factory=lambda: array("h"))
    exposed: bytearray = field(default_factory=bytearray)

    def add(self, time: float, score: int, exposed: bool) -> None:
        self.times.append(time)
        self.scores.append(score)
        self.exposed.append(exposed)

    def samples(self) -> list[Sample]:
        return [
            Sample(t, s, bool(e))
            for t, s, e in zip(self.times, self.scores, self.exposed, strict=True)
        ]


class Samples(Mapping[str, list[Sample]]):
    """Patient -> samples, built when asked for (one patient's list at a time)."""

    def __init__(self, by_patient: dict[str, PatientSamples]) -> None:
        self._by_patient = by_patient

    def __getitem__(self, patient_id: str) -> list[Sample]:
        return self._by_patient[patient_id].samples()

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_patient)

    def __len__(self) -> int:
        return len(self._by_patient)


@dataclass(slots=True)
class EngineRun:
    marks: dict[str, list[Mark]] = field(default_factory=lambda: defaultdict(list))
    samples: Mapping[str, list[Sample]] = field(default_factory=dict)
    lines: int = 0
    events: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    processes: int = 1


@dataclass(slots=True)
class _Part:
    marks: dict[str, list[Mark]]
    samples: dict[str, PatientSamples]
    events: int
    duplicates: int
    rejected: Counter[str]


class EvaluationSink:
    """One partition's share of an evaluation (see ``monitor.offline.pipeline.Sink``)."""

    def __init__(self, ctx: Context, sample_every_s: float) -> None:
        self.cfg: ClinicalSettings = ctx.cfg
        self.every = sample_every_s
        self.part = _Part(defaultdict(list), {}, 0, 0, Counter())
        self.next_sample: dict[str, float] = {}

    def outcome(self, o: Outcome) -> None:
        part = self.part
        if o.event is not None:
            part.events += 1
        if o.rejection is not None:
            part.rejected[o.rejection.reason] += 1
            return
        result = o.result
        assert result is not None and o.event is not None
        if result.duplicate:
            part.duplicates += 1
            return
        self._keep(result.transitions)
        state = result.state
        clock = state.clock
        assert clock is not None
        pid = o.event.patient_id
        if clock >= self.next_sample.get(pid, 0.0) or result.transitions:
            ev = evaluate(state, clock, self.cfg)
            samples = part.samples.get(pid)
            if samples is None:
                samples = part.samples[pid] = PatientSamples()
            samples.add(clock, ev.score, bool(ev.met_mask & 1))
            self.next_sample[pid] = clock + self.every

    def _keep(self, alerts: list[Alert]) -> None:
        for a in alerts:
            self.part.marks[a.patient_id].append(
                Mark(a.time.timestamp(), a.alert_id, a.sequence, a.transition, a.priority, a.score)
            )

    def ticked(self, patient_id: str, alerts: list[Alert]) -> None:
        self._keep(alerts)

    def finish(self, ward: SpillingWard) -> _Part:
        self.part.marks = dict(self.part.marks)
        return self.part


def run_engine(
    paths: list[str],
    cfg: ClinicalSettings,
    order: str = "event",
    sample_every_s: float = 1800.0,
    jobs: int | None = None,
    **options: Any,
) -> EngineRun:
    """``order='event'`` replays in event-time order exactly as ``replay`` does; ``'file'`` feeds
    lines in file order (arrival order for a simulated cohort), as a live worker would see them.
    Raises ``UnreadableInput`` for a file that cannot be read. ``options``: further
    :class:`~monitor.offline.parallel.Job` fields (chunk and run sizes)."""
    run = EngineRun()

    def refused(name: str, line: int, rejection: Rejection) -> None:
        run.rejected[rejection.reason] += 1

    spec = SinkSpec(EvaluationSink, (sample_every_s,))
    job = Job(paths, cfg, spec, jobs=jobs, by_position=order == "file", label="evaluate", **options)
    with scratch("evaluate") as tmp:
        result = run_job(job, refused, tmp)
    run.lines, run.processes = result.lines, result.processes
    samples: dict[str, PatientSamples] = {}
    for part in result.parts:
        run.marks.update(part.marks)
        samples.update(part.samples)
        run.events += part.events
        run.duplicates += part.duplicates
        run.rejected.update(part.rejected)
    run.samples = Samples(samples)
    return run
