"""The adapters as processes (``hl7-listen``, ``fhir-listen``) for integration tests, and an MLLP
client. Loopback only, free ports, every process stopped by the test that started it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from monitor.interop.hl7.mllp import Decoder, Frame, frame
from tests.integration.harness import ROOT, wait_for

_BOUND = re.compile(rb"(?:MLLP|HTTP) on (127\.0\.0\.1):(\d+)")


class ListenerProcess:
    """``nms-monitor hl7-listen`` or ``fhir-listen`` on a free loopback port."""

    def __init__(self, command: str, bootstrap: str, tmp: Path, **env: str) -> None:
        self.command = command
        self.log_path = tmp / f"{command}.log"
        self.env = {
            **os.environ,
            "NMS_KAFKA_BOOTSTRAP": bootstrap,
            "NMS_HL7_METRICS_PORT": "0",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self, timeout: float = 60.0) -> ListenerProcess:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli.main", self.command, "--host", "127.0.0.1",
             "--port", "0"],
            stdout=self._log, stderr=self._log, stdin=subprocess.DEVNULL, env=self.env, cwd=ROOT,
        )  # fmt: skip

        def bound() -> bool:
            assert self.proc is not None
            assert self.proc.poll() is None, self.log()[-2000:]
            m = _BOUND.search(self.log_path.read_bytes())
            if m:
                self.port = int(m[2])
            return m is not None

        wait_for(bound, timeout, f"{self.command} to listen")
        return self

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class MllpClient:
    """A blocking MLLP client: send one message, wait for its ACK."""

    def __init__(self, port: int, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.decoder = Decoder(1024 * 1024)

    def send(self, payload: bytes) -> bytes | None:
        """The ACK's payload, or None when the listener closed the connection instead."""
        self.sock.sendall(frame(payload))
        while True:
            data = self.sock.recv(65536)
            items = self.decoder.feed(data) if data else self.decoder.close()
            for item in items:
                if isinstance(item, Frame):
                    return item.payload
            if not data:
                return None

    def close(self) -> None:
        self.sock.close()


def ack_code(ack: bytes | None) -> str | None:
    """MSA-1 of an ACK (None for no ACK)."""
    if ack is None:
        return None
    msa = next(s for s in ack.split(b"\r") if s.startswith(b"MSA|"))
    return msa.split(b"|")[1].decode()
