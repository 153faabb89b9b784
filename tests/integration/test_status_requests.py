"""Status requests over the real broker: replies, every fault, access rules, audit, redelivery."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from gateway.app import Gateway
from gateway.domain.letters import LetterRegistered
from gateway.domain.requests import Fault
from gateway.kafka import kafka_connection
from gateway.settings import Settings
from gateway.store.tables import request_audit
from gateway.tools.client import StatusClient, build_request
from gateway.tools.simulator import letter_events, registration_number
from gateway.xmlcodec.egov import StatusReply
from tests.support.kafka_io import DmsPublisher, read_topic
from tests.support.store_snapshot import count
from tests.support.waiting import eventually

TIMEOUT = 20.0


async def _letter_in_store(gateway: Gateway, dms: DmsPublisher, index: int) -> LetterRegistered:
    events = letter_events(index, random.Random(index))
    await dms.publish(events)
    await eventually(lambda: count(gateway.engine), lambda n: n >= len(events))
    registered = events[0]
    assert isinstance(registered, LetterRegistered)
    return registered


async def _ask(gateway: Gateway, via: StatusClient, number: str, **who: object) -> StatusReply:
    request = build_request(gateway.settings, number, **who)  # type: ignore[arg-type]
    raw = gateway.status_codec.encode_request(request)
    return gateway.status_codec.decode_reply(await via.send(raw, timeout=TIMEOUT))


async def audit_rows(gateway: Gateway) -> list[dict]:
    async with gateway.engine.connect() as connection:
        rows = await connection.execute(select(request_audit).order_by(request_audit.c.id))
        return [dict(r) for r in rows.mappings()]


async def test_the_applicant_gets_department_executor_phone_and_status(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    """The walking skeleton: one DMS registration in, one status reply out, over real Kafka."""
    registered = await _letter_in_store(gateway, dms, 7)
    reply = await _ask(
        gateway, egov_client, registered.registration_number, user=registered.applicant.identifier
    )
    assert reply.fault is None and reply.status is not None
    status = reply.status
    assert status.registration_number == registered.registration_number
    assert status.department_name and status.executor_name and status.executor_phone
    assert status.history[0].sequence == 1
    assert reply.header is not None and reply.header.user_id == registered.applicant.identifier


async def test_input_is_normalised_before_it_is_checked(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    registered = await _letter_in_store(gateway, dms, 8)
    sloppy = f"  {registered.registration_number.lower()} "
    reply = await _ask(gateway, egov_client, sloppy, user=registered.applicant.identifier)
    assert reply.status is not None


@pytest.mark.parametrize(
    ("number", "fault"),
    [
        ("", Fault.MISSING_REGISTRATION_NUMBER),
        ("   ", Fault.MISSING_REGISTRATION_NUMBER),
        ("12345", Fault.MALFORMED_REGISTRATION_NUMBER),
        ("DGK-2026-99999999999", Fault.MALFORMED_REGISTRATION_NUMBER),
    ],
)
async def test_a_missing_or_malformed_number_is_refused_with_its_own_fault(
    gateway: Gateway, egov_client: StatusClient, number: str, fault: Fault
):
    reply = await _ask(gateway, egov_client, number, user="5ZK3R8P")
    assert reply.fault is not None and reply.fault.code is fault


async def test_someone_elses_letter_looks_exactly_like_a_missing_one(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    registered = await _letter_in_store(gateway, dms, 9)
    stranger = await _ask(gateway, egov_client, registered.registration_number, user="7XXXXXX")
    absent = await _ask(gateway, egov_client, registration_number(999_999), user="7XXXXXX")
    assert stranger.fault is not None and absent.fault is not None
    assert (stranger.fault.code, stranger.fault.message, stranger.fault.detail) == (
        absent.fault.code,
        absent.fault.message,
        absent.fault.detail,
    )
    assert stranger.fault.code is Fault.NOT_FOUND


async def test_the_call_center_sees_any_letter_and_its_operator_is_audited(
    gateway: Gateway, dms: DmsPublisher, settings: Settings
):
    registered = await _letter_in_store(gateway, dms, 10)
    client = StatusClient(
        kafka_connection(settings),
        settings.topic_callcenter_requests,
        settings.topic_callcenter_replies,
    )
    await client.start()
    try:
        reply = await _ask(gateway, client, registered.registration_number, operator="OP-0318")
    finally:
        await client.stop()
    assert reply.status is not None
    assert (await audit_rows(gateway))[-1]["operator_id"] == "OP-0318"


async def test_an_unknown_client_is_refused(gateway: Gateway, egov_client: StatusClient):
    reply = await _ask(
        gateway, egov_client, registration_number(1), user="5ZK3R8P", client="AZ/GOV/somebody-else"
    )
    assert reply.fault is not None and reply.fault.code is Fault.ACCESS_DENIED


async def test_an_invalid_request_gets_a_schema_fault_with_the_error_path(
    gateway: Gateway, egov_client: StatusClient
):
    bad = (
        b'<StatusRequest xmlns="urn:az:customs:appeals:status:v1"><header>'
        b"<client>AZ/GOV/egov-portal</client></header><body/></StatusRequest>"
    )
    reply = gateway.status_codec.decode_reply(await egov_client.send(bad, timeout=TIMEOUT))
    assert reply.fault is not None and reply.fault.code is Fault.INVALID_REQUEST
    assert reply.fault.detail and "header" in reply.fault.detail


async def test_an_unsupported_version_is_refused(gateway: Gateway, egov_client: StatusClient):
    v2 = b'<StatusRequest xmlns="urn:az:customs:appeals:status:v2"><header/><body/></StatusRequest>'
    reply = gateway.status_codec.decode_reply(await egov_client.send(v2, timeout=TIMEOUT))
    assert reply.fault is not None and reply.fault.code is Fault.UNSUPPORTED_VERSION


async def test_a_reply_to_outside_the_allow_list_is_never_published_and_is_audited(
    gateway: Gateway, settings: Settings, egov_client: StatusClient
):
    target = settings.topic_dms_registrations
    before = len(await read_topic(settings, target))
    request = build_request(settings, registration_number(1), user="5ZK3R8P")
    raw = gateway.status_codec.encode_request(request)
    with pytest.raises(TimeoutError):
        await egov_client.send(raw, timeout=3.0, reply_to=target)
    rows = await eventually(lambda: audit_rows(gateway), lambda r: len(r) == 1)
    assert rows[0]["outcome"] == "REPLY_TOPIC_REFUSED" and rows[0]["reply_topic"] == target
    assert len(await read_topic(settings, target)) == before


async def test_a_redelivered_request_gets_the_very_same_reply(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    registered = await _letter_in_store(gateway, dms, 11)
    request = build_request(
        gateway.settings,
        registered.registration_number,
        user=registered.applicant.identifier,
        message_id=str(uuid.uuid4()),
    )
    raw = gateway.status_codec.encode_request(request)
    first = await egov_client.send(raw, timeout=TIMEOUT)
    second = await egov_client.send(raw, timeout=TIMEOUT)
    assert first == second
    assert len(await audit_rows(gateway)) == 1


async def test_requests_over_the_per_user_limit_are_rate_limited(
    kafka_bootstrap: str, database_url: str
):
    from gateway.app import running
    from tests.integration.conftest import settings_for

    settings = settings_for(kafka_bootstrap, database_url, rate_limit_per_user_per_minute=6)
    async with running(settings) as gateway:
        client = StatusClient(
            kafka_connection(settings), settings.topic_egov_requests, settings.topic_egov_replies
        )
        await client.start()
        try:
            replies = [
                await _ask(gateway, client, registration_number(1), user="5ZK3R8P")
                for _ in range(3)
            ]
        finally:
            await client.stop()
    codes = [r.fault.code for r in replies if r.fault]
    assert codes[0] is Fault.NOT_FOUND and Fault.RATE_LIMITED in codes


async def test_every_request_leaves_exactly_one_audit_row_whatever_its_outcome(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    registered = await _letter_in_store(gateway, dms, 12)
    owner = registered.applicant.identifier
    asks = [
        (registered.registration_number, owner),
        ("", owner),
        ("bad", owner),
        (registration_number(888_888), owner),
        (registered.registration_number, "1AAAAAA"),
    ]
    replies = await asyncio.gather(*(_ask(gateway, egov_client, n, user=u) for n, u in asks))
    rows = await eventually(lambda: audit_rows(gateway), lambda r: len(r) >= len(asks))
    assert len(rows) == len(asks)
    outcomes = sorted(r["outcome"] for r in rows)
    expected = sorted((r.fault.code.value if r.fault else "ANSWERED") for r in replies)
    assert outcomes == expected
    assert all(r["request_hash"] and r["reply_hash"] for r in rows)
    assert all(owner not in str(r.values()) for r in rows), "end user ids are stored hashed"


async def test_an_online_registration_gets_exactly_one_acceptance_notice(
    gateway: Gateway, dms: DmsPublisher, settings: Settings
):
    online = next(
        e
        for i in range(1, 200)
        for e in letter_events(i, random.Random(i))[:1]
        if isinstance(e, LetterRegistered) and e.channel.value == "egov-portal"
    )
    await dms.publish([online, online])
    notices = await eventually(
        lambda: read_topic(settings, settings.topic_acceptance_notices),
        lambda found: len(found) >= 1,
    )
    await asyncio.sleep(1.0)  # give a wrong second notice the chance to appear
    notices = await read_topic(settings, settings.topic_acceptance_notices)
    assert len(notices) == 1
    decoded = gateway.status_codec.decode_notice(notices[0].value)
    assert decoded.registration_number == online.registration_number
    assert decoded.user_id == online.applicant.identifier


async def test_after_postgresql_drops_the_gateway_s_connections_the_next_request_is_answered(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient, database_url: str
):
    """As after a database restart: the pooled connections are dead, and the pool does not
    ping them before use. The request is retried at once on a fresh connection."""
    if not database_url.startswith("postgresql"):
        pytest.skip("connections are dropped by PostgreSQL's pg_terminate_backend")
    registered = await _letter_in_store(gateway, dms, 12)
    user = registered.applicant.identifier
    assert (await _ask(gateway, egov_client, registered.registration_number, user=user)).status
    url = make_url(database_url)
    admin = await asyncpg.connect(
        url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    )
    try:
        dropped = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            url.database,
        )
    finally:
        await admin.close()
    assert dropped >= 1
    reply = await _ask(gateway, egov_client, registered.registration_number, user=user)
    assert reply.fault is None and reply.status is not None
    outcomes = [row["outcome"] for row in await audit_rows(gateway)]
    assert outcomes == ["ANSWERED", "ANSWERED"]


async def test_a_user_signed_in_without_an_enhanced_signature_is_refused_audited_and_counted(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient
):
    """Regulation 3.1, on the real broker: the letter is the user's own, the number is right,
    and still a password sign-in gets AUTH_LEVEL_NOT_ACCEPTED, not the status."""
    registered = await _letter_in_store(gateway, dms, 11)
    request = build_request(
        gateway.settings, registered.registration_number, user=registered.applicant.identifier
    )
    password = dataclasses.replace(
        request, header=dataclasses.replace(request.header, auth_level="password")
    )
    raw = await egov_client.send(gateway.status_codec.encode_request(password), timeout=TIMEOUT)
    reply = gateway.status_codec.decode_reply(raw)
    assert reply.status is None and reply.fault is not None
    assert reply.fault.code is Fault.AUTH_LEVEL_NOT_ACCEPTED
    assert (await audit_rows(gateway))[-1]["outcome"] == "AUTH_LEVEL_NOT_ACCEPTED"

    async def counted() -> float | None:  # counted once the reply is out, a moment after
        return gateway.metrics.value(
            "gateway_status_requests_total",
            channel=gateway.settings.topic_egov_requests,
            client="AZ/GOV/egov-portal",
            outcome="AUTH_LEVEL_NOT_ACCEPTED",
        )

    assert await eventually(counted, lambda n: n is not None and n >= 1, timeout=10) == 1
    signed = await _ask(
        gateway, egov_client, registered.registration_number, user=registered.applicant.identifier
    )
    assert signed.status is not None  # the same request with an enhanced signature is answered


async def test_a_reply_to_a_malformed_number_is_not_keyed_by_it(
    gateway: Gateway, egov_client: StatusClient, settings: Settings
):
    reply = await _ask(gateway, egov_client, "DGK/2026/7;DROP", user="5ZK3R8P")
    assert reply.fault is not None and reply.fault.code is Fault.MALFORMED_REGISTRATION_NUMBER
    [record] = await read_topic(settings, settings.topic_egov_replies)
    assert record.key is None
