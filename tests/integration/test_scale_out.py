"""Scale-out under a crash: three `python -m gateway run` processes in one consumer group on
six-partition topics, the real broker and PostgreSQL. DMS events and status requests flow through
them; one process is SIGKILLed mid-load. Afterwards the store equals the reference fold (every
event applied once in effect), every request has an answer, the answer is the one stored for its
message id (retries with the same message id get the very same bytes), and each request is
audited exactly once.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from gateway.app import Gateway
from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import ApplicantKind
from gateway.kafka import ensure_topics, kafka_connection
from gateway.settings import Settings
from gateway.store.sql import create_engine
from gateway.store.tables import request_audit, sent_replies
from gateway.tools.client import StatusClient, build_request
from gateway.tools.simulator import applicant_for, generate_events
from gateway.xmlcodec.dms import DmsXmlCodec
from gateway.xmlcodec.egov import EgovXmlCodec
from tests.integration.conftest import settings_for
from tests.integration.test_dms_ingestion import reference
from tests.support.kafka_io import DmsPublisher
from tests.support.processes import GatewayProcess, environment, free_port
from tests.support.store_snapshot import count, letters_by_number
from tests.support.waiting import eventually

LETTERS = 360
ASKED = 90  # letters 1..ASKED are stored before the load starts; their status is asked for
ATTEMPT_TIMEOUT_S = 4.0
TEST_BUDGET_S = 90.0


@pytest.fixture
async def pg_url(postgres_url: str) -> AsyncIterator[str]:
    server = make_url(postgres_url)
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(
        server.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _hasher_holder(settings: Settings) -> Gateway:
    """reference() needs only the gateway's hasher."""
    key = settings.identifier_hash_key.get_secret_value().encode()
    return SimpleNamespace(hasher=IdentifierHasher(key))  # type: ignore[return-value]


def _number_index(number: str) -> int:
    return int(number.rsplit("-", 1)[1])


async def _ask_until_answered(
    client: StatusClient, codec: EgovXmlCodec, settings: Settings, index: int, number: str
) -> tuple[str, bytes, int]:
    """Ask once; on timeout ask again with the very same bytes (same message id)."""
    applicant = applicant_for(index)
    request = build_request(
        settings,
        number,
        user=applicant.identifier,
        company=applicant.kind is ApplicantKind.COMPANY,
        client="AZ/GOV/egov-portal",
        message_id=str(uuid.uuid4()),
    )
    raw = codec.encode_request(request)
    attempts = 0
    while True:
        attempts += 1
        try:
            reply = await client.send(raw, timeout=ATTEMPT_TIMEOUT_S, key=number.encode())
            return request.header.message_id, reply, attempts
        except TimeoutError:
            continue


async def test_three_replicas_one_killed_mid_load_lose_nothing_and_answer_everything(
    kafka_bootstrap: str, pg_url: str, tmp_path: Path
):
    started = time.monotonic()
    settings = settings_for(
        kafka_bootstrap,
        pg_url,
        topic_partitions=6,
        ingest_batch_max_records=25,
        shutdown_timeout_s=10.0,
        rate_limit_per_user_per_minute=600,
    )
    await ensure_topics(settings, settings.all_topics)
    processes = [
        GatewayProcess(environment(settings, http_port=free_port()), tmp_path / f"gw{i}.log")
        for i in range(3)
    ]
    events = list(generate_events(LETTERS, seed=77, disorder=0.3))
    before = [e for e in events if _number_index(e.registration_number) <= ASKED]
    load = [e for e in events if _number_index(e.registration_number) > ASKED]
    random.Random(5).shuffle(load)  # across letters too: any order, duplicates included
    engine = create_engine(pg_url)
    dms = DmsPublisher(settings, DmsXmlCodec())
    codec = EgovXmlCodec()
    client = StatusClient(
        kafka_connection(settings), settings.topic_egov_requests, settings.topic_egov_replies
    )
    try:
        for process in processes:
            process.start()
        await asyncio.gather(*(p.ready() for p in processes))
        await dms.start()
        await client.start()

        await dms.publish(before)
        unique_before = len({e.event_id for e in before})
        await eventually(lambda: count(engine), lambda n: n == unique_before, timeout=30)

        # The load: events in slices, requests from ten concurrent askers, a kill in the middle.
        victim = processes[0]
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(1, ASKED + 1):
            queue.put_nowait(index)
        answers: dict[int, tuple[str, bytes, int]] = {}

        async def asker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                number = f"DGK-2026-{index:06d}"
                answers[index] = await _ask_until_answered(client, codec, settings, index, number)
                await asyncio.sleep(0.05)

        async def publisher() -> None:
            slices = [load[i : i + 100] for i in range(0, len(load), 100)]
            for number, chunk in enumerate(slices):
                await dms.publish(chunk)
                if number == len(slices) // 3:
                    victim.signal(signal.SIGKILL)  # mid-load, no warning, nothing flushed
                await asyncio.sleep(0.2)

        askers = [asyncio.create_task(asker()) for _ in range(10)]
        await asyncio.sleep(0.5)  # some requests in flight before the kill
        await publisher()
        assert await victim.wait(5) == -signal.SIGKILL
        await asyncio.wait_for(
            asyncio.gather(*askers), TEST_BUDGET_S - (time.monotonic() - started)
        )

        unique = len({e.event_id for e in events})
        await eventually(lambda: count(engine), lambda n: n == unique, timeout=45)
        expected = reference(_hasher_holder(settings), events)
        assert await letters_by_number(engine) == expected

        # Every request answered; the answer is the one stored for its message id, which a
        # retry got again byte for byte; each request audited exactly once.
        assert sorted(answers) == list(range(1, ASKED + 1))
        async with engine.connect() as conn:
            stored = dict(
                (await conn.execute(select(sent_replies.c.message_id, sent_replies.c.reply))).all()
            )
            audited = dict(
                (
                    await conn.execute(
                        select(request_audit.c.message_id, func.count()).group_by(
                            request_audit.c.message_id
                        )
                    )
                ).all()
            )
        retried = 0
        for index, (message_id, reply, attempts) in answers.items():
            retried += attempts > 1
            assert stored[message_id] == reply, f"letter {index}: reply differs from stored one"
            assert audited[message_id] == 1, f"letter {index}: audited {audited[message_id]}x"
            decoded = codec.decode_reply(reply)
            assert decoded.fault is None, f"letter {index}: {decoded.fault}"
            number = f"DGK-2026-{index:06d}"
            assert decoded.status is not None
            assert decoded.status.status == expected[number].status
        print(
            f"\nscale-out: {len(events)} events ({unique} unique), {ASKED} requests "
            f"({retried} needed a retry), {time.monotonic() - started:.1f} s"
        )
        for process in processes[1:]:
            process.signal(signal.SIGTERM)
        for process in processes[1:]:
            assert await process.wait(15) == 0, process.log()
        assert time.monotonic() - started < TEST_BUDGET_S
    finally:
        for process in processes:
            process.kill()
        await client.stop()
        await dms.stop()
        await engine.dispose()
