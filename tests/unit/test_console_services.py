"""The console's use cases on the in-memory store: a lookup is an audited status request on
the console channel; department heads see their departments only; roles gate every page."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from console.lookup_codec import JsonLookupCodec
from gateway.domain.access_log import AccessChannel, AccessLogPolicy, AccessSource, OfficialIds
from gateway.domain.console import ConsoleRole, Principal
from gateway.domain.identity import IdentifierHasher
from gateway.domain.rate_limit import RateLimiter
from gateway.domain.requests import Fault, FaultView, StatusView
from gateway.services.audited_requests import AuditedRequestHandler
from gateway.services.console import ConsoleLookups, Oversight, Refused
from gateway.services.ingestion import ingest_events
from gateway.services.status_requests import RateLimits, StatusRequests
from gateway.settings import Settings
from gateway.tools.simulator import letter_events, registration_number
from tests.support.deadlines import shipped_deadlines
from tests.support.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
settings = Settings()
codec = JsonLookupCodec()
OPERATOR = Principal("op7", frozenset({ConsoleRole.OPERATOR}))
AUDITOR = Principal("aud", frozenset({ConsoleRole.AUDITOR}))


def lookups(store: FakeStore, per_minute: int = 600) -> ConsoleLookups:
    channel = settings.console_channel()
    kind = StatusRequests(
        {channel.request_topic: channel},
        codec,
        settings.registration_number_pattern,
        IdentifierHasher(b"unit"),
        RateLimits(RateLimiter(per_minute / 60, max(1, per_minute / 6)), RateLimiter(100, 100)),
        lambda: NOW,
        lambda: 0.0,
        AccessLogPolicy(
            {channel.request_topic: AccessSource(AccessChannel.CONSOLE)},
            OfficialIds.MASKED,
            False,
            lambda op: "official",
        ),
        shipped_deadlines(),
    )
    handler = AuditedRequestHandler(kind, lambda: FakeUnitOfWork(store), lambda: NOW)
    ids = iter(range(1_000_000))
    return ConsoleLookups(
        handler, codec, channel.request_topic, settings.console_client_id, lambda: f"m{next(ids)}"
    )


async def store_with_letters(count: int) -> FakeStore:
    store = FakeStore()
    events = [e for i in range(1, count + 1) for e in letter_events(i, random.Random(i))]
    await ingest_events(events, FakeUnitOfWork(store), IdentifierHasher(b"unit"), lambda: NOW)
    return store


async def test_an_operators_lookup_is_audited_like_a_call_center_request() -> None:
    store = await store_with_letters(3)
    number = registration_number(2)
    result = await lookups(store).lookup(OPERATOR, f" {number.lower()} ")
    assert isinstance(result, StatusView) and result.registration_number == number
    # the legal deadline comes through the console's codec as the service computed it
    letter = store.letters[number]
    assert result.deadline == shipped_deadlines().of(letter, NOW) is not None
    (entry,) = store.audit
    assert (entry.request_topic, entry.operator_id, entry.client_id, entry.outcome) == (
        "console",
        "op7",
        settings.console_client_id,
        "ANSWERED",
    )
    assert entry.registration_number == number and entry.reply_hash is not None


async def test_a_malformed_number_gets_the_services_fault_and_is_audited() -> None:
    store = await store_with_letters(1)
    result = await lookups(store).lookup(OPERATOR, "<b>not a number</b>")
    assert result == FaultView(Fault.MALFORMED_REGISTRATION_NUMBER)
    assert [e.outcome for e in store.audit] == ["MALFORMED_REGISTRATION_NUMBER"]


async def test_a_department_head_is_told_not_found_for_another_departments_letter() -> None:
    store = await store_with_letters(6)
    letters = [store.letters[registration_number(i)] for i in range(1, 7)]
    assigned = [letter for letter in letters if letter.department is not None]
    own = assigned[0].department
    assert own is not None
    other = next(letter for letter in assigned if letter.department and letter.department != own)
    head = Principal("head", frozenset({ConsoleRole.DEPARTMENT_HEAD}), frozenset({own.code}))
    service = lookups(store)
    assert isinstance(await service.lookup(head, assigned[0].registration_number), StatusView)
    refused = await service.lookup(head, other.registration_number)
    absent = await service.lookup(head, "DGK-2026-999999")
    assert refused == absent == FaultView(Fault.NOT_FOUND)


async def test_roles_without_lookups_are_refused_before_anything_is_asked() -> None:
    store = await store_with_letters(1)
    with pytest.raises(Refused):
        await lookups(store).lookup(AUDITOR, registration_number(1))
    assert store.audit == []


async def test_an_operator_shares_the_call_centers_rate_limit() -> None:
    store = await store_with_letters(1)
    service = lookups(store, per_minute=6)  # burst of 1
    first = await service.lookup(OPERATOR, registration_number(1))
    second = await service.lookup(OPERATOR, registration_number(1))
    assert isinstance(first, StatusView) and second == FaultView(Fault.RATE_LIMITED)


class _NoQueries:
    async def workload(self, departments: object, today: date) -> list[object]:
        raise AssertionError("a refused principal reaches no query")

    access_trail = recent_dead_letters = requests_per_day = workload


@pytest.mark.parametrize(
    ("page", "args"),
    [
        ("workload", ()),
        ("access_trail", ("DGK-2026-000001",)),
        ("dead_letters", ()),
        ("requests_per_day", (NOW, NOW)),
    ],
)
async def test_an_operator_reaches_no_oversight_page(page: str, args: tuple[object, ...]) -> None:
    oversight = Oversight(_NoQueries(), {}, lambda: NOW.date())  # type: ignore[arg-type]
    with pytest.raises(Refused):
        await getattr(oversight, page)(OPERATOR, *args)
