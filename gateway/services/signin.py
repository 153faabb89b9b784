"""Console sign-in: rate-limited per username and per client address, every attempt audited.

Why an attempt failed (no such user, wrong password, disabled) is recorded only as REFUSED and
shown to nobody, so the sign-in page cannot be used to find out which accounts exist.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from gateway.domain.console import Principal, SignInAttempt, SignInOutcome
from gateway.domain.rate_limit import RateLimiter
from gateway.services.ports import Accounts, SignInLog


class SignIn:
    def __init__(
        self,
        accounts: Accounts,
        log: SignInLog,
        per_user: RateLimiter,
        per_client: RateLimiter,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
    ) -> None:
        self._accounts, self._log = accounts, log
        self._per_user, self._per_client = per_user, per_client
        self._now, self._monotonic = now, monotonic

    async def with_password(
        self, username: str, password: str, client: str
    ) -> Principal | SignInOutcome:
        username = username.strip().lower()[:64]
        moment = self._monotonic()
        # Both buckets are charged: guessing one account from many addresses, or many accounts
        # from one address, are both slowed down.
        user_ok = self._per_user.allow(username, moment)
        client_ok = self._per_client.allow(client, moment)
        if not (user_ok and client_ok):
            await self._record(username, SignInOutcome.RATE_LIMITED, client, "password")
            return SignInOutcome.RATE_LIMITED
        account = await self._accounts.verify(username, password)
        if account is None:
            await self._record(username, SignInOutcome.REFUSED, client, "password")
            return SignInOutcome.REFUSED
        await self._record(username, SignInOutcome.SIGNED_IN, client, "password")
        return account.principal()

    async def signed_in_elsewhere(self, principal: Principal, client: str) -> None:
        """The identity provider signed the user in: audited like a password sign-in."""
        await self._record(principal.user_id, SignInOutcome.SIGNED_IN, client, "oidc")

    async def refused_elsewhere(self, user_id: str, client: str) -> None:
        await self._record(user_id[:64], SignInOutcome.REFUSED, client, "oidc")

    async def signed_out(self, principal: Principal, client: str) -> None:
        await self._record(principal.user_id, SignInOutcome.SIGNED_OUT, client, "session")

    async def _record(self, username: str, outcome: SignInOutcome, client: str, how: str) -> None:
        await self._log.record(SignInAttempt(self._now(), username, outcome, client[:64], how))
