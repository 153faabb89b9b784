"""Who looked at a letter: the applicant's view of the audit trail (like Estonia's Data
Tracker). Built from the audit rows of requests that were answered with the letter's data."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime


class AccessChannel(enum.StrEnum):
    PORTAL = "portal"
    CALL_CENTER = "call-center"
    CONSOLE = "console"
    PARTNER = "partner"


class OfficialIds(enum.StrEnum):
    FULL = "full"  # the operator id as audited
    MASKED = "masked"  # a stable pseudonym: tells officials apart, names none


@dataclass(frozen=True)
class AccessSource:
    """What a request topic means to an applicant reading the log."""

    channel: AccessChannel
    partner_name: str | None = None


@dataclass(frozen=True)
class Lookup:
    """An audited request answered with the letter's data."""

    at: datetime
    request_topic: str
    end_user_hash: str | None
    operator_id: str | None


@dataclass(frozen=True)
class Access:
    at: datetime
    channel: AccessChannel
    partner_name: str | None
    official: str | None


@dataclass(frozen=True)
class AccessLogView:
    registration_number: str
    accesses: tuple[Access, ...]  # newest first
    as_of: datetime


@dataclass(frozen=True)
class AccessLogPolicy:
    sources: Mapping[str, AccessSource]  # by request topic
    officials: OfficialIds
    include_own_lookups: bool
    pseudonym: Callable[[str], str]  # operator id -> its masked form

    def view(
        self,
        registration_number: str,
        lookups: Iterable[Lookup],
        applicant_hash: str,
        as_of: datetime,
    ) -> AccessLogView:
        """Newest first. A lookup on a topic the gateway no longer serves has no channel to
        show and is left out (the audit trail itself keeps it)."""
        accesses = [
            Access(lookup.at, source.channel, source.partner_name, self._official(lookup))
            for lookup in lookups
            if (source := self.sources.get(lookup.request_topic)) is not None
            and (self.include_own_lookups or not self._own(lookup, source, applicant_hash))
        ]
        accesses.sort(key=lambda a: a.at, reverse=True)
        return AccessLogView(registration_number, tuple(accesses), as_of)

    @staticmethod
    def _own(lookup: Lookup, source: AccessSource, applicant_hash: str) -> bool:
        return source.channel is AccessChannel.PORTAL and lookup.end_user_hash == applicant_hash

    def _official(self, lookup: Lookup) -> str | None:
        if lookup.operator_id is None:
            return None
        if self.officials is OfficialIds.FULL:
            return lookup.operator_id
        return self.pseudonym(lookup.operator_id)
