"""Read a whole store back, to compare it with a reference fold or with another store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.store.sql import SqlUnitOfWork
from gateway.store.tables import letter_history, letters, processed_events


async def snapshot(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        letter_rows = (await connection.execute(select(letters))).mappings().all()
        history_rows = (await connection.execute(select(letter_history))).mappings().all()
    return {
        "letters": sorted((dict(r) for r in letter_rows), key=lambda r: r["registration_number"]),
        "history": sorted(
            (dict(r) for r in history_rows),
            key=lambda r: (r["registration_number"], r["sequence"]),
        ),
    }


async def count(engine: AsyncEngine, table: Any = processed_events) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(table)) or 0)


async def letters_by_number(engine: AsyncEngine) -> dict[str, Any]:
    async with SqlUnitOfWork(engine) as uow:
        numbers = [r["registration_number"] for r in (await snapshot(engine))["letters"]]
        return await uow.letters.get_many(numbers)
