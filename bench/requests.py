"""Benchmark (not a test): status request/reply latency through the real broker.

A store of N letters (written straight through the ingest use case, no notices queued), then
three responders in turn, each in its own process, on the same broker and PostgreSQL:
  - gateway: the real gateway (gateway.app), answering status requests;
  - durable-echo: the floor of a compliant responder (regulation 3.5.1: every request is
    recorded before its answer leaves): per fetched batch one audit row per request inserted
    and committed in PostgreSQL, then the replies sent with acks=all, then offsets committed;
  - echo: a bare aiokafka responder that sends the request back (the broker's own round trip).
Each gets a warm-up phase (not counted), then requests offered open loop at fixed rates: each
request is published at its scheduled time whatever the replies do, and latency is measured
from that scheduled time to the reply (so a stalled responder shows up in the figures). Then
saturation: requests published as fast as the client can. Every phase is bounded in time.
Per phase the responder's CPU time per reply and peak RSS are shown; then the gateway is
profiled with py-spy in a phase of its own (not in the table) and the top functions by self
time are printed. The last line is `RESULT requests ...`: ratios gateway / durable echo.

    .venv/bin/python bench/requests.py [--letters 100000] [--rates 100,250,500,1000]
        [--seconds 10] [--bootstrap H:P] [--database-url URL]

The requesters use the e-gov channel, as the applicant of each letter, so most answers are
ANSWERED; the per-client rate limit is raised for the run (it would refuse above 500 req/s).
Loopback only: the broker and PostgreSQL must be on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import math
import random
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

# Run as a script: import from the project root, not from bench/ (bench/requests.py must never
# shadow the `requests` library for whatever imports it).
_BENCH = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _BENCH]
sys.path.insert(0, str(_BENCH.parent))

import asyncpg  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench._common import (  # noqa: E402
    LOGS,
    PeakRss,
    Profile,
    Services,
    add_service_options,
    bounded,
    command_line,
    cpu_seconds,
    delete_topics,
    fresh_database,
    fsync_latency,
    require_loopback,
    settings_env,
    start_process,
    stop_process,
    table,
)
from gateway.app import running  # noqa: E402
from gateway.domain.letters import ApplicantKind  # noqa: E402
from gateway.kafka import ensure_topics, kafka_connection  # noqa: E402
from gateway.services.ingestion import ingest_events  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.migrate import upgrade_to_head  # noqa: E402
from gateway.store.sql import SqlUnitOfWork, create_engine  # noqa: E402
from gateway.telemetry.logs import configure_logging  # noqa: E402
from gateway.tools.client import build_request  # noqa: E402
from gateway.tools.simulator import applicant_for, generate_events, registration_number  # noqa: E402
from gateway.xmlcodec.egov import EgovXmlCodec  # noqa: E402

PARTITIONS = 6
REPLY_TIMEOUT_S = 10.0
DRAIN_LIMIT_S = 60.0
SATURATION_REQUESTS = 20_000


# --- responders (each runs in its own process) ---------------------------------------------


async def serve_gateway() -> None:
    """The real gateway, configured by GATEWAY_* environment variables, until SIGTERM; it logs
    as `gateway run` does."""
    configure_logging("INFO")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running(Settings()):
        print("READY", flush=True)
        await stop.wait()


@contextlib.asynccontextmanager
async def echo_clients(
    name: str,
) -> AsyncIterator[tuple[AIOKafkaConsumer, AIOKafkaProducer, asyncio.Event]]:
    """An echo responder's consumer (its own group, on the e-gov request topic), its producer
    (acks=all, idempotent) and the event SIGTERM sets; prints READY once started."""
    settings = Settings()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    connection = kafka_connection(settings)
    consumer = AIOKafkaConsumer(
        settings.topic_egov_requests,
        **connection,
        group_id=f"{settings.consumer_group}-{name}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(**connection, acks="all", enable_idempotence=True, linger_ms=0)
    await producer.start()
    await consumer.start()
    try:
        print("READY", flush=True)
        yield consumer, producer, stop
    finally:
        await consumer.stop()
        await producer.stop()


async def serve_echo() -> None:
    """Bare responder: consume the request topic, produce the same bytes to its reply_to topic
    with the correlation id, one at a time, commit after each batch."""
    async with echo_clients("echo") as (consumer, producer, stop):
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    headers = dict(record.headers or ())
                    await producer.send_and_wait(
                        headers["reply_to"].decode(),
                        record.value,
                        key=record.key,
                        headers=[("correlation_id", headers["correlation_id"])],
                    )
            if batches:
                await consumer.commit()


ECHO_AUDIT = """CREATE TABLE IF NOT EXISTS echo_audit (
    id bigserial PRIMARY KEY, request_topic text NOT NULL, partition integer NOT NULL,
    "offset" bigint NOT NULL, correlation_id text, reply_topic text, request_hash text NOT NULL,
    received_at timestamptz NOT NULL, replied_at timestamptz NOT NULL DEFAULT now())"""
ECHO_INSERT = """INSERT INTO echo_audit
    (request_topic, partition, "offset", correlation_id, reply_topic, request_hash, received_at)
    SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[],
                         $6::text[], $7::timestamptz[])"""


async def serve_durable_echo() -> None:
    """The least a compliant responder must do, serially: per fetched batch, one audit row per
    request inserted and committed in the same PostgreSQL, then the replies (the request bytes)
    sent with acks=all and awaited, then the batch's offsets committed."""
    dsn = make_url(Settings().database_url).set(drivername="postgresql")
    db = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    await db.execute(ECHO_AUDIT)
    try:
        async with echo_clients("durable-echo") as (consumer, producer, stop):
            while not stop.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                records = [record for batch in batches.values() for record in batch]
                if not records:
                    continue
                now = datetime.now(UTC)
                headers = [dict(record.headers or ()) for record in records]
                async with db.transaction():
                    await db.execute(
                        ECHO_INSERT,
                        [r.topic for r in records],
                        [r.partition for r in records],
                        [r.offset for r in records],
                        [h.get("correlation_id", b"").decode(errors="replace") for h in headers],
                        [h.get("reply_to", b"").decode(errors="replace") for h in headers],
                        [hashlib.sha256(r.value or b"").hexdigest() for r in records],
                        [now] * len(records),
                    )
                sent = [
                    await producer.send(
                        h["reply_to"].decode(),
                        r.value,
                        key=r.key,
                        headers=[("correlation_id", h["correlation_id"])],
                    )
                    for r, h in zip(records, headers, strict=True)
                ]
                await asyncio.gather(*sent)
                await consumer.commit()
    finally:
        await db.close()


# --- the load generator ----------------------------------------------------------------------


class Requester:
    """Publishes requests without waiting; matches replies by correlation id."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        connection = kafka_connection(settings)
        self._producer = AIOKafkaProducer(**connection, acks="all", linger_ms=0)
        self._consumer = AIOKafkaConsumer(**connection, enable_auto_commit=False)
        self.sent_at: dict[bytes, float] = {}
        self.latency: dict[bytes, float] = {}
        self.replies: dict[bytes, bytes] = {}
        self._reader: asyncio.Task[None] | None = None
        self.last_reply_at = 0.0
        self.any_reply_at = 0.0  # also replies to requests of an earlier phase

    async def start(self) -> None:
        await self._producer.start()
        await self._consumer.start()
        topic = self._settings.topic_egov_replies
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:
            await self._consumer.position(partition)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await self._consumer.stop()
        await self._producer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            if batches:
                self.any_reply_at = now
            for records in batches.values():
                for record in records:
                    correlation = dict(record.headers or ()).get("correlation_id", b"")
                    sent = self.sent_at.get(correlation)
                    if sent is not None and correlation not in self.latency:
                        self.latency[correlation] = now - sent
                        self.replies[correlation] = record.value or b""
                        self.last_reply_at = now

    def reset(self) -> None:
        self.sent_at.clear()
        self.latency.clear()
        self.replies.clear()

    async def send(self, payload: bytes, key: bytes, at: float) -> asyncio.Future[object]:
        """Enqueue one request (waits only while the producer's buffer is full); returns the
        delivery future."""
        correlation = uuid.uuid4().hex.encode()
        self.sent_at[correlation] = at
        headers = [
            ("correlation_id", correlation),
            ("reply_to", self._settings.topic_egov_replies.encode()),
        ]
        return await self._producer.send(
            self._settings.topic_egov_requests, payload, key=key, headers=headers
        )

    async def wait_replies(self, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while len(self.latency) < len(self.sent_at) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)

    async def drain(self, quiet_s: float = 1.0, limit_s: float = DRAIN_LIMIT_S) -> float:
        """Wait until the responder has worked off any backlog (no reply for quiet_s)."""
        started = time.perf_counter()
        while time.perf_counter() - started < limit_s:
            if time.perf_counter() - max(self.any_reply_at, started) > quiet_s:
                break
            await asyncio.sleep(0.1)
        return time.perf_counter() - started


def make_requests(settings: Settings, letters: int, count: int, seed: int) -> list[tuple]:
    codec = EgovXmlCodec(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        index = rng.randint(1, letters)
        number = registration_number(index)
        applicant = applicant_for(index)
        request = build_request(
            settings,
            number,
            user=applicant.identifier,
            company=applicant.kind is ApplicantKind.COMPANY,
        )
        out.append((codec.encode_request(request), number.encode()))
    return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def open_loop(requester: Requester, requests: list[tuple], rate: float) -> dict:
    requester.reset()
    interval = 1.0 / rate
    start = time.perf_counter() + 0.05
    pending = []
    for i, (payload, key) in enumerate(requests):
        at = start + i * interval
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(await requester.send(payload, key, at))
    sent_end = time.perf_counter()
    await asyncio.gather(*pending)
    await requester.wait_replies(REPLY_TIMEOUT_S)
    return summarize(requester, start, sent_end)


async def saturation(requester: Requester, requests: list[tuple]) -> dict:
    requester.reset()
    start = time.perf_counter()
    pending = []
    for i, (payload, key) in enumerate(requests):
        pending.append(await requester.send(payload, key, time.perf_counter()))
        if i % 200 == 199:
            await asyncio.sleep(0)  # let the reader run
    await asyncio.gather(*pending)
    sent_end = time.perf_counter()
    await requester.wait_replies(REPLY_TIMEOUT_S + len(requests) / 500)
    return summarize(requester, start, sent_end)


def summarize(requester: Requester, start: float, sent_end: float) -> dict:
    latencies = [v * 1000 for v in requester.latency.values()]
    got = len(latencies)
    span = max(requester.last_reply_at, sent_end) - start
    answered = sum(1 for r in requester.replies.values() if b"Fault" not in r)
    return {
        "sent": len(requester.sent_at),
        "offered": len(requester.sent_at) / max(sent_end - start, 1e-9),
        "replies": got,
        "replies_s": got / span if span > 0 else 0.0,
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies) if latencies else float("nan"),
        "timeouts": len(requester.sent_at) - got,
        "faults": got - answered,
    }


async def load_store(settings: Settings, letters: int) -> float:
    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        hasher = settings.identifier_hasher()
        started = time.perf_counter()
        events = generate_events(letters, seed=11)
        while batch := list(itertools.islice(events, 2000)):
            await ingest_events(
                batch,
                SqlUnitOfWork(engine),
                hasher,
                lambda: datetime.now(UTC),
                queue_notices=False,
            )
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def settle(database_url: str) -> None:
    """Write the load's dirty pages out now (CHECKPOINT), as a store loaded long ago would
    have; otherwise the checkpoint writes land in the first phase and its commits wait on
    them."""
    if not database_url.startswith("postgresql"):
        return
    url = make_url(database_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def phase(
    requester: Requester, pid: int, name: str, work: Awaitable[dict], limit_s: float
) -> dict:
    """One bounded phase, with the responder's CPU time per reply and peak RSS; then waits
    (bounded) until the responder has worked off its backlog."""
    cpu = cpu_seconds(pid)
    async with PeakRss(pid) as rss:
        result = await bounded(work, limit_s, name)
    result["cpu_ms"] = 1000 * (cpu_seconds(pid) - cpu) / max(result["replies"], 1)
    result["rss"] = rss.peak
    result["drain"] = await bounded(requester.drain(), DRAIN_LIMIT_S + 5, f"{name}: drain")
    return result


async def first_reply(requester: Requester, requests: list[tuple]) -> None:
    """Until the responder's consumer group has joined and it answers."""
    for payload, key in itertools.cycle(requests):
        requester.reset()
        await requester.send(payload, key, time.perf_counter())
        await requester.wait_replies(1.0)
        if requester.latency:
            return


async def measure(
    mode: str, settings: Settings, env: dict[str, str], args: argparse.Namespace
) -> tuple[list[dict], str]:
    """The phases against one responder: rows of the table, and a profile summary if asked."""
    process = await start_process(__file__, f"--serve-{mode}", env)
    pid = process.pid
    requester = Requester(settings)
    results = []
    profile = ""
    try:
        await requester.start()
        warm = make_requests(settings, args.letters, 200, seed=1)
        await bounded(first_reply(requester, warm), 120, f"{mode}: first reply")
        count = int(args.warmup_rate * args.warmup_seconds)
        warm = make_requests(settings, args.letters, count, seed=2)
        result = await phase(
            requester,
            pid,
            f"{mode} warm-up",
            open_loop(requester, warm, args.warmup_rate),
            args.warmup_seconds + REPLY_TIMEOUT_S + 30,
        )
        results.append({"mode": mode, "phase": "warm-up", "rate": args.warmup_rate, **result})
        for n, rate in enumerate(args.rates):
            requests = make_requests(settings, args.letters, int(rate * args.seconds), 100 + n)
            result = await phase(
                requester,
                pid,
                f"{mode} {rate} req/s",
                open_loop(requester, requests, rate),
                args.seconds + REPLY_TIMEOUT_S + 30,
            )
            results.append({"mode": mode, "phase": str(rate), "rate": rate, **result})
            print(
                f"  {mode} {rate} req/s: p50 {result['p50']:.1f} ms, "
                f"p99 {result['p99']:.1f} ms, timeouts {result['timeouts']}",
                flush=True,
            )
        requests = make_requests(settings, args.letters, args.saturation, seed=99)
        result = await phase(
            requester,
            pid,
            f"{mode} saturation",
            saturation(requester, requests),
            2 * REPLY_TIMEOUT_S + args.saturation / 200,
        )
        results.append({"mode": mode, "phase": "saturation", "rate": "max", **result})
        print(
            f"  {mode} saturation: {result['replies_s']:,.0f} replies/s, "
            f"peak RSS {result['rss']:.0f} MB",
            flush=True,
        )
        if mode in args.profile:
            rate = args.profile_rate
            requests = make_requests(settings, args.letters, int(rate * args.seconds), seed=98)
            async with Profile(
                pid, args.seconds + REPLY_TIMEOUT_S + 10, idle=args.profile_idle
            ) as spy:
                result = await bounded(
                    open_loop(requester, requests, rate),
                    args.seconds + REPLY_TIMEOUT_S + 30,
                    f"{mode} profile",
                )
            profile = (
                f"{mode}, open loop {rate} req/s for {args.seconds:.0f} s "
                f"({result['replies']} replies, p50 {result['p50']:.1f} ms; not in the "
                f"table)\n{spy.summary()}"
            )
    finally:
        await requester.stop()
        stop_process(process)
    return results, profile


async def run(args: argparse.Namespace, services: Services) -> int:
    async with AsyncExitStack() as stack:
        database_url = await fresh_database(stack, services.server_url)
        prefix = f"bench{uuid.uuid4().hex[:8]}"
        topics = {
            name: f"{prefix}.{field.default}"
            for name, field in Settings.model_fields.items()
            if name.startswith("topic_") and isinstance(field.default, str)
        }
        settings = Settings(
            kafka_bootstrap_servers=services.bootstrap,
            database_url=database_url,
            consumer_group=f"{prefix}-gateway",
            topic_partitions=PARTITIONS,
            rate_limit_per_client_per_second=1_000_000,
            rate_limit_per_user_per_minute=10_000,
            **topics,
        )
        await ensure_topics(settings, settings.all_topics)
        stack.push_async_callback(delete_topics, services.bootstrap, settings.all_topics)
        print(f"loading {args.letters} letters into the store ...", flush=True)
        load_s = await load_store(settings, args.letters)
        print(f"  loaded in {load_s:.0f} s", flush=True)
        await settle(database_url)
        disk = await asyncio.to_thread(fsync_latency)
        env = settings_env(
            settings, "rate_limit_per_client_per_second", "rate_limit_per_user_per_minute"
        )
        results, profiles = [], []
        for mode in args.modes:
            rows, profile = await measure(mode, settings, env, args)
            results += rows
            profiles += [profile] if profile else []
    store = "SQLite" if services.server_url == "sqlite" else "PostgreSQL"
    print()
    print(
        f"Status requests, {args.letters} letters, store {store}, {PARTITIONS} partitions, "
        f"open loop {args.seconds:.0f} s per rate after a {args.warmup_seconds:.0f} s warm-up "
        f"at {args.warmup_rate} req/s; latency = scheduled publish -> reply read"
    )
    rows = [
        (
            r["mode"],
            r["phase"],
            f"{r['offered']:,.0f}",
            f"{r['replies_s']:,.0f}",
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['p99']:.1f}",
            f"{r['max']:.0f}",
            r["timeouts"],
            r["faults"],
            f"{r['cpu_ms']:.2f}",
            f"{r['rss']:.0f}",
            f"{r['drain']:.0f}",
        )
        for r in results
    ]
    print(
        table(
            (
                "responder",
                "phase",
                "offered/s",
                "replies/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "timeouts",
                "faults",
                "cpu ms/reply",
                "peak RSS MB",
                "drain s",
            ),
            rows,
        )
    )
    print(
        "faults: replies that are faults (NOT_FOUND etc.); timeouts: no reply within "
        f"{REPLY_TIMEOUT_S:.0f} s; cpu ms/reply: the responder process's CPU time in the "
        "phase / replies; drain s: time the responder still needed after the phase to work "
        "off its backlog (the next phase starts after it)."
    )
    print(disk)
    for profile in profiles:
        print()
        print(profile)
    print()
    print("2 shared cores, shared with other runs: noisy, repeat runs.")
    print(f"command: {command_line()}  (responder logs: {LOGS})")
    print(result_line({(r["mode"], r["phase"]): r for r in results}))
    return 0


def result_line(by: dict[tuple[str, str], dict]) -> str:
    """RESULT requests ...: gateway / durable echo at 500 and 1000 req/s and at saturation."""

    def ratio(key: str, phase: str) -> float:
        gateway, floor = by.get(("gateway", phase)), by.get(("durable-echo", phase))
        if gateway is None or floor is None or not floor[key]:
            return math.nan
        return float(gateway[key] / floor[key])

    saturated = by.get(("gateway", "saturation"))
    rss = saturated["rss"] if saturated else math.nan
    return (
        f"RESULT requests p50x500={ratio('p50', '500'):.2f} "
        f"p50x1000={ratio('p50', '1000'):.2f} p99x500={ratio('p99', '500'):.2f} "
        f"p99x1000={ratio('p99', '1000'):.2f} "
        f"saturation={ratio('replies_s', 'saturation'):.2f} rss_mb={rss:.0f}"
    )


async def main_async(args: argparse.Namespace) -> int:
    services = Services(args)
    try:
        services.start()
        require_loopback(services.bootstrap, services.server_url)
        if services.server_url == "sqlite" and "durable-echo" in args.modes:
            raise SystemExit("the durable echo writes to PostgreSQL: drop it from --modes")
        return await run(args, services)
    finally:
        services.close()


RESPONDERS = {
    "gateway": serve_gateway,
    "durable-echo": serve_durable_echo,
    "echo": serve_echo,
}


def main() -> int:
    for mode, serve in RESPONDERS.items():
        if f"--serve-{mode}" in sys.argv:
            asyncio.run(serve())
            return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument(
        "--rates", default="100,250,500,1000", type=lambda s: [int(x) for x in s.split(",") if x]
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per rate")
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument("--warmup-rate", type=int, default=500)
    parser.add_argument(
        "--saturation",
        type=int,
        default=SATURATION_REQUESTS,
        help="requests published at once for the saturation run",
    )
    parser.add_argument(
        "--modes",
        default="gateway,durable-echo,echo",
        type=lambda s: [x for x in s.split(",") if x in RESPONDERS],
    )
    parser.add_argument(
        "--profile",
        default="gateway",
        type=lambda s: [x for x in s.split(",") if x],
        help="responders to profile with py-spy, in a phase of their own",
    )
    parser.add_argument("--profile-rate", type=int, default=1000)
    parser.add_argument(
        "--profile-idle",
        action="store_true",
        help="count samples of waiting threads too (where the process waits)",
    )
    add_service_options(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
