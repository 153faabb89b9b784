"""Periodic cheap probes feeding readiness and metrics: can the broker be reached (a cluster
metadata request), can the database be reached (SELECT 1), and how far behind is the consumer
group (committed offsets against the log end offsets).

Lag is the consumer group's, over all its partitions and replicas, so every replica reports the
same figure; readiness fails when the total exceeds GATEWAY_MAX_READY_LAG.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness

log = logging.getLogger(__name__)

BROKER, DATABASE_PING, CONSUMER_LAG = "broker", "database_ping", "consumer_lag"


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__


class Probes:
    def __init__(
        self,
        connection: dict[str, Any],
        engine: AsyncEngine,
        readiness: Readiness,
        metrics: Metrics,
        *,
        groups: Mapping[str, Sequence[str]],
        interval_s: float,
        timeout_s: float,
        max_ready_lag: int,
    ) -> None:
        self._connection, self._engine = connection, engine
        self._readiness, self._metrics = readiness, metrics
        self._groups = {group: tuple(topics) for group, topics in groups.items()}
        self._interval_s, self._timeout_s, self._max_lag = interval_s, timeout_s, max_ready_lag
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self.rounds = 0

    async def run_forever(self) -> None:
        try:
            while True:
                await self.probe_once()
                await asyncio.sleep(self._interval_s)
        finally:
            await self._close_clients()

    async def probe_once(self) -> None:
        await asyncio.gather(self._probe_database(), self._probe_kafka())
        self.rounds += 1

    async def _probe_database(self) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means: not reachable
            self._readiness.fail(DATABASE_PING, f"database unreachable: {_reason(exc)}")
        else:
            self._readiness.ok(DATABASE_PING)

    async def _probe_kafka(self) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                admin, offsets = await self._clients()
                await admin.describe_cluster()  # a metadata round trip: the broker answers
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._readiness.fail(BROKER, f"broker unreachable: {_reason(exc)}")
            await self._close_clients()  # start afresh next round
            return
        self._readiness.ok(BROKER)
        try:
            async with asyncio.timeout(self._timeout_s):
                lag = await self._lag(admin, offsets)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - lag unknown; the broker probe decides
            log.warning("consumer lag probe failed: %s", _reason(exc))
            return
        self._metrics.lag_is((tp.topic, tp.partition, n) for tp, n in lag.items())
        total = sum(lag.values())
        if total > self._max_lag:
            self._readiness.fail(
                CONSUMER_LAG, f"consumer lag {total} is above the limit {self._max_lag}"
            )
        else:
            self._readiness.ok(CONSUMER_LAG)

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            await self._close_clients()
            admin = AIOKafkaAdminClient(**self._connection, request_timeout_ms=5000)
            offsets = AIOKafkaConsumer(
                **self._connection, enable_auto_commit=False, request_timeout_ms=5000
            )
            try:
                await admin.start()
                await offsets.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await admin.close()
                with contextlib.suppress(Exception):
                    await offsets.stop()
                raise
            self._admin, self._offsets = admin, offsets
        return self._admin, self._offsets

    async def _lag(
        self, admin: AIOKafkaAdminClient, offsets: AIOKafkaConsumer
    ) -> dict[TopicPartition, int]:
        await offsets._client.force_metadata_update()  # noqa: SLF001 - see new partitions
        lag: dict[TopicPartition, int] = {}
        for group, topics in self._groups.items():
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in sorted(offsets.partitions_for_topic(topic) or ())
            ]
            if not partitions:
                continue
            committed = await admin.list_consumer_group_offsets(group)
            ends = await offsets.end_offsets(partitions)
            starts = await offsets.beginning_offsets(partitions)
            for tp in partitions:
                done = committed.get(tp)
                position = done.offset if done is not None and done.offset >= 0 else starts[tp]
                lag[tp] = max(0, ends[tp] - position)
        return lag

    async def _close_clients(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
        if offsets is not None:
            with contextlib.suppress(Exception):
                await offsets.stop()
