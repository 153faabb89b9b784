"""A broker and a PostgreSQL server of the fault suite's own: the scenarios stop and restart
them, so the session's shared services (used by every other test) are never touched."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import LocalKafka, LocalPostgres, started


@dataclass
class ChaosServices:
    kafka: LocalKafka
    postgres: LocalPostgres
    postgres_url: str


@pytest.fixture(scope="package")
def chaos_services() -> Iterator[ChaosServices]:
    with tempfile.TemporaryDirectory(prefix="gateway-chaos-") as directory:
        os.chmod(directory, 0o755)  # PostgreSQL runs as its own user when we are root
        root = Path(directory)
        with (
            started(LocalKafka(root / "kafka")) as kafka,
            started(LocalPostgres(root / "postgres")) as postgres,
        ):
            yield ChaosServices(kafka, postgres, postgres.url)
