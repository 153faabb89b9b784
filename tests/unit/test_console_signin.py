"""Console sign-in on in-memory ports: attempts rate-limited and every one recorded; the first
start's account exists only in development, with a random password, logged once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from gateway.domain.console import (
    Account,
    AccountError,
    ConsoleRole,
    Principal,
    SignInAttempt,
    SignInOutcome,
)
from gateway.domain.rate_limit import RateLimiter
from gateway.services.initial_account import INITIAL_ACCOUNT, ensure_initial_account
from gateway.services.ports import Accounts
from gateway.services.signin import SignIn

NOW = datetime(2026, 11, 28, 9, tzinfo=UTC)


async def first_start(accounts: Accounts, *, production: bool = False) -> None:
    await ensure_initial_account(
        accounts,
        production=production,
        sign_in_at="http://127.0.0.1:8080/console/",
        now=lambda: NOW,
    )


class MemoryAccounts:
    def __init__(self) -> None:
        self.passwords: dict[str, str] = {}
        self.accounts: dict[str, Account] = {}

    async def verify(self, username: str, password: str) -> Account | None:
        account = self.accounts.get(username)
        ok = account is not None and not account.disabled
        return account if ok and self.passwords[username] == password else None

    async def add(
        self,
        username: str,
        password: str,
        roles: frozenset[ConsoleRole],
        departments: frozenset[str],
        now: datetime,
    ) -> None:
        self.passwords[username] = password
        self.accounts[username] = Account(username, roles, departments, False, now)

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        return False

    async def all(self) -> list[Account]:
        return list(self.accounts.values())


class MemoryLog:
    def __init__(self) -> None:
        self.attempts: list[SignInAttempt] = []

    async def record(self, attempt: SignInAttempt) -> None:
        self.attempts.append(attempt)


def signin(accounts: MemoryAccounts, log: MemoryLog, per_minute: int = 3) -> SignIn:
    return SignIn(
        accounts,
        log,
        RateLimiter(per_minute / 60, per_minute),
        RateLimiter(4 * per_minute / 60, 4 * per_minute),
        lambda: NOW,
        lambda: 0.0,
    )


async def test_a_right_password_signs_in_a_wrong_one_is_refused_and_both_are_recorded() -> None:
    accounts, log = MemoryAccounts(), MemoryLog()
    await accounts.add(
        "amina", "a long password", frozenset({ConsoleRole.OPERATOR}), frozenset(), NOW
    )
    service = signin(accounts, log)
    assert await service.with_password("amina", "wrong", "10.0.0.1") is SignInOutcome.REFUSED
    assert await service.with_password("nobody", "x", "10.0.0.1") is SignInOutcome.REFUSED
    principal = await service.with_password(" Amina ", "a long password", "10.0.0.1")
    assert principal == Principal("amina", frozenset({ConsoleRole.OPERATOR}))
    assert [(a.username, a.outcome, a.client) for a in log.attempts] == [
        ("amina", SignInOutcome.REFUSED, "10.0.0.1"),
        ("nobody", SignInOutcome.REFUSED, "10.0.0.1"),
        ("amina", SignInOutcome.SIGNED_IN, "10.0.0.1"),
    ]


async def test_guessing_is_rate_limited_even_with_the_right_password_and_recorded() -> None:
    accounts, log = MemoryAccounts(), MemoryLog()
    await accounts.add(
        "amina", "a long password", frozenset({ConsoleRole.OPERATOR}), frozenset(), NOW
    )
    service = signin(accounts, log, per_minute=3)
    for _ in range(3):
        assert await service.with_password("amina", "guess", "10.0.0.9") is SignInOutcome.REFUSED
    limited = await service.with_password("amina", "a long password", "10.0.0.9")
    assert limited is SignInOutcome.RATE_LIMITED
    assert log.attempts[-1].outcome is SignInOutcome.RATE_LIMITED


async def test_the_first_development_start_makes_one_account_with_a_random_logged_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accounts = MemoryAccounts()
    with caplog.at_level(logging.WARNING):
        await first_start(accounts)
        await first_start(accounts)  # once only
    password = accounts.passwords[INITIAL_ACCOUNT]
    assert len(accounts.accounts) == 1 and len(password) >= 16
    assert [r for r in caplog.records if password in r.getMessage()] != []
    other = MemoryAccounts()
    await first_start(other)
    assert other.passwords[INITIAL_ACCOUNT] != password  # random, not fixed


async def test_replicas_starting_together_make_one_initial_account_and_none_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Both saw an empty store; the other's insert won: no crash, no second password logged."""

    class QuickerReplica(MemoryAccounts):
        async def add(self, username, password, roles, departments, now):  # type: ignore[no-untyped-def]
            await super().add(username, "the other replica's", roles, departments, now)
            raise AccountError(f"account {username!r} exists already")

    accounts = QuickerReplica()
    with caplog.at_level(logging.INFO):
        await first_start(accounts)
    assert list(accounts.accounts) == [INITIAL_ACCOUNT]
    assert "one-time password" not in caplog.text
    assert "created by another replica" in caplog.text


async def test_production_never_makes_an_initial_account(
    caplog: pytest.LogCaptureFixture,
) -> None:
    accounts = MemoryAccounts()
    await first_start(accounts, production=True)
    assert accounts.accounts == {}
    assert "no accounts" in caplog.text
