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

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from gateway.domain.requests import Fault, FaultView, RequestHeader
from gateway.services.unit_of_work import AuditEntry, StoredReply, UnitOfWork

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
    async def answer(self, uow: UnitOfWork, assessment: Assessment, request_topic: str) -> Any: ...
    def encode(self, header: RequestHeader | None, request_hash: str, result: Any) -> bytes: ...


class AuditedRequestHandler:
    def __init__(
        self,
        kind: RequestKind,
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
    ) -> None:
        self._kind, self._uow_factory, self._now = kind, uow_factory, now

    async def handle(self, raw: bytes, delivery: Delivery) -> Decision:
        received_at = self._now()
        request_hash = hashlib.sha256(raw).hexdigest()
        assessment = self._kind.assess(raw, delivery.topic)
        header, number = assessment.header, assessment.registration_number
        client = header.client_id if header else None

        if delivery.reply_to not in self._kind.allowed_reply_topics(delivery.topic):
            log.warning(
                "refused reply topic %r", delivery.reply_to, extra={"topic": delivery.topic}
            )
            written = await self._audit_only(assessment, delivery, request_hash, received_at)
            return Decision(REPLY_TOPIC_REFUSED, client_id=client, audit_written=written)

        try:
            async with self._uow_factory() as uow:
                earlier = None
                if header is not None:
                    earlier = await uow.journal.reply_for(header.client_id, header.message_id)
                    if earlier is not None and earlier.request_hash == request_hash:
                        return Decision(
                            REDELIVERED, earlier.reply, delivery.reply_to, number, client
                        )
                if earlier is not None:
                    result: Any = FaultView(Fault.INVALID_REQUEST, "message id already used")
                elif assessment.fault is not None:
                    result = assessment.fault
                else:
                    result = await self._kind.answer(uow, assessment, delivery.topic)
                reply = self._kind.encode(header, request_hash, result)
                outcome = result.code.value if isinstance(result, FaultView) else ANSWERED
                entry = self._entry(assessment, delivery, request_hash, outcome, received_at, reply)
                if header is not None and earlier is None:
                    kept = StoredReply(request_hash, reply)
                    if not await uow.journal.remember_reply(
                        header.client_id, header.message_id, kept, entry.replied_at
                    ):
                        raise _AnsweredElsewhere
                await uow.journal.record(entry)
                await uow.commit()
        except _AnsweredElsewhere:
            # Another replica answered the same request meanwhile (a rebalance redelivered it);
            # it audited it too. Our transaction is rolled back; its reply is the one to send.
            return await self.handle(raw, delivery)
        except Exception:
            log.exception("store failed while answering; replying TEMPORARILY_UNAVAILABLE")
            unavailable = FaultView(Fault.TEMPORARILY_UNAVAILABLE)
            reply = self._kind.encode(header, request_hash, unavailable)
            return Decision(unavailable.code.value, reply, delivery.reply_to, number, client, False)
        return Decision(outcome, reply, delivery.reply_to, number, client)

    def _entry(
        self,
        assessment: Assessment,
        delivery: Delivery,
        request_hash: str,
        outcome: str,
        received_at: datetime,
        reply: bytes | None,
    ) -> AuditEntry:
        header = assessment.header
        return AuditEntry(
            client_id=header.client_id if header else "(unreadable)",
            message_id=header.message_id if header else "(unreadable)",
            correlation_id=delivery.correlation_id,
            request_topic=delivery.topic,
            reply_topic=delivery.reply_to,
            end_user_hash=assessment.end_user_hash,
            operator_id=header.operator_id if header else None,
            registration_number=assessment.registration_number,
            outcome=outcome,
            request_hash=request_hash,
            reply_hash=hashlib.sha256(reply).hexdigest() if reply is not None else None,
            received_at=received_at,
            replied_at=self._now(),
        )

    async def _audit_only(
        self, assessment: Assessment, delivery: Delivery, request_hash: str, received_at: datetime
    ) -> bool:
        entry = self._entry(
            assessment, delivery, request_hash, REPLY_TOPIC_REFUSED, received_at, None
        )
        try:
            async with self._uow_factory() as uow:
                await uow.journal.record(entry)
                await uow.commit()
        except Exception:
            log.exception("audit write failed for a refused request")
            return False
        return True
