"""Benchmark (not a test): status request/reply latency through the real broker.

A store of N letters (written straight through the ingest use case, no notices queued), then
the real gateway (gateway.app.Gateway, in its own process) answers status requests offered
open loop at fixed rates: each request is published at its scheduled time whatever the replies
do, and latency is measured from that scheduled time to the reply (so a stalled responder
shows up in the figures). Then saturation: requests published as fast as the client can.
The same is done for a bare aiokafka echo responder (its own process too) on the same broker.

    .venv/bin/python bench/requests.py [--letters 100000] [--rates 100,250,500,1000,2000]
        [--seconds 10] [--bootstrap H:P] [--database-url URL|sqlite]

The requesters use the e-gov channel, as the applicant of each letter, so most answers are
ANSWERED; the per-client rate limit is raised for the run (it would refuse above 500 req/s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import time
import uuid
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
    Services,
    add_service_options,
    command_line,
    delete_topics,
    fresh_database,
    fsync_latency,
    table,
)
from gateway.app import running  # noqa: E402
from gateway.domain.letters import ApplicantKind  # noqa: E402
from gateway.kafka import ensure_topics, kafka_connection  # noqa: E402
from gateway.services.ingestion import ingest_events  # noqa: E402
from gateway.settings import Settings  # noqa: E402
from gateway.store.migrate import upgrade_to_head  # noqa: E402
from gateway.store.sql import SqlUnitOfWork, create_engine  # noqa: E402
from gateway.tools.client import build_request  # noqa: E402
from gateway.tools.simulator import applicant_for, generate_events, registration_number  # noqa: E402
from gateway.xmlcodec.egov import EgovXmlCodec  # noqa: E402

PARTITIONS = 6
REPLY_TIMEOUT_S = 10.0
SATURATION_REQUESTS = 20_000


# --- responders (each runs in its own process) ---------------------------------------------


async def serve_gateway() -> None:
    """The real gateway, configured by GATEWAY_* environment variables, until SIGTERM."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with running(Settings()):
        print("READY", flush=True)
        await stop.wait()


async def serve_echo() -> None:
    """Bare responder: consume the request topic, produce the same bytes to its reply_to topic
    with the correlation id, one at a time (as the gateway does), commit after each batch."""
    settings = Settings()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    connection = kafka_connection(settings)
    consumer = AIOKafkaConsumer(
        settings.topic_egov_requests,
        **connection,
        group_id=f"{settings.consumer_group}-echo",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(**connection, acks="all", enable_idempotence=True, linger_ms=0)
    await producer.start()
    await consumer.start()
    try:
        print("READY", flush=True)
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
    finally:
        await consumer.stop()
        await producer.stop()


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

    async def drain(self, quiet_s: float = 1.0, limit_s: float = 120.0) -> float:
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


async def start_responder(mode: str, env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, __file__, f"--serve-{mode}"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), 120)
    if line.strip() != "READY":
        process.kill()
        raise RuntimeError(f"{mode} responder did not start")
    return process


def stop_responder(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def load_store(settings: Settings, letters: int) -> float:
    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        hasher = settings.identifier_hasher()
        started = time.perf_counter()
        events = generate_events(letters, seed=11)
        while batch := list(itertools.islice(events, 2000)):
            await ingest_events(
                batch, SqlUnitOfWork(engine), hasher, lambda: datetime.now(UTC),
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


async def measure(mode: str, settings: Settings, env: dict[str, str], args) -> list[dict]:
    process = await start_responder(mode, env)
    requester = Requester(settings)
    results = []
    try:
        await requester.start()
        warm = make_requests(settings, args.letters, 200, seed=1)  # also waits for the group
        for payload, key in warm:
            requester.reset()
            await requester.send(payload, key, time.perf_counter())
            await requester.wait_replies(1.0)
            if requester.latency:
                break
        else:
            raise RuntimeError(f"{mode}: no reply to warm-up requests")
        await open_loop(requester, warm, 200)
        await requester.drain()
        for n, rate in enumerate(args.rates):
            count = int(rate * args.seconds)
            requests = make_requests(settings, args.letters, count, seed=100 + n)
            result = await open_loop(requester, requests, rate)
            result["drain"] = await requester.drain()
            results.append({"mode": mode, "rate": rate, **result})
            print(f"  {mode} {rate} req/s: p50 {result['p50']:.1f} ms, "
                  f"p99 {result['p99']:.1f} ms, timeouts {result['timeouts']}", flush=True)
        requests = make_requests(settings, args.letters, args.saturation, seed=99)
        result = await saturation(requester, requests)
        result["drain"] = 0.0  # the responder is stopped right after; its backlog is dropped
        results.append({"mode": mode, "rate": "max", **result})
        print(f"  {mode} saturation: {result['replies_s']:,.0f} replies/s", flush=True)
    finally:
        await requester.stop()
        stop_responder(process)
    return results


def settings_env(settings: Settings) -> dict[str, str]:
    values = settings.model_dump(mode="json")
    keys = ("kafka_bootstrap_servers", "database_url", "consumer_group", "topic_partitions",
            "rate_limit_per_client_per_second", "rate_limit_per_user_per_minute")
    env = {f"GATEWAY_{k.upper()}": str(values[k]) for k in keys}
    env.update({f"GATEWAY_{k.upper()}": v for k, v in values.items() if k.startswith("topic_")
                and isinstance(v, str)})
    env["GATEWAY_HTTP_PORT"] = "0"  # if this tree's gateway has an HTTP server: any free port
    return env


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
        env = settings_env(settings)
        results = []
        for mode in args.modes:
            results += await measure(mode, settings, env, args)
    store = "SQLite" if services.server_url == "sqlite" else "PostgreSQL"
    print()
    print(f"Status requests, {args.letters} letters, store {store}, {PARTITIONS} partitions, "
          f"open loop {args.seconds:.0f} s per rate; latency = scheduled publish -> reply read")
    rows = [
        (
            r["mode"],
            r["rate"],
            f"{r['offered']:,.0f}",
            f"{r['replies_s']:,.0f}",
            f"{r['p50']:.1f}",
            f"{r['p95']:.1f}",
            f"{r['p99']:.1f}",
            f"{r['max']:.0f}",
            r["timeouts"],
            r["faults"],
            f"{r['drain']:.0f}",
        )
        for r in results
    ]
    print(table(("responder", "rate", "offered/s", "replies/s", "p50 ms", "p95 ms", "p99 ms",
                 "max ms", "timeouts", "faults", "drain s"), rows))
    by = {(r["mode"], r["rate"]): r for r in results}
    if "gateway" in args.modes and "echo" in args.modes:
        ratios = [
            f"{rate}: {by[('gateway', rate)]['p50'] / by[('echo', rate)]['p50']:.2f}"
            for rate in args.rates
        ]
        print("gateway/echo p50 ratio  " + ", ".join(ratios))
    if "gateway" in args.modes:
        at500 = by.get(("gateway", 500))
        sat = by[("gateway", "max")]
        print("targets: p99 < 25 ms at 500 req/s: "
              + (f"{at500['p99']:.1f} ms" if at500 else "not measured")
              + f"; >= 2,000 replies/s at saturation: {sat['replies_s']:,.0f}")
    print("faults: replies that are faults (NOT_FOUND etc.); timeouts: no reply within "
          f"{REPLY_TIMEOUT_S:.0f} s; drain s: time the responder still needed after the phase"
          " to work off its backlog (the next phase starts after it).")
    print(disk)
    print("2 shared cores, shared with other runs: noisy, repeat runs.")
    print(f"command: {command_line()}")
    return 0


async def main_async(args: argparse.Namespace) -> int:
    services = Services(args)
    try:
        services.start()
        return await run(args, services)
    finally:
        services.close()


def main() -> int:
    if "--serve-gateway" in sys.argv:
        asyncio.run(serve_gateway())
        return 0
    if "--serve-echo" in sys.argv:
        asyncio.run(serve_echo())
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--rates", default="100,250,500,1000,2000",
                        type=lambda s: [int(x) for x in s.split(",") if x])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--saturation", type=int, default=SATURATION_REQUESTS,
                        help="requests published at once for the saturation run")
    parser.add_argument("--modes", default="gateway,echo",
                        type=lambda s: [x for x in s.split(",") if x])
    add_service_options(parser)
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
