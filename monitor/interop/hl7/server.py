"""The MLLP listener: asyncio TCP connections, framing, time limits; messages go to a handler.

Per connection, frames are handled as they arrive and their ACKs written in arrival order (a
sender may send the next message before the previous ACK; most wait for it). Limits, each
counted in ``nms_hl7_frame_errors_total``:

- a connection silent for ``idle_timeout_s`` between messages, or a message not complete within
  ``frame_timeout_s`` of its first byte, is closed (slow or silent clients);
- a message over ``max_message_bytes`` is discarded up to its end marker and refused (AR);
- bytes outside a frame are refused once per run (AR); a frame cut short by a new one is refused;
- a stream that ends inside a frame, or an ACK the peer does not read within ``frame_timeout_s``,
  closes the connection; beyond ``max_connections`` a new connection is closed at once.

One connection's trouble never touches another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from monitor.interop.hl7 import mllp
from monitor.interop.hl7.handler import MessageHandler
from monitor.interop.metrics import InteropMetrics

log = logging.getLogger(__name__)
READ_CHUNK = 64 * 1024
MAX_PIPELINE = 64  # ACKs pending on one connection before reading stops


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int
    idle_timeout_s: float
    frame_timeout_s: float
    max_connections: int


class MllpServer:
    def __init__(self, handler: MessageHandler, limits: Limits, metrics: InteropMetrics) -> None:
        self.handler, self.limits, self.metrics = handler, limits, metrics
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen; returns the bound address (port 0 picks a free port)."""
        self._server = await asyncio.start_server(self._accept, host, port, limit=READ_CHUNK)
        sock = self._server.sockets[0].getsockname()
        return str(sock[0]), int(sock[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._connections) >= self.limits.max_connections:
            self.metrics.frame_errors.labels("too_many_connections").inc()
            writer.close()
            return
        # The connection runs in a task of its own, so that stop() cancels it and not the
        # callback task asyncio's streams watch (which would log the cancellation as an error).
        task = asyncio.create_task(_Connection(self, reader, writer).run())
        self._connections.add(task)
        self.metrics.connections.inc()
        try:
            await task
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            log.info("MLLP connection lost: %s", type(exc).__name__)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise
        finally:
            self.metrics.connections.dec()
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


class _Connection:
    def __init__(
        self, server: MllpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server, self.reader, self.writer = server, reader, writer
        self.limits = server.limits
        self.decoder = mllp.Decoder(self.limits.max_message_bytes)
        self.acks: asyncio.Queue[tuple[float, asyncio.Task[bytes]]] = asyncio.Queue(MAX_PIPELINE)
        self.garbage = 0
        self.broken = False  # the peer stopped reading its ACKs

    async def run(self) -> None:
        writer_task = asyncio.create_task(self._write_acks())
        try:
            await self._read_frames()
            # Answer what was received before closing (bounded: publish, then one write).
            budget = self.server.handler.publish_timeout_s + self.limits.frame_timeout_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.acks.join(), budget)
        finally:
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer_task

    async def _read_frames(self) -> None:
        frame_started = 0.0
        while not self.broken:
            if self.decoder.in_frame:
                budget = frame_started + self.limits.frame_timeout_s - time.monotonic()
            else:
                budget = self.limits.idle_timeout_s
            try:
                async with asyncio.timeout(max(budget, 0.001)):  # cheaper than wait_for
                    data = await self.reader.read(READ_CHUNK)
            except TimeoutError:
                why = "frame" if self.decoder.in_frame else "idle"
                self.server.metrics.frame_errors.labels("timeout").inc()
                log.info("MLLP connection closed: %s timeout", why)
                return
            was_in_frame = self.decoder.in_frame
            items = self.decoder.feed(data) if data else self.decoder.close()
            if (garbage := self.decoder.take_garbage()) is not None:  # answer it at once
                items.append(garbage)
            for item in items:
                await self._item(item)
            ended = any(not isinstance(i, mllp.Garbage) for i in items)
            if self.decoder.in_frame and (ended or not was_in_frame):
                frame_started = time.monotonic()
            if not data:
                return
            if self.garbage > self.limits.max_message_bytes:
                log.info("MLLP connection closed: too many bytes outside frames")
                return

    async def _item(self, item: mllp.Item) -> None:
        handler = self.server.handler
        metrics = self.server.metrics
        if isinstance(item, mllp.Frame):
            await self._queue(handler.handle(item.payload))
        elif isinstance(item, mllp.Oversized):
            metrics.frame_errors.labels("oversized").inc()
            text = (
                f"message of {item.size} bytes exceeds the limit of {self.limits.max_message_bytes}"
            )
            await self._queue(_done(handler.refuse_unframed("too_large", text, item.head)))
        elif isinstance(item, mllp.Truncated):
            metrics.frame_errors.labels("truncated").inc()
            text = f"message cut short after {item.size} bytes (no end marker 0x1C 0x0D)"
            await self._queue(_done(handler.refuse_unframed("unparseable", text, item.head)))
        else:
            metrics.frame_errors.labels("garbage").inc()
            self.garbage += item.size
            text = (
                f"{item.size} bytes outside an MLLP frame (0x0B message 0x1C 0x0D) were discarded"
            )
            await self._queue(_done(handler.refuse_unframed("not_hl7", text)))

    async def _queue(self, work: Coroutine[Any, Any, bytes]) -> None:
        task = asyncio.create_task(work)
        if not self.acks.full():  # the usual case: no time limit to arm
            self.acks.put_nowait((time.monotonic(), task))
            return
        try:
            async with asyncio.timeout(self.limits.frame_timeout_s):
                await self.acks.put((time.monotonic(), task))
        except TimeoutError:  # the peer does not read its ACKs
            self.broken = True

    async def _write_acks(self) -> None:
        while True:
            started, task = await self.acks.get()
            try:
                ack = await task
                if not self.broken:
                    self.writer.write(mllp.frame(ack))
                    transport = self.writer.transport
                    # Waiting (under a time limit) only when the peer is behind or gone.
                    if transport.get_write_buffer_size() or transport.is_closing():
                        async with asyncio.timeout(self.limits.frame_timeout_s):
                            await self.writer.drain()
                    self.server.metrics.ack_seconds.observe(time.monotonic() - started)
            except (TimeoutError, ConnectionError):
                self.server.metrics.frame_errors.labels("timeout").inc()
                self.broken = True
                self.reader.feed_eof()
            finally:
                self.acks.task_done()


async def _done(ack: bytes) -> bytes:
    return ack
