"""HTTP for tests: httpx against a gateway's port, or in process against the ASGI app; and the
/metrics text parsed by prometheus_client's own parser."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import ASGIApp

from gateway.settings import PROJECT_ROOT


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


async def metrics_text(port: int) -> str:
    status, _, body = await http_get(port, "/metrics")
    assert status == 200
    return body.decode()


async def scrape(port: int) -> Samples:
    return parse_metrics(await metrics_text(port))


_SERIES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exposed_names(text: str) -> set[str]:
    """The series names a scrape declares (HELP/TYPE), whether or not they have samples yet:
    a counter family X is the series X_total, a histogram X_bucket, X_sum and X_count."""
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in _SERIES.get(family.type, ("",))
    }


MONITORING = PROJECT_ROOT / "deploy" / "monitoring"
_METRIC_NAME = re.compile(r"\b(?:gateway|faststream)_[a-z0-9_]+")


def monitoring_metric_names() -> set[str]:
    """Metric names in the expressions of the Grafana dashboard and the alert rules."""
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text(encoding="utf-8"))
    rules = yaml.safe_load((MONITORING / "alert-rules.yaml").read_text(encoding="utf-8"))
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]] + [
        r["expr"] for g in rules["groups"] for r in g["rules"]
    ]
    return {name for e in expressions for name in _METRIC_NAME.findall(e)}
