"""Console speed: lookup p95 and dashboard time over 100,000 letters and 1,000,000 audit rows.

    python bench/console.py [--database-url postgresql+asyncpg://.../gateway] [--lookups 1000]

PostgreSQL only (the production store). The store is filled in SQL (generate_series), its
letters' legal deadline figures computed and its audit rows sealed and rolled up by day, as a
start and the running gateway do; the
console app is the one the gateway serves (gateway.app wiring), driven in-process through
httpx's ASGI transport, signed in as an operator and as a controller. Two figures per page:
`server` is the app's own time (routing, session, CSRF, the service, SQL, templates: from the
request reaching the app to its last body byte), the other adds the in-process httpx client
(about as much again for a lookup). No network either way. Kafka is not needed: the gateway
is built but not started. Prints RESULT lines.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import random
import re
import statistics
import sys
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._common import fresh_database  # noqa: E402
from gateway.app import Gateway  # noqa: E402
from gateway.domain.console import ConsoleRole  # noqa: E402
from gateway.settings import CONSOLE_PATH, Settings  # noqa: E402
from tests.support.services import LocalPostgres  # noqa: E402

PASSWORD = "benchmark-password-1"
YEAR = 2026

FILL_LETTERS = f"""
INSERT INTO letters (registration_number, registration_seq, registration_date, channel,
  applicant_kind, applicant_hash, due_date, assignment_seq, department_code, department_name,
  executor_id, executor_name, executor_phone, status_seq, status, status_at, forwarding_seq,
  conclusion_seq, answer_date, answer_reference)
SELECT 'DGK-{YEAR}-' || lpad(g::text, 6, '0'), 1, d, 'post', 'person', md5(g::text),
  d + 21, 2, 'D' || (g % 20), 'Department ' || (g % 20), 'E' || (g % 400),
  'Executor ' || (g % 400), '+994 12 555 ' || lpad((g % 10000)::text, 4, '0'), 3,
  CASE WHEN g % 3 = 0 THEN 'answered' ELSE 'in-progress' END, d + time '12:00' AT TIME ZONE 'UTC',
  0, CASE WHEN g % 3 = 0 THEN 3 ELSE 0 END,
  CASE WHEN g % 3 = 0 THEN d + (g % 30) END, CASE WHEN g % 3 = 0 THEN 'OUT-' || g END
FROM generate_series(1, :letters) AS g, LATERAL (SELECT date '{YEAR}-01-01' + (g % 330) AS d) x
"""
FILL_HISTORY = """
INSERT INTO letter_history (registration_number, sequence, status, at, note)
SELECT l.registration_number, s, (ARRAY['registered','assigned','in-progress'])[s],
  l.status_at - (4 - s) * interval '1 hour', 'note ' || s
FROM letters l, generate_series(1, 3) AS s
"""
FILL_AUDIT = f"""
INSERT INTO request_audit (client_id, message_id, request_topic, reply_topic, operator_id,
  registration_number, outcome, request_hash, reply_hash, received_at, replied_at)
SELECT CASE WHEN g % 3 = 0 THEN 'AZ/DGK/call-center' ELSE 'AZ/GOV/egov-portal' END,
  'm' || g,
  CASE WHEN g % 3 = 0 THEN 'callcenter.status.requests.v1' ELSE 'egov.status.requests.v1' END,
  'replies', CASE WHEN g % 3 = 0 THEN 'op' || (g % 50) END,
  'DGK-{YEAR}-' || lpad((1 + g % :letters)::text, 6, '0'),
  CASE WHEN g % 20 = 0 THEN 'NOT_FOUND' ELSE 'ANSWERED' END, md5(g::text), md5(g::text),
  t, t + ((g % 40) + 2) * interval '1 millisecond'
FROM generate_series(1, :audit) AS g,
  LATERAL (SELECT timestamptz '{YEAR}-01-01 00:00Z' + g * (interval '1 second' * 31.5) AS t) x
"""


class ServerClock:
    """ASGI wrapper: how long the app took for the last request, in milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app, self.last_ms = app, 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_ms = (time.perf_counter() - started) * 1000

        await self.app(scope, receive, timed_send)


def summary(name: str, times: list[float], server: list[float], extra: str = "") -> str:
    return (
        f"RESULT {name}{extra} p50={statistics.median(times):.1f} "
        f"p95={percentile(times, 0.95):.1f} max={max(times):.1f} "
        f"server_p50={statistics.median(server):.1f} server_p95={percentile(server, 0.95):.1f}"
        f" n={len(times)}"
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def signed_in(client: httpx.AsyncClient, username: str) -> str:
    page = await client.get("/console/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = await client.post(
        "/console/signin",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert done.status_code == 303, done.text
    page = await client.get("/console/")
    page = await client.get(page.headers["location"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    return token.group(1)


async def profiled(what: str, request: Awaitable[httpx.Response]) -> None:
    """One request under cProfile: the functions with the most own time (a wait for the
    database shows as the event loop's select)."""
    profile = cProfile.Profile()
    profile.enable()
    await request
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
    print(f"--- profile: {what}\n{out.getvalue()}", flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", help="a PostgreSQL server URL (else one is started)")
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--audit-rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--dashboards", type=int, default=20)
    parser.add_argument(
        "--periods",
        default=f"{YEAR}-06,{YEAR}-Q2,{YEAR}",
        help="dashboard periods, comma-separated",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile one lookup and one dashboard per period"
    )
    args = parser.parse_args()
    postgres = None
    server_url = args.database_url
    if not server_url:
        import tempfile

        postgres = LocalPostgres(Path(tempfile.mkdtemp(prefix="gateway-bench-")) / "postgres")
        server_url = postgres.start()
    try:
        async with AsyncExitStack() as stack:
            url = await fresh_database(stack, server_url)
            settings = Settings(
                database_url=url,
                kafka_bootstrap_servers="127.0.0.1:1",  # never contacted: nothing is started
                rate_limit_per_user_per_minute=10**9,
            )
            gateway = Gateway(settings)
            stack.push_async_callback(gateway.engine.dispose)
            await gateway.prepare_store()  # as a start does: migrations, calendar rows
            started = time.perf_counter()
            async with gateway.engine.begin() as conn:
                await conn.execute(text(FILL_LETTERS), {"letters": args.letters})
                await conn.execute(text(FILL_HISTORY))
                await conn.execute(
                    text(FILL_AUDIT), {"letters": args.letters, "audit": args.audit_rows}
                )
            async with gateway.engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
            print(
                f"filled {args.letters} letters, {args.audit_rows} audit rows in "
                f"{time.perf_counter() - started:.0f} s",
                flush=True,
            )
            # The fill wrote letters behind the store's back: forget what their deadline
            # figures were computed from, so storing the calendar computes them, as a start
            # after an upgrade does. Then seal and roll up, as a running gateway does.
            started = time.perf_counter()
            async with gateway.engine.begin() as conn:
                await conn.execute(text("DELETE FROM deadline_basis"))
            await gateway.deadline_watch.store_calendar()
            print(
                f"computed the letters' deadline figures in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            started = time.perf_counter()
            await gateway.audit_sealer.seal_all()
            sealed = time.perf_counter()
            await gateway.request_roller.roll_all()
            print(
                f"sealed the audit rows in {sealed - started:.0f} s, rolled them up in "
                f"{time.perf_counter() - sealed:.0f} s",
                flush=True,
            )
            now = datetime.now(UTC)
            await gateway.accounts.add(
                "bench-op", PASSWORD, frozenset({ConsoleRole.OPERATOR}), frozenset(), now
            )
            await gateway.accounts.add(
                "bench-ctl", PASSWORD, frozenset({ConsoleRole.CONTROLLER}), frozenset(), now
            )
            # mounted as the gateway's HTTP app mounts it
            assert gateway.console_app is not None
            clock = ServerClock(Starlette(routes=[Mount(CONSOLE_PATH, gateway.console_app)]))
            transport = httpx.ASGITransport(app=clock)
            base = "http://console.local"
            async with httpx.AsyncClient(transport=transport, base_url=base) as operator:
                token = await signed_in(operator, "bench-op")
                rng = random.Random(1)
                times, server = [], []
                for i in range(args.lookups):
                    number = f"DGK-{YEAR}-{rng.randint(1, args.letters):06d}"
                    started = time.perf_counter()
                    page = await operator.post(
                        "/console/lookup", data={"number": number, "csrf_token": token}
                    )
                    elapsed = time.perf_counter() - started
                    assert page.status_code == 200 and 'id="letter"' in page.text, page.text
                    if i >= 50:  # warm-up excluded
                        times.append(elapsed * 1000)
                        server.append(clock.last_ms)
                if args.profile:
                    await profiled(
                        "lookup",
                        operator.post(
                            "/console/lookup", data={"number": number, "csrf_token": token}
                        ),
                    )
            print(summary("console_lookup_ms", times, server), flush=True)
            async with httpx.AsyncClient(transport=transport, base_url=base) as controller:
                await signed_in(controller, "bench-ctl")
                for period in args.periods.split(","):
                    times, server = [], []
                    for i in range(args.dashboards + 2):
                        started = time.perf_counter()
                        page = await controller.get(f"/console/dashboard?period={period}")
                        elapsed = time.perf_counter() - started
                        assert page.status_code == 200 and "chart-per-day" in page.text
                        if i >= 2:
                            times.append(elapsed * 1000)
                            server.append(clock.last_ms)
                    if args.profile:
                        await profiled(
                            f"dashboard {period}",
                            controller.get(f"/console/dashboard?period={period}"),
                        )
                    print(
                        summary("console_dashboard_ms", times, server, f" period={period}"),
                        flush=True,
                    )
    finally:
        if postgres is not None:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
