"""The HTTP transport of the delivery loop (aiohttp, one pooled session).

Redirects are not followed (a 3xx is a refusal: the receiver's URL is wrong). Only the first
``MAX_ANSWER_BYTES`` of an answer are read, for the dead-letter record. A timeout or a network
error is an answer without a status. Exceptions are never logged here: their text can hold the
URL, which may embed a token.
"""

from __future__ import annotations

import aiohttp

from monitor.forward.delivery import Request
from monitor.forward.outcome import Answer, parse_retry_after

MAX_ANSWER_BYTES = 8192


class HttpTransport:
    def __init__(self, max_connections: int) -> None:
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> HttpTransport:
        connector = aiohttp.TCPConnector(limit=self.max_connections, ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, headers={"User-Agent": "nms-monitor-forward"}
        )
        return self

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def post(self, request: Request) -> Answer:
        assert self._session is not None, "start() first"
        timeout = aiohttp.ClientTimeout(total=request.timeout_s)
        try:
            async with self._session.post(
                request.url,
                data=request.body,
                headers=dict(request.headers),
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                body = await resp.content.read(MAX_ANSWER_BYTES)
                return Answer(resp.status, body, parse_retry_after(resp.headers.get("Retry-After")))
        except TimeoutError:
            return Answer(None, error="timeout")
        except (aiohttp.ClientError, OSError, ValueError):
            return Answer(None, error="network")
