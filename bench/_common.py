"""Shared plumbing of the benchmarks (not a test): real services, fresh databases, topics.

Everything started here is stopped again by the caller's `Services.close()` unless the user
asked to keep it (`--keep-services`), in which case the command to reuse it is printed.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.services import LocalKafka, LocalPostgres  # noqa: E402


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
            print(f"  stop them: bash deploy/kafka/kafka.sh stop {self._dir() / 'kafka'}; "
                  f"bash deploy/postgres/pg.sh stop {self._dir() / 'postgres'}")
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
