"""The requests' rollup by day: in the background, counts the audit rows the sealer has
sealed into the rollup (gateway/domain/request_rollup.py), a bounded batch per transaction,
so reports and the console's dashboard sum days instead of reading every row.

It follows the seal because sealed rows are settled: no row can still commit below the last
sealed id (services/audit_sealing.py), so a position in ids is a position in time. One
transaction adds a batch and moves the position, so a crash repeats or loses nothing; on
PostgreSQL the position row's lock lets one replica roll up at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from gateway.domain.request_rollup import tally
from gateway.services.background import every
from gateway.services.ports import UnitOfWork

log = logging.getLogger(__name__)
BATCH_ROWS = 10_000  # a year of a busy service (10M rows) catches up in a thousand batches


class RequestRoller:
    def __init__(self, uow_factory: Callable[[], UnitOfWork], *, interval_s: float) -> None:
        self._uow_factory, self._interval_s = uow_factory, interval_s

    async def roll_once(self) -> int:
        """Roll up the next batch of sealed rows; how many (0: none, or another replica is)."""
        async with self._uow_factory() as uow:
            position = await uow.rollup.claim()
            if position is None:
                return 0
            sealed = await uow.audit.last_block()
            rows = await uow.rollup.audited(
                position, sealed.last_row_id if sealed else 0, BATCH_ROWS
            )
            if not rows:
                return 0
            await uow.rollup.add(tally(rows), rows[-1].id)
            await uow.commit()
        return len(rows)

    async def roll_all(self) -> int:
        """Roll up until the seal is reached; rows rolled up."""
        total = 0
        while rolled := await self.roll_once():
            total += rolled
        return total

    async def run_forever(self) -> None:
        # while the store is away, reports read more rows from the log, as exactly
        await every(self._interval_s, self.roll_all, log, "rolling up requests failed; will retry")
