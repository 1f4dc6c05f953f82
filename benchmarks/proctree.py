"""Run a command and measure it as a whole: wall and CPU time, and the peak resident memory of
its process tree (the command and every worker process it starts), for the benchmarks.

Peak memory is sampled every 50 ms as the sum of VmRSS over the tree (Linux ``/proc``), so a
spike shorter than that can be missed. Each process's own high-water mark (VmHWM, kept by the
kernel) is read at every sample too: the largest of them is the peak of the largest process, and
their sum bounds the tree's peak from above (the processes need not peak at the same moment).
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Measured:
    seconds: float
    cpu_seconds: float
    peak_rss_total_bytes: int  # the largest sampled sum of VmRSS over the tree
    peak_rss_sum_of_peaks_bytes: int  # the sum of every process's VmHWM: an upper bound
    peak_rss_largest_process_bytes: int
    processes: int
    returncode: int
    stderr: bytes


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            out += [int(c) for c in text.split()]
    except OSError:
        pass
    return out


def _memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes; zeros once it is gone."""
    rss = hwm = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, hwm


def tree_memory(root: int, peaks: dict[int, int]) -> int:
    """The tree's current total VmRSS; ``peaks`` keeps each process's VmHWM."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        rss, hwm = _memory(pid)
        total += rss
        if hwm:
            peaks[pid] = max(peaks.get(pid, 0), hwm)
        todo += _children(pid)
    return total


def measure(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run ``cmd`` (standard output discarded, standard error kept) and measure it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peaks: dict[int, int] = {}
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_memory(proc.pid, peaks))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    largest = max(peaks.values(), default=0)
    return Measured(
        seconds, cpu, peak[0], sum(peaks.values()), largest, len(peaks), proc.returncode, err
    )
