"""The flow every request/reply service shares (regulation 3.5.1: every request and its result
is recorded):

1. a reply goes only to a topic allow-listed for the request topic; otherwise nothing is
   published and the refusal is audited;
2. a redelivered request (same client and message id, same bytes) gets the very same reply;
3. the request kind assesses the bytes (decode, who is asking, rate limits, format), then
   answers from the store;
4. the audit row and the reply to keep are written in one transaction before the reply leaves;
   if that fails, the requester gets TEMPORARILY_UNAVAILABLE, never an unaudited answer.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from gateway.domain.requests import Fault, FaultView, RequestHeader
from gateway.services.ports import (
    AuditEntry,
    ReplyKey,
    StoredReply,
    UnitOfWork,
    once_more_if_connection_lost,
)

log = logging.getLogger(__name__)

Req = TypeVar("Req")
Res = TypeVar("Res")


class Outcome(enum.StrEnum):
    """What became of a request, besides a fault (whose code is then the outcome)."""

    ANSWERED = "ANSWERED"
    REDELIVERED = "REDELIVERED"  # the same request again: its stored reply, unchanged
    REPLY_TOPIC_REFUSED = "REPLY_TOPIC_REFUSED"  # nothing published, the refusal audited


ANSWERED = Outcome.ANSWERED.value
REDELIVERED = Outcome.REDELIVERED.value
REPLY_TOPIC_REFUSED = Outcome.REPLY_TOPIC_REFUSED.value


class _AnsweredElsewhere(Exception):
    pass


@dataclass(frozen=True)
class Delivery:
    """Transport facts of one request, as Kafka delivered it."""

    topic: str
    reply_to: str | None
    correlation_id: str | None


@dataclass(frozen=True)
class Decision:
    outcome: str  # an Outcome or a Fault code
    reply: bytes | None = None  # None: nothing may be published
    reply_topic: str | None = None
    key: str | None = None
    client_id: str | None = None  # as the request's header names it, for metrics
    audit_written: bool = True
    message_id: str | None = None  # for the log line; never a personal id


@dataclass(frozen=True)
class Assessment(Generic[Req]):
    """What the request kind could decide from the bytes alone."""

    header: RequestHeader | None
    request: Req | None = None  # the decoded request; None when `fault` is set
    fault: FaultView | None = None
    registration_number: str | None = None  # as sent (trimmed, cut), for the audit
    end_user_hash: str | None = None
    # The reply's Kafka key: only a value the gateway checked (a well-formed registration
    # number), never raw input such as a malformed number; None lets the producer choose.
    reply_key: str | None = None


class RequestKind(Protocol[Req, Res]):
    """What differs between the e-government/call-center service and the partner service:
    `Req` is what a request decodes to, `Res` what answering it gives."""

    def allowed_reply_topics(self, request_topic: str) -> frozenset[str]: ...
    def assess(self, raw: bytes, request_topic: str) -> Assessment[Req]: ...
    async def answer(
        self, uow: UnitOfWork, requests: Sequence[tuple[Assessment[Req], str]]
    ) -> list[Res | FaultView]:
        """Results for (assessment, request topic) pairs, in order, from one unit of work."""

    def encode(
        self, header: RequestHeader | None, request_hash: str, result: Res | FaultView
    ) -> bytes: ...


# How one request of a batch is settled: an explicit state, not a field of many meanings.


@dataclass(frozen=True)
class _Reply(Generic[Res]):
    """Answered now (a result or a fault): encoded and audited; kept for redeliveries when
    `keep` (the first request under its client and message id)."""

    result: Res | FaultView
    keep: bool


@dataclass(frozen=True)
class _Replay:
    """A redelivery of a request answered before: its stored reply, byte for byte."""

    stored: StoredReply


@dataclass(frozen=True)
class _TwinOf:
    """The same request twice in one batch: the twin gets the first one's reply."""

    first: _Item


@dataclass
class _Item(Generic[Req, Res]):
    raw: bytes
    delivery: Delivery
    request_hash: str
    assessment: Assessment[Req]
    decision: Decision | None = None

    @property
    def key(self) -> ReplyKey | None:
        header = self.assessment.header
        return (header.client_id, header.message_id) if header else None

    @property
    def client_id(self) -> str | None:
        header = self.assessment.header
        return header.client_id if header else None


class AuditedRequestHandler(Generic[Req, Res]):
    def __init__(
        self,
        kind: RequestKind[Req, Res],
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
    ) -> None:
        self._kind, self._uow_factory, self._now = kind, uow_factory, now

    async def handle(self, raw: bytes, delivery: Delivery) -> Decision:
        return (await self.handle_batch([(raw, delivery)]))[0]

    async def handle_batch(self, requests: Sequence[tuple[bytes, Delivery]]) -> list[Decision]:
        """Decisions in order, for requests answered together in one transaction."""
        received_at = self._now()
        items: list[_Item[Req, Res]] = [
            _Item(
                raw,
                delivery,
                hashlib.sha256(raw).hexdigest(),
                self._kind.assess(raw, delivery.topic),
            )
            for raw, delivery in requests
        ]
        refused = [
            i
            for i in items
            if i.delivery.reply_to not in self._kind.allowed_reply_topics(i.delivery.topic)
        ]
        for item in refused:
            log.warning(
                "refused reply topic %r",
                item.delivery.reply_to,
                extra={"topic": item.delivery.topic},
            )
        try:
            await once_more_if_connection_lost(lambda: self._decide(items, refused, received_at))
        except _AnsweredElsewhere:
            # Another replica answered one of them meanwhile (a rebalance redelivered it) and
            # audited it. Ours is rolled back; one by one, each finds its stored reply.
            return [await self.handle(raw, delivery) for raw, delivery in requests]
        except Exception:
            log.exception("store failed while answering; replying TEMPORARILY_UNAVAILABLE")
            return [self._unavailable(i, i in refused) for i in items]
        for item in refused:
            item.decision = Decision(REPLY_TOPIC_REFUSED, client_id=item.client_id)
        decisions = []
        for item in items:
            assert item.decision is not None, "every request gets a decision"
            header = item.assessment.header
            decisions.append(
                dataclasses.replace(item.decision, message_id=header.message_id if header else None)
            )
        return decisions

    async def _decide(
        self, items: list[_Item[Req, Res]], refused: list[_Item[Req, Res]], received_at: datetime
    ) -> None:
        for item in items:  # nothing of an attempt that failed carries over
            item.decision = None
        async with self._uow_factory() as uow:
            entries = [self._entry(i, REPLY_TOPIC_REFUSED, received_at, None) for i in refused]
            answerable = [i for i in items if i not in refused]
            to_keep = await self._answer(uow, answerable, received_at, entries)
            kept = await uow.journal.write(entries, to_keep, self._now())
            if kept != set(to_keep):
                raise _AnsweredElsewhere
            await uow.commit()

    async def _answer(
        self,
        uow: UnitOfWork,
        items: list[_Item[Req, Res]],
        received_at: datetime,
        entries: list[AuditEntry],
    ) -> dict[ReplyKey, StoredReply]:
        """Decides every item and adds its audit entry; returns the replies to keep."""
        plans = await self._plan(uow, items)
        to_keep: dict[ReplyKey, StoredReply] = {}
        for item, plan in zip(items, plans, strict=True):
            match plan:
                case _Replay(stored):
                    item.decision = self._decision(item, REDELIVERED, stored.reply)
                case _Reply(result, keep):
                    reply = self._kind.encode(item.assessment.header, item.request_hash, result)
                    outcome = result.code.value if isinstance(result, FaultView) else ANSWERED
                    entries.append(self._entry(item, outcome, received_at, reply))
                    item.decision = self._decision(item, outcome, reply)
                    if keep and item.key is not None:
                        to_keep[item.key] = StoredReply(item.request_hash, reply)
        for item, plan in zip(items, plans, strict=True):  # twins, once their first is decided
            if isinstance(plan, _TwinOf) and plan.first.decision is not None:
                first = plan.first.decision
                item.decision = dataclasses.replace(
                    first, outcome=REDELIVERED, reply_topic=item.delivery.reply_to
                )
        return to_keep

    async def _plan(
        self, uow: UnitOfWork, items: list[_Item[Req, Res]]
    ) -> list[_Reply[Res] | _Replay | _TwinOf]:
        """How each item is settled; the request kind answers the new, well-formed ones."""
        earlier = await uow.journal.replies_for({i.key for i in items if i.key is not None})
        first_in_batch: dict[ReplyKey, _Item[Req, Res]] = {}
        plans: list[_Reply[Res] | _Replay | _TwinOf | None] = []
        to_answer: list[int] = []
        for item in items:
            key = item.key
            before = earlier.get(key) if key else None
            twin = first_in_batch.get(key) if key else None
            if before is not None and before.request_hash == item.request_hash:
                plans.append(_Replay(before))
            elif before is None and twin is not None and twin.request_hash == item.request_hash:
                plans.append(_TwinOf(twin))
            elif before is not None or twin is not None:
                plans.append(
                    _Reply(FaultView(Fault.INVALID_REQUEST, "message id already used"), False)
                )
            else:
                if key is not None:
                    first_in_batch[key] = item
                if item.assessment.fault is not None:
                    plans.append(_Reply(item.assessment.fault, True))
                else:
                    to_answer.append(len(plans))
                    plans.append(None)  # answered below, all together
        if to_answer:
            results = await self._kind.answer(
                uow, [(items[i].assessment, items[i].delivery.topic) for i in to_answer]
            )
            for index, result in zip(to_answer, results, strict=True):
                plans[index] = _Reply(result, True)
        settled = [plan for plan in plans if plan is not None]
        assert len(settled) == len(items), "every request is settled"
        return settled

    def _decision(self, item: _Item[Req, Res], outcome: str, reply: bytes) -> Decision:
        return Decision(
            outcome,
            reply,
            item.delivery.reply_to,
            item.assessment.reply_key,
            item.client_id,
        )

    def _unavailable(self, item: _Item[Req, Res], refused: bool) -> Decision:
        if refused:
            return Decision(REPLY_TOPIC_REFUSED, client_id=item.client_id, audit_written=False)
        reply = self._kind.encode(
            item.assessment.header, item.request_hash, FaultView(Fault.TEMPORARILY_UNAVAILABLE)
        )
        return dataclasses.replace(
            self._decision(item, Fault.TEMPORARILY_UNAVAILABLE.value, reply), audit_written=False
        )

    def _entry(
        self, item: _Item[Req, Res], outcome: str, received_at: datetime, reply: bytes | None
    ) -> AuditEntry:
        header, delivery = item.assessment.header, item.delivery
        return AuditEntry(
            client_id=header.client_id if header else "(unreadable)",
            message_id=header.message_id if header else "(unreadable)",
            correlation_id=delivery.correlation_id,
            request_topic=delivery.topic,
            reply_topic=delivery.reply_to,
            end_user_hash=item.assessment.end_user_hash,
            operator_id=header.operator_id if header else None,
            registration_number=item.assessment.registration_number,
            outcome=outcome,
            request_hash=item.request_hash,
            reply_hash=hashlib.sha256(reply).hexdigest() if reply is not None else None,
            received_at=received_at,
            replied_at=self._now(),
        )
