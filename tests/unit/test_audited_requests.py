"""The status request use case on an in-memory store, with the real (pure) XML codec:
access rules, audit, redelivery, refusals and store failures."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime

import pytest

from gateway.domain.access import RequestChannel, Role
from gateway.domain.access_log import AccessChannel, AccessLogPolicy, AccessSource, OfficialIds
from gateway.domain.deadlines import DeadlineKind
from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import DeadlineClass
from gateway.domain.rate_limit import RateLimiter
from gateway.domain.requests import Fault, Query
from gateway.domain.texts import Language
from gateway.reference.status_texts import status_texts
from gateway.services.audited_requests import AuditedRequestHandler, Delivery
from gateway.services.ingestion import ingest_events
from gateway.services.status_requests import RateLimits, StatusRequests
from gateway.settings import Settings
from gateway.tools.simulator import letter_events
from gateway.xmlcodec.egov import EgovXmlCodec
from tests.support.deadlines import shipped_deadlines
from tests.support.fakes import FakeStore, FakeUnitOfWork

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
EGOV = RequestChannel(
    "egov",
    Role.EGOV,
    "egov.req",
    frozenset({"egov.rep"}),
    frozenset({"AZ/GOV/egov-portal"}),
    frozenset({"enhanced-signature", "sima-signature"}),  # as GATEWAY_EGOV_AUTH_LEVELS says
)
CALLS = RequestChannel(
    "callcenter",
    Role.CALLCENTER,
    "cc.req",
    frozenset({"cc.rep"}),
    frozenset({"AZ/DGK/call-center"}),
)
hasher = IdentifierHasher(b"unit")
codec = EgovXmlCodec()


def access_log_policy(
    officials: OfficialIds = OfficialIds.MASKED, include_own: bool = False
) -> AccessLogPolicy:
    sources = {
        EGOV.request_topic: AccessSource(AccessChannel.PORTAL),
        CALLS.request_topic: AccessSource(AccessChannel.CALL_CENTER),
    }
    return AccessLogPolicy(sources, officials, include_own, lambda op: f"official-{len(op)}")


def build(
    store: FakeStore,
    per_user_per_minute: int = 600,
    uow=None,
    access_log: AccessLogPolicy | None = None,
) -> AuditedRequestHandler:
    kind = StatusRequests(
        {c.request_topic: c for c in (EGOV, CALLS)},
        codec,
        Settings().registration_number_pattern,
        hasher,
        RateLimits(
            RateLimiter(per_user_per_minute / 60, max(1, per_user_per_minute / 6)),
            RateLimiter(1000, 1000),
        ),
        lambda: NOW,
        lambda: 0.0,
        access_log or access_log_policy(),
        shipped_deadlines(),
    )
    return AuditedRequestHandler(kind, uow or (lambda: FakeUnitOfWork(store)), lambda: NOW)


def request(
    number: str,
    *,
    user: str | None = None,
    operator: str | None = None,
    client: str = "AZ/GOV/egov-portal",
    message_id: str = "m-1",
    query: Query = Query.STATUS,
    auth_level: str | None = None,
    language: Language = Language.AZ,
) -> bytes:
    from gateway.tools.client import build_request

    settings = Settings()
    built = build_request(
        settings,
        number,
        user=user,
        operator=operator,
        client=client,
        message_id=message_id,
        query=query,
        language=language,
    )
    if auth_level is not None:
        built = dataclasses.replace(
            built, header=dataclasses.replace(built.header, auth_level=auth_level)
        )
    return codec.encode_request(built)


async def letter(store: FakeStore, index: int = 1):
    events = letter_events(index, random.Random(index))
    await ingest_events(events, FakeUnitOfWork(store), hasher, lambda: NOW)
    return events[0]


def by_applicant(registered) -> bytes:  # type: ignore[no-untyped-def]
    """The registered letter's applicant asks for its status, as the portal sends it."""
    return request(registered.registration_number, user=registered.applicant.identifier)


def egov(reply_to: str = "egov.rep") -> Delivery:
    return Delivery("egov.req", reply_to, "corr-1")


async def test_the_applicant_sees_the_letter_and_one_audit_row_is_written():
    store = FakeStore()
    registered = await letter(store)
    decision = await build(store).handle(by_applicant(registered), egov())
    reply = codec.decode_reply(decision.reply)
    assert reply.status is not None and decision.outcome == "ANSWERED"
    assert decision.reply_topic == "egov.rep" and decision.key == registered.registration_number
    [entry] = store.audit
    assert entry.end_user_hash == hasher(registered.applicant.identifier)
    assert entry.reply_hash is not None and entry.correlation_id == "corr-1"


async def test_the_reply_explains_status_and_deadline_in_the_language_asked_for():
    store = FakeStore()
    registered = await letter(store)
    handler = build(store)
    number, user = registered.registration_number, registered.applicant.identifier
    replies = {
        language: codec.decode_reply(
            (
                await handler.handle(
                    request(number, user=user, message_id=language.value, language=language),
                    egov(),
                )
            ).reply
        ).status
        for language in Language
    }
    texts = status_texts()
    for language, status in replies.items():
        assert status is not None and status.deadline is not None
        assert status.explanation is not None and status.explanation.language is language
        assert status.explanation.status == texts.status(status.status, language)
        assert status.explanation.deadline == texts.deadline(status.deadline.state, language)
    status = replies[Language.AZ]
    assert status is not None and status.deadline is not None
    assert status.registration_date == registered.registration_date
    term = 30 if registered.deadline_class is DeadlineClass.ADDITIONAL_STUDY else 15
    due = shipped_deadlines().calendar.add_working_days(registered.registration_date, term)
    # the simulated letter 1 is answered, neither extended nor forwarded
    assert status.deadline.extension is None and status.deadline.kind is DeadlineKind.ANSWER
    assert status.deadline.due_date == due.day
    assert status.due_date == status.deadline.due_date  # the date the applicant is shown


async def test_not_theirs_and_not_there_are_the_same_answer():
    store = FakeStore()
    registered = await letter(store)
    handler = build(store)
    other = await handler.handle(
        request(registered.registration_number, user="9ZZZZZZ", message_id="a"), egov()
    )
    none = await handler.handle(request("DGK-2026-999999", user="9ZZZZZZ", message_id="b"), egov())
    a, b = codec.decode_reply(other.reply), codec.decode_reply(none.reply)
    assert a.fault == b.fault and a.fault is not None and a.fault.code is Fault.NOT_FOUND


async def test_the_call_center_sees_any_letter_but_needs_an_operator():
    store = FakeStore()
    registered = await letter(store)
    handler = build(store)
    ok = await handler.handle(
        request(registered.registration_number, operator="OP-1", client="AZ/DGK/call-center"),
        Delivery("cc.req", "cc.rep", None),
    )
    assert codec.decode_reply(ok.reply).status is not None
    as_user = await handler.handle(
        request(
            registered.registration_number,
            user="5ZK3R8P",
            client="AZ/DGK/call-center",
            message_id="m-2",
        ),
        Delivery("cc.req", "cc.rep", None),
    )
    assert as_user.outcome == "ACCESS_DENIED"


async def test_a_reply_topic_not_allowed_is_refused_audited_and_nothing_is_published():
    store = FakeStore()
    decision = await build(store).handle(
        request("DGK-2026-000001", user="5ZK3R8P"), egov(reply_to="dms.letters.registrations.v1")
    )
    assert decision.reply is None and decision.outcome == "REPLY_TOPIC_REFUSED"
    assert [e.outcome for e in store.audit] == ["REPLY_TOPIC_REFUSED"]


async def test_a_redelivered_request_gets_the_same_bytes_and_no_second_audit_row():
    store = FakeStore()
    registered = await letter(store)
    raw = by_applicant(registered)
    first = await build(store).handle(raw, egov())
    again = await build(store).handle(raw, egov())
    assert again.reply == first.reply and again.outcome == "REDELIVERED"
    assert len(store.audit) == 1


async def test_a_reused_message_id_with_other_content_is_refused():
    store = FakeStore()
    handler = build(store)
    await handler.handle(request("DGK-2026-000001", user="5ZK3R8P"), egov())
    reused = await handler.handle(request("DGK-2026-000002", user="5ZK3R8P"), egov())
    assert codec.decode_reply(reused.reply).fault.code is Fault.INVALID_REQUEST
    assert len(store.audit) == 2


async def test_when_the_audit_cannot_be_written_the_answer_is_temporarily_unavailable():
    store = FakeStore()
    registered = await letter(store)
    store.fail_next_commits = 1
    decision = await build(store).handle(by_applicant(registered), egov())
    assert codec.decode_reply(decision.reply).fault.code is Fault.TEMPORARILY_UNAVAILABLE
    assert decision.audit_written is False and store.audit == []


async def test_a_dead_pooled_connection_is_retried_at_once_and_the_request_audited_once():
    store = FakeStore()
    registered = await letter(store)
    store.lose_connection_next_commits = 1  # e.g. PostgreSQL restarted since the last request
    decision = await build(store).handle(by_applicant(registered), egov())
    assert codec.decode_reply(decision.reply).status.registration_number == (
        registered.registration_number
    )
    assert [e.outcome for e in store.audit] == ["ANSWERED"]


async def test_a_connection_lost_twice_in_a_row_answers_temporarily_unavailable():
    store = FakeStore()
    registered = await letter(store)
    store.lose_connection_next_commits = 2
    decision = await build(store).handle(by_applicant(registered), egov())
    assert codec.decode_reply(decision.reply).fault.code is Fault.TEMPORARILY_UNAVAILABLE
    assert store.audit == []


async def test_a_request_answered_meanwhile_by_another_replica_gets_that_replica_s_reply():
    store = FakeStore()
    registered = await letter(store)
    raw = by_applicant(registered)
    theirs = await build(store).handle(raw, egov())  # the other replica, already committed

    class BlindOnce(FakeUnitOfWork):
        """Did not see the other replica's reply when it looked (it was not committed yet)."""

        blind = True

        async def __aenter__(self):
            uow = await super().__aenter__()
            if BlindOnce.blind:
                BlindOnce.blind = False

                async def not_yet(keys):  # type: ignore[no-untyped-def]
                    return {}

                uow.journal.replies_for = not_yet  # type: ignore[method-assign]
            return uow

    ours = await build(store, uow=lambda: BlindOnce(store)).handle(raw, egov())
    assert ours.reply == theirs.reply and len(store.audit) == 1


@pytest.mark.parametrize(
    ("number", "fault"),
    [
        ("", Fault.MISSING_REGISTRATION_NUMBER),
        ("DGK/2026/1", Fault.MALFORMED_REGISTRATION_NUMBER),
    ],
)
async def test_missing_and_malformed_numbers_get_their_own_faults(number, fault):
    decision = await build(FakeStore()).handle(request(number, user="5ZK3R8P"), egov())
    assert codec.decode_reply(decision.reply).fault.code is fault


async def test_requests_over_the_per_user_limit_are_rate_limited():
    store = FakeStore()
    handler = build(store, per_user_per_minute=6)  # a burst of 1, then one every 10 s
    first = await handler.handle(request("DGK-2026-000001", user="5ZK3R8P", message_id="1"), egov())
    second = await handler.handle(
        request("DGK-2026-000001", user="5ZK3R8P", message_id="2"), egov()
    )
    assert first.outcome == "NOT_FOUND" and second.outcome == "RATE_LIMITED"


async def test_a_batch_answers_each_request_on_its_own_in_one_transaction():
    store = FakeStore()
    registered = await letter(store)
    owner = registered.applicant.identifier
    known = request(registered.registration_number, user=owner, message_id="known")
    await build(store).handle(known, egov())
    commits_before = store.commits
    twice = request(registered.registration_number, user=owner, message_id="twice")
    batch = [
        (request(registered.registration_number, user=owner, message_id="new"), egov()),
        (twice, egov()),
        (twice, egov()),  # the same request twice in one batch
        (known, egov()),  # redelivered from an earlier batch
        (request("bad", user=owner, message_id="bad"), egov()),
        (request("DGK-2026-000001", user=owner, message_id="x"), egov(reply_to="elsewhere")),
    ]
    decisions = await build(store).handle_batch(batch)
    assert [d.outcome for d in decisions] == [
        "ANSWERED",
        "ANSWERED",
        "REDELIVERED",
        "REDELIVERED",
        "MALFORMED_REGISTRATION_NUMBER",
        "REPLY_TOPIC_REFUSED",
    ]
    assert decisions[1].reply == decisions[2].reply and decisions[5].reply is None
    assert store.commits == commits_before + 1
    audited = [e.message_id for e in store.audit[1:]]
    assert sorted(audited) == ["bad", "new", "twice", "x"], "one audit row per request"


# ---- who looked at my letter ---------------------------------------------------------------


def call_center() -> Delivery:
    return Delivery("cc.req", "cc.rep", None)


async def looked_at(store: FakeStore, handler: AuditedRequestHandler):  # type: ignore[no-untyped-def]
    """A letter its applicant asked about once and the call center (operator OP-17) twice."""
    registered = await letter(store)
    number = registered.registration_number
    await handler.handle(by_applicant(registered), egov())
    for message_id in ("cc-1", "cc-2"):
        asked = request(
            number, operator="OP-17", client="AZ/DGK/call-center", message_id=message_id
        )
        await handler.handle(asked, call_center())
    return registered


def access_log_request(registered, **kwargs) -> bytes:  # type: ignore[no-untyped-def]
    identifier = kwargs.pop("user", registered.applicant.identifier)
    return request(
        registered.registration_number, user=identifier, query=Query.ACCESS_LOG, **kwargs
    )


async def test_the_applicant_sees_the_call_center_lookups_of_their_letter_not_their_own():
    store = FakeStore()
    handler = build(store)
    registered = await looked_at(store, handler)
    decision = await handler.handle(access_log_request(registered, message_id="log"), egov())
    log = codec.decode_reply(decision.reply).access_log
    assert log is not None and log.registration_number == registered.registration_number
    assert [(a.channel, a.official) for a in log.accesses] == [
        (AccessChannel.CALL_CENTER, "official-5"),  # masked: a pseudonym, not OP-17
        (AccessChannel.CALL_CENTER, "official-5"),
    ]
    assert decision.outcome == "ANSWERED" and store.audit[-1].message_id == "log"  # audited


async def test_the_access_log_can_name_officials_and_list_the_applicants_own_lookups():
    store = FakeStore()
    handler = build(store, access_log=access_log_policy(OfficialIds.FULL, include_own=True))
    registered = await looked_at(store, handler)
    decision = await handler.handle(access_log_request(registered, message_id="log"), egov())
    log = codec.decode_reply(decision.reply).access_log
    assert log is not None
    assert sorted((a.channel, a.official) for a in log.accesses) == [
        (AccessChannel.CALL_CENTER, "OP-17"),
        (AccessChannel.CALL_CENTER, "OP-17"),
        (AccessChannel.PORTAL, None),
    ]


async def test_anyone_but_the_applicant_gets_not_found_for_the_access_log():
    store = FakeStore()
    handler = build(store)
    registered = await looked_at(store, handler)
    stranger = await handler.handle(
        access_log_request(registered, user="9ZZZZZZ", message_id="s"), egov()
    )
    missing = await handler.handle(
        request("DGK-2026-999999", user="9ZZZZZZ", message_id="x", query=Query.ACCESS_LOG), egov()
    )
    operator = await handler.handle(
        request(
            registered.registration_number,
            operator="OP-17",
            client="AZ/DGK/call-center",
            message_id="o",
            query=Query.ACCESS_LOG,
        ),
        call_center(),
    )
    assert stranger.reply is not None and missing.reply is not None and operator.reply is not None
    faults = [codec.decode_reply(d.reply).fault for d in (stranger, missing, operator)]
    assert faults[0] == faults[1] == faults[2] and faults[0].code is Fault.NOT_FOUND


async def test_access_log_requests_share_the_status_requests_rate_limit():
    store = FakeStore()
    handler = build(store, per_user_per_minute=6)  # a burst of one
    registered = await letter(store)
    first = await handler.handle(access_log_request(registered, message_id="1"), egov())
    second = await handler.handle(access_log_request(registered, message_id="2"), egov())
    assert (first.outcome, second.outcome) == ("ANSWERED", "RATE_LIMITED")


@pytest.mark.parametrize("level", ["password", "ENHANCED-SIGNATURE", "enhanced"])
async def test_an_end_user_without_an_enhanced_signature_is_refused_and_audited(level):
    store = FakeStore()
    registered = await letter(store)
    decision = await build(store).handle(
        request(
            registered.registration_number,
            user=registered.applicant.identifier,
            auth_level=level,
        ),
        egov(),
    )
    reply = codec.decode_reply(decision.reply)
    assert reply.fault is not None and reply.fault.code is Fault.AUTH_LEVEL_NOT_ACCEPTED
    assert reply.status is None and decision.outcome == "AUTH_LEVEL_NOT_ACCEPTED"
    [entry] = store.audit
    assert entry.outcome == "AUTH_LEVEL_NOT_ACCEPTED"
    assert entry.end_user_hash == hasher(registered.applicant.identifier)


async def test_every_configured_auth_level_is_accepted():
    store = FakeStore()
    registered = await letter(store)
    decision = await build(store).handle(
        request(
            registered.registration_number,
            user=registered.applicant.identifier,
            auth_level="sima-signature",
        ),
        egov(),
    )
    assert decision.outcome == "ANSWERED"


async def test_the_call_center_names_an_operator_and_no_auth_level_is_asked_of_it():
    store = FakeStore()
    registered = await letter(store)
    decision = await build(store).handle(
        request(registered.registration_number, operator="OP-1", client="AZ/DGK/call-center"),
        Delivery("cc.req", "cc.rep", None),
    )
    assert decision.outcome == "ANSWERED"


async def test_a_malformed_number_never_becomes_the_reply_s_kafka_key():
    store = FakeStore()
    decision = await build(store).handle(request("DGK/2026/7;DROP", user="5ZK3R8P"), egov())
    assert decision.outcome == "MALFORMED_REGISTRATION_NUMBER" and decision.key is None
    [entry] = store.audit  # the audit still records what was sent
    assert entry.registration_number == "DGK/2026/7;DROP"


async def test_a_well_formed_number_keys_the_reply_as_normalised():
    decision = await build(FakeStore()).handle(request(" dgk-2026-000001 ", user="5ZK3R8P"), egov())
    assert decision.outcome == "NOT_FOUND" and decision.key == "DGK-2026-000001"
