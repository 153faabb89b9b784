"""The console's first account: no account ever exists with a fixed or default password.

On a development store without accounts, the first start makes one with a random password and
logs it, once; production never does (accounts come from `gateway accounts add` or OIDC).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from gateway.domain.console import AccountError, ConsoleRole
from gateway.services.ports import Accounts

log = logging.getLogger(__name__)
INITIAL_ACCOUNT = "console-admin"


async def ensure_initial_account(
    accounts: Accounts, *, production: bool, sign_in_at: str, now: Callable[[], datetime]
) -> None:
    if await accounts.all():
        return
    if production:
        log.warning(
            "the console has no accounts: add one with `python -m gateway accounts add` "
            "or sign in through OIDC"
        )
        return
    password = secrets.token_urlsafe(15)
    roles = frozenset({ConsoleRole.OPERATOR, ConsoleRole.CONTROLLER, ConsoleRole.AUDITOR})
    try:
        await accounts.add(INITIAL_ACCOUNT, password, roles, frozenset(), now())
    except AccountError:
        # Replicas starting together on an empty store: another one made it first, and logged
        # its password; this one's was never stored.
        log.info("console: the initial account was created by another replica")
        return
    # Logged on purpose, once, in development only: the newcomer's way in. Never stored in clear.
    log.warning(
        "console: created account %r (operator, controller, auditor) with the one-time password "
        "%s - sign in at %s and add real accounts with `python -m gateway accounts add`",
        INITIAL_ACCOUNT,
        password,
        sign_in_at,
    )
