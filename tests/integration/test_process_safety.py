"""What a user meets around the processes: the embedded broker dies with a SIGKILLed ``run``;
a taken port ends in one line naming what to change, not a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from monitor.stream.broker import EmbeddedBroker, broker_binary, free_port
from tests.integration.harness import ROOT, wait_for

CLI = [sys.executable, "-m", "monitor.cli.main"]


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited


@contextmanager
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def env(tmp: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NMS_")}
    return {**base, "NMS_WORKER_DATA_DIR": str(tmp), "NMS_WEB_PORT": "0", **extra}


def test_the_embedded_broker_dies_with_a_sigkilled_run(tmp_path: Path) -> None:
    port = free_port()
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115 - closed below
    run = subprocess.Popen([*CLI, "run", "--embedded-port", str(port)], stdout=log,
                           stderr=subprocess.STDOUT, env=env(tmp_path, NMS_WORKER_METRICS_PORT="0"),
                           cwd=ROOT)  # fmt: skip
    broker_pids: list[int] = []
    try:
        wait_for(lambda: listening(port), 30, "the embedded broker")
        name = Path(broker_binary()).name
        broker_pids = [p for p in children(run.pid) if name in Path(f"/proc/{p}/cmdline")
                       .read_bytes().split(b"\0")[0].decode(errors="replace")]  # fmt: skip
        assert len(broker_pids) == 1, children(run.pid)
        run.send_signal(signal.SIGKILL)  # no cleanup of any kind runs in `run`
        run.wait(10)
        wait_for(lambda: not alive(broker_pids[0]), 10, "the broker to die with run")
        assert not listening(port), "the port is still held"
    finally:
        for pid in broker_pids:  # a failed test must not leave a broker behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()
            run.wait(10)
        log.close()


def one_line_failure(args: list[str], tmp: Path, **extra: str) -> str:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env=env(tmp, **extra), cwd=ROOT, check=False)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_second_worker_on_a_taken_metrics_port_says_which_setting_to_change(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with taken_port() as port:
        line = one_line_failure(["worker", "--bootstrap", broker.bootstrap], tmp_path,
                                NMS_WORKER_METRICS_PORT=str(port))  # fmt: skip
    assert line.startswith(f"nms-monitor worker: port {port} on 127.0.0.1 is already in use")
    assert "NMS_WORKER_METRICS_PORT" in line


def test_run_on_a_taken_metrics_port_starts_nothing(tmp_path: Path) -> None:
    with taken_port() as port:
        line = one_line_failure(["run"], tmp_path, NMS_WORKER_METRICS_PORT=str(port))
    assert line.startswith("nms-monitor run: port") and "NMS_WORKER_METRICS_PORT" in line
    assert not (tmp_path / "embedded-broker.log").exists()  # the broker never started


def test_run_on_a_taken_embedded_port_names_the_option(tmp_path: Path) -> None:
    with taken_port() as port:
        line = one_line_failure(["run", "--embedded-port", str(port)], tmp_path,
                                NMS_WORKER_METRICS_PORT="0")  # fmt: skip
    assert line == (
        f"nms-monitor run: 127.0.0.1:{port} is already in use: choose another --embedded-port, "
        "or leave it out for a free port"
    )
