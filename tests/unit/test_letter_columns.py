"""The store's column groups, derived from the domain's field groups, cover the letters table
column for column."""

from __future__ import annotations

from gateway.store.sql import LETTER_COLUMN_GROUPS
from gateway.store.tables import letters


def test_every_letters_column_but_the_key_belongs_to_exactly_one_group():
    grouped = [c for seq, columns in LETTER_COLUMN_GROUPS.items() for c in (seq, *columns)]
    assert sorted(grouped) == sorted(c.name for c in letters.c if c.name != "registration_number")
