"""The audit sealer: in the background, off the reply path, seals the audit rows written since
the last block into the next block (gateway/domain/audit_chain.py), then wakes the witness
relay that publishes the block's head to Kafka.

One block is one transaction: a crash (SIGKILL included) before its commit leaves no trace,
after it a whole block. On PostgreSQL an advisory lock lets one replica seal at a time; the
others only watch the lag. Rows are taken up to the journal barrier (AuditLedger.settled_row_id),
so no row can commit later below a sealed one: a row found there was inserted behind the
gateway's back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from gateway.domain.audit_chain import BlockHead, row_seal, seal
from gateway.services.background import every
from gateway.services.ports import Relay, UnitOfWork
from gateway.telemetry.metrics import Metrics
from gateway.telemetry.readiness import Readiness

log = logging.getLogger(__name__)
SEAL_LAG = "audit-seal"  # readiness component


class AuditSealer:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        now: Callable[[], datetime],
        witness: Relay,
        *,
        block_max_rows: int,
        interval_s: float,
        max_lag_s: float,
        readiness: Readiness,
        metrics: Metrics,
    ) -> None:
        self._uow_factory, self._now, self._witness = uow_factory, now, witness
        self._block_max_rows, self._interval_s = block_max_rows, interval_s
        self._max_lag_s = max_lag_s
        self._readiness, self._metrics = readiness, metrics

    async def seal_once(self) -> BlockHead | None:
        """Seal the next block, if there are rows to seal and no other replica is sealing."""
        async with self._uow_factory() as uow:
            settled = await uow.audit.settled_row_id()
            await uow.commit()  # releases the barrier at once: writers wait only an instant
        async with self._uow_factory() as uow:
            if not await uow.audit.claim_sealer():
                return None
            previous = await uow.audit.last_block()
            after = previous.last_row_id if previous else 0
            rows = await uow.audit.rows(after, settled, self._block_max_rows)
            if not rows:
                return None
            seals = [row_seal(r) for r in rows]
            head = seal(previous, seals, self._now())
            await uow.audit.add_block(head, seals)
            await uow.commit()
        log.info("sealed audit block %d (%d rows)", head.number, head.row_count)
        self._witness.wake()
        return head

    async def seal_all(self) -> int:
        """Seal until nothing is left to seal (or another replica seals); blocks sealed."""
        sealed = 0
        while await self.seal_once() is not None:
            sealed += 1
        return sealed

    async def observe_lag(self) -> float:
        """Seconds the oldest unsealed row has waited (0: none), into metrics and readiness."""
        async with self._uow_factory() as uow:
            last = await uow.audit.last_block()
            unsealed = await uow.audit.unsealed(last.last_row_id if last else 0)
        oldest = unsealed.oldest_received_at
        lag = max(0.0, (self._now() - oldest).total_seconds()) if oldest else 0.0
        self._metrics.audit_unsealed_rows.set(unsealed.count)
        self._metrics.audit_seal_lag.set(lag)
        if lag > self._max_lag_s:
            self._readiness.fail(SEAL_LAG, f"oldest unsealed audit row waits {lag:.0f} s")
        else:
            self._readiness.ok(SEAL_LAG)
        return lag

    async def _seal_and_observe(self) -> None:
        await self.seal_all()
        await self.observe_lag()

    async def run_forever(self) -> None:
        # while the store is away, the lag grows and readiness will say so
        await every(
            self._interval_s, self._seal_and_observe, log, "audit sealing failed; will retry"
        )
