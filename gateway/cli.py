"""Command line: `python -m gateway COMMAND`: run, ask, simulate-dms, rebuild, report,
verify-audit, asyncapi, accounts."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING

from gateway.settings import PROJECT_ROOT, Settings
from gateway.telemetry.logs import configure_logging
from gateway.xmlcodec.loading import SchemasUnavailable

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gateway")
LOCAL_KAFKA_DIR = PROJECT_ROOT / "var" / "kafka"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="Appeals status gateway: DMS events in, status replies and notices out.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="start the gateway (a local broker if none is set)")
    run.add_argument(
        "--log-level",
        default="INFO",
        help="DEBUG, INFO, WARNING or ERROR (default: %(default)s)",
    )

    ask = commands.add_parser("ask", help="ask the status of a letter, as the portal does")
    ask.add_argument("registration_number", help="the letter's number, e.g. DGK-2026-000007")
    who = ask.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--user",
        help="ask as this applicant: personal id code (FIN) or, with --company, tax id "
        "(required unless --operator)",
    )
    who.add_argument(
        "--operator",
        help="ask as this call-center operator, on the call-center topic (required unless --user)",
    )
    ask.add_argument(
        "--company", action="store_true", help="--user is a company's tax id (default: a FIN)"
    )
    ask.add_argument(
        "--client",
        help="client system id (default: the first of GATEWAY_EGOV_CLIENT_IDS, or of "
        "GATEWAY_CALLCENTER_CLIENT_IDS with --operator)",
    )
    ask.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for the reply (default: GATEWAY_REPLY_TIMEOUT_S, 10)",
    )
    ask.add_argument(
        "--xml", action="store_true", help="print the raw reply XML (default: a summary)"
    )
    _bootstrap_option(ask)
    ask.add_argument(
        "--access-log",
        action="store_true",
        help="ask who looked at the letter, as its applicant (default: ask its status)",
    )
    ask.add_argument(
        "--language",
        choices=("az", "en", "ru"),
        default="az",
        help="language of the explanation (default az)",
    )

    simulate = commands.add_parser("simulate-dms", help="publish a synthetic DMS event stream")
    simulate.add_argument(
        "--letters",
        type=int,
        default=100,
        help="letters to register, DGK-2026-000001 upwards (default: %(default)s)",
    )
    simulate.add_argument(
        "--seed", type=int, default=1, help="random seed; same seed, same events (default: 1)"
    )
    simulate.add_argument(
        "--disorder",
        type=float,
        default=0.1,
        help="share of letters whose events are shuffled and duplicated (default: %(default)s)",
    )
    _bootstrap_option(simulate)

    rebuild = commands.add_parser("rebuild", help="replay the DMS topics into an empty store")
    rebuild.add_argument(
        "--into",
        metavar="DATABASE_URL",
        help="the empty store to fill (default: GATEWAY_DATABASE_URL)",
    )

    report = commands.add_parser(
        "report", help="control report: requests, reply times, letters, overdue letters"
    )
    when = report.add_mutually_exclusive_group(required=True)
    when.add_argument("--period", help="YYYY-MM, YYYY-Qn or YYYY (required unless --from)")
    when.add_argument(
        "--from",
        dest="date_from",
        metavar="DATE",
        help="first day, YYYY-MM-DD (required unless --period)",
    )
    report.add_argument(
        "--to", dest="date_to", metavar="DATE", help="last day, YYYY-MM-DD (required with --from)"
    )
    report.add_argument("--csv", metavar="FILE", help="also write the figures as CSV (default: no)")

    verify = commands.add_parser(
        "verify-audit", help="check the sealed audit log against its blocks and witness topic"
    )
    verify.add_argument(
        "--from",
        dest="date_from",
        metavar="DATE",
        help="first day of blocks sealed, YYYY-MM-DD (default: the chain's start)",
    )
    verify.add_argument(
        "--to",
        dest="date_to",
        metavar="DATE",
        help="last day of blocks sealed, YYYY-MM-DD (default: the newest block)",
    )
    from gateway.tools.accounts import add_arguments

    add_arguments(commands)

    asyncapi = commands.add_parser("asyncapi", help="write (or --check) docs/asyncapi.json")
    asyncapi.add_argument(
        "--check", action="store_true", help="fail if the file is not current (default: write it)"
    )
    asyncapi.add_argument("--output", default=None, help="where to write (default: docs/)")
    return parser


def _bootstrap_option(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--bootstrap",
        metavar="HOST:PORT",
        help="Kafka broker(s) (default: GATEWAY_KAFKA_BOOTSTRAP_SERVERS, else the broker of the "
        "gateway `make run` started, else 127.0.0.1:GATEWAY_LOCAL_KAFKA_PORT)",
    )


def _client_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings `ask` and `simulate-dms` talk to the broker with."""
    from gateway.tools.addresses import recorded_bootstrap

    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers or recorded_bootstrap()
    return (
        settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
        if bootstrap
        else settings
    )


def _talking_to_kafka(command: str, settings: Settings, work: Coroutine[None, None, int]) -> int:
    """Runs a command that talks to the broker; no broker answering is one line, not a traceback."""
    from aiokafka.errors import KafkaConnectionError

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # its errors are ours to report
    try:
        return asyncio.run(work)
    except KafkaConnectionError:
        print(
            f"{command}: no Kafka broker answers at {settings.bootstrap_servers}. Start the "
            "gateway with `make run` in another terminal, or pass --bootstrap HOST:PORT."
        )
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(getattr(args, "log_level", "WARNING" if args.command == "ask" else "INFO"))
    try:
        return _dispatch(settings, args)
    except SchemasUnavailable as exc:  # ask, simulate-dms, rebuild; `run` serves /health instead
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 2


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "run":
        return asyncio.run(_run(settings))
    if args.command == "ask":
        from gateway.tools.client import ask_and_print

        settings = _client_settings(settings, args)
        return _talking_to_kafka("ask", settings, ask_and_print(settings, args))
    if args.command == "simulate-dms":
        from gateway.tools.simulator import simulate

        settings = _client_settings(settings, args)
        work = simulate(settings, args.letters, args.seed, args.disorder)
        return _talking_to_kafka("simulate-dms", settings, work)
    if args.command == "rebuild":
        from gateway.tools.rebuild import rebuild

        return asyncio.run(rebuild(settings, args.into))
    if args.command == "report":
        return _report(settings, args)
    if args.command == "verify-audit":
        return _verify_audit(settings, args)
    if args.command == "accounts":
        from gateway.tools.accounts import accounts_command

        return asyncio.run(accounts_command(settings, args))
    if args.command == "asyncapi":
        from gateway.tools.asyncapi import asyncapi_command

        return asyncapi_command(check=args.check, output=args.output)
    raise AssertionError(args.command)


def _report(settings: Settings, args: argparse.Namespace) -> int:
    from gateway.clock import today_in
    from gateway.reports.periods import PeriodError, period_from
    from gateway.tools.report import run_report

    try:
        period = period_from(args.period, args.date_from, args.date_to)
    except PeriodError as exc:
        print(f"report: {exc}")
        return 2
    today = today_in(settings.deadline_timezone)
    return asyncio.run(run_report(settings, period, args.csv, today))


def _verify_audit(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import date

    from gateway.tools.verify_audit import verify_audit_command

    try:
        first, last = (
            date.fromisoformat(day) if day else None for day in (args.date_from, args.date_to)
        )
    except ValueError as exc:
        print(f"verify-audit: dates are YYYY-MM-DD ({exc})")
        return 2
    return asyncio.run(verify_audit_command(settings, first, last))


async def _run(settings: Settings) -> int:
    from gateway.tools import local_kafka

    started_broker = False
    if settings.uses_local_kafka and not local_kafka.is_running(LOCAL_KAFKA_DIR):
        log.info("no GATEWAY_KAFKA_BOOTSTRAP_SERVERS set: starting the local broker")
        await asyncio.to_thread(local_kafka.start, LOCAL_KAFKA_DIR, settings.local_kafka_port)
        started_broker = True
    with contextlib.suppress(OSError):  # read-only in an installed image; only dev needs var/
        (PROJECT_ROOT / "var").mkdir(exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        return await _serve_until(stop, settings)
    finally:
        if started_broker:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(local_kafka.stop, LOCAL_KAFKA_DIR)


async def _serve_until(stop: asyncio.Event, settings: Settings) -> int:
    """Run until `stop` is set (SIGTERM/SIGINT), then stop taking messages, let in-flight work
    finish (or abandon it uncommitted) and return within GATEWAY_SHUTDOWN_TIMEOUT_S.
    If the XSDs or the working-day calendar cannot be loaded, serve only /health (not ready,
    saying why) until stopped."""
    from gateway.app import Gateway
    from gateway.reference.calendar_files import CalendarFileError
    from gateway.tools import addresses

    try:
        gateway = Gateway(settings)
    except (SchemasUnavailable, CalendarFileError) as exc:
        log.error("not starting the consumers: %s", exc)
        from gateway.ops.endpoints import serve_unready

        part = "schemas" if isinstance(exc, SchemasUnavailable) else "calendar"
        await serve_unready(settings, {part: str(exc)}, stop)
        return 0
    starting = asyncio.create_task(
        gateway.start(lambda: addresses.record(settings.bootstrap_servers, gateway.http_address))
    )
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    try:
        if not starting.done():
            starting.cancel()  # stopped while starting
            await asyncio.gather(starting, return_exceptions=True)
        else:
            starting.result()  # a failed start ends the process with its exception
            await stopped
        log.info("shutting down")
    finally:
        addresses.forget()
        stopped.cancel()
        clean = await _stop_within(gateway, settings.shutdown_timeout_s)
    return 0 if clean else 1


async def _stop_within(gateway: Gateway, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            await gateway.stop()
    except TimeoutError:
        log.error("shutdown exceeded %.0f s; exiting anyway", timeout_s)
        return False
    return True
