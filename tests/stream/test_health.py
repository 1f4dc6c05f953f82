"""Health without a broker: liveness follows the loop's heartbeat and work in progress,
readiness also needs a joined group and finished recovery; the server answers both, /metrics,
and 404, on a free loopback port."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from monitor.stream.health import Health
from monitor.stream.server import WorkerServer

STALL = 60.0


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_starting_worker_is_live_but_not_ready() -> None:
    clock = Clock()
    h = Health(STALL, clock)
    assert h.live() == (True, "ok")
    assert h.ready() == (False, "not yet joined the consumer group")


def test_ready_once_joined_and_not_recovering() -> None:
    clock = Clock()
    h = Health(STALL, clock)
    h.beat(joined=True, recovering=True)
    assert h.ready() == (False, "rebalancing or recovering tables")
    h.beat(joined=False, recovering=False)  # joined once stays joined (an empty assignment too)
    assert h.ready() == (True, "ok")


@pytest.mark.parametrize(("silent", "live"), [(STALL, True), (STALL + 0.001, False)])
def test_a_silent_event_loop_is_not_live_past_the_stall_limit(silent: float, live: bool) -> None:
    clock = Clock()
    h = Health(STALL, clock)
    h.beat(joined=True, recovering=False)
    clock.t += silent
    assert h.live()[0] is live and h.ready()[0] is live
    if not live:
        assert h.live()[1] == "event loop silent for 60 s"


def test_work_stuck_past_the_limit_is_not_live_and_finished_work_is_forgotten() -> None:
    clock = Clock()
    h = Health(STALL, clock)
    with h.working("flush"):
        clock.t += STALL
        h.beat(joined=True, recovering=False)
        assert h.live() == (True, "ok")  # at the limit, not past it
        clock.t += 1
        h.beat(joined=True, recovering=False)  # the loop turns, the flush does not end
        assert h.live() == (False, "flush in progress for 61 s")
        assert not h.ready()[0]
    assert h.live() == (True, "ok")


def test_work_that_raises_is_forgotten_too() -> None:
    clock = Clock()
    h = Health(STALL, clock)
    with pytest.raises(RuntimeError), h.working("batch"):
        raise RuntimeError("boom")
    clock.t += 2 * STALL
    h.beat(joined=True, recovering=False)
    assert h.live() == (True, "ok")


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_server_answers_metrics_and_both_probes() -> None:
    registry = CollectorRegistry()
    Counter("nms_probe_test_total", "A counter.", registry=registry).inc()
    clock = Clock()
    h = Health(STALL, clock)
    server = WorkerServer(registry, h, "127.0.0.1", 0).start()
    try:
        status, body = get(server.port, "/metrics")
        assert status == 200 and "nms_probe_test_total 1.0" in body
        assert get(server.port, "/healthz/live") == (200, "ok\n")
        assert get(server.port, "/healthz/ready") == (503, "not yet joined the consumer group\n")
        h.beat(joined=True, recovering=False)
        assert get(server.port, "/healthz/ready") == (200, "ok\n")
        clock.t += STALL + 5
        assert get(server.port, "/healthz/live") == (503, "event loop silent for 65 s\n")
        assert get(server.port, "/nothing")[0] == 404
    finally:
        server.close()


def test_a_taken_port_fails_at_bind_time() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            WorkerServer(CollectorRegistry(), Health(STALL), "127.0.0.1", taken.getsockname()[1])
