"""A minimal HTTP/1.1 server for operations: health, metrics and reports. GET only, one request
per connection, no body. Built on asyncio.start_server; no web framework.

Routes are plain async functions taking the query parameters and returning a Response.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_REQUEST_HEAD = 8 * 1024
READ_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        body = json.dumps(payload, ensure_ascii=False, indent=2).encode() + b"\n"
        return cls(status, body, "application/json")

    @classmethod
    def text(cls, status: int, text: str, content_type: str | None = None) -> Response:
        return cls(status, text.encode(), content_type or "text/plain; charset=utf-8")


Handler = Callable[[Mapping[str, str]], Awaitable[Response]]


class OpsHttpServer:
    def __init__(self, host: str, port: int, routes: Mapping[str, Handler]) -> None:
        self.host, self._requested_port, self.routes = host, port, dict(routes)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0, which asks for an ephemeral one)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the HTTP server is not running")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self._requested_port)
        log.info("operations HTTP on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            response = await self._respond(reader)
            reason = HTTPStatus(response.status).phrase
            head = (
                f"HTTP/1.1 {response.status} {reason}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                "Cache-Control: no-store\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + response.body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, reader: asyncio.StreamReader) -> Response:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
        except asyncio.LimitOverrunError:
            return Response.text(431, "request head too large\n")
        if len(head) > MAX_REQUEST_HEAD:
            return Response.text(431, "request head too large\n")
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return Response.text(400, "bad request\n")
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            return Response.text(405, "only GET\n")
        url = urlsplit(target)
        handler = self.routes.get(url.path)
        if handler is None:
            return Response.text(404, "not found\n")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            response = await handler(query)
        except Exception:
            log.exception("operations endpoint %s failed", url.path)
            return Response.text(500, "internal error\n")
        if method == "HEAD":
            return Response(response.status, b"", response.content_type)
        return response
