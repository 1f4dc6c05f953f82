"""HL7 v2 listener throughput and ACK latency on the embedded broker. Prints one JSON object.

    python benchmarks/hl7.py [--messages 30000] [--connections 10] [--window 1] [--patients 1000]

Starts the embedded broker and ``nms-monitor hl7-listen`` (its own process, as deployed), then
sends IHE PCD-01 ORU^R01 messages (7 observations each: heart rate, respiratory rate, NIBP
systolic/diastolic/mean, temperature, SpO2) over ``--connections`` concurrent MLLP connections.
With ``--window 1`` (the default) each connection waits for a message's ACK before sending the
next, as interface engines do; a larger window keeps that many messages outstanding.

- messages_per_second: messages acknowledged AA per second, end to end (every AA means the
  message's events were acknowledged by the broker);
- ack_ms_p50/_p95/_p99: from the message's last byte written to its ACK read, at the client;
- listener_cpu / broker_cpu / client_cpu: their share of one core during the run, and the
  machine's load average at its end (other work on the machine shows there).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.interop.hl7.mllp import Decoder, Frame, frame
from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings

START = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
OBX = [
    ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC", 70, 40),
    ("151562^MDC_RESP_RATE^MDC", "264928^MDC_DIM_RESP_PER_MIN^MDC", 14, 10),
    ("150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "266016^MDC_DIM_MMHG^MDC", 110, 40),
    ("150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "266016^MDC_DIM_MMHG^MDC", 65, 25),
    ("150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "266016^MDC_DIM_MMHG^MDC", 80, 30),
    ("150364^MDC_TEMP_BODY^MDC", "268192^MDC_DIM_DEGC^MDC", 36.4, 1.5),
    ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC", 92, 8),
]


def message(n: int, patients: int) -> bytes:
    """The n-th PCD-01 ORU^R01 of the run (one patient's round every ``patients`` messages)."""
    patient = n % patients
    when = (START + dt.timedelta(minutes=n // patients)).strftime("%Y%m%d%H%M%S+0000")
    segs = [
        f"MSH|^~\\&|BENCH-GW^0800190000000001^EUI-64|ICU|NMS||{when}||ORU^R01^ORU_R01|"
        f"B{n:09d}|P|2.6|||NE|AL",
        f"PID|||BENCH-{patient:05d}^^^HOSP^MR||Bench^Patient",
        f"PV1||I|ICU^{patient % 40}^1",
        f"OBR|1|B{n}^GW||182777000^monitoring of patient^SCT|||{when}",
    ]
    for i, (code, unit, base, spread) in enumerate(OBX, start=1):
        value = round(base + spread * ((n * 7 + i * 13) % 100) / 100, 1)
        segs.append(f"OBX|{i}|NM|{code}|1.{i}|{value}|{unit}|||||R|||{when}")
    return "\r".join(segs).encode()


async def connection(
    port: int, payloads: list[bytes], window: int, latencies: list[float], codes: list[bytes]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    decoder = Decoder(1 << 20)
    sent: list[float] = []
    pending = 0
    i = 0
    try:
        while i < len(payloads) or pending:
            while pending < window and i < len(payloads):
                writer.write(frame(payloads[i]))
                sent.append(time.perf_counter())
                i += 1
                pending += 1
            await writer.drain()
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("the listener closed the connection")
            now = time.perf_counter()
            for item in decoder.feed(data):
                if isinstance(item, Frame):
                    latencies.append(now - sent[len(latencies)])  # ACKs come in order
                    codes.append(item.payload.split(b"\rMSA|", 1)[1][:2])
                    pending -= 1
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_clients(
    port: int, messages: list[bytes], connections: int, window: int
) -> tuple[float, list[float], list[bytes]]:
    shares = [messages[c::connections] for c in range(connections)]
    per_conn: list[tuple[list[float], list[bytes]]] = [([], []) for _ in shares]
    start = time.perf_counter()
    clients = zip(shares, per_conn, strict=True)
    await asyncio.gather(*(connection(port, s, window, lat, codes) for s, (lat, codes) in clients))
    elapsed = time.perf_counter() - start
    return elapsed, [x for lat, _ in per_conn for x in lat], [c for _, cs in per_conn for c in cs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--window", type=int, default=1, help="messages outstanding per connection")
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=2000, help="messages sent first, unmeasured")
    args = parser.parse_args()

    total = args.warmup + args.messages
    payloads = [message(n, args.patients) for n in range(total)]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
        log_path = Path(tmp) / "listener.log"
        env = {**os.environ, "NMS_KAFKA_BOOTSTRAP": broker.bootstrap, "NMS_HL7_METRICS_PORT": "0"}
        with open(log_path, "wb") as log:
            listener = subprocess.Popen(
                [sys.executable, "-m", "monitor.cli.main", "hl7-listen", "--port", "0"],
                stdout=log, stderr=log, env=env, cwd=ROOT,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + 60
                port = 0
                while not port and time.monotonic() < deadline:
                    if m := re.search(rb"MLLP on 127\.0\.0\.1:(\d+)", log_path.read_bytes()):
                        port = int(m[1])
                    time.sleep(0.1)
                if not port:
                    raise SystemExit(f"the listener did not start:\n{log_path.read_text()}")
                asyncio.run(run_clients(port, payloads[: args.warmup], args.connections, 1))
                cpu_l0, cpu_b0 = cpu_seconds(listener.pid), cpu_seconds(broker.pid or 0)
                cpu_c0 = time.process_time()
                elapsed, lat, codes = asyncio.run(
                    run_clients(port, payloads[args.warmup :], args.connections, args.window)
                )
                cpu_l = (cpu_seconds(listener.pid) - cpu_l0) / elapsed
                cpu_b = (cpu_seconds(broker.pid or 0) - cpu_b0) / elapsed
                cpu_c = (time.process_time() - cpu_c0) / elapsed
                load = os.getloadavg()[0]
            finally:
                listener.terminate()
                listener.wait(30)
    q = statistics.quantiles([x * 1000 for x in lat], n=100)
    accepted = sum(c == b"AA" for c in codes)
    print(
        orjson.dumps(
            {
                "benchmark": "hl7_listener",
                "messages": args.messages,
                "observations_per_message": len(OBX),
                "connections": args.connections,
                "window": args.window,
                "patients": args.patients,
                "accepted_aa": accepted,
                "not_accepted": len(codes) - accepted,
                "seconds": round(elapsed, 2),
                "messages_per_second": round(accepted / elapsed, 1),
                "events_per_second": round(accepted * len(OBX) / elapsed, 1),
                "ack_ms_p50": round(q[49], 2),
                "ack_ms_p95": round(q[94], 2),
                "ack_ms_p99": round(q[98], 2),
                "listener_cpu": round(cpu_l, 2),
                "broker_cpu": round(cpu_b, 2),
                "client_cpu": round(cpu_c, 2),
                "load_average_1min": round(load, 2),
                "cores": os.cpu_count(),
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
