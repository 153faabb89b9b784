"""Readiness probes against things that are not there: a closed port, an unopenable database."""

from __future__ import annotations

import socket
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ops.probes import BROKER, DATABASE_PING, Probes
from gateway.store.sql import create_engine
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def _probes_against_a_closed_broker(engine: AsyncEngine, readiness: Readiness) -> Probes:
    return Probes(
        {"bootstrap_servers": f"127.0.0.1:{_closed_port()}"},
        engine,
        readiness,
        Metrics(),
        groups={"g": ("t",)},
        interval_s=0.1,
        timeout_s=1.0,
        max_ready_lag=10,
    )


async def test_an_unreachable_broker_and_database_both_show_as_problems(tmp_path: Path):
    readiness = Readiness()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    probes = _probes_against_a_closed_broker(engine, readiness)
    try:
        await probes.probe_once()
    finally:
        await engine.dispose()
    assert readiness.problems[BROKER].startswith("broker unreachable")
    assert readiness.problems[DATABASE_PING].startswith("database unreachable")


async def test_a_reachable_database_clears_its_problem(tmp_path: Path):
    readiness = Readiness()
    readiness.fail(DATABASE_PING, "database unreachable: earlier")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    probes = _probes_against_a_closed_broker(engine, readiness)
    try:
        await probes.probe_once()
    finally:
        await engine.dispose()
    assert DATABASE_PING not in readiness.problems
    assert BROKER in readiness.problems
