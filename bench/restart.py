"""Restart after SIGKILL (not a test): how long a gateway process takes to be ready again after
being killed, with dynamic group membership and with static membership
(GATEWAY_KAFKA_GROUP_INSTANCE_ID). Prints one RESULT line per configuration: seconds from the
process start to /health/ready (includes the interpreter's imports, which a busy machine
stretches), and from its "starting gateway" log line until both consumer groups (DMS events,
requests) have partitions assigned, i.e. until it consumes again: the part the group's session
timeout decides.

    .venv/bin/python bench/restart.py --bootstrap H:P [--rounds 3] [--session-timeout-ms 10000]

On a busy machine the interpreter's start can take as long as the session timeout and hide
the wait; a longer --session-timeout-ms shows it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.settings import Settings  # noqa: E402
from tests.support.http import get_json  # noqa: E402
from tests.support.processes import GatewayProcess, environment, free_port  # noqa: E402


async def ready_after_start(process: GatewayProcess) -> tuple[float, float]:
    """(seconds to ready from the process start, seconds from "starting gateway" until both
    consumer groups have their partitions)."""
    started = time.monotonic()
    process.start()
    while True:
        try:
            status, _ = await get_json(process.port, "/health/ready")
            if status == 200:
                ready = time.monotonic() - started
                break
        except (OSError, ValueError):
            pass
        await asyncio.sleep(0.05)
    while (consuming := _starting_to_consuming(process.log_path)) is None:
        await asyncio.sleep(0.1)
    return ready, consuming


def _starting_to_consuming(log: Path) -> float | None:
    starting, assigned = None, []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry["msg"] == "starting gateway":
                starting = datetime.fromisoformat(entry["ts"])
            elif "assigned to partitions" in entry["msg"]:
                assigned.append(datetime.fromisoformat(entry["ts"]))
    if starting is None or len(assigned) < 2:
        return None
    return (max(assigned) - starting).total_seconds()


async def measure(
    bootstrap: str, rounds: int, static: bool, work: Path, session_timeout_ms: int
) -> list[tuple[float, float]]:
    prefix = f"r{uuid.uuid4().hex[:8]}"
    extra = {"kafka_group_instance_id": "replica-0"} if static else {}
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        database_url=f"sqlite+aiosqlite:///{work / (prefix + '.db')}",
        consumer_group=f"{prefix}-gateway",
        topic_dms_registrations=f"{prefix}.dms.reg",
        topic_dms_status=f"{prefix}.dms.status",
        topic_egov_requests=f"{prefix}.egov.req",
        topic_egov_replies=f"{prefix}.egov.rep",
        topic_callcenter_requests=f"{prefix}.cc.req",
        topic_callcenter_replies=f"{prefix}.cc.rep",
        topic_acceptance_notices=f"{prefix}.notices",
        topic_dead_letters=f"{prefix}.dlq",
        topic_partitions=3,
        kafka_session_timeout_ms=session_timeout_ms,
        **extra,
    )
    env = environment(settings, http_port=free_port())
    process = GatewayProcess(env, work / f"{prefix}.log")
    await ready_after_start(process)  # first start: creates topics and groups
    times = []
    try:
        for _ in range(rounds):
            process.signal(signal.SIGKILL)
            await process.wait(10)
            times.append(await ready_after_start(process))
    finally:
        process.kill()
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers (required)")
    parser.add_argument("--rounds", type=int, default=3, help="kills per configuration (3)")
    parser.add_argument(
        "--session-timeout-ms", type=int, default=10_000, help="group session timeout (10000)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        for static in (False, True):
            times = await measure(
                args.bootstrap, args.rounds, static, Path(work), args.session_timeout_ms
            )
            name = "static" if static else "dynamic"
            total, joining = [t for t, _ in times], [j for _, j in times]
            print(
                f"RESULT restart_after_sigkill membership={name} "
                f"session_timeout_ms={args.session_timeout_ms} "
                f"to_ready_median_s={statistics.median(total):.1f} "
                f"starting_to_consuming_median_s={statistics.median(joining):.1f} "
                f"all={' '.join(f'{t:.1f}/{j:.1f}' for t, j in times)}"
            )


if __name__ == "__main__":
    asyncio.run(main())
