"""`python -m gateway accounts add|disable|enable|list`: the console's local accounts."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from gateway.domain.console import AccountError, ConsoleRole
from gateway.settings import Settings


def add_arguments(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    accounts = commands.add_parser("accounts", help="console accounts: add, disable, enable, list")
    actions = accounts.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="add, disable, enable or list"
    )
    add = actions.add_parser("add", help="add an account (asks for the password)")
    add.add_argument("username", help="the account's sign-in name")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        choices=[r.value for r in ConsoleRole],
        help="a role of the account; repeat for several (required)",
    )
    add.add_argument(
        "--department",
        action="append",
        default=[],
        help="a department code a department head sees; repeat for several (default: none)",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (default: ask for it at the terminal)",
    )
    for name in ("disable", "enable"):
        actions.add_parser(name, help=f"{name} an account").add_argument(
            "username", help="the account's sign-in name"
        )
    actions.add_parser("list", help="list the accounts (never their passwords)")


async def accounts_command(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.store.console import SqlAccounts
    from gateway.store.migrate import upgrade_to_head
    from gateway.store.sql import create_engine

    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        accounts = SqlAccounts(engine)
        if args.action == "add":
            password = (
                sys.stdin.readline().rstrip("\n")
                if args.password_stdin
                else getpass.getpass(f"Password for {args.username}: ")
            )
            try:
                await accounts.add(
                    args.username,
                    password,
                    frozenset(ConsoleRole(r) for r in args.role),
                    frozenset(args.department),
                    datetime.now(UTC),
                )
            except AccountError as exc:
                print(f"accounts: {exc}", file=sys.stderr)
                return 2
            print(f"account {args.username} added")
        elif args.action in ("disable", "enable"):
            if not await accounts.set_disabled(args.username, args.action == "disable"):
                print(f"accounts: no account {args.username!r}", file=sys.stderr)
                return 2
            print(f"account {args.username} {args.action}d")
        else:
            for account in await accounts.all():
                state = "disabled" if account.disabled else "enabled"
                print(
                    f"{account.username}\t{state}\t{','.join(sorted(account.roles))}\t"
                    f"{','.join(sorted(account.departments)) or '-'}\t"
                    f"{account.created_at:%Y-%m-%d}"
                )
        return 0
    finally:
        await engine.dispose()
