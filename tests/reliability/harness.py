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

from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import DmsEvent, HistoryEntry, Letter, LetterFold, LetterRegistered
from gateway.kafka import kafka_connection
from gateway.settings import Settings
from gateway.store.tables import letter_history
from gateway.xmlcodec.dms import DmsXmlCodec
from tests.support.store_snapshot import letters_by_number

ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = Path(os.environ.get("CHAOS_RESULTS", ROOT / "var" / "chaos-results.jsonl"))


def log_dir(name: str) -> Path:
    """Where a scenario's gateway logs go: under var/, not pytest's tmp_path (concurrent pytest
    sessions on the same machine rotate each other's basetemp directories away)."""
    directory = ROOT / "var" / "reliability-logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


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
        env[f"GATEWAY_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    env["GATEWAY_IDENTIFIER_HASH_KEY"] = settings.identifier_hash_key.get_secret_value()
    env["GATEWAY_DATABASE_URL"] = settings.database_url
    env["PYTHONUNBUFFERED"] = "1"
    return env


# ---- the gateway as a process -----------------------------------------------------------------


class GatewayProcess:
    """`python -m gateway run` in its own process group; logs to a file."""

    READY_LINE = "gateway ready:"

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
    codec = DmsXmlCodec(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
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
    hasher = settings.identifier_hasher()
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


# ---- request traffic with a known right answer ---------------------------------------------


class RequestLoad:
    """Call-center requests at a steady rate for letters whose state is known, each checked
    against the reference fold. Outcomes: answered (right), wrong, fault:<CODE>, timeout,
    client_error (the requester's own send failed, e.g. while the broker was down)."""

    def __init__(
        self,
        settings: Settings,
        expected: dict[str, Letter],
        expected_history: dict[str, list[HistoryEntry]],
        *,
        rate_per_s: float = 40.0,
        timeout_s: float = 15.0,
        max_in_flight: int = 64,
    ) -> None:
        from gateway.tools.client import StatusClient
        from gateway.xmlcodec.egov import EgovXmlCodec

        self.settings, self.expected, self.expected_history = settings, expected, expected_history
        self.codec = EgovXmlCodec(
            max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth
        )
        self.client = StatusClient(
            kafka_connection(settings),
            settings.topic_callcenter_requests,
            settings.topic_callcenter_replies,
        )
        self.rate, self.timeout = rate_per_s, timeout_s
        self._slots = asyncio.Semaphore(max_in_flight)
        self.outcomes: list[tuple[float, float, str]] = []  # (sent at, answered at, outcome)
        self.wrong: list[str] = []
        self._numbers = sorted(expected)

    async def __aenter__(self) -> RequestLoad:
        await self.client.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.stop()

    def check(self, raw: bytes, number: str) -> str:
        reply = self.codec.decode_reply(raw)
        if reply.fault is not None:
            return f"fault:{reply.fault.code}"
        status, letter = reply.status, self.expected[number]
        assert status is not None
        got = (
            status.registration_number,
            status.status,
            status.last_change_at,
            status.department_code,
            status.executor_name,
            status.executor_phone,
            [(h.sequence, h.status, h.at) for h in status.history],
        )
        want = (
            number,
            letter.status,
            letter.status_at,
            letter.department.code if letter.department else None,
            letter.executor.full_name if letter.executor else None,
            letter.executor.phone if letter.executor else None,
            [(h.sequence, h.status, h.at) for h in self.expected_history[number]],
        )
        if got != want:
            self.wrong.append(f"{number}: got {got!r}, want {want!r}")
            return "wrong"
        return "answered"

    async def ask_once(self, index: int) -> str:
        import random

        from gateway.tools.client import build_request

        number = random.Random(index).choice(self._numbers)
        request = build_request(self.settings, number, operator=f"OP{index % 5000:04d}")
        sent = time.monotonic()
        try:
            raw = await self.client.send(
                self.codec.encode_request(request), timeout=self.timeout, key=number.encode()
            )
            outcome = self.check(raw, number)
        except TimeoutError:
            outcome = "timeout"
        except Exception as exc:  # noqa: BLE001 - the requester's own transport failed
            outcome = f"client_error:{type(exc).__name__}"
        self.outcomes.append((sent, time.monotonic(), outcome))
        return outcome

    async def run(self, stop: asyncio.Event, max_seconds: float) -> None:
        """Send at `rate` until `stop` is set or `max_seconds` passed; then await stragglers."""
        tasks: set[asyncio.Task[str]] = set()
        deadline = time.monotonic() + max_seconds
        index = 0
        while not stop.is_set() and time.monotonic() < deadline:
            await self._slots.acquire()
            index += 1
            task = asyncio.create_task(self.ask_once(index))
            task.add_done_callback(lambda _t: self._slots.release())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / self.rate)
        if tasks:
            await asyncio.wait(tasks, timeout=self.timeout + 10)

    async def probe(self, n: int = 30) -> dict[str, int]:
        """n requests for n different letters (so every partition is used), all at once; after
        recovery every one of them must get the right answer."""
        before = len(self.outcomes)
        await asyncio.gather(*(self.ask_once(1_000_000 + i) for i in range(n)))
        counts: dict[str, int] = {}
        for _, _, outcome in self.outcomes[before:]:
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, _, outcome in self.outcomes:
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    def figures(self) -> dict[str, int]:
        counts = self.summary()
        answered = counts.get("answered", 0)
        wrong = counts.get("wrong", 0)
        return {
            "requests_sent": len(self.outcomes),
            "answered": answered,
            "faulted": sum(v for k, v in counts.items() if k.startswith("fault:")),
            "timed_out": sum(
                v for k, v in counts.items() if k == "timeout" or k.startswith("client_error")
            ),
            "wrong_answers": wrong,
        }

    def first_answer_after(self, moment: float) -> float | None:
        answered = [done for sent, done, o in self.outcomes if o == "answered" and sent >= moment]
        return min(answered) if answered else None


def stable_expectations(
    settings: Settings, before: Sequence[DmsEvent], after: Sequence[DmsEvent]
) -> tuple[dict[str, Letter], dict[str, list[HistoryEntry]]]:
    """Letters whose events are all in `before`: their right answer cannot change later."""
    hasher = settings.identifier_hasher()
    later = {e.registration_number for e in after}
    folds: dict[str, LetterFold] = {}
    for event in before:
        number = event.registration_number
        folds.setdefault(number, LetterFold(Letter(number))).apply(event, hasher)
    expected = {n: f.letter for n, f in folds.items() if n not in later and f.letter.status}
    history = {n: [folds[n].history[s] for s in sorted(folds[n].history)] for n in expected}
    return expected, history
