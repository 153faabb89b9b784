"""`python -m gateway accounts`: add, list, disable; passwords kept only as salted argon2id
hashes; the sign-in and dead-letter logs kept as recorded; on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from sqlalchemy import select

from gateway.domain.console import DeadLetterEntry, SignInAttempt, SignInOutcome
from gateway.settings import PROJECT_ROOT, Settings
from gateway.store.console import SqlAccounts, SqlDeadLetterLog, SqlOversight, SqlSignInLog
from gateway.store.migrate import upgrade_to_head
from gateway.store.sql import create_engine
from gateway.store.tables import console_accounts, console_signins
from tests.support.processes import environment


def accounts(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "accounts", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=environment(settings),
        timeout=120,
    )


async def test_accounts_are_added_listed_disabled_and_hashed(settings: Settings) -> None:
    password = "a password of some length"
    for name in ("amina", "rauf"):
        added = accounts(
            settings,
            "add",
            name,
            "--role",
            "department-head",
            "--department",
            "D1",
            "--password-stdin",
            stdin=password + "\n",
        )
        assert added.returncode == 0, added.stderr
    assert (
        accounts(
            settings,
            "add",
            "amina",
            "--role",
            "operator",
            "--password-stdin",
            stdin=password + "\n",
        ).returncode
        == 2
    )  # exists already
    short = accounts(
        settings, "add", "kim", "--role", "operator", "--password-stdin", stdin="short\n"
    )
    assert short.returncode == 2 and "12 characters" in short.stderr
    assert accounts(settings, "disable", "rauf").returncode == 0
    listed = accounts(settings, "list").stdout.splitlines()
    assert [line.split("\t")[:4] for line in listed] == [
        ["amina", "enabled", "department-head", "D1"],
        ["rauf", "disabled", "department-head", "D1"],
    ]
    assert password not in "\n".join(listed)

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            hashes = [h for (h,) in await conn.execute(select(console_accounts.c.password_hash))]
        assert all(h.startswith("$argon2id$") and password not in h for h in hashes)
        assert hashes[0] != hashes[1]  # salted: the same password, two hashes
        store = SqlAccounts(engine)
        assert (await store.verify("amina", password)) is not None
        assert await store.verify("amina", password + "x") is None
        assert await store.verify("rauf", password) is None  # disabled
        assert await store.verify("nobody", password) is None
    finally:
        await engine.dispose()


async def test_sign_in_attempts_and_dead_letters_are_kept_as_recorded(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade_to_head(engine)
        at = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
        attempt = SignInAttempt(at, "amina", SignInOutcome.RATE_LIMITED, "10.0.0.9", "password")
        await SqlSignInLog(engine).record(attempt)
        dead = DeadLetterEntry(at, "dms.events", 2, 41, "MALFORMED_XML", "line 1: <x", None)
        await SqlDeadLetterLog(engine).record(dead)
        async with engine.connect() as conn:
            kept = (await conn.execute(select(console_signins))).mappings().one()
        assert {k: kept[k] for k in ("username", "outcome", "client", "method")} == {
            "username": "amina",
            "outcome": "RATE_LIMITED",
            "client": "10.0.0.9",
            "method": "password",
        }
        assert await SqlOversight(engine, Settings().deadline_rules()).recent_dead_letters(5) == [
            dead
        ]
    finally:
        await engine.dispose()
