"""The CPU of one produce request (acks=all) to the embedded broker, two ways. Prints JSON.

    python benchmarks/produce.py [--requests 2000] [--partitions 5] [--records 8]

Each request carries ``--records`` records of about 200 bytes on each of ``--partitions``
partitions and is awaited before the next (as a listener's group commit does when it is not
busy):

- ``aiokafka_producer``: a closed record batch per partition handed to aiokafka's producer
  (``send_batch``: its accumulator and sender task build and send the request), as
  ``KafkaSink`` did before it built its requests itself;
- ``built_request``: the request ``KafkaSink`` builds over aiokafka's client
  (``AiokafkaCluster.produce``), the record batches built the same way it builds them.

CPU microseconds per request (this process only; the broker runs in its own) and wall
microseconds per request; the best of ``--repeats`` (this machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaProducer

from monitor.interop.publish import AiokafkaCluster, _Batches, _Partition
from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics


async def measure(bootstrap: str, args: argparse.Namespace) -> dict[str, object]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        topic = Topics("").for_kind("vital")
        partitions = sorted(await producer.partitions_for(topic))
        cluster = AiokafkaCluster(producer, 30_000)
        node = cluster.leader(topic, partitions[0])
        assert node is not None
        value = b"x" * 200
        loop = asyncio.get_running_loop()

        async def via_producer() -> None:
            acks = []
            for k in range(args.partitions):
                batch = producer.create_batch()
                for j in range(args.records):
                    batch.append(key=b"k%d" % j, value=value, timestamp=None)
                batch.close()
                p = partitions[k % len(partitions)]
                acks.append(await producer.send_batch(batch, topic, partition=p))
            await asyncio.gather(*acks)

        async def built() -> None:
            batches = []
            for k in range(args.partitions):
                entries = [(j, b"k%d" % j, value) for j in range(args.records)]
                part = _Partition(
                    topic, partitions[k % len(partitions)], entries, loop.create_future()
                )
                batches.append((part.partition, _Batches(part).next_batch()))
            answers = await cluster.produce(node, [(topic, batches)])
            assert all(code == 0 for *_, code in answers), answers

        out: dict[str, object] = {}
        for name, one in (("aiokafka_producer", via_producer), ("built_request", built)):
            best_cpu = best_wall = float("inf")
            for _ in range(args.repeats):
                cpu0, wall0 = time.process_time(), time.perf_counter()
                for _ in range(args.requests):
                    await one()
                best_cpu = min(best_cpu, (time.process_time() - cpu0) / args.requests)
                best_wall = min(best_wall, (time.perf_counter() - wall0) / args.requests)
            out[f"{name}_cpu_us_per_request"] = round(best_cpu * 1e6, 1)
            out[f"{name}_wall_us_per_request"] = round(best_wall * 1e6, 1)
        return out
    finally:
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=5)
    parser.add_argument("--records", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
        figures = asyncio.run(measure(broker.bootstrap, args))
    print(
        json.dumps(
            {
                "benchmark": "produce_request",
                "requests": args.requests,
                "partitions": args.partitions,
                "records_per_partition": args.records,
                **figures,
            }
        )
    )


if __name__ == "__main__":
    main()
