"""Command line: `python -m gateway run|ask|simulate-dms|rebuild`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

from gateway.logs import configure_logging
from gateway.settings import PROJECT_ROOT, Settings

log = logging.getLogger("gateway")
LOCAL_KAFKA_DIR = PROJECT_ROOT / "var" / "kafka"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gateway",
        description="Appeals status gateway: DMS events in, status replies and notices out.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="start the gateway (a local broker if none is set)")
    run.add_argument("--log-level", default="INFO")

    ask = commands.add_parser("ask", help="ask the status of a letter, as the portal does")
    ask.add_argument("registration_number")
    who = ask.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="the applicant's personal id code (FIN) or tax id (VÖEN)")
    who.add_argument("--operator", help="call-center operator id (asks on the call-center topic)")
    ask.add_argument("--company", action="store_true", help="--user is a company's tax id")
    ask.add_argument("--client", help="client system id (default: the first allowed one)")
    ask.add_argument("--timeout", type=float, default=None, help="seconds to wait for the reply")
    ask.add_argument("--xml", action="store_true", help="print the raw reply XML")

    simulate = commands.add_parser("simulate-dms", help="publish a synthetic DMS event stream")
    simulate.add_argument("--letters", type=int, default=100)
    simulate.add_argument("--seed", type=int, default=1)
    simulate.add_argument(
        "--disorder",
        type=float,
        default=0.1,
        help="share of letters whose events are shuffled and duplicated",
    )

    rebuild = commands.add_parser("rebuild", help="replay the DMS topics into an empty store")
    rebuild.add_argument(
        "--into",
        metavar="DATABASE_URL",
        help="the empty store to fill (default: GATEWAY_DATABASE_URL)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(getattr(args, "log_level", "WARNING" if args.command == "ask" else "INFO"))
    if args.command == "run":
        return asyncio.run(_run(settings))
    if args.command == "ask":
        from gateway.client import ask_and_print

        return asyncio.run(ask_and_print(settings, args))
    if args.command == "simulate-dms":
        from gateway.simulator import simulate

        return asyncio.run(simulate(settings, args.letters, args.seed, args.disorder))
    if args.command == "rebuild":
        from gateway.rebuild import rebuild

        return asyncio.run(rebuild(settings, args.into))
    raise AssertionError(args.command)


async def _run(settings: Settings) -> int:
    from gateway import local_kafka
    from gateway.app import running

    started_broker = False
    if settings.uses_local_kafka and not local_kafka.is_running(LOCAL_KAFKA_DIR):
        log.info("no GATEWAY_KAFKA_BOOTSTRAP_SERVERS set: starting the local broker")
        await asyncio.to_thread(local_kafka.start, LOCAL_KAFKA_DIR, settings.local_kafka_port)
        started_broker = True
    (PROJECT_ROOT / "var").mkdir(exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with running(settings):
            await stop.wait()
            log.info("shutting down")
    finally:
        if started_broker:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(local_kafka.stop, LOCAL_KAFKA_DIR)
    return 0
