"""The real Kafka broker and PostgreSQL for the test session, started by the project's own
scripts in deploy/ and always stopped at the end."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TypeVar

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"
PG_SCRIPT = ROOT / "deploy" / "postgres" / "pg.sh"


def free_port_pair() -> int:
    """A free port whose successor is free too (the broker's controller listens on port + 1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def _script(script: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


class _Service(Protocol):
    def start(self) -> str: ...
    def stop(self) -> None: ...


S = TypeVar("S", bound=_Service)


@contextlib.contextmanager
def started(service: S) -> Iterator[S]:
    """The service started for the block and stopped after it, also when starting failed
    half-way (a process may already be up)."""
    try:
        service.start()
        yield service
    finally:
        service.stop()


class LocalKafka:
    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        *,
        extra_properties: Path | None = None,
        format_args: str = "",
    ) -> None:
        """`extra_properties` and `format_args` (e.g. SCRAM users) configure a secured broker."""
        self.directory, self.port = directory, port or free_port_pair()
        self._extra = [str(extra_properties)] if extra_properties else []
        self._env = {"KAFKA_FORMAT_ARGS": format_args} if format_args else {}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> str:
        _script(
            KAFKA_SCRIPT, "start", str(self.directory), str(self.port), *self._extra, env=self._env
        )
        return self.bootstrap

    def stop(self) -> None:
        _script(KAFKA_SCRIPT, "stop", str(self.directory))


class LocalPostgres:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory, self.port = directory, port or free_port_pair()
        self.url = ""

    def start(self) -> str:
        self.url = _script(PG_SCRIPT, "start", str(self.directory), str(self.port)).splitlines()[-1]
        return self.url

    def stop(self) -> None:
        _script(PG_SCRIPT, "stop", str(self.directory))
