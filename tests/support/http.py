"""A tiny HTTP/1.1 GET for the operations endpoints (no client library needed)."""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def http_get(
    port: int, target: str, method: str = "GET", host: str = "127.0.0.1"
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


async def get_json(port: int, target: str) -> tuple[int, Any]:
    status, _, body = await http_get(port, target)
    return status, json.loads(body)


def metric_value(text: str, sample: str) -> float | None:
    """The value of the sample line starting with `sample` (name plus labels), if present."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return None
