"""Status requests from the e-government bus and the call center (regulation 3.2-3.4).

Checks, in order: the message itself, who is asking (client allowed on this topic, an end user
for the portal, an operator for the call center), how the end user was authenticated (an
accepted authLevel, regulation 3.1), how often, the registration number's format;
then the letter, shown only to whoever may see it. The shared flow (reply topics, redelivery,
audit) is in audited_requests.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.domain.access import RequestChannel, Role, header_fits_role, may_see
from gateway.domain.access_log import AccessLogPolicy, AccessLogView
from gateway.domain.identity import IdentifierHasher
from gateway.domain.letters import HistoryEntry, Letter
from gateway.domain.rate_limit import RateLimiter
from gateway.domain.refusals import DecodeError
from gateway.domain.registration import RegistrationNumber
from gateway.domain.requests import (
    Fault,
    FaultView,
    Query,
    RequestHeader,
    StatusRequest,
    StatusView,
)
from gateway.domain.texts import Language
from gateway.services.audited_requests import Assessment
from gateway.services.deadlines import Deadlines
from gateway.services.ports import StatusCodec, UnitOfWork


@dataclass
class RateLimits:
    per_user: RateLimiter
    per_client: RateLimiter

    def allow(self, client_id: str, requester: str, now: float) -> bool:
        return self.per_client.allow(client_id, now) and self.per_user.allow(requester, now)


class StatusRequests:
    """The RequestKind of the e-government and call-center request topics."""

    def __init__(
        self,
        channels: Mapping[str, RequestChannel],  # by request topic
        codec: StatusCodec,
        numbers: re.Pattern[str],  # GATEWAY_REGISTRATION_NUMBER_PATTERN
        hasher: IdentifierHasher,
        limits: RateLimits,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        access_log: AccessLogPolicy,
        deadlines: Deadlines,
    ) -> None:
        self._channels, self._codec, self._numbers = channels, codec, numbers
        self._hasher, self._limits = hasher, limits
        self._now, self._monotonic = now, monotonic
        self._access_log = access_log
        self._deadlines = deadlines

    def allowed_reply_topics(self, request_topic: str) -> frozenset[str]:
        return self._channels[request_topic].allowed_reply_topics

    def encode(
        self,
        header: RequestHeader | None,
        request_hash: str,
        result: StatusView | AccessLogView | FaultView,
    ) -> bytes:
        return self._codec.encode_reply(header, request_hash, result)

    def assess(self, raw: bytes, request_topic: str) -> Assessment[StatusRequest]:
        channel = self._channels[request_topic]
        try:
            request = self._codec.decode_request(raw)
        except DecodeError as error:
            return Assessment(error.header, fault=self._codec.fault_for(error))
        header = request.header
        end_user = self._hasher(header.user_id) if header.user_id else None
        as_sent = (request.registration_number or "").strip()[:64] or None

        def refuse(code: Fault) -> Assessment[StatusRequest]:
            return Assessment(header, None, FaultView(code), as_sent, end_user)

        if header.client_id not in channel.allowed_clients or not header_fits_role(
            header, channel.role
        ):
            return refuse(Fault.ACCESS_DENIED)
        if not channel.accepts_auth_level(header):
            return refuse(Fault.AUTH_LEVEL_NOT_ACCEPTED)
        requester = end_user or f"operator:{header.operator_id}"
        if not self._limits.allow(header.client_id, requester, self._monotonic()):
            return refuse(Fault.RATE_LIMITED)
        number = RegistrationNumber.parse(request.registration_number, self._numbers)
        if isinstance(number, Fault):
            return refuse(number)
        return Assessment(header, request, None, number, end_user, reply_key=number)

    async def answer(
        self, uow: UnitOfWork, requests: Sequence[tuple[Assessment[StatusRequest], str]]
    ) -> list[StatusView | AccessLogView | FaultView]:
        numbers = {a.registration_number for a, _ in requests if a.registration_number}
        found = await uow.letters.with_histories(numbers)
        results: list[StatusView | AccessLogView | FaultView] = []
        for a, topic in requests:
            letter, history = found.get(a.registration_number or "", (None, []))
            role = self._channels[topic].role
            scope = a.request.departments if a.request else None
            if letter is None or not may_see(letter, role, a.end_user_hash, scope):
                results.append(FaultView(Fault.NOT_FOUND))  # absent or not theirs: the same
            elif a.request is None or a.request.query is Query.STATUS:
                language = a.request.language if a.request else Language.AZ
                results.append(self._view(letter, history, language))
            elif role is Role.EGOV and a.end_user_hash is not None:  # the applicant, no one else
                lookups = await uow.journal.lookups(letter.registration_number)
                results.append(
                    self._access_log.view(
                        letter.registration_number, lookups, a.end_user_hash, self._now()
                    )
                )
            else:
                results.append(FaultView(Fault.NOT_FOUND))  # an official asking: as if absent
        return results

    def _view(self, letter: Letter, history: list[HistoryEntry], language: Language) -> StatusView:
        assert letter.status is not None and letter.status_at is not None
        department, executor = letter.department, letter.executor
        now = self._now()
        deadline = self._deadlines.of(letter, now)
        return StatusView(
            registration_number=letter.registration_number,
            registration_date=letter.registration_date,
            status=letter.status,
            last_change_at=letter.status_at,
            department_code=department.code if department else None,
            department_name=department.name if department else None,
            executor_name=executor.full_name if executor else None,
            executor_phone=executor.phone if executor else None,
            due_date=deadline.due_date if deadline else letter.due_date,
            history=tuple(history),
            as_of=now,
            deadline=deadline,
            explanation=self._deadlines.explain(letter.status, deadline, language),
        )
