"""What SQLite and PostgreSQL spell differently, in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Date, Table, cast, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

# Both speak INSERT .. ON CONFLICT, through their own dialect constructs.
INSERT: dict[str, Callable[[Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def utc_day(dialect: str, instant: ColumnElement[Any]) -> ColumnElement[date]:
    """The UTC calendar day of a stored instant."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", instant), Date)
    return func.date(instant, type_=Date)  # SQLite keeps UTC text; date() takes the day part
