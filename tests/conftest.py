"""Session-wide real services. Unit tests never touch them; integration tests ask for them.

Set GATEWAY_TEST_KAFKA_BOOTSTRAP or GATEWAY_TEST_POSTGRES_URL to use services you run yourself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.services import LocalKafka, LocalPostgres, started


@pytest.fixture(scope="session")
def service_root() -> Iterator[Path]:
    # Under /tmp: PostgreSQL runs as its own user and must be able to reach its directory.
    with tempfile.TemporaryDirectory(prefix="gateway-test-") as directory:
        os.chmod(directory, 0o755)
        yield Path(directory)


@pytest.fixture(scope="session")
def kafka(service_root: Path) -> Iterator[LocalKafka | str]:
    if external := os.environ.get("GATEWAY_TEST_KAFKA_BOOTSTRAP"):
        yield external
        return
    with started(LocalKafka(service_root / "kafka")) as broker:
        yield broker


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka: LocalKafka | str) -> str:
    return kafka if isinstance(kafka, str) else kafka.bootstrap


@pytest.fixture(scope="session")
def postgres_url(service_root: Path) -> Iterator[str]:
    if external := os.environ.get("GATEWAY_TEST_POSTGRES_URL"):
        yield external
        return
    with started(LocalPostgres(service_root / "postgres")) as server:
        yield server.url
