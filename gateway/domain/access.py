"""Who may see which letter.

A requester who may not see a letter is told exactly what it would be told for a number that
does not exist, so registration numbers cannot be probed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.domain.letters import Letter
from gateway.domain.requests import RequestHeader


class Role(enum.StrEnum):
    EGOV = "egov"  # e-government portal: the authenticated end user must be the applicant
    CALLCENTER = "callcenter"  # the authority's call center: any letter, operator id required


@dataclass(frozen=True)
class RequestChannel:
    """A request topic, the role it grants and the clients allowed to use it."""

    name: str
    role: Role
    request_topic: str
    allowed_reply_topics: frozenset[str]
    allowed_clients: frozenset[str]
    # Regulation 3.1: how an end user must have been authenticated. None: this channel names
    # an operator, not an end user (the call center), and there is nothing to check.
    accepted_auth_levels: frozenset[str] | None = None

    def accepts_auth_level(self, header: RequestHeader) -> bool:
        levels = self.accepted_auth_levels
        return levels is None or header.auth_level in levels


def may_see(
    letter: Letter,
    role: Role,
    end_user_hash: str | None,
    departments: frozenset[str] | None = None,
) -> bool:
    """`departments`: the asker sees only these departments' letters (console department heads)."""
    if not letter.is_registered:  # status before registration: nothing to show yet
        return False
    if departments is not None and (
        letter.department is None or letter.department.code not in departments
    ):
        return False
    if role is Role.CALLCENTER:
        return True
    return end_user_hash is not None and end_user_hash == letter.applicant_hash


def header_fits_role(header: RequestHeader, role: Role) -> bool:
    """The e-gov portal must name its authenticated end user; the call center its operator."""
    if role is Role.CALLCENTER:
        return bool(header.operator_id)
    return bool(header.user_id)
