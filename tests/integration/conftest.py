"""Integration fixtures: a fresh store (SQLite file or PostgreSQL database) and fresh topics per
test, on the session's real broker and PostgreSQL server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from gateway.app import Gateway, running
from gateway.kafka import ensure_topics, kafka_connection
from gateway.settings import Settings
from gateway.tools.client import StatusClient
from gateway.xmlcodec.dms import DmsXmlCodec
from tests.support.kafka_io import DmsPublisher

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}"
        return
    async with fresh_postgres_database(request.getfixturevalue("postgres_url")) as url:
        yield url


@contextlib.asynccontextmanager
async def fresh_postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A new database on the session's PostgreSQL server, dropped afterwards."""
    server_url = make_url(postgres_url)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin_dsn = server_url.set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def settings_for(bootstrap: str, database_url: str, **overrides: object) -> Settings:
    """Topics and consumer group unique to one test, so tests never see each other's traffic."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    topics = {
        name: f"{prefix}.{field.default}"
        for name, field in Settings.model_fields.items()
        if name.startswith("topic_") and isinstance(field.default, str)
    }
    values = {
        "kafka_bootstrap_servers": bootstrap,
        "database_url": database_url,
        "consumer_group": f"{prefix}-gateway",
        "topic_partitions": 3,
        "retry_backoff_initial_s": 0.05,
        "retry_backoff_max_s": 0.5,
        "http_host": "127.0.0.1",  # loopback only, and an ephemeral port: gateways run side by side
        "http_port": 0,
        "probe_interval_s": 0.5,
        **topics,
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str) -> Settings:
    return settings_for(kafka_bootstrap, database_url)


@pytest.fixture
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    async with running(settings) as started:
        yield started


@pytest.fixture
async def dms(settings: Settings) -> AsyncIterator[DmsPublisher]:
    """Publishes as the DMS does. Creates the test's topics, so it works before a gateway runs."""
    await ensure_topics(settings, settings.all_topics)
    publisher = DmsPublisher(
        settings, DmsXmlCodec(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    )
    await publisher.start()
    yield publisher
    await publisher.stop()


@pytest.fixture
async def egov_client(settings: Settings, gateway: Gateway) -> AsyncIterator[StatusClient]:
    client = StatusClient(
        kafka_connection(settings), settings.topic_egov_requests, settings.topic_egov_replies
    )
    await client.start()
    yield client
    await client.stop()
