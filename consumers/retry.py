"""Retry a store operation until it succeeds: progress stops while the database is away,
nothing is skipped, and readiness says why."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from gateway.health import Readiness
from gateway.services.unit_of_work import once_more_if_connection_lost

T = TypeVar("T")
log = logging.getLogger(__name__)


async def until_stored(
    operation: Callable[[], Awaitable[T]],
    readiness: Readiness,
    *,
    initial_s: float,
    max_s: float,
    component: str = "database",
) -> T:
    delay = initial_s
    while True:
        try:
            result = await once_more_if_connection_lost(operation)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure to store means: try again later
            readiness.fail(component, f"{type(exc).__name__}: {str(exc)[:200]}")
            log.warning("store unavailable, retrying in %.1fs: %s", delay, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_s)
        else:
            readiness.ok(component)
            return result
