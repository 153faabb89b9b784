"""Who looked at my letter, over the real broker and store: the applicant sees the call
center's and the console's lookups of their letter; a stranger gets the NOT_FOUND of a number
that is not there."""

from __future__ import annotations

from gateway.app import Gateway
from gateway.domain.access_log import AccessChannel
from gateway.domain.console import ConsoleRole, Principal
from gateway.domain.requests import Fault, FaultView, Query
from gateway.kafka import kafka_connection
from gateway.settings import Settings
from gateway.tools.client import StatusClient
from tests.integration.test_status_requests import _ask, _letter_in_store
from tests.support.kafka_io import DmsPublisher


async def test_the_applicant_sees_the_call_center_lookups_and_a_stranger_gets_not_found(
    gateway: Gateway, dms: DmsPublisher, egov_client: StatusClient, settings: Settings
):
    registered = await _letter_in_store(gateway, dms, 21)
    number, applicant = registered.registration_number, registered.applicant.identifier
    call_center = StatusClient(
        kafka_connection(settings),
        settings.topic_callcenter_requests,
        settings.topic_callcenter_replies,
    )
    await call_center.start()
    try:
        for operator in ("OP-0318", "OP-0425"):
            assert (await _ask(gateway, call_center, number, operator=operator)).status
    finally:
        await call_center.stop()
    operator = Principal("OP-0530", frozenset({ConsoleRole.OPERATOR}))
    assert not isinstance(await gateway.console_lookups.lookup(operator, number), FaultView)
    assert (await _ask(gateway, egov_client, number, user=applicant)).status  # their own look

    mine = await _ask(gateway, egov_client, number, user=applicant, query=Query.ACCESS_LOG)
    assert mine.access_log is not None and mine.access_log.registration_number == number
    accesses = mine.access_log.accesses
    # own lookup left out; newest first
    expected = [AccessChannel.CONSOLE, AccessChannel.CALL_CENTER, AccessChannel.CALL_CENTER]
    assert [a.channel for a in accesses] == expected
    assert accesses[0].at >= accesses[1].at >= accesses[2].at
    officials = {a.official for a in accesses}
    assert len(officials) == 3 and not officials & {"OP-0318", "OP-0425", "OP-0530"}  # masked

    stranger = await _ask(gateway, egov_client, number, user="9ZZZZZZ", query=Query.ACCESS_LOG)
    nothing = await _ask(
        gateway, egov_client, "DGK-2026-999999", user="9ZZZZZZ", query=Query.ACCESS_LOG
    )
    assert stranger.fault is not None and stranger.fault.code is Fault.NOT_FOUND
    assert stranger.fault == nothing.fault and stranger.access_log is None
