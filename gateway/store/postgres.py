"""PostgreSQL's bulk statements, used by the SQL repositories (gateway.store.sql) when the
store is PostgreSQL.

- Whole batches in one statement with one array parameter per column (unnest), instead of
  one row per executemany step.
- Ingestion's big writes (letters, history) go through the driver's binary COPY into a
  session's temporary staging table, then one merge statement per table: about half the
  client CPU of unnest per row (asyncpg builds no parameter arrays; SQLAlchemy processes no
  bind values). Staging tables empty themselves at commit (ON COMMIT DELETE ROWS).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Column, Table, any_, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.audit_ledger import JOURNAL_BARRIER_KEY
from gateway.store.tables import (
    LETTER_COLUMN_GROUPS,
    LETTER_EVENT_COLUMNS,
    letter_history,
    letters,
    notice_outbox,
    processed_events,
    request_audit,
    sent_replies,
)

DIALECT = postgresql.dialect()
_quote = DIALECT.identifier_preparer.quote

# Batch statements take whole arrays (= ANY(..), unnest(..)); a generic plan cached while a
# table was still small would keep seq-scanning it as it grows, so plan every execution.
CONNECT_ARGS = {"server_settings": {"plan_cache_mode": "force_custom_plan"}}


def any_of(column: Any) -> Any:
    """`column = ANY(:values)`: one array parameter, one cached statement, any list length."""
    return column == any_(bindparam("values", type_=postgresql.ARRAY(column.type)))


def insertable(table: Table) -> list[Column[Any]]:
    return [c for c in table.c if c.autoincrement is not True]


def _unnest(table: Table, prefix: str = "") -> tuple[str, list[BindParameter[Any]]]:
    """INSERT .. SELECT FROM unnest(..): the parameters are named prefix + column name."""
    columns = insertable(table)
    names = ", ".join(_quote(c.name) for c in columns)
    arrays = ", ".join(
        f"CAST(:{prefix}{c.name} AS {c.type.compile(dialect=DIALECT)}[])" for c in columns
    )
    binds = [bindparam(prefix + c.name, type_=postgresql.ARRAY(c.type)) for c in columns]
    return f"INSERT INTO {_quote(table.name)} ({names}) SELECT * FROM unnest({arrays})", binds


def as_arrays(table: Table, rows: list[dict[str, Any]], prefix: str = "") -> dict[str, list[Any]]:
    return {prefix + c.name: [row[c.name] for row in rows] for c in insertable(table)}


# A row another transaction is inserting makes this one wait for it, then skip it if it
# committed: only the ids this transaction recorded come back.
_statement, _binds = _unnest(processed_events)
MARK_PROCESSED = text(f"{_statement} ON CONFLICT DO NOTHING RETURNING event_id").bindparams(*_binds)
_statement, _binds = _unnest(notice_outbox)
ADD_NOTICES = text(f"{_statement} ON CONFLICT DO NOTHING").bindparams(*_binds)
_KEEP_REPLIES, _KEEP_BINDS = _unnest(sent_replies, "r_")
_RECORD_AUDIT, _AUDIT_BINDS = _unnest(request_audit, "a_")
# The audit rows and the replies kept for redelivery, in one statement (one round trip). The
# rows are inserted (and take their ids) only once the sealer's barrier is held shared: see
# store/audit_ledger.py. The uncorrelated EXISTS runs once, before any row is produced.
WRITE_JOURNAL = text(
    f"WITH barrier AS (SELECT pg_advisory_xact_lock_shared({JOURNAL_BARRIER_KEY})), "
    f"kept AS ({_KEEP_REPLIES} ON CONFLICT DO NOTHING RETURNING client_id, message_id), "
    f"audit AS ({_RECORD_AUDIT} WHERE EXISTS (SELECT 1 FROM barrier)) "
    "SELECT client_id, message_id FROM kept"
).bindparams(*_KEEP_BINDS, *_AUDIT_BINDS)


# ---- staging tables for COPY ------------------------------------------------------------


class Staging:
    """A temporary table shaped like `table`, filled by COPY and merged by one statement."""

    def __init__(self, table: Table, merge: str, columns: Sequence[Column[Any]] = ()) -> None:
        """`columns`: those the records carry, if not all of the table's."""
        self.table = table
        self.name = f"incoming_{table.name}"
        shape = columns or list(table.c)
        self.columns = [c.name for c in shape]
        definition = ", ".join(f"{_quote(c.name)} {c.type.compile(dialect=DIALECT)}" for c in shape)
        self.create = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.name} ({definition}) ON COMMIT DELETE ROWS"
        )
        names = ", ".join(_quote(c) for c in self.columns)
        self.merge = text(merge.format(columns=names, staging=self.name))


def _letter_merge_set() -> str:
    """SET clause of the letters upsert: a group takes the incoming values only when the
    incoming sequence is higher (right-hand sides all see the stored row)."""
    table = _quote(letters.name)
    return ", ".join(
        f"{_quote(column)} = CASE WHEN EXCLUDED.{_quote(seq)} > {table}.{_quote(seq)} "
        f"THEN EXCLUDED.{_quote(column)} ELSE {table}.{_quote(column)} END"
        for seq, columns in LETTER_COLUMN_GROUPS.items()
        for column in (*columns, seq)  # the sequence last: the CASEs compare the stored one
    )


# Rows in key order: concurrent writers lock them in the same order.
LETTERS = Staging(
    letters,
    "INSERT INTO letters ({columns}) SELECT {columns} FROM {staging} "
    "ORDER BY registration_number "
    f"ON CONFLICT (registration_number) DO UPDATE SET {_letter_merge_set()}",
    LETTER_EVENT_COLUMNS,
)
HISTORY = Staging(
    letter_history,
    "INSERT INTO letter_history ({columns}) SELECT {columns} FROM {staging} "
    "ORDER BY registration_number, sequence ON CONFLICT DO NOTHING",
)
STAGING = (LETTERS, HISTORY)


async def create_staging_tables(connection: Any) -> None:
    """Run once per new driver connection (autocommit, outside any transaction)."""
    for staging in STAGING:
        await connection.execute(staging.create)


async def copy_and_merge(
    conn: AsyncConnection, staging: Staging, records: Sequence[tuple[Any, ...]]
) -> None:
    """COPY the records (tuples in table column order) into the staging table and merge them
    into the table, inside the unit of work's transaction."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    if not driver.is_in_transaction():
        # SQLAlchemy's adapter sends BEGIN with the first statement it runs; the COPY goes to
        # the driver directly, and outside the transaction it would commit on its own.
        await conn.exec_driver_sql("SELECT")
    await driver.copy_records_to_table(staging.name, records=records, columns=staging.columns)
    await conn.execute(staging.merge)


def aware(moment: datetime | None) -> datetime | None:
    """As the UtcDateTime column type insists, for values that bypass it (COPY)."""
    if moment is not None and moment.tzinfo is None:
        raise ValueError("naive datetimes are not stored")
    return moment
