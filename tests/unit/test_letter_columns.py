"""The store's column groups are the domain's field groups, column for column."""

from __future__ import annotations

from gateway.domain.letters import FIELD_GROUPS
from gateway.store.sql import LETTER_COLUMN_GROUPS
from gateway.store.tables import letters


def test_every_letters_column_but_the_key_belongs_to_exactly_one_group():
    grouped = [c for seq, columns in LETTER_COLUMN_GROUPS.items() for c in (seq, *columns)]
    assert sorted(grouped) == sorted(c.name for c in letters.c if c.name != "registration_number")


def test_the_store_groups_columns_under_the_domain_s_sequences():
    assert list(LETTER_COLUMN_GROUPS) == list(FIELD_GROUPS)
