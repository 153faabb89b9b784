"""Plumbing for the fault and hostile-input suites: the gateway as a real subprocess
(`python -m gateway run`), fresh PostgreSQL databases, fast publishing, store checks, and the
results file that `make chaos` prints as a table.

Everything started here is stopped by its owner in a `finally`; every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.app import kafka_connection
from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import DmsEvent, HistoryEntry, Letter, LetterFold, LetterRegistered
from gateway.settings import Settings
from gateway.store.tables import letter_history
from gateway.xmlcodec.dms import DmsCodec
from tests.support.store_snapshot import letters_by_number

ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = Path(os.environ.get("CHAOS_RESULTS", ROOT / "var" / "chaos-results.jsonl"))


def chaos_events(default: int = 20_000) -> int:
    """Events per fault scenario: CHAOS_EVENTS (make chaos: 100,000), else the CI size."""
    return int(os.environ.get("CHAOS_EVENTS", default))


def record_result(scenario: str, **figures: Any) -> None:
    """One JSON line per scenario; `python -m tests.reliability.report` prints the table."""
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS_FILE.open("a") as out:
        out.write(json.dumps({"scenario": scenario, "at": time.time(), **figures}) + "\n")


# ---- settings and environment ---------------------------------------------------------------


def unique_settings(bootstrap: str, database_url: str, **overrides: Any) -> Settings:
    """Topics and consumer group unique to one run, so runs never see each other's traffic."""
    prefix = f"r{uuid.uuid4().hex[:8]}"
    topics = {
        name: f"{prefix}.{field.default}"
        for name, field in Settings.model_fields.items()
        if name.startswith("topic_") and isinstance(field.default, str)
    }
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "database_url": database_url,
        "consumer_group": f"{prefix}-gateway",
        "topic_partitions": 3,
        "retry_backoff_initial_s": 0.1,
        "retry_backoff_max_s": 1.0,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "probe_interval_s": 1.0,
        "shutdown_timeout_s": 10.0,
        **topics,
        **overrides,
    }
    return Settings(**values)


def gateway_env(settings: Settings) -> dict[str, str]:
    """The environment that makes `python -m gateway run` use exactly these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        env[f"GATEWAY_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(
            value
        )
    env["GATEWAY_IDENTIFIER_HASH_KEY"] = settings.identifier_hash_key.get_secret_value()
    env["GATEWAY_DATABASE_URL"] = settings.database_url
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ---- the gateway as a process -----------------------------------------------------------------


class GatewayProcess:
    """`python -m gateway run` in its own process group; logs to a file."""

    READY_LINE = "gateway listening on"

    def __init__(self, settings: Settings, log_dir: Path, name: str = "gateway") -> None:
        self.settings, self.log_dir, self.name = settings, log_dir, name
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log_path = log_dir / f"{name}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--log-level", "INFO"],
                cwd=ROOT,
                env=gateway_env(self.settings),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"{self.name} exited at start:\n{self.tail()}")
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                if self.READY_LINE.encode() in f.read():
                    return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready within {timeout} s:\n{self.tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code. Safe to call twice."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            return None

    def rss_mb(self) -> float:
        """VmRSS of the gateway process, from /proc/PID/status."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


# ---- PostgreSQL --------------------------------------------------------------------------------


def admin_dsn(server_url: str, database: str = "postgres") -> str:
    url = make_url(server_url).set(drivername="postgresql", database=database)
    return url.render_as_string(hide_password=False)


@contextlib.asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[str]:
    """A new database on the server, dropped afterwards (even if connections are left)."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with contextlib.suppress(Exception):
            admin = await asyncpg.connect(admin_dsn(server_url), timeout=10)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


# ---- Kafka ----------------------------------------------------------------------------------


def encode_events(settings: Settings, events: Iterable[DmsEvent]) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) per event, encoded once up front, as the DMS would publish them."""
    codec = DmsCodec(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    return [
        (
            settings.topic_dms_registrations
            if isinstance(e, LetterRegistered)
            else settings.topic_dms_status,
            e.registration_number.encode(),
            codec.encode(e),
        )
        for e in events
    ]


class FastProducer:
    """Publishes pre-encoded records with large batches; `publish` returns once all are acked."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self._producer = AIOKafkaProducer(
            **kafka_connection(settings),
            acks="all",
            linger_ms=20,
            max_batch_size=512 * 1024,
            request_timeout_ms=30_000,
            **options,
        )

    async def __aenter__(self) -> FastProducer:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def publish(
        self, records: Sequence[tuple[str, bytes, bytes]], headers: Sequence[Any] = ()
    ) -> None:
        pending = []
        for topic, key, value in records:
            pending.append(await self._producer.send(topic, value, key=key, headers=list(headers)))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)

    @property
    def raw(self) -> AIOKafkaProducer:
        return self._producer


# ---- the store against the reference fold --------------------------------------------------------


def reference_letters(hasher: IdentifierHasher, events: Iterable[DmsEvent]) -> dict[str, Letter]:
    folds: dict[str, LetterFold] = {}
    for event in events:
        number = event.registration_number
        folds.setdefault(number, LetterFold(Letter(number))).apply(event, hasher)
    return {number: fold.letter for number, fold in folds.items()}


def reference_history(events: Iterable[DmsEvent]) -> dict[tuple[str, int], HistoryEntry]:
    history: dict[tuple[str, int], HistoryEntry] = {}
    seen: set[uuid.UUID] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        history.setdefault((event.registration_number, event.sequence), HistoryEntry.of(event))
    return history


async def stored_history(engine: AsyncEngine) -> dict[tuple[str, int], HistoryEntry]:
    from gateway.domain.letters import Status

    async with engine.connect() as connection:
        rows = (await connection.execute(select(letter_history))).mappings().all()
    return {
        (r["registration_number"], r["sequence"]): HistoryEntry(
            r["sequence"], Status(r["status"]), r["at"], r["note"]
        )
        for r in rows
    }


async def compare_with_reference(
    engine: AsyncEngine, settings: Settings, events: Sequence[DmsEvent]
) -> dict[str, int]:
    """lost / wrong / extra letters and history entries between the store and the fold."""
    hasher = IdentifierHasher(settings.identifier_hash_key.get_secret_value().encode())
    want_letters = reference_letters(hasher, events)
    got_letters = await letters_by_number(engine)
    want_history = reference_history(events)
    got_history = await stored_history(engine)
    return {
        "letters_missing": sum(1 for n in want_letters if n not in got_letters),
        "letters_wrong": sum(
            1 for n, v in want_letters.items() if n in got_letters and got_letters[n] != v
        ),
        "letters_extra": sum(1 for n in got_letters if n not in want_letters),
        "history_missing": sum(1 for k in want_history if k not in got_history),
        "history_wrong": sum(
            1 for k, v in want_history.items() if k in got_history and got_history[k] != v
        ),
        "history_extra": sum(1 for k in got_history if k not in want_history),
    }
