"""One rule for a registration number, whichever way it reaches the gateway: trimmed,
upper-cased, and in the configured pattern (regulation 3.3.1)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.domain.registration import DEFAULT_PATTERN, RegistrationNumber
from gateway.domain.requests import Fault
from gateway.settings import Settings


@pytest.mark.parametrize(
    ("sent", "number"),
    [
        ("DGK-2026-004127", "DGK-2026-004127"),
        ("dgk-2026-004127", "DGK-2026-004127"),
        (" \tDgk-2026-004127\n", "DGK-2026-004127"),
        ("ab-2026-0001", "AB-2026-0001"),
    ],
)
def test_a_number_is_trimmed_and_upper_cased(sent: str, number: str) -> None:
    parsed = RegistrationNumber.parse(sent, DEFAULT_PATTERN)
    assert isinstance(parsed, RegistrationNumber)
    assert parsed == number


@pytest.mark.parametrize("sent", [None, "", "  \t\n "])
def test_no_number_is_missing(sent: str | None) -> None:
    assert RegistrationNumber.parse(sent, DEFAULT_PATTERN) is Fault.MISSING_REGISTRATION_NUMBER


@pytest.mark.parametrize(
    "sent",
    [
        "12345",
        "4127/2026",
        "DGK-2026-12",
        "DGK-2026-004127X",
        "X DGK-2026-004127",
        "DGK 2026 004127",
    ],
)
def test_a_number_outside_the_pattern_is_malformed(sent: str) -> None:
    assert RegistrationNumber.parse(sent, DEFAULT_PATTERN) is Fault.MALFORMED_REGISTRATION_NUMBER


def test_a_number_finds_what_was_stored_under_the_same_text() -> None:
    parsed = RegistrationNumber.parse("dgk-2026-004127", DEFAULT_PATTERN)
    stored = {"DGK-2026-004127": "the letter"}
    assert stored[parsed] == "the letter"


def test_the_pattern_is_configurable_and_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_REGISTRATION_NUMBER_PATTERN", "[0-9]{4}/[0-9]{4}")
    pattern = Settings().registration_number_pattern
    assert RegistrationNumber.parse("4127/2026", pattern) == "4127/2026"
    assert (
        RegistrationNumber.parse("DGK-2026-004127", pattern) is Fault.MALFORMED_REGISTRATION_NUMBER
    )
    monkeypatch.setenv("GATEWAY_REGISTRATION_NUMBER_PATTERN", "[A-Z")
    with pytest.raises(ValidationError, match="registration_number_pattern"):
        Settings()
