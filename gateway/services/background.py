"""Background work on an interval, off the reply path (the audit sealer, the requests' rollup,
the deadline metrics): a round that fails, most often because the store is away, is logged
and tried again on the next round, and never ends the loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable


async def every(
    interval_s: float, work: Callable[[], Awaitable[object]], log: logging.Logger, failed: str
) -> None:
    """Run `work`, then wait `interval_s`, until cancelled; a failed round logs `failed`."""
    while True:
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - whatever failed, the next round tries again
            log.warning(failed, exc_info=True)
        await asyncio.sleep(interval_s)
