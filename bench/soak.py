"""Soak (not a test, not in CI): the gateway as a real process under steady mixed load.

For --minutes (default 10): DMS events at --events-per-s and call-center status requests at
--requests-per-s for letters already in the store, each reply checked against the reference
fold. Prints throughput, reply latency percentiles and the gateway's RSS after warm-up and at
the end; exits 1 if RSS grew by 10 % or more, or any answer was wrong, or events are missing.

    .venv/bin/python bench/soak.py [--minutes 10] [--events-per-s 300] [--requests-per-s 30]
                                   [--bootstrap H:P] [--database-url URL]

Without --bootstrap/--database-url it starts its own broker and PostgreSQL and stops them.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import Services, add_service_options, command_line, fresh_database  # noqa: E402

from gateway.kafka import ensure_topics  # noqa: E402
from gateway.store.sql import create_engine  # noqa: E402
from gateway.tools.simulator import generate_events  # noqa: E402
from tests.reliability.harness import (  # noqa: E402
    FastProducer,
    GatewayProcess,
    RequestLoad,
    encode_events,
    log_dir,
    stable_expectations,
    unique_settings,
)
from tests.support.store_snapshot import count  # noqa: E402

WARM_UP_S = 30.0
MAX_RSS_GROWTH = 0.10


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


async def soak(args: argparse.Namespace, server_url: str, bootstrap: str) -> int:
    duration = args.minutes * 60
    total_events = int(args.events_per_s * duration) + 20_000
    events = list(itertools.islice(generate_events(10**7, seed=77, disorder=0.1), total_events))
    seed, stream = events[:20_000], events[20_000:]
    async with AsyncExitStack() as stack:
        database = await fresh_database(stack, server_url)
        settings = unique_settings(
            bootstrap,
            database,
            rate_limit_per_user_per_minute=1_000_000,
            rate_limit_per_client_per_second=100_000,
        )
        await ensure_topics(settings, settings.all_topics)
        records = encode_events(settings, stream)
        async with FastProducer(settings) as producer:
            await producer.publish(encode_events(settings, seed))
        expected, history = stable_expectations(settings, seed, stream)
        gateway = GatewayProcess(settings, log_dir("soak"))
        engine = create_engine(database)
        try:
            gateway.start()
            unique_seed = len({e.event_id for e in seed})
            while await count(engine) < unique_seed:
                await asyncio.sleep(0.5)
            print(
                f"gateway up (pid {gateway.pid}), {unique_seed} seed events stored; "
                f"soaking {args.minutes} min",
                flush=True,
            )
            stop = asyncio.Event()
            async with RequestLoad(
                settings, expected, history, rate_per_s=args.requests_per_s, timeout_s=10
            ) as load:
                traffic = asyncio.create_task(load.run(stop, max_seconds=duration + 60))
                started = time.monotonic()
                rss_start = None
                published = 0
                async with FastProducer(settings) as producer:
                    chunk = max(1, int(args.events_per_s))  # one chunk per second
                    for start in range(0, len(records), chunk):
                        await producer.publish(records[start : start + chunk])
                        published += len(records[start : start + chunk])
                        elapsed = time.monotonic() - started
                        if rss_start is None and elapsed >= WARM_UP_S:
                            rss_start = gateway.rss_mb()
                            print(
                                f"RSS after {WARM_UP_S:.0f} s warm-up: {rss_start:.1f} MB",
                                flush=True,
                            )
                        if elapsed >= duration:
                            break
                        await asyncio.sleep(max(0.0, (start // chunk + 1) - elapsed))
                soak_s = time.monotonic() - started
                stop.set()
                await traffic
            want = len({e.event_id for e in seed + stream[:published]})
            deadline = time.monotonic() + 120
            while (stored := await count(engine)) < want and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            rss_end = gateway.rss_mb()
            alive = gateway.alive()
        finally:
            gateway.stop()
            await engine.dispose()
    latencies = [(done - sent) * 1000 for sent, done, o in load.outcomes if o == "answered"]
    figures = load.figures()
    growth = (rss_end - rss_start) / rss_start if rss_start else float("nan")
    print()
    print(f"command            : {command_line()}")
    print(f"duration           : {soak_s:.0f} s")
    print(
        f"DMS events         : {published} published ({published / soak_s:.0f}/s), "
        f"{stored} unique in store of {want}"
    )
    print(
        f"requests           : {figures['requests_sent']} sent "
        f"({figures['requests_sent'] / soak_s:.1f}/s), {figures['answered']} answered right, "
        f"{figures['faulted']} faults, {figures['timed_out']} timed out, "
        f"{figures['wrong_answers']} wrong"
    )
    print(
        f"reply latency ms   : p50 {percentile(latencies, 50):.1f}  "
        f"p95 {percentile(latencies, 95):.1f}  p99 {percentile(latencies, 99):.1f}  "
        f"max {max(latencies, default=float('nan')):.1f}  "
        f"mean {statistics.fmean(latencies) if latencies else float('nan'):.1f}"
    )
    print(
        f"gateway RSS        : {rss_start:.1f} MB after warm-up, {rss_end:.1f} MB at the end "
        f"({growth:+.1%}; limit +{MAX_RSS_GROWTH:.0%})"
    )
    ok = alive and growth < MAX_RSS_GROWTH and figures["wrong_answers"] == 0 and stored == want
    print("RESULT             :", "ok" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--events-per-s", type=float, default=300.0)
    parser.add_argument("--requests-per-s", type=float, default=30.0)
    add_service_options(parser)
    args = parser.parse_args()
    services = Services(args)
    try:
        services.start()
        return asyncio.run(soak(args, services.server_url, services.bootstrap))
    finally:
        services.close()


if __name__ == "__main__":
    sys.exit(main())
