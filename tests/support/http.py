"""HTTP for tests: httpx against a gateway's port, or in process against the ASGI app; and the
/metrics text parsed by prometheus_client's own parser."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp


def asgi_client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")


async def http_get(
    port: int, target: str, method: str = "GET", host: str = "127.0.0.1"
) -> tuple[int, httpx.Headers, bytes]:
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=30) as client:
        response = await client.request(method, target)
    return response.status_code, response.headers, response.content


async def get_json(port: int, target: str) -> tuple[int, Any]:
    status, _, body = await http_get(port, target)
    return status, httpx.Response(status, content=body).json()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample of a scrape, keyed by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric_value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


async def scrape(port: int) -> Samples:
    status, _, body = await http_get(port, "/metrics")
    assert status == 200
    return parse_metrics(body.decode())
