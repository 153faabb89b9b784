"""Who uses the operator console and what each role may see (issue 15).

A console user is a principal: an id, roles and, for department heads, the departments they
head. The console's rules read only these; where they come from (the local account store or
the identity provider's claims) is an adapter's business.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime

USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,62}")


class ConsoleRole(enum.StrEnum):
    OPERATOR = "operator"  # call center: looks letters up while on the phone
    DEPARTMENT_HEAD = "department-head"  # their departments' letters due soon and overdue
    CONTROLLER = "controller"  # Main Department: dashboard and control reports
    AUDITOR = "auditor"  # who accessed a letter; dead letters


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: frozenset[ConsoleRole]
    departments: frozenset[str] = frozenset()

    def has(self, role: ConsoleRole) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Account:
    """A local console account; the password hash never leaves the store."""

    username: str
    roles: frozenset[ConsoleRole]
    departments: frozenset[str]
    disabled: bool
    created_at: datetime

    def principal(self) -> Principal:
        return Principal(self.username, self.roles, self.departments)


class AccountError(ValueError):
    """An account that cannot be created as asked (bad name, no role, head of nothing)."""


def check_account(
    username: str, roles: frozenset[ConsoleRole], departments: frozenset[str]
) -> None:
    if not USERNAME.fullmatch(username):
        raise AccountError("a username is 2-63 characters: a-z, 0-9, '.', '_' and '-'")
    if not roles:
        raise AccountError("an account needs at least one role")
    if ConsoleRole.DEPARTMENT_HEAD in roles and not departments:
        raise AccountError("a department head needs at least one department")


class SignInOutcome(enum.StrEnum):
    SIGNED_IN = "SIGNED_IN"
    REFUSED = "REFUSED"  # unknown user, wrong password or disabled: told apart only here
    RATE_LIMITED = "RATE_LIMITED"
    SIGNED_OUT = "SIGNED_OUT"


@dataclass(frozen=True)
class SignInAttempt:
    at: datetime
    username: str  # as typed, cut to 64 characters
    outcome: SignInOutcome
    client: str  # the remote address
    method: str  # "password" or "oidc"


# ---- what the console's pages show (read models) ---------------------------------------


@dataclass(frozen=True)
class WorkloadLetter:
    """An open letter of a department, for its head: due soon or overdue."""

    registration_number: str
    department_code: str
    department_name: str | None
    executor_name: str | None
    executor_phone: str | None
    status: str | None
    due_date: date


@dataclass(frozen=True)
class AccessRecord:
    """One request that named a letter (regulation 3.5.1's audit row), for the auditor."""

    received_at: datetime
    channel: str  # the request topic's channel name, or the topic itself
    client_id: str
    operator_id: str | None
    end_user_hash: str | None
    outcome: str


@dataclass(frozen=True)
class DeadLetterEntry:
    """A DMS record refused and parked on the dead-letter topic, and why."""

    recorded_at: datetime
    topic: str
    partition: int
    offset: int
    reason: str
    detail: str
    path: str | None


@dataclass(frozen=True)
class DailyRequests:
    day: date
    channel: str
    outcome: str
    count: int
