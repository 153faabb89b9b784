"""Use case: answer one status request (regulation 3.2-3.5), audit it, decide where the reply goes.

Order of checks: where the reply may go, redelivery, the message itself, who is asking, how
often, the registration number, then the letter. Every outcome is written to the audit trail
before the reply leaves; if the audit cannot be written the requester gets
TEMPORARILY_UNAVAILABLE, never an unaudited answer.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from gateway.domain.access import RequestChannel, header_fits_role, may_see
from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import HistoryEntry, Letter
from gateway.domain.rate_limit import RateLimiter
from gateway.domain.requests import (
    Fault,
    FaultView,
    RegistrationNumberPolicy,
    RequestHeader,
    StatusRequest,
    StatusView,
)
from gateway.services.unit_of_work import AuditEntry, StoredReply, UnitOfWork
from gateway.xmlcodec.errors import DecodeError

log = logging.getLogger(__name__)

# Audit outcomes that are not faults sent back to the requester.
ANSWERED = "ANSWERED"
REPLY_TOPIC_REFUSED = "REPLY_TOPIC_REFUSED"


class StatusCodec(Protocol):
    def decode_request(self, raw: bytes) -> StatusRequest: ...
    def fault_for(self, error: DecodeError) -> FaultView: ...
    def encode_reply(
        self, header: RequestHeader | None, request_sha256: str, result: StatusView | FaultView
    ) -> bytes: ...


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
    client_id: str | None = None  # as the request claims it (for metrics; None if unreadable)
    audit_written: bool = True  # False: the audit record could not be written


@dataclass
class RateLimits:
    per_user: RateLimiter
    per_client: RateLimiter


class StatusRequestService:
    def __init__(
        self,
        channels: Mapping[str, RequestChannel],  # by request topic
        codec: StatusCodec,
        numbers: RegistrationNumberPolicy,
        hasher: IdentifierHasher,
        limits: RateLimits,
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._channels, self._codec, self._numbers = channels, codec, numbers
        self._hasher, self._limits = hasher, limits
        self._uow_factory, self._now, self._monotonic = uow_factory, now, monotonic

    async def handle(self, raw: bytes, delivery: Delivery) -> Decision:
        received_at = self._now()
        request_hash = hashlib.sha256(raw).hexdigest()
        channel = self._channels[delivery.topic]
        header, registration, result = self._evaluate(raw, channel)
        client_id = header.client_id if header is not None else None

        if delivery.reply_to not in channel.allowed_reply_topics:
            log.warning("refused reply topic %r on %s", delivery.reply_to, delivery.topic)
            audited = await self._audit_only(
                header, delivery, request_hash, registration, REPLY_TOPIC_REFUSED, received_at
            )
            return Decision(REPLY_TOPIC_REFUSED, client_id=client_id, audit_written=audited)

        earlier: StoredReply | None = None
        try:
            async with self._uow_factory() as uow:
                if header is not None:
                    earlier = await uow.journal.reply_for(header.client_id, header.message_id)
                    if earlier is not None and earlier.request_hash == request_hash:
                        # Redelivery of a request already answered: the very same reply again.
                        return Decision(
                            "REDELIVERED", earlier.reply, delivery.reply_to, registration, client_id
                        )
                    if earlier is not None:
                        result = FaultView(Fault.INVALID_REQUEST, "message id already used")
                if result is None:
                    result = await self._look_up(uow, channel, header, registration)
                reply = self._codec.encode_reply(header, request_hash, result)
                outcome = result.code.value if isinstance(result, FaultView) else ANSWERED
                entry = self._audit_entry(
                    header, delivery, request_hash, registration, outcome, received_at, reply
                )
                await uow.journal.record(entry)
                if header is not None and earlier is None:
                    await uow.journal.remember_reply(
                        header.client_id,
                        header.message_id,
                        StoredReply(request_hash, reply),
                        entry.replied_at,
                    )
                await uow.commit()
        except Exception:
            log.exception("store failed while answering; replying TEMPORARILY_UNAVAILABLE")
            unavailable = FaultView(Fault.TEMPORARILY_UNAVAILABLE)
            reply = self._codec.encode_reply(header, request_hash, unavailable)
            return Decision(
                Fault.TEMPORARILY_UNAVAILABLE.value,
                reply,
                delivery.reply_to,
                registration,
                client_id,
                audit_written=False,
            )
        return Decision(outcome, reply, delivery.reply_to, registration, client_id)

    def _evaluate(
        self, raw: bytes, channel: RequestChannel
    ) -> tuple[RequestHeader | None, str | None, StatusView | FaultView | None]:
        """Checks that need no store. Returns header, registration number, and a fault if any."""
        try:
            request = self._codec.decode_request(raw)
        except DecodeError as error:
            return error.header, None, self._codec.fault_for(error)
        header = request.header
        raw_number = (request.registration_number or "").strip()[:64] or None
        if header.client_id not in channel.allowed_clients or not header_fits_role(
            header, channel.role
        ):
            return header, raw_number, FaultView(Fault.ACCESS_DENIED)
        now = self._monotonic()
        requester = self._end_user_hash(header) or f"operator:{header.operator_id}"
        if not self._limits.per_client.allow(header.client_id, now) or not (
            self._limits.per_user.allow(requester, now)
        ):
            return header, raw_number, FaultView(Fault.RATE_LIMITED)
        checked = self._numbers.check(request.registration_number)
        if isinstance(checked, FaultView):
            return header, raw_number, checked
        return header, checked, None

    async def _look_up(
        self,
        uow: UnitOfWork,
        channel: RequestChannel,
        header: RequestHeader | None,
        number: str | None,
    ) -> StatusView | FaultView:
        assert header is not None and number is not None  # _evaluate faulted otherwise
        letter = (await uow.letters.get_many([number])).get(number)
        if letter is None or not may_see(letter, channel.role, self._end_user_hash(header)):
            return FaultView(Fault.NOT_FOUND)  # the same answer whether absent or not theirs
        return self._view(letter, await uow.letters.history(number))

    def _view(self, letter: Letter, history: list[HistoryEntry]) -> StatusView:
        assert letter.status is not None and letter.status_at is not None
        department, executor = letter.department, letter.executor
        return StatusView(
            registration_number=letter.registration_number,
            registration_date=letter.registration_date,
            status=letter.status,
            last_change_at=letter.status_at,
            department_code=department.code if department else None,
            department_name=department.name if department else None,
            executor_name=executor.full_name if executor else None,
            executor_phone=executor.phone if executor else None,
            due_date=letter.due_date,
            history=tuple(history),
            as_of=self._now(),
        )

    def _end_user_hash(self, header: RequestHeader | None) -> str | None:
        return self._hasher(header.user_id) if header and header.user_id else None

    def _audit_entry(
        self,
        header: RequestHeader | None,
        delivery: Delivery,
        request_hash: str,
        registration: str | None,
        outcome: str,
        received_at: datetime,
        reply: bytes | None,
    ) -> AuditEntry:
        return AuditEntry(
            client_id=header.client_id if header else "(unreadable)",
            message_id=header.message_id if header else "(unreadable)",
            correlation_id=delivery.correlation_id,
            request_topic=delivery.topic,
            reply_topic=delivery.reply_to,
            end_user_hash=self._end_user_hash(header),
            operator_id=header.operator_id if header else None,
            registration_number=registration,
            outcome=outcome,
            request_hash=request_hash,
            reply_hash=hashlib.sha256(reply).hexdigest() if reply is not None else None,
            received_at=received_at,
            replied_at=self._now(),
        )

    async def _audit_only(
        self,
        header: RequestHeader | None,
        delivery: Delivery,
        request_hash: str,
        registration: str | None,
        outcome: str,
        received_at: datetime,
    ) -> bool:
        entry = self._audit_entry(
            header, delivery, request_hash, registration, outcome, received_at, None
        )
        try:
            async with self._uow_factory() as uow:
                await uow.journal.record(entry)
                await uow.commit()
        except Exception:
            log.exception("audit write failed for a refused request")
            return False
        return True
