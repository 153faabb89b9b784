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
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.domain.requests import Fault, FaultView, RequestHeader
from gateway.services.ports import (
    AuditEntry,
    ReplyKey,
    StoredReply,
    UnitOfWork,
    once_more_if_connection_lost,
)

log = logging.getLogger(__name__)

ANSWERED = "ANSWERED"
REPLY_TOPIC_REFUSED = "REPLY_TOPIC_REFUSED"
REDELIVERED = "REDELIVERED"


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
    outcome: str
    reply: bytes | None = None  # None: nothing may be published
    reply_topic: str | None = None
    key: str | None = None
    client_id: str | None = None  # as the request's header names it, for metrics
    audit_written: bool = True
    message_id: str | None = None  # for the log line; never a personal id


@dataclass(frozen=True)
class Assessment:
    """What the request kind could decide from the bytes alone."""

    header: RequestHeader | None
    request: Any = None  # the decoded request; None when `fault` is set
    fault: FaultView | None = None
    registration_number: str | None = None  # for the audit and the reply's key
    end_user_hash: str | None = None


class RequestKind(Protocol):
    """What differs between the e-government/call-center service and the partner service."""

    def allowed_reply_topics(self, request_topic: str) -> frozenset[str]: ...
    def assess(self, raw: bytes, request_topic: str) -> Assessment: ...
    async def answer(
        self, uow: UnitOfWork, requests: Sequence[tuple[Assessment, str]]
    ) -> list[Any]:
        """Results for (assessment, request topic) pairs, in order, from one unit of work."""

    def encode(self, header: RequestHeader | None, request_hash: str, result: Any) -> bytes: ...


@dataclass
class _Item:
    raw: bytes
    delivery: Delivery
    request_hash: str
    assessment: Assessment
    decision: Decision | None = None
    result: Any = None

    @property
    def key(self) -> ReplyKey | None:
        header = self.assessment.header
        return (header.client_id, header.message_id) if header else None


class AuditedRequestHandler:
    def __init__(
        self,
        kind: RequestKind,
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
    ) -> None:
        self._kind, self._uow_factory, self._now = kind, uow_factory, now

    async def handle(self, raw: bytes, delivery: Delivery) -> Decision:
        return (await self.handle_batch([(raw, delivery)]))[0]

    async def handle_batch(self, requests: Sequence[tuple[bytes, Delivery]]) -> list[Decision]:
        """Decisions in order, for requests answered together in one transaction."""
        received_at = self._now()
        items = [
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
            item.decision = Decision(REPLY_TOPIC_REFUSED, client_id=_client(item))
        decisions = []
        for item in items:
            assert item.decision is not None, "every request gets a decision"
            header = item.assessment.header
            decisions.append(
                dataclasses.replace(item.decision, message_id=header.message_id if header else None)
            )
        return decisions

    async def _decide(
        self, items: list[_Item], refused: list[_Item], received_at: datetime
    ) -> None:
        for item in items:  # nothing of an attempt that failed carries over
            item.decision, item.result = None, None
        async with self._uow_factory() as uow:
            entries = [self._entry(i, REPLY_TOPIC_REFUSED, received_at, None) for i in refused]
            answerable = [i for i in items if i not in refused]
            to_keep = await self._answer(uow, answerable, received_at, entries)
            kept = await uow.journal.write(entries, to_keep, self._now())
            if kept != set(to_keep):
                raise _AnsweredElsewhere
            await uow.commit()

    async def _answer(
        self, uow: UnitOfWork, items: list[_Item], received_at: datetime, entries: list[AuditEntry]
    ) -> dict[ReplyKey, StoredReply]:
        """Decides every item and adds its audit entry; returns the replies to keep."""
        earlier = await uow.journal.replies_for({i.key for i in items if i.key is not None})
        first_in_batch: dict[ReplyKey, _Item] = {}
        to_answer: list[_Item] = []
        for item in items:
            key = item.key
            before = earlier.get(key) if key else None
            twin = first_in_batch.get(key) if key else None
            seen = before or twin
            if seen is not None:
                same = seen.request_hash == item.request_hash
                if same and before is not None:  # a redelivery: the very same reply again
                    item.decision = Decision(
                        REDELIVERED,
                        before.reply,
                        item.delivery.reply_to,
                        item.assessment.registration_number,
                        _client(item),
                    )
                elif same:
                    item.result = twin  # answered below, with its twin's reply
                else:
                    item.result = FaultView(Fault.INVALID_REQUEST, "message id already used")
                continue
            if key is not None:
                first_in_batch[key] = item
            if item.assessment.fault is not None:
                item.result = item.assessment.fault
            else:
                to_answer.append(item)
        results = (
            await self._kind.answer(uow, [(i.assessment, i.delivery.topic) for i in to_answer])
            if to_answer
            else []
        )
        for item, result in zip(to_answer, results, strict=True):
            item.result = result
        to_keep: dict[ReplyKey, StoredReply] = {}
        for item in items:
            if item.decision is not None or isinstance(item.result, _Item):
                continue
            reply = self._kind.encode(item.assessment.header, item.request_hash, item.result)
            outcome = item.result.code.value if isinstance(item.result, FaultView) else ANSWERED
            entries.append(self._entry(item, outcome, received_at, reply))
            item.decision = Decision(
                outcome,
                reply,
                item.delivery.reply_to,
                item.assessment.registration_number,
                _client(item),
            )
            if (
                item.key is not None
                and item.key not in earlier
                and first_in_batch.get(item.key) is item
            ):
                to_keep[item.key] = StoredReply(item.request_hash, reply)
        for item in items:  # the same request twice in one batch: the same reply twice
            if isinstance(item.result, _Item) and item.result.decision is not None:
                twin_decision = item.result.decision
                item.decision = Decision(
                    REDELIVERED,
                    twin_decision.reply,
                    item.delivery.reply_to,
                    twin_decision.key,
                    twin_decision.client_id,
                )
        return to_keep

    def _unavailable(self, item: _Item, refused: bool) -> Decision:
        if refused:
            return Decision(REPLY_TOPIC_REFUSED, client_id=_client(item), audit_written=False)
        header = item.assessment.header
        reply = self._kind.encode(
            header, item.request_hash, FaultView(Fault.TEMPORARILY_UNAVAILABLE)
        )
        return Decision(
            Fault.TEMPORARILY_UNAVAILABLE.value,
            reply,
            item.delivery.reply_to,
            item.assessment.registration_number,
            _client(item),
            False,
        )

    def _entry(
        self, item: _Item, outcome: str, received_at: datetime, reply: bytes | None
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


def _client(item: _Item) -> str | None:
    header = item.assessment.header
    return header.client_id if header else None
