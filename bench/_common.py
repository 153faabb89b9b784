"""Shared plumbing of the benchmarks (not a test): real services, fresh databases, topics.

Everything started here is stopped again by the caller's `Services.close()` unless the user
asked to keep it (`--keep-services`), in which case the command to reuse it is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TypeVar

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gateway.settings import Settings  # noqa: E402
from tests.support.services import LocalKafka, LocalPostgres  # noqa: E402

T = TypeVar("T")


def add_service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="use this running Kafka broker (host:port)")
    parser.add_argument(
        "--database-url",
        help="use this PostgreSQL server (a fresh database is created on it and dropped), "
        "or 'sqlite' for a throw-away SQLite file",
    )
    parser.add_argument(
        "--keep-services",
        action="store_true",
        help="leave the broker/PostgreSQL this run starts running, and print how to reuse them",
    )


def command_line() -> str:
    return " ".join(shlex.quote(a) for a in [".venv/bin/python", *sys.argv])


class Services:
    """The broker and the PostgreSQL server: given on the command line, or started here."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._args = args
        self._started: list[LocalKafka | LocalPostgres] = []
        self._directory: Path | None = None
        self.bootstrap = ""
        self.server_url = ""  # PostgreSQL server URL (database "gateway"), or "sqlite"

    def _dir(self) -> Path:
        if self._directory is None:
            self._directory = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
            os.chmod(self._directory, 0o755)  # PostgreSQL runs as its own user when we are root
        return self._directory

    def start(self) -> None:
        if self._args.bootstrap:
            self.bootstrap = self._args.bootstrap
        else:
            kafka = LocalKafka(self._dir() / "kafka")
            self._started.append(kafka)
            print(f"starting a Kafka broker in {self._dir() / 'kafka'} ...", flush=True)
            self.bootstrap = kafka.start()
        url = self._args.database_url
        if url and url.startswith("sqlite"):
            self.server_url = "sqlite"
        elif url:
            self.server_url = url
        else:
            postgres = LocalPostgres(self._dir() / "postgres")
            self._started.append(postgres)
            print(f"starting PostgreSQL in {self._dir() / 'postgres'} ...", flush=True)
            self.server_url = postgres.start()

    def close(self) -> None:
        if self._args.keep_services and self._started:
            print("services left running; reuse them with:")
            print(f"  --bootstrap {self.bootstrap} --database-url '{self.server_url}'")
            print(
                f"  stop them: bash deploy/kafka/kafka.sh stop {self._dir() / 'kafka'}; "
                f"bash deploy/postgres/pg.sh stop {self._dir() / 'postgres'}"
            )
            return
        errors = []
        for service in reversed(self._started):
            try:
                service.stop()
            except Exception as error:  # stop the others anyway
                errors.append(error)
        self._started.clear()
        if errors:
            raise errors[0]


async def fresh_database(stack: AsyncExitStack, server_url: str) -> str:
    """A new, empty database, dropped when the stack closes. 'sqlite': a temporary file."""
    if server_url == "sqlite":
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="gateway-bench-db-"))
        return f"sqlite+aiosqlite:///{directory}/gateway.db"
    server = make_url(server_url)
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin_dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')

    async def drop() -> None:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    stack.push_async_callback(drop)
    return server.set(database=name).render_as_string(hide_password=False)


async def delete_topics(bootstrap: str, topics: Sequence[str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(topics))
    except Exception as error:  # best effort: the topics are uniquely named anyway
        print(f"(could not delete bench topics: {error})")
    finally:
        await admin.close()


def fsync_latency(seconds: float = 5.0) -> str:
    """This filesystem's fdatasync latency (8 KiB writes, as a WAL flush): every durable
    commit waits for one, so its tail bounds the tail of anything that commits."""
    samples: list[float] = []
    with tempfile.NamedTemporaryFile(prefix="gateway-bench-fsync-") as handle:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            os.pwrite(handle.fileno(), b"\0" * 8192, 0)
            started = time.perf_counter()
            os.fdatasync(handle.fileno())
            samples.append((time.perf_counter() - started) * 1000)
            time.sleep(0.002)
    samples.sort()
    n = len(samples)
    return (
        f"disk fdatasync over {seconds:.0f} s ({n} syncs): p50 {samples[n // 2]:.2f} ms, "
        f"p99 {samples[int(n * 0.99)]:.2f} ms, p99.9 {samples[int(n * 0.999)]:.1f} ms, "
        f"max {samples[-1]:.1f} ms, {sum(s > 25 for s in samples)} over 25 ms"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- watching a responder process: CPU, memory, where its time goes ----------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def require_loopback(bootstrap: str, server_url: str) -> None:
    """Load stays on this machine: refuse a broker or database elsewhere."""
    hosts = {bootstrap.rsplit(":", 1)[0].strip("[]")}
    if server_url != "sqlite":
        hosts.add(make_url(server_url).host or "localhost")
    if not hosts <= LOOPBACK:
        raise SystemExit(f"benchmarks run on loopback only, not against {sorted(hosts - LOOPBACK)}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakRss:
    """Samples a process's resident memory every 100 ms while in `async with`; `.peak` in MB."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(0.1)

    async def __aenter__(self) -> PeakRss:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(OSError):
            self.peak = max(self.peak, rss_mb(self.pid))


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


class Profile:
    """py-spy (sampling from outside, so the responder runs unmodified) attached to a process
    while in `async with`: `.summary()` lists the functions with the most self time. With
    `idle`, samples of a thread that waits count too (py-spy --idle): the event loop's wait in
    select() then shows how much of the wall time the process had nothing to run."""

    RATE = 200  # samples per second

    def __init__(
        self, pid: int, limit_s: float, *, enabled: bool = True, idle: bool = False
    ) -> None:
        self.pid, self.limit_s, self.idle = pid, limit_s, idle
        self._out = Path(tempfile.mkdtemp(prefix="gateway-bench-profile-")) / "stacks.txt"
        self._process: asyncio.subprocess.Process | None = None
        self._started = 0.0
        self._cpu = 0.0
        self.seconds = 0.0
        self.cpu = 0.0
        self.error = "" if py_spy() else "py-spy not installed (pip install py-spy)"
        if not enabled:
            self.error = "not profiled"

    async def __aenter__(self) -> Profile:
        if not self.error:
            self._process = await asyncio.create_subprocess_exec(
                py_spy() or "py-spy",
                "record",
                "--pid",
                str(self.pid),
                "--nonblocking",
                "--function",
                "--format",
                "raw",
                "--rate",
                str(self.RATE),
                "--duration",
                str(int(self.limit_s)),
                "--output",
                str(self._out),
                *(["--idle"] if self.idle else []),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        self._started, self._cpu = time.perf_counter(), cpu_seconds(self.pid)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._started
        self.cpu = cpu_seconds(self.pid) - self._cpu
        if self._process is None:
            return
        self._process.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
        try:
            _, stderr = await asyncio.wait_for(self._process.communicate(), 30)
        except TimeoutError:
            self._process.kill()
            self.error = "py-spy did not finish"
            return
        if not self._out.exists():
            self.error = f"py-spy failed: {stderr.decode(errors='replace').strip()[-300:]}"

    def summary(self, top: int = 25) -> str:
        header = (
            f"CPU profile of pid {self.pid} (py-spy, {self.seconds:.0f} s, process CPU "
            f"{self.cpu:.1f} s = {100 * self.cpu / max(self.seconds, 1e-9):.0f}% of a core)"
        )
        if self.error:
            return f"{header}: {self.error}"
        own: collections.Counter[str] = collections.Counter()
        areas: collections.Counter[str] = collections.Counter()
        for line in self._out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            leaf = stack.rsplit(";", 1)[-1]
            own[leaf] += int(count)
            areas[_area(stack)] += int(count)
        total = sum(own.values()) or 1
        kind = "samples, idle ones included" if self.idle else "busy samples"
        lines = [
            header,
            f"  {total} {kind}; by area (where the stack is, innermost "
            "package of ours or a library):",
        ]
        lines += [f"    {100 * n / total:5.1f}%  {area}" for area, n in areas.most_common(12)]
        lines.append(f"  top {top} functions by self time (raw stacks: {self._out}):")
        lines += [f"    {100 * n / total:5.1f}%  {_short(f)}" for f, n in own.most_common(top)]
        return "\n".join(lines)


_AREAS = {  # top package of a frame's file (as py-spy shortens it) -> area
    "sqlalchemy": "SQLAlchemy",
    "asyncpg": "asyncpg",
    "aiokafka": "aiokafka",
    "faststream": "FastStream",
    "lxml": "lxml",
    "xmlschema": "xmlschema",
    "consumers": "gateway consumers",
    "producers": "gateway producers",
    "asyncio": "asyncio event loop",
    "selectors.py": "asyncio event loop",
}


def _area(stack: str) -> str:
    """The innermost frame in a known package names the area (so stdlib helpers such as
    uuid or copy count for whoever called them)."""
    for frame in reversed(stack.split(";")):
        parts = frame.rpartition(" (")[2].split(":")[0].split("/")
        if parts[0] == "gateway" and len(parts) > 2:
            return f"gateway {parts[1]}"
        if parts[0] == "gateway":
            return "gateway (top level)"
        if parts[0] in _AREAS:
            return _AREAS[parts[0]]
    return "other"


def _short(frame: str) -> str:
    """'name (path/to/file.py:12)' -> 'name (to/file.py:12)'."""
    name, _, where = frame.partition(" (")
    parts = where.rstrip(")").split("/")
    return f"{name} ({'/'.join(parts[-2:])})"


# --- responder processes ---------------------------------------------------------------------


LOGS = Path(tempfile.gettempdir()) / "gateway-bench-logs"


async def start_process(script: str, flag: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """`python script flag` with env added; waits (bounded) for it to print READY. Its log
    (stderr: the gateway's JSON lines at INFO, as `gateway run` writes them) goes to a file
    under LOGS."""
    LOGS.mkdir(exist_ok=True)
    log = LOGS / f"{Path(script).stem}{flag}-{time.strftime('%H%M%S')}.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, script, flag],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 120)
    except TimeoutError:
        line = ""
    if line.strip() != "READY":
        stop_process(process)
        raise RuntimeError(f"{script} {flag} did not start")
    return process


def stop_process(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def bounded(awaitable: Awaitable[T], limit_s: float, what: str) -> T:
    """Every phase of a benchmark ends: a phase that overruns its limit stops the run."""
    try:
        return await asyncio.wait_for(awaitable, limit_s)
    except TimeoutError:
        raise TimeoutError(f"{what} did not finish within {limit_s:.0f} s") from None


def settings_env(settings: Settings, *keys: str) -> dict[str, str]:
    """GATEWAY_* variables that give a responder process the benchmark's broker, database,
    topics and group, plus the named settings."""
    values = settings.model_dump(mode="json")
    names = ("kafka_bootstrap_servers", "database_url", "consumer_group", "topic_partitions", *keys)
    env = {f"GATEWAY_{k.upper()}": str(values[k]) for k in names}
    env.update(
        {
            f"GATEWAY_{k.upper()}": v
            for k, v in values.items()
            if k.startswith("topic_") and isinstance(v, str)
        }
    )
    env["GATEWAY_HTTP_PORT"] = "0"  # if this tree's gateway has an HTTP server: any free port
    return env
