"""Micro-benchmark (not a test): the ingest use case's store writes alone, no Kafka, no XML.

Folds N simulated DMS events into a fresh PostgreSQL database in batches (as one partition
group of a poll would be), through `ingest_events` and the SQL unit of work, and prints the
client's CPU time and the wall time per event. Separates what the store costs the gateway's
process from decoding and from Kafka. The calendar is stored first, as the gateway does at
start, so each batch also computes its letters' stored legal deadline figures.

    .venv/bin/python bench/store.py --database-url postgresql+asyncpg://USER@127.0.0.1:PORT/DB
        [--events 100000] [--batch 400]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

# Run as a script: import from the project root, not from bench/ (bench/requests.py must never
# shadow the `requests` library for whatever imports it).
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

from bench._common import command_line, fresh_database, require_loopback  # noqa: E402
from gateway.clock import today_in  # noqa: E402
from gateway.ops.deadline_watch import store_settings_calendar  # noqa: E402
from gateway.services.ingestion import ingest_events  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.migrate import upgrade_to_head  # noqa: E402
from gateway.store.sql import SqlUnitOfWork, create_engine  # noqa: E402
from gateway.store.tables import letters  # noqa: E402
from gateway.tools.simulator import generate_events  # noqa: E402


async def run(args: argparse.Namespace) -> None:
    require_loopback("127.0.0.1:0", args.database_url)
    settings = Settings()
    hasher = settings.identifier_hasher()
    events = list(itertools.islice(generate_events(10**9, seed=5), args.events))
    async with AsyncExitStack() as stack:
        url = await fresh_database(stack, args.database_url)
        engine = create_engine(url)
        try:
            await upgrade_to_head(engine)
            await store_settings_calendar(settings, engine, today_in(settings.deadline_timezone))
            wall, cpu = time.perf_counter(), time.process_time()
            for start in range(0, len(events), args.batch):
                await ingest_events(
                    events[start : start + args.batch],
                    SqlUnitOfWork(engine),
                    hasher,
                    lambda: datetime.now(UTC),
                )
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            async with engine.connect() as conn:
                with_figures, stored = (
                    await conn.execute(select(func.count(letters.c.legal_due_date), func.count()))
                ).one()
        finally:
            await engine.dispose()
    n = len(events)
    print(
        f"ingest_events into PostgreSQL, {n} events in batches of {args.batch}: "
        f"client CPU {1e6 * cpu / n:.1f} µs/event, wall {1e6 * wall / n:.1f} µs/event "
        f"({n / wall:,.0f} events/s, one batch at a time)"
    )
    print(f"letters with stored legal deadline figures: {with_figures} of {stored}")
    print(f"command: {command_line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL server (loopback)")
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=400)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
