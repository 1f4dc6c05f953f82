"""``fhir-listen`` (the FHIR HTTP server) and ``import-fhir`` (FHIR files to the input topics)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from monitor.cli.interop_cmds import prepare, run_loop, settle_heap
from monitor.interop.fhir.alerts import AlertStore, follow_alerts
from monitor.interop.fhir.convert import FhirContext
from monitor.interop.fhir.ingest import Ingest, ingest
from monitor.interop.fhir.validate import FhirInputError, parse_json
from monitor.interop.metrics import InteropMetrics
from monitor.interop.publish import KafkaSink, PublishError
from monitor.interop.settings import InteropSettings, is_loopback
from monitor.settings import Settings
from monitor.stream.topics import Topics

log = logging.getLogger(__name__)


def run_fhir_listen(
    settings: Settings, interop: InteropSettings, host: str | None, port: int | None
) -> int:
    """Serve HTTP until SIGINT or SIGTERM (uvicorn handles the signals)."""
    from monitor.interop.fhir.server import create_app  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(levelname)s] %(message)s")
    cfg = interop.fhir
    bind = host or cfg.host
    try:
        token = cfg.token()
    except (OSError, ValueError) as exc:
        print(f"nms-monitor fhir-listen: bearer token: {exc}", file=sys.stderr)
        return 2
    if not is_loopback(bind) and token is None:
        print(
            f"nms-monitor fhir-listen: refusing to listen on {bind} without a bearer token: set "
            "NMS_FHIR_TOKEN_FILE to a file holding it (or bind a loopback address)",
            file=sys.stderr,
        )
        return 2
    tables = prepare(settings, interop, "fhir-listen")
    if tables is None:
        return 2
    metrics = InteropMetrics(CollectorRegistry())
    store = AlertStore()
    sink = KafkaSink(settings.kafka)
    state: dict[str, Any] = {"producer": False, "alerts_follower": False}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sink.start()
        state["producer"] = True
        ready = asyncio.Event()
        topic = Topics(settings.kafka.topic_prefix).alerts
        follower = asyncio.create_task(follow_alerts(settings.kafka, topic, store, ready))
        follower.add_done_callback(lambda _: state.update(alerts_follower=False))
        ready_task = asyncio.create_task(ready.wait())
        ready_task.add_done_callback(lambda _: state.update(alerts_follower=True))
        try:
            yield
        finally:
            follower.cancel()
            ready_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower
            await sink.stop()

    app = create_app(
        ctx=FhirContext(tables, cfg.patient_system),
        sink=sink,
        store=store,
        metrics=metrics,
        token=token,
        max_body_bytes=cfg.max_body_bytes,
        publish_timeout_s=cfg.publish_timeout_s,
        health=lambda: {**state, "alerts_read": store.records, "alerts_invalid": store.invalid},
        lifespan=lifespan,
    )
    # No access log: a search's query string names a patient.
    config = uvicorn.Config(
        app, host=bind, port=cfg.port if port is None else port, access_log=False, log_level="info"
    )
    server = _Server(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
        serving = asyncio.create_task(server.serve())
        while not server.started and not serving.done():
            await asyncio.sleep(0.05)
        if server.started:
            sock = server.servers[0].sockets[0].getsockname()
            settle_heap()
            print(f"fhir-listen: HTTP on {sock[0]}:{sock[1]}", file=sys.stderr, flush=True)
        await serving

    run_loop(main())
    print("fhir-listen: stopped", file=sys.stderr, flush=True)
    return 0


class _Server(uvicorn.Server):
    """uvicorn re-raises a captured SIGTERM after its graceful shutdown, which would end the
    process by the signal; the command handles the signals itself and exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _documents(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line, JSON text): the whole file when it is one JSON document, else each NDJSON line."""
    data = path.read_bytes().lstrip(b"\xef\xbb\xbf")
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        for lineno, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                yield lineno, line
    else:
        yield 1, data


def run_import_fhir(settings: Settings, interop: InteropSettings, files: list[str]) -> int:
    """Validate, convert and publish FHIR files; report refusals as FILE:LINE: reason: detail."""
    paths = [Path(f) for f in files]
    for p in paths:
        if not p.is_file():
            print(f"nms-monitor import-fhir: cannot read {p}", file=sys.stderr)
            return 2
    tables = prepare(settings, interop, "import-fhir")
    if tables is None:
        return 2
    ctx = FhirContext(tables, interop.fhir.patient_system)
    refused = published = 0
    batches: list[Ingest] = []
    for path in paths:
        for lineno, text in _documents(path):
            try:
                result = ingest(parse_json(text), ctx)
            except FhirInputError as exc:
                refused += 1
                for issue in exc.issues:
                    where = f" {issue.expression}" if issue.expression else ""
                    print(
                        f"{path}:{lineno}:{where}: {issue.reason}: {issue.diagnostics}",
                        file=sys.stderr,
                    )
                continue
            for i, entry in enumerate(result.entries):
                if entry.status >= 400:
                    refused += 1
                    for issue in entry.issues:
                        print(
                            f"{path}:{lineno}: entry {i}: {issue.reason}: {issue.diagnostics}",
                            file=sys.stderr,
                        )
            batches.append(result)
    events = [ev for b in batches for ev in b.events]

    async def publish() -> None:
        sink = KafkaSink(settings.kafka)
        await sink.start()
        try:
            for start in range(0, len(events), 5000):
                await sink.publish(events[start : start + 5000], interop.fhir.publish_timeout_s)
        finally:
            await sink.stop()

    try:
        asyncio.run(publish())
        published = len(events)
    except PublishError as exc:
        print(f"nms-monitor import-fhir: {exc}", file=sys.stderr)
        return 1
    skipped: Counter[str] = Counter()
    for b in batches:
        skipped.update(b.skipped)
    print(
        f"import-fhir: {published} events published, {refused} resources refused, skipped: "
        + (", ".join(f"{k} {n}" for k, n in sorted(skipped.items())) or "none"),
        file=sys.stderr,
    )
    return 1 if refused else 0
