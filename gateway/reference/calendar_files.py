"""The working-day calendar from its data files: one `<year>.toml` per year in a directory.

Default: the files shipped with the package (gateway/data/calendar/az). An operator points
GATEWAY_CALENDAR_DIR at a directory of their own to add a year without a release.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

from gateway.domain.calendar import WorkingCalendar, YearCalendar

DEFAULT_CALENDAR_DIR = Path(__file__).resolve().parents[1] / "data" / "calendar" / "az"
_ENTRY_KEYS = {"date", "name", "source"}


class CalendarFileError(ValueError):
    """A calendar file that cannot be trusted; the message names the file and the entry."""


def load_calendar(directory: Path | None = None) -> WorkingCalendar:
    folder = directory or DEFAULT_CALENDAR_DIR
    if not folder.is_dir():
        raise CalendarFileError(f"calendar directory {folder} does not exist")
    return WorkingCalendar.of(load_year(path) for path in sorted(folder.glob("*.toml")))


def load_year(path: Path) -> YearCalendar:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CalendarFileError(f"{path.name}: {error}") from None
    year = data.get("year")
    if not isinstance(year, int) or path.stem != str(year):
        raise CalendarFileError(f"{path.name}: needs `year = {path.stem}` (the file's name)")
    try:
        return YearCalendar(
            year,
            frozenset(_dates(path, data, "days_off")),
            frozenset(_dates(path, data, "working_days")),
        )
    except ValueError as error:
        raise CalendarFileError(f"{path.name}: {error}") from None


def _dates(path: Path, data: dict[str, object], key: str) -> list[date]:
    entries = data.get(key, [])
    if not isinstance(entries, list):
        raise CalendarFileError(f"{path.name}: `{key}` must be a list of [[{key}]] tables")
    days = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
            raise CalendarFileError(
                f"{path.name}: {key} entry {number} needs exactly date, name and source"
            )
        day = entry["date"]
        if type(day) is not date:  # a TOML datetime is a date subclass: refuse it too
            raise CalendarFileError(f"{path.name}: {key} entry {number}: date is not a date")
        if not str(entry["source"]).strip():
            raise CalendarFileError(f"{path.name}: {key} entry {number} has no source")
        days.append(day)
    if len(set(days)) != len(days):
        raise CalendarFileError(f"{path.name}: a date appears twice in `{key}`")
    return days
