"""Registration numbers: one rule, whichever way a number reaches the gateway (regulation 3.3.1).

The DMS sends a letter's number, a requester types one, a partner quotes one: each is trimmed,
upper-cased and checked against the configured pattern (GATEWAY_REGISTRATION_NUMBER_PATTERN)
by `RegistrationNumber.parse`, so the number an event is stored under is the number a request
looks up.
"""

from __future__ import annotations

import re

from gateway.domain.requests import Fault

DEFAULT_PATTERN = re.compile(r"[A-Z]{2,5}-[0-9]{4}-[0-9]{4,8}")


class RegistrationNumber(str):
    """A number that passed `parse`: trimmed, upper case, in the pattern. Compares as a str."""

    __slots__ = ()

    @classmethod
    def parse(cls, raw: str | None, pattern: re.Pattern[str]) -> RegistrationNumber | Fault:
        """The number, or why not: MISSING_ (absent or blank) or MALFORMED_REGISTRATION_NUMBER."""
        number = (raw or "").strip().upper()
        if not number:
            return Fault.MISSING_REGISTRATION_NUMBER
        if not pattern.fullmatch(number):
            return Fault.MALFORMED_REGISTRATION_NUMBER
        return cls(number)
