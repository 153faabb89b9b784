"""The operator console's use cases (issue 15). Every rule about who sees what is here, so the
web entry point (console/) stays a thin layer of forms and templates.

A lookup is a status request like the call center's: it goes through the same audited handler
and the same StatusRequests rules, on the console's own channel, under the operator's id.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date

from gateway.domain.access_log import AccessLogView
from gateway.domain.console import (
    AccessRecord,
    ConsoleRole,
    DailyRequests,
    DeadLetterEntry,
    Principal,
    WorkloadLetter,
)
from gateway.domain.requests import FaultView, RequestHeader, StatusRequest, StatusView
from gateway.services.audited_requests import AuditedRequestHandler, Delivery
from gateway.services.ports import LookupCodec, OversightQueries

LOOKUP_SERVICE_CODE = "console-status"
LOOKUP_PROTOCOL_VERSION = "1.0"


class Refused(Exception):
    """The principal's roles do not allow this page. Shown like any other refusal."""


def require(principal: Principal, *roles: ConsoleRole) -> None:
    if not any(principal.has(role) for role in roles):
        raise Refused


class ConsoleLookups:
    """Letter lookups for operators (any letter) and department heads (their departments')."""

    def __init__(
        self,
        handler: AuditedRequestHandler[StatusRequest, StatusView | AccessLogView],
        codec: LookupCodec,
        channel_topic: str,
        client_id: str,
        new_message_id: Callable[[], str],
    ) -> None:
        self._handler, self._codec = handler, codec
        self._topic, self._client_id, self._new_id = channel_topic, client_id, new_message_id

    async def lookup(self, principal: Principal, number: str) -> StatusView | FaultView:
        require(principal, ConsoleRole.OPERATOR, ConsoleRole.DEPARTMENT_HEAD)
        scope = None if principal.has(ConsoleRole.OPERATOR) else principal.departments
        header = RequestHeader(
            client_id=self._client_id,
            service_code=LOOKUP_SERVICE_CODE,
            message_id=self._new_id(),
            protocol_version=LOOKUP_PROTOCOL_VERSION,
            operator_id=principal.user_id,
        )
        raw = self._codec.encode_request(StatusRequest(header, number[:64], departments=scope))
        decision = await self._handler.handle(raw, Delivery(self._topic, self._topic, None))
        assert decision.reply is not None, "the console's reply topic is always allowed"
        return self._codec.decode_reply(decision.reply)


@dataclass(frozen=True)
class ExecutorLoad:
    executor_name: str | None
    executor_phone: str | None
    overdue: list[WorkloadLetter] = field(default_factory=list)
    due_soon: list[WorkloadLetter] = field(default_factory=list)


@dataclass(frozen=True)
class DepartmentLoad:
    code: str
    name: str | None
    executors: list[ExecutorLoad]

    @property
    def overdue(self) -> int:
        return sum(len(e.overdue) for e in self.executors)

    @property
    def due_soon(self) -> int:
        return sum(len(e.due_soon) for e in self.executors)


class Oversight:
    """What department heads, controllers and auditors see besides single letters."""

    def __init__(
        self,
        queries: OversightQueries,
        channel_names: Mapping[str, str],  # request topic -> channel name
        today: Callable[[], date],
    ) -> None:
        self._queries, self._channels = queries, channel_names
        self._today = today

    def channel_of(self, topic: str) -> str:
        return self._channels.get(topic, topic)

    async def workload(self, principal: Principal) -> list[DepartmentLoad]:
        """The principal's own departments only, each executor's overdue and due-soon letters."""
        require(principal, ConsoleRole.DEPARTMENT_HEAD)
        today = self._today()
        letters = await self._queries.workload(sorted(principal.departments), today)
        departments: dict[str, tuple[str | None, dict[str | None, ExecutorLoad]]] = {
            code: (None, {}) for code in sorted(principal.departments)
        }
        for letter in letters:
            name, executors = departments[letter.department_code]
            departments[letter.department_code] = (name or letter.department_name, executors)
            load = executors.setdefault(
                letter.executor_name, ExecutorLoad(letter.executor_name, letter.executor_phone)
            )
            (load.overdue if letter.due_date < today else load.due_soon).append(letter)
        return [
            DepartmentLoad(code, name, sorted(executors.values(), key=_by_name))
            for code, (name, executors) in departments.items()
        ]

    async def access_trail(self, principal: Principal, number: str) -> list[AccessRecord]:
        require(principal, ConsoleRole.AUDITOR)
        rows = await self._queries.access_trail(number.strip().upper()[:64], limit=500)
        return [
            AccessRecord(
                r.received_at,
                self.channel_of(r.channel),
                r.client_id,
                r.operator_id,
                r.end_user_hash,
                r.outcome,
            )
            for r in rows
        ]

    async def dead_letters(self, principal: Principal) -> list[DeadLetterEntry]:
        require(principal, ConsoleRole.AUDITOR)
        return await self._queries.recent_dead_letters(limit=200)

    async def requests_per_day(
        self, principal: Principal, start: date, end: date
    ) -> list[DailyRequests]:
        """Requests received on each day of [start, end), by channel and outcome."""
        require(principal, ConsoleRole.CONTROLLER)
        rows = await self._queries.requests_per_day(start, end)
        return [DailyRequests(r.day, self.channel_of(r.channel), r.outcome, r.count) for r in rows]


def _by_name(load: ExecutorLoad) -> str:
    return load.executor_name or ""
