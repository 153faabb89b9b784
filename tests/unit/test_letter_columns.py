"""The store's column groups, derived from the domain's field groups, cover the letters table
column for column, but for the derived legal deadline figures."""

from __future__ import annotations

from gateway.store.sql import LETTER_COLUMN_GROUPS
from gateway.store.tables import LEGAL_DEADLINE_COLUMNS, LETTER_EVENT_COLUMNS, letters


def test_every_letters_column_but_the_key_belongs_to_exactly_one_group():
    grouped = [c for seq, columns in LETTER_COLUMN_GROUPS.items() for c in (seq, *columns)]
    events = sorted(c.name for c in LETTER_EVENT_COLUMNS if c.name != "registration_number")
    assert sorted(grouped) == events
    assert {c.name for c in letters.c} - {c.name for c in LETTER_EVENT_COLUMNS} == set(
        LEGAL_DEADLINE_COLUMNS
    )
